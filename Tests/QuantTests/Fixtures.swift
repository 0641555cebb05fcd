// Fixtures: loads the JSON fixtures written by scripts/gen_quant_fixtures.py and compares floats.
import Foundation
import XCTest

enum Fixture {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/quant")

    static func load(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: dir.appendingPathComponent(name))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw NSError(domain: "fixture", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(name) is not a JSON object"])
        }
        return obj
    }
}

extension Dictionary where Key == String, Value == Any {
    func floats(_ k: String) -> [Float] { ((self[k] as? [Any]) ?? []).map { Float(($0 as? NSNumber)?.doubleValue ?? .nan) } }
    func ints(_ k: String) -> [Int] { ((self[k] as? [Any]) ?? []).map { ($0 as? NSNumber)?.intValue ?? -1 } }
    func int(_ k: String) -> Int { (self[k] as? NSNumber)?.intValue ?? -1 }
    func double(_ k: String) -> Double { (self[k] as? NSNumber)?.doubleValue ?? .nan }
    func bool(_ k: String) -> Bool { (self[k] as? NSNumber)?.boolValue ?? false }
    func dicts(_ k: String) -> [[String: Any]] { (self[k] as? [[String: Any]]) ?? [] }
}

/// Max |a-b| / max(1, max|b|) style error: relative to the reference's scale.
func relErr(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count, !b.isEmpty else { return .infinity }
    var m: Float = 0, s: Float = 0
    for i in 0..<a.count { m = max(m, abs(a[i] - b[i])); s = max(s, abs(b[i])) }
    return m / max(s, 1e-30)
}

func assertClose(_ a: [Float], _ b: [Float], rel: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(what): count", file: file, line: line)
    let e = relErr(a, b)
    XCTAssertLessThanOrEqual(e, rel, "\(what): relative error \(e)", file: file, line: line)
}

/// Exact equality with a short message: count of mismatches and the first one.
func assertSame<T: Equatable>(_ a: [T], _ b: [T], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    if a.count != b.count { XCTFail("\(what): count \(a.count) != \(b.count)", file: file, line: line); return }
    var bad = 0, first = -1
    for i in 0..<a.count where a[i] != b[i] { bad += 1; if first < 0 { first = i } }
    if bad > 0 { XCTFail("\(what): \(bad) of \(a.count) differ; first at \(first): \(a[first]) vs \(b[first])", file: file, line: line) }
}
