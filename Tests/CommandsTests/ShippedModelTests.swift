// ShippedModelTests: the two models the ten-fold notebook ships, loaded as a user loads them,
// behave as the notebook reports: the base (tiny256) retrieves inside its 256-token window and
// fails far beyond it; the extended model (tiny256-x10: RoPE base x400 + QLoRA, merged)
// retrieves at ten times the window and keeps its short-context loss. A regression in the model,
// RoPE, adapters, tokenizer, data generators or evaluators shows up here.
import Commands
import Foundation
import Lang
import XCTest

// Depths 0 and 50%: the ten-fold notebook reports the needle right before the question (depth
// 100%) as the extension's open weak spot, so it is not part of this regression check.
final class ShippedModelTests: XCTestCase {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("notebooks/models")

    func run(_ code: String) throws -> String {
        let interp = Commands.makeInterpreter()
        var out = ""
        interp.output = { out += $0 }
        interp.globals.define("models", .string(Self.models.path))
        try interp.run(code, file: "shipped.llx")
        return out
    }

    /// The numbers a script printed, in order.
    func numbers(_ out: String) -> [Double] {
        out.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Double($0) }
    }

    func testBaseRetrievesInsideItsWindowAndTheExtensionTenTimesBeyond() throws {
        for dir in ["tiny256", "tiny256-x10"] {
            guard FileManager.default.fileExists(atPath: Self.models.appendingPathComponent(dir + "/model.safetensors").path) else {
                XCTFail("notebooks/models/\(dir) is missing: run scripts/pretrain_tiny256.llx and notebooks/ten_fold.llx"); return
            }
        }
        let out = try run("""
        let tok = tokenizer.load(models + "/tiny256")
        let base = llama.load(models + "/tiny256")
        let x10 = llama.load(models + "/tiny256-x10")
        fn grid(m) {
            let r = eval.niah(m, tok, lengths: [256, 2560], depths: [0.0, 0.5], haystack: "entities", samples: 4,
                              max_tokens: 16, seed: 4242)
            # every lost case is listed in r.misses (substring scoring: 0 or 1 a case)
            let lost = 0
            for x in r.misses { lost = lost + 1 - x.score }
            print("lost", lost, 16 * (1 - r.mean))
            return mean(r.grid, axis: 0).tolist()
        }
        let texts = synth.short_text(tok, count: 6, length: 256, seed: 4243)
        fn short(m) {
            let t = 0
            for r in texts { t = t + loss(m, tok.encode(r.text)).item() }
            return t / len(texts)
        }
        let b = grid(base)
        let x = grid(x10)
        # misses are the entities protocol's: nil for a text haystack
        print("plain misses", eval.niah(base, tok, lengths: [256], depths: [0.0], max_tokens: 4).misses == nil)
        print(b[0], b[1], x[0], x[1], short(base), short(x10), x10.config.rope_theta / base.config.rope_theta)
        """)
        XCTAssertTrue(out.contains("plain misses true"), out)
        let lost = out.split(separator: "\n").filter { $0.hasPrefix("lost ") }.map { numbers(String($0)) }
        XCTAssertEqual(lost.count, 2, out)
        for l in lost where l.count == 2 { XCTAssertEqual(l[0], l[1], accuracy: 1e-9, "r.misses against the grid: \(out)") }
        XCTAssertGreaterThan(lost.first?.first ?? 0, 0, "the base misses at 10x its window")
        let v = numbers(out.split(separator: "\n").filter { !$0.hasPrefix("lost ") }.joined(separator: "\n"))
        XCTAssertEqual(v.count, 7, out)
        guard v.count == 7 else { return }
        XCTAssertGreaterThanOrEqual(v[0], 0.75, "base inside its window: \(out)")
        XCTAssertLessThanOrEqual(v[1], 0.25, "base at 10x its window: \(out)")
        XCTAssertGreaterThanOrEqual(v[2], 0.75, "extended model inside the window: \(out)")
        XCTAssertGreaterThanOrEqual(v[3], 0.75, "extended model at 10x: \(out)")
        XCTAssertLessThanOrEqual(v[5], v[4] * 1.05, "short-context loss: \(out)")
        XCTAssertEqual(v[6], 400, accuracy: 1e-6, "rope_theta raised x400")
    }

    /// tiny256-h8 (8 heads of 16, notebooks/name_matching.llx) finds the needle among 3 distractor
    /// needles inside its window, where the ten-fold base (4 heads of 32) does not.
    func testTheEightHeadBaseMatchesNamesAndTheShippedBaseDoesNot() throws {
        guard FileManager.default.fileExists(atPath: Self.models.appendingPathComponent("tiny256-h8/model.safetensors").path) else {
            XCTFail("notebooks/models/tiny256-h8 is missing: see notebooks/name_matching.llx"); return
        }
        let out = try run("""
        fn distract(dir) {
            let tok = tokenizer.load(models + "/" + dir)
            let m = llama.load(models + "/" + dir)
            let r = eval.niah(m, tok, lengths: [256], depths: [0.0, 0.5, 1.0], haystack: "entities", samples: 8,
                              distractors: 3, max_tokens: 16, seed: 4244)
            return [r.mean, m.config.num_attention_heads, m.config.head_dim]
        }
        let h8 = distract("tiny256-h8")
        let h4 = distract("tiny256")
        print(h8[0], h8[1], h8[2], h4[0])
        """)
        let v = numbers(out)
        XCTAssertEqual(v.count, 4, out)
        guard v.count == 4 else { return }
        XCTAssertEqual(v[1], 8, "8 heads: \(out)")
        XCTAssertEqual(v[2], 16, "of size 16: \(out)")
        // (24 cases each: 0.75 and 0.17 when the models were shipped)
        XCTAssertGreaterThanOrEqual(v[0], 0.6, "tiny256-h8 with 3 distractors at 256: \(out)")
        XCTAssertLessThanOrEqual(v[3], 0.35, "tiny256 with 3 distractors at 256: \(out)")
    }
}
