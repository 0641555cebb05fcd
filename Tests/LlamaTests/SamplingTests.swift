// SamplingTests: the warped distributions vs transformers' Temperature/TopK/TopP logits warpers,
// seeded sampling determinism, and sampling from a fixture model.
import Foundation
import XCTest
import Llama

final class SamplingTests: XCTestCase {
    func testWarpersMatchTransformers() throws {
        let cases = try Fixtures.json("sampling.json") as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 7)
        for c in cases {
            let logits = doubles(c["logits"]).map { Float($0) }
            let ref = doubles(c["probs"]).map { Float($0) }
            let t = Float(num(c["temperature"])!), k = c["top_k"] as! Int, p = Float(num(c["top_p"])!)
            let got = Sampling.probabilities(logits, temperature: t, topK: k, topP: p)
            XCTAssertLessThan(maxAbsDiff(got, ref), 1e-6, "t=\(t) k=\(k) p=\(p)")
            // The same tokens are removed.
            XCTAssertEqual(got.map { $0 == 0 }, ref.map { $0 == 0 }, "t=\(t) k=\(k) p=\(p)")
        }
    }

    func testSeededSampling() throws {
        let m = try LlamaModel.load(path: Fixtures.path("gqa_untied"))
        let a = try m.generate(prompt: [1, 2, 3], maxTokens: 12, temperature: 1.0, topP: 0.9, topK: 50, seed: 42)
        let b = try m.generate(prompt: [1, 2, 3], maxTokens: 12, temperature: 1.0, topP: 0.9, topK: 50, seed: 42)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.count, 12)
        let c = try m.generate(prompt: [1, 2, 3], maxTokens: 12, temperature: 1.0, topP: 1, topK: 0, seed: 43)
        XCTAssertNotEqual(a, c)
        // top_k 1 is greedy.
        let g = try m.generate(prompt: [1, 2, 3], maxTokens: 8, temperature: 0)
        let k1 = try m.generate(prompt: [1, 2, 3], maxTokens: 8, temperature: 0.7, topP: 1, topK: 1, seed: 5)
        XCTAssertEqual(g, k1)
        XCTAssertThrowsError(try m.generate(prompt: [1], maxTokens: 3, temperature: -1))
        XCTAssertThrowsError(try m.generate(prompt: [1], maxTokens: 3, temperature: 1, topP: 0))
    }
}
