// SynthResultTests: the synthetic data generators (seeded, varied, within their token budget,
// facts present) and the result plumbing (JSON and tensor/attribute round trips, tables, figures).
import Eval
import Foundation
import Synth
import Tensor
import Tokenizer
import XCTest

final class SynthResultTests: XCTestCase {
    let tok = Tokenizers.bytes()

    func testFillerSeededVariedAndSized() {
        let a = Synth.filler(tokenizer: tok, tokens: 3000, seed: 1)
        XCTAssertEqual(a, Synth.filler(tokenizer: tok, tokens: 3000, seed: 1))
        XCTAssertNotEqual(a, Synth.filler(tokenizer: tok, tokens: 3000, seed: 2))
        let n = tok.encode(a, bos: false).count
        XCTAssertLessThanOrEqual(n, 3000)
        XCTAssertGreaterThan(n, 2850)
        let sentences = a.components(separatedBy: ". ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        XCTAssertGreaterThan(Double(Set(sentences).count) / Double(sentences.count), 0.9, "filler repeats itself")
        XCTAssertTrue(a.contains("\n\n"))
        XCTAssertEqual(Synth.filler(tokenizer: tok, tokens: 0, seed: 1), "")
    }

    func checkConversations(_ convs: [[ChatMessage]], length: Int, file: StaticString = #filePath, line: UInt = #line) {
        for c in convs {
            XCTAssertEqual(c.map { $0.role }, ["user", "assistant"], file: file, line: line)
            let n = tok.chat(c, generationPrompt: false).count
            XCTAssertLessThanOrEqual(n, length, file: file, line: line)
            XCTAssertGreaterThan(n, length * 9 / 10, file: file, line: line)
        }
    }

    func testNeedleQA() throws {
        let convs = try Synth.needleQA(tokenizer: tok, count: 4, length: 2000, seed: 5)
        XCTAssertEqual(convs.count, 4)
        checkConversations(convs, length: 2000)
        XCTAssertEqual(try Synth.needleQA(tokenizer: tok, count: 4, length: 2000, seed: 5), convs)
        XCTAssertNotEqual(Set(convs.map { $0[1].content }).count, 1)
        XCTAssertThrowsError(try Synth.needleQA(tokenizer: tok, count: 1, length: 50, seed: 0))
        for c in convs { XCTAssertTrue(c[0].content.contains("Question: ")) }
    }

    func testMultiDetailAndSummary() throws {
        let md = try Synth.multiDetail(tokenizer: tok, count: 6, length: 3000, details: 3, seed: 9)
        checkConversations(md, length: 3000)
        for c in md {
            let q = c[0].content
            XCTAssertTrue(q.contains("1. ") && q.contains("3. ") || q.contains("Who was born earlier"))
        }
        let sm = try Synth.summary(tokenizer: tok, count: 3, length: 4000, people: 3, seed: 4)
        checkConversations(sm, length: 4000)
        for c in sm {
            let names = c[1].content.split(separator: "\n").map { String($0.prefix { $0 != "," }) }
            XCTAssertEqual(names.count, 3)
            // every biography is in the context, in the order of the summary
            let positions = names.map { c[0].content.range(of: $0 + " was born in")?.lowerBound }
            XCTAssertFalse(positions.contains(nil), "biography missing")
            let p = positions.compactMap { $0 }
            XCTAssertEqual(p, p.sorted())
        }
        XCTAssertThrowsError(try Synth.multiDetail(tokenizer: tok, count: 1, length: 3000, details: 1))
    }

    func sampleResults() -> [any EvalResult] {
        [NIAHResult(lengths: [1000, 2000], depths: [0, 0.5, 1], grid: [[1, 0.5], [0.25, .nan], [0, 1]],
                    answers: [["a", "b"], ["c", nil], ["é", "f"]], metric: "rougeL", needle: "n", question: "q", reference: "n",
                    promptTokens: [1010, 2010]),
         PasskeyResult(lengths: [100], depths: [0, 1], trials: 2, grid: [[1], [0.5]], keys: [[[1, 2]], [[3, 4]]],
                       answers: [[["1", "2"]], [["3", "x"]]], promptTokens: [99]),
         TopicsResult(counts: [1, 5], trials: 2, accuracy: [1, 0.5], promptTokens: [300, 1500], firstTopics: [["a", "b"], ["c", "d"]],
                      answers: [["a", "b"], ["c", "?"]]),
         PerplexityResult(window: 4, stride: 2, documentTokens: [9, 3], documentNLL: [2.5, 1.0], windowNLL: [2, 2.5, 3]),
         MCResult(subjects: ["anatomy"], subjectAccuracy: [0.5], subjectCounts: [2], categories: ["Others"], categoryAccuracy: [0.5],
                  predictions: [0, 1], labels: [0, 0], nll: [[0.1, 5], [5, 0.1]]),
         QAResult(metric: "f1", scores: [1, 0.25], predictions: ["x", "y"], promptTokens: [10, 20], truncated: 1)]
    }

    func testResultRoundTrips() throws {
        for r in sampleResults() {
            let json = try r.toJSON()
            let back = try EvalResults.fromJSON(json)
            XCTAssertEqual(try back.toJSON(), json)
            XCTAssertEqual(type(of: back).kind, type(of: r).kind)
            let tensors = Dictionary(uniqueKeysWithValues: r.tensors)
            let attrs = Dictionary(uniqueKeysWithValues: r.attributes)
            XCTAssertEqual(attrs["kind"], .string(type(of: r).kind))
            let rebuilt = try EvalResults.from(tensors: tensors, attributes: attrs)
            XCTAssertEqual(try rebuilt.toJSON(), json)
            XCTAssertFalse(r.table.isEmpty)
            let fig = r.figure()
            XCTAssertTrue(fig.svg.hasPrefix("<svg"))
            XCTAssertTrue(fig.svg.hasSuffix("</svg>\n"))
            XCTAssertFalse(fig.plain.contains("\u{1B}"))
        }
        let niah = sampleResults()[0] as! NIAHResult
        XCTAssertEqual(niah.mean, (1 + 0.5 + 0.25 + 0 + 1) / 5, accuracy: 1e-12)
        let grid = niah.tensors.first { $0.0 == "grid" }!.1
        XCTAssertEqual(grid.shape, [3, 2])
        XCTAssertEqual(grid.floats()[2], 0.25)
        XCTAssertTrue(niah.table.contains("50%"))
        XCTAssertThrowsError(try PasskeyResult.fromJSON(try niah.toJSON()))
        XCTAssertThrowsError(try EvalResults.fromJSON("{\"kind\": \"bogus\"}"))
        XCTAssertThrowsError(try EvalResults.fromJSON("not json"))
        let ppl = sampleResults()[3] as! PerplexityResult
        XCTAssertEqual(ppl.nll, (9 * 2.5 + 3 * 1.0) / 12, accuracy: 1e-12)
    }

    func testFigures() throws {
        let fig = Plot.heatmap([[1, 0.5], [0, 1]], title: "T", xLabels: ["1k", "2k"], yLabels: ["0%", "100%"])
        XCTAssertEqual(fig.svg.components(separatedBy: "<title>").count - 1, 4)
        XCTAssertTrue(fig.svg.contains("#0CD79F"))   // 1.0 is green
        XCTAssertTrue(fig.svg.contains("#F0496E"))   // 0.0 is red
        XCTAssertTrue(fig.svg.contains("Depth Percent") && fig.svg.contains("Token Limit"))
        XCTAssertTrue(fig.terminal.contains("\u{1B}[48;2;12;215;159m"))
        XCTAssertTrue(fig.plain.contains("██"))
        let lines = Plot.line([Series(label: "train", xs: [0, 1, 2], ys: [3, 2, 1.5]), Series(label: "eval", xs: [0, 2], ys: [3.2, 2])],
                              title: "loss", xTitle: "step", yTitle: "loss")
        XCTAssertEqual(lines.svg.components(separatedBy: "<polyline").count - 1, 2)
        XCTAssertTrue(lines.plain.contains("train") && lines.plain.contains("eval"))
        let path = NSTemporaryDirectory() + "llx-fig-\(UUID().uuidString).svg"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try fig.save(path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), fig.svg)
        XCTAssertThrowsError(try fig.save("/nonexistent-dir/x.svg"))
    }
}

