// Support: fixture paths and readers (JSON, expected-value safetensors) and error metrics for
// the Llama tests.
import Foundation
import XCTest
import Tensor
import Checkpoint

enum Fixtures {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/llama")

    static func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    static func json(_ name: String) throws -> Any {
        let data = try Data(contentsOf: dir.appendingPathComponent(name))
        return try JSONSerialization.jsonObject(with: data)
    }

    /// The expected tensors of a model case.
    static func expected(_ model: String) throws -> SafetensorsFile {
        try SafetensorsFile.open(path("\(model).expected.safetensors"))
    }

    static let modelCases = ["gqa_untied", "mha_tied_bf16", "linear_legacy", "dynamic_sharded", "yarn_f16", "llama3_scaling"]
}

/// max |a - b|.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    var m: Float = 0
    for i in a.indices { m = max(m, abs(a[i] - b[i])) }
    return m
}

/// max |a - b| / max |b| (relative to the reference's scale).
func relDiff(_ a: [Float], _ b: [Float]) -> Float {
    let scale = b.reduce(Float(0)) { max($0, abs($1)) }
    return maxAbsDiff(a, b) / max(scale, 1e-30)
}

func doubles(_ x: Any?) -> [Double] {
    (x as? [Any] ?? []).map { v in (v as? Double) ?? Double(v as? Int ?? 0) }
}

func num(_ x: Any?) -> Double? {
    if let d = x as? Double { return d }
    if let i = x as? Int { return Double(i) }
    return nil
}
