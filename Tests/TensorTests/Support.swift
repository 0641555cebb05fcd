// Support: fixture loading and comparison helpers for the Tensor tests.
import Foundation
import XCTest

enum Fixtures {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tensor")

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: dir.appendingPathComponent(name))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw NSError(domain: "fixture", code: 1, userInfo: [NSLocalizedDescriptionKey: "\(name) is not an object"])
        }
        return obj
    }
}

struct Case {
    let d: [String: Any]
    func floats(_ k: String) -> [Float] { (d[k] as? [Any] ?? []).map { Float(($0 as? NSNumber)?.doubleValue ?? .nan) } }
    func ints(_ k: String) -> [Int] { (d[k] as? [Any] ?? []).map { ($0 as? NSNumber)?.intValue ?? Int.min } }
    func int(_ k: String) -> Int { (d[k] as? NSNumber)?.intValue ?? -1 }
    func float(_ k: String) -> Float { Float((d[k] as? NSNumber)?.doubleValue ?? .nan) }
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    var m: Float = 0
    for i in 0..<a.count { let d = abs(a[i] - b[i]); if !(d <= m) { m = d.isNaN ? .infinity : d } }
    return m
}

func assertClose(_ a: [Float], _ b: [Float], _ tol: Float = 1e-5, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(what): count", file: file, line: line)
    let e = maxAbsDiff(a, b)
    if ProcessInfo.processInfo.environment["LLX_TEST_VERBOSE"] != nil { print("max abs error \(what): \(e)") }
    XCTAssertLessThanOrEqual(e, tol, "\(what): max abs error \(e)", file: file, line: line)
}