/// Writes sample figures for a person to look at when LLX_EVAL_FIGURES names a folder.
final class FigureDumpTests: XCTestCase {
    func testDumpFigures() throws {
        guard let dir = ProcessInfo.processInfo.environment["LLX_EVAL_FIGURES"] else { return }
        let lengths = [8192, 21845, 35498, 49152, 62805, 76458, 90112, 103765, 117418, 131072]
        let depths = (0..<11).map { Double($0) / 10 }
        let grid = depths.map { d in lengths.map { l in max(0, min(1, 1.2 - Double(l) / 131072 * d * 1.5)) } }
        let r = NIAHResult(lengths: lengths, depths: depths, grid: grid, answers: grid.map { $0.map { _ in "x" } },
                           metric: "rougeL", needle: "n", question: "q", reference: "n", promptTokens: lengths)
        try r.figure().save(dir + "/niah.svg")
        print(r.figure().terminal)
        print(r.figure().plain)
        print(r.table)
        let loss = Plot.line([Series(label: "train loss", xs: (0..<50).map { Double($0) }, ys: (0..<50).map { 2.5 * exp(-Double($0) / 15) + 0.8 }),
                              Series(label: "eval loss", xs: [0, 10, 20, 30, 40, 49], ys: [3.3, 2.2, 1.6, 1.3, 1.15, 1.1])],
                             title: "Loss", xTitle: "step", yTitle: "loss")
        try loss.save(dir + "/loss.svg")
        print(loss.terminal)
    }
}

/// The generators and NIAH with the real Llama-3 tokenizer (skipped when its vocabulary is not installed).
final class Llama3TokenizerTests: XCTestCase {
    func tokenizer() throws -> TextTokenizer {
        do { return try Tokenizers.llama3() } catch { throw XCTSkip("Llama-3 vocabulary not installed: \(error)") }
    }

    func testSynthLengthsWithLlama3() throws {
        let tok = try tokenizer()
        let text = Synth.filler(tokenizer: tok, tokens: 4000, seed: 11)
        let n = tok.encode(text, bos: false).count
        XCTAssertLessThanOrEqual(n, 4000)
        XCTAssertGreaterThan(n, 3900)
        for convs in [try Synth.needleQA(tokenizer: tok, count: 2, length: 4096, seed: 1),
                      try Synth.multiDetail(tokenizer: tok, count: 2, length: 4096, seed: 1),
                      try Synth.summary(tokenizer: tok, count: 2, length: 4096, seed: 1)] {
            for c in convs {
                let k = tok.chat(c, generationPrompt: false).count
                XCTAssertLessThanOrEqual(k, 4096)
                XCTAssertGreaterThan(k, 3900)
            }
        }
    }

    func testNIAHWithLlama3() throws {
        let tok = try tokenizer()
        var c = NIAHConfig(lengths: [1000, 3000], depths: [0, 0.3, 0.7, 1])
        c.maxTokens = 50
        let model = ReadingModel(tok) { _ in "The best thing to do in San Francisco is sitting in Dolores Park and eating a hamburg on a sunny day." }
        let r = try NIAH.run(model: model, tokenizer: tok, haystack: .synthetic(seed: 5), config: c)
        XCTAssertGreaterThan(r.mean, 0.95)
        let header = tok.chat([ChatMessage(role: "user", content: "x")], generationPrompt: true).count - 1
        for (k, p) in model.prompts.enumerated() {
            XCTAssertLessThanOrEqual(abs(p.count - header - c.lengths[k / 4]), 6, "prompt \(k): \(p.count)")
            let text = tok.decode(p)
            guard let n = text.range(of: "The best thing to do in San Francisco") else { XCTFail("needle missing"); continue }
            if k % 4 == 3 { continue }
            let before = text[..<n.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertTrue(before.hasSuffix("."), "prompt \(k): needle after \(before.suffix(30).debugDescription)")
        }
    }
}
