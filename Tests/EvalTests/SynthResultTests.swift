// SynthResultTests: the synthetic data generators (seeded, varied, within their token budget,
// facts present) and the result plumbing (JSON and tensor/attribute round trips, tables, figures).
import Eval
import Foundation
import Synth
import Tensor
import Tokenizer
import XCTest
import NN

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

    /// Every conversation within `length` tokens (and not far below it), alternating user and
    /// assistant turns, each answer made of sentences stated in the context.
    func checkConversations(_ convs: [[ChatMessage]], length: Int, turns: Int = 1, file: StaticString = #filePath, line: UInt = #line) {
        for c in convs {
            XCTAssertEqual(c.map { $0.role }, Array(repeating: ["user", "assistant"], count: turns).flatMap { $0 }, file: file, line: line)
            let n = tok.chat(c, generationPrompt: false).count
            XCTAssertLessThanOrEqual(n, length, file: file, line: line)
            XCTAssertGreaterThan(n, length * 85 / 100, file: file, line: line)
            let context = c[0].content
            for reply in c where reply.role == "assistant" {
                for sentence in sentences(reply.content) {
                    XCTAssertTrue(context.contains(sentence), "answer sentence not in the context: \(sentence)", file: file, line: line)
                }
            }
        }
    }

    func sentences(_ text: String) -> [String] {
        text.split(separator: ".").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { $0 + "." }
    }

    func testNeedleQAAnswersAreInTheContextAmongDistractors() throws {
        let convs = try Synth.needleQA(tokenizer: tok, count: 4, length: 2000, turns: 3, seed: 5)
        XCTAssertEqual(convs.count, 4)
        checkConversations(convs, length: 2000, turns: 3)
        XCTAssertEqual(try Synth.needleQA(tokenizer: tok, count: 4, length: 2000, turns: 3, seed: 5), convs)
        XCTAssertNotEqual(try Synth.needleQA(tokenizer: tok, count: 4, length: 2000, turns: 3, seed: 6), convs)
        for c in convs {
            // the questions ask about people of the context, and the context states the same
            // kind of fact about other people: only the name tells the answer apart
            let answer = c[1].content
            guard let verb = World.attributes.first(where: { answer.contains($0.statement.replacingOccurrences(of: "{n} ", with: "").components(separatedBy: "{v}")[0]) }) else {
                XCTFail("answer in no template: \(answer)"); continue
            }
            let phrase = verb.statement.replacingOccurrences(of: "{n} ", with: "").components(separatedBy: "{v}")[0]
            XCTAssertGreaterThan(c[0].content.components(separatedBy: phrase).count - 1, 2, "no distractors for \(phrase)")
            let name = String(answer.prefix { $0 != " " })
            XCTAssertTrue(c[0].content.hasSuffix(verb.ask(name)) || c[0].content.contains(verb.ask(name)))
        }
        XCTAssertThrowsError(try Synth.needleQA(tokenizer: tok, count: 1, length: 50, seed: 0))
        XCTAssertThrowsError(try Synth.needleQA(tokenizer: tok, count: 1, length: 500, turns: 0, seed: 0))
    }

    func testMultiDetailAndSummary() throws {
        let md = try Synth.multiDetail(tokenizer: tok, count: 6, length: 3000, details: 3, seed: 9)
        checkConversations(md, length: 3000)
        for c in md {
            let facts = sentences(c[1].content)
            XCTAssertEqual(facts.count, 3)
            XCTAssertEqual(Set(facts.map { $0.prefix { $0 != " " } }).count, 3, "facts about different people")
            XCTAssertEqual(c[0].content.components(separatedBy: "?").count - 1, 3, "three questions")
        }
        let sm = try Synth.summary(tokenizer: tok, count: 3, length: 4000, people: 2, seed: 4)
        checkConversations(sm, length: 4000)
        for c in sm {
            // every fact of both people, each once and apart from the others
            let facts = sentences(c[1].content)
            XCTAssertEqual(facts.count, 2 * World.attributes.count)
            for f in facts { XCTAssertEqual(c[0].content.components(separatedBy: f).count - 1, 1, f) }
        }
        XCTAssertThrowsError(try Synth.multiDetail(tokenizer: tok, count: 1, length: 3000, details: 1))
        XCTAssertThrowsError(try Synth.summary(tokenizer: tok, count: 1, length: 3000, people: 0))
    }

    func testRetrievalCasesPlaceTheNeedleAndDistractors() throws {
        for depth in [0.0, 0.5, 1.0] {
            var rng = SplitMix64(synthSeed: 3)
            let c = try Synth.needleCase(tokenizer: tok, length: 1500, depth: depth, distractors: 3, rng: &rng)
            let n = tok.chat([ChatMessage(role: "user", content: c.prompt)], generationPrompt: true).count
            XCTAssertLessThanOrEqual(n, 1500)
            XCTAssertGreaterThan(n, 1400)
            XCTAssertTrue(c.prompt.hasPrefix(World.instruction))
            XCTAssertTrue(c.answer.hasSuffix("reads \(c.value)."))
            XCTAssertEqual(c.prompt.components(separatedBy: "The secret code of ").count - 1, 4, "needle and 3 distractors")
            XCTAssertEqual(c.distractors.count, 3)
            for d in c.distractors { XCTAssertTrue(c.prompt.contains(d)); XCTAssertNotEqual(d, c.needle) }
            // the needle stands at its depth of the context (in characters, within a few sentences)
            let body = c.prompt.components(separatedBy: "\n\n")[1]
            guard let at = body.range(of: c.needle) else { XCTFail("needle missing"); continue }
            let frac = Double(body.distance(from: body.startIndex, to: at.lowerBound)) / Double(body.count - c.needle.count)
            XCTAssertEqual(frac, depth, accuracy: 0.06, "depth \(depth)")
        }
        let train = try Synth.retrieval(tokenizer: tok, count: 5, length: 800, distractors: 0...2, seed: 1)
        checkConversations(train, length: 800)
        XCTAssertThrowsError(try Synth.retrieval(tokenizer: tok, count: 1, length: 60, seed: 1))
        // depth: placed as the evaluation places it; the default stream is unchanged by the option
        XCTAssertEqual(try Synth.retrieval(tokenizer: tok, count: 3, length: 800, seed: 1).map { $0[0].content },
                       try Synth.retrieval(tokenizer: tok, count: 3, length: 800, depth: nil, seed: 1).map { $0[0].content })
        for c in try Synth.retrieval(tokenizer: tok, count: 4, length: 800, depth: 1...1, seed: 2) {
            let body = c[0].content.components(separatedBy: "\n\n")[1]
            XCTAssertTrue(body.hasSuffix(c[1].content), "needle last: \(body.suffix(80))")
        }
        for c in try Synth.retrieval(tokenizer: tok, count: 4, length: 800, depth: 0...0, seed: 2) {
            XCTAssertTrue(c[0].content.components(separatedBy: "\n\n")[1].hasPrefix(c[1].content), "needle first")
        }
        XCTAssertThrowsError(try Synth.retrieval(tokenizer: tok, count: 1, length: 800, depth: 0.5...1.5, seed: 1))
    }

    /// Associative-recall lessons: distinct names bound to codes, queries asked again; every
    /// answer is the code bound to its name in the context, and the loss is on the answers only.
    func testRecallLessons() throws {
        let lessons = try Synth.recall(tokenizer: tok, count: 12, length: 1200, pairs: 5...12, queries: 4, seed: 3)
        var pairCounts = Set<Int>()
        for (ids, labels) in lessons {
            XCTAssertEqual(ids.count, labels.count)
            XCTAssertLessThanOrEqual(ids.count, 1200)
            XCTAssertEqual(ids[0], tok.bosID)
            XCTAssertEqual(labels[0], -100)
            let text = tok.decode(Array(ids[1...]), skipSpecialTokens: true)
            let sentences = text.split(separator: ".").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            // the bindings: "Name reads 1234", distinct names, then queries of some of them
            var bound: [String: String] = [:], order: [String] = []
            for s in sentences {
                let w = s.split(separator: " ").map(String.init)
                XCTAssertEqual(w.count, 3, s)
                XCTAssertEqual(w[1], "reads")
                XCTAssertTrue(World.names.contains(w[0]), w[0])
                XCTAssertEqual(w[2].count, 4)
                XCTAssertTrue(w[2].allSatisfy(\.isNumber))
                order.append(w[0])
                if let code = bound[w[0]] { XCTAssertEqual(code, w[2], "a query's answer is the code bound to its name") } else { bound[w[0]] = w[2] }
            }
            let n = bound.count
            pairCounts.insert(n)
            XCTAssertTrue((5...12).contains(n))
            XCTAssertEqual(sentences.count, n + 4, "every pair, then four queries")
            XCTAssertEqual(Set(order[..<n]).count, n, "the pairs' names are distinct")
            XCTAssertTrue(Set(order[n...]).isSubset(of: Set(order[..<n])))
            // the loss: exactly the queries' codes (" 1234"), nothing else
            let answers = order[n...].map { " " + bound[$0]! }
            var spans: [[Int]] = [], cur: [Int] = []
            for l in labels { if l == -100 { if !cur.isEmpty { spans.append(cur); cur = [] } } else { cur.append(l) } }
            if !cur.isEmpty { spans.append(cur) }
            XCTAssertEqual(spans.map { tok.decode($0, skipSpecialTokens: true) }, answers)
            for (i, l) in labels.enumerated() where l != -100 { XCTAssertEqual(l, ids[i]) }
            // the first answer's tokens sit in the context after its name's binding
            let key = tok.encode(" " + order[n] + " reads" + answers[0], bos: false)
            let firstQuery = labels.firstIndex { $0 != -100 }!
            let context = Array(ids[..<firstQuery])
            XCTAssertTrue((0...(context.count - key.count)).contains { Array(context[$0..<($0 + key.count)]) == key })
        }
        XCTAssertGreaterThan(pairCounts.count, 2, "pairs drawn per record")
        XCTAssertEqual(try Synth.recall(tokenizer: tok, count: 12, length: 1200, pairs: 5...12, queries: 4, seed: 3).map { $0.ids }, lessons.map { $0.ids })
        XCTAssertNotEqual(try Synth.recall(tokenizer: tok, count: 12, length: 1200, pairs: 5...12, queries: 4, seed: 4).map { $0.ids }, lessons.map { $0.ids })
        // queries default to all pairs; bad sizes are errors naming the argument
        let all = try Synth.recall(tokenizer: tok, count: 2, length: 2000, pairs: 6...6, seed: 1)
        for (_, labels) in all {
            XCTAssertEqual(zip(labels, labels.dropFirst()).filter { $0.0 == -100 && $0.1 != -100 }.count, 6)
        }
        XCTAssertThrowsError(try Synth.recall(tokenizer: tok, count: 1, length: 50, pairs: 8...8, seed: 1)) { XCTAssertTrue("\($0)".contains("length")) }
        XCTAssertThrowsError(try Synth.recall(tokenizer: tok, count: 1, length: 5000, pairs: 4...8, queries: 5, seed: 1)) { XCTAssertTrue("\($0)".contains("queries")) }
        XCTAssertThrowsError(try Synth.recall(tokenizer: tok, count: 1, length: 5000, pairs: 0...8, seed: 1)) { XCTAssertTrue("\($0)".contains("pairs")) }
        XCTAssertThrowsError(try Synth.recall(tokenizer: tok, count: 1, length: 5000, pairs: 49...49, seed: 1))
    }

    func testShortMixAndPasskey() throws {
        let texts = try Synth.shortText(tokenizer: tok, count: 3, length: 300, seed: 2)
        for t in texts {
            let n = tok.encode(t, bos: true).count
            XCTAssertLessThanOrEqual(n, 300)
            XCTAssertGreaterThan(n, 240)
        }
        // copy lessons: <bos>, x, x with x ordinary tokens; loss on the second telling only
        let ordinary = Set(Synth.ordinaryIDs(tok))
        XCTAssertFalse(ordinary.contains(tok.encode(" ", bos: false)[0]), "whitespace alone is not copied")
        XCTAssertFalse(ordinary.contains(tok.bosID!))
        XCTAssertTrue(ordinary.isSuperset(of: tok.encode("Secret_code", bos: false)))
        let lessons = try Synth.copyLessons(tokenizer: tok, count: 4, length: 101, seed: 4)
        for (ids, labels) in lessons {
            XCTAssertEqual(ids.count, 101)
            XCTAssertEqual(ids[0], tok.bosID)
            let x = Array(ids[1...50])
            XCTAssertEqual(Array(ids[51...]), x, "told twice")
            XCTAssertEqual(Array(labels[..<51]), Array(repeating: -100, count: 51))
            XCTAssertEqual(Array(labels[51...]), x, "loss on the second telling")
            XCTAssertTrue(ordinary.isSuperset(of: x))
            XCTAssertGreaterThan(Set(x).count, 10, "random tokens, not one repeated")
        }
        XCTAssertNotEqual(lessons[0].ids, lessons[1].ids)
        XCTAssertEqual(try Synth.copyLessons(tokenizer: tok, count: 4, length: 101, seed: 4).map { $0.ids }, lessons.map { $0.ids })
        XCTAssertThrowsError(try Synth.copyLessons(tokenizer: tok, count: 1, length: 4, seed: 4))
        // distinct: each record from its own few tokens, which repeat
        let few = try Synth.copyLessons(tokenizer: tok, count: 6, length: 81, distinct: 5, seed: 5)
        var sets = Set<Set<Int>>()
        for (ids, _) in few {
            let x = Set(ids[1...40])
            XCTAssertLessThanOrEqual(x.count, 5)
            XCTAssertGreaterThanOrEqual(x.count, 3)
            XCTAssertTrue(ordinary.isSuperset(of: x))
            sets.insert(x)
        }
        XCTAssertGreaterThan(sets.count, 3, "a fresh set of tokens a record")
        XCTAssertThrowsError(try Synth.copyLessons(tokenizer: tok, count: 1, length: 81, distinct: 1, seed: 5))
        let inst = try Synth.shortInstructions(tokenizer: tok, count: 6, length: 400, seed: 2)
        for c in inst {
            XCTAssertLessThanOrEqual(tok.chat(c, generationPrompt: false).count, 400)
            for reply in c where reply.role == "assistant" { XCTAssertTrue(c[0].content.contains(reply.content)) }
        }
        let pk = try Synth.passkey(tokenizer: tok, count: 4, length: 700, seed: 3)
        for c in pk {
            XCTAssertLessThanOrEqual(tok.chat(c, generationPrompt: false).count, 700)
            XCTAssertGreaterThan(tok.chat(c, generationPrompt: false).count, 600)
            guard let key = Score.firstInteger(c[1].content) else { XCTFail("no key"); continue }
            XCTAssertTrue(c[0].content.contains(PasskeyText.informationLine(key)))
        }
    }

    /// The entity protocol scores a model that reads the asked person's code 1, and one that
    /// answers with the first code of the context 1 without distractors but less with them.
    func testEntityNIAHScoresTheAskedPersonsCode() throws {
        func code(of name: String, in text: String) -> String {
            guard let r = text.range(of: "The secret code of \(name) reads ") else { return "none" }
            return String(text[r.upperBound...].prefix(4))
        }
        let reader = ReadingModel(tok) { prompt in
            guard let q = prompt.range(of: "What is the secret code of ", options: .backwards) else { return "" }
            let name = String(prompt[q.upperBound...].prefix { $0 != "?" })
            return "The secret code of \(name) reads \(code(of: name, in: prompt))."
        }
        let first = ReadingModel(tok) { prompt in
            guard let r = prompt.range(of: "The secret code of ") else { return "" }
            return "It is " + String(prompt[r.upperBound...].drop { $0 != " " }.dropFirst(7).prefix(4))
        }
        var c = NIAHConfig(lengths: [500, 900], depths: [0, 0.5, 1])
        c.metric = "substring"
        c.maxTokens = 40
        let good = try NIAH.run(model: reader, tokenizer: tok, haystack: .entities(seed: 1, samples: 4, distractors: 3), config: c)
        XCTAssertEqual(good.mean, 1)
        XCTAssertEqual(reader.prompts.count, 2 * 3 * 4)
        let plain = try NIAH.run(model: first, tokenizer: tok, haystack: .entities(seed: 1, samples: 4, distractors: 0), config: c)
        XCTAssertEqual(plain.mean, 1)
        let fooled = try NIAH.run(model: first, tokenizer: tok, haystack: .entities(seed: 1, samples: 4, distractors: 3), config: c)
        XCTAssertLessThan(fooled.mean, 0.6)
        // the same seed gives the same cases; prompts fill their length
        for p in reader.prompts { XCTAssertLessThanOrEqual(p.count, 900) }
        checkMisses(good, fooled, c)
    }

    /// `misses` lists exactly the cases that scored below 1, in the grid's order, and a resumed
    /// run gives them back.
    func checkMisses(_ good: NIAHResult, _ fooled: NIAHResult, _ config: NIAHConfig) {
        XCTAssertEqual(good.misses, [])
        guard let misses = fooled.misses else { XCTFail("the entities protocol lists its misses"); return }
        XCTAssertFalse(misses.isEmpty)
        for (j, l) in config.lengths.enumerated() {
            for (i, d) in config.depths.enumerated() {
                let cell = misses.filter { $0.length == l && $0.depth == d }
                // substring scoring: each case 1 or 0
                XCTAssertEqual(fooled.grid[i][j], Double(4 - cell.count) / 4, "length \(l) depth \(d)")
                XCTAssertEqual(cell.map(\.sample), cell.map(\.sample).sorted())
                XCTAssertEqual(Set(cell.map(\.sample)).count, cell.count)
            }
        }
        for m in misses {
            XCTAssertEqual(m.score, 0)
            XCTAssertTrue((0..<4).contains(m.sample))
            XCTAssertTrue(m.needle.contains("The secret code of ") && m.needle.contains(m.code), m.needle)
            XCTAssertFalse(m.answer.contains(m.code), "\(m.answer) holds \(m.code)")
        }
        let order = misses.map { m in [config.lengths.firstIndex(of: m.length)!, config.depths.firstIndex(of: m.depth)!, m.sample] }
        XCTAssertEqual(order, order.sorted { $0.lexicographicallyPrecedes($1) })
        XCTAssertNil(NIAHResult(lengths: [1], depths: [0], grid: [[1]], answers: [["a"]], metric: "rougeL", needle: "n",
                                question: "q", reference: "n", promptTokens: [1]).misses)
    }

    func testEntityNIAHMissesSurviveAResume() throws {
        let first = ReadingModel(tok) { prompt in
            guard let r = prompt.range(of: "The secret code of ") else { return "" }
            return "It is " + String(prompt[r.upperBound...].drop { $0 != " " }.dropFirst(7).prefix(4))
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llx-misses-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = NIAHConfig(lengths: [500, 900], depths: [0, 1])
        c.metric = "substring"
        c.maxTokens = 40
        c.resumePath = dir + "/niah.json"
        let once = try NIAH.run(model: first, tokenizer: tok, haystack: .entities(seed: 2, samples: 4, distractors: 3), config: c)
        let asked = first.prompts.count
        let again = try NIAH.run(model: first, tokenizer: tok, haystack: .entities(seed: 2, samples: 4, distractors: 3), config: c)
        XCTAssertEqual(first.prompts.count, asked, "every cell resumed")
        XCTAssertFalse((once.misses ?? []).isEmpty)
        XCTAssertEqual(again.misses, once.misses)
        XCTAssertEqual(again.grid, once.grid)
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

    /// Log axes: decade ticks labelled 1, 10, 100 (and 2x, 5x within few decades), each point at
    /// the coordinate log10 puts it; a legend entry per series; non-positive values left out.
    func testLineLogScalesLegendAndGrid() throws {
        let a = Series(label: "rank 4", xs: [1, 10, 100, 1000], ys: [1, 0.1, 0.01, 0.001])
        let b = Series(label: "rank 16", xs: [1, 10, 100, 1000], ys: [2, 0.2, 0.02, 0])   // 0: not on a log axis
        let fig = Plot.line([a, b], title: "decay", xTitle: "step", yTitle: "loss", xScale: .log, yScale: .log)
        let svg = fig.svg
        // one legend entry per series
        XCTAssertEqual(svg.components(separatedBy: "<g class=\"legend\">").count - 1, 2)
        XCTAssertTrue(svg.contains(">rank 4</text>") && svg.contains(">rank 16</text>"))
        // x ticks at the decades 1 .. 1000 (four decades: no 2x/5x), labelled as numbers
        let xTickCount = svg.components(separatedBy: "class=\"xtick\"").count - 1
        XCTAssertEqual(xTickCount, 4)
        for label in [">1</text>", ">10</text>", ">100</text>", ">1k</text>"] { XCTAssertTrue(svg.contains(label), label) }
        // y spans 1e-3 .. 2 (padded): small values are written 0.001, 0.01
        XCTAssertTrue(svg.contains(">0.001</text>") && svg.contains(">0.01</text>"))
        XCTAssertTrue(svg.contains("step (log)") && svg.contains("loss (log)"))
        // the points land where the frame puts them: x = left + (log10(x) - x0) / (x1 - x0) * width
        let fr = Plot.frame([a, b], xScale: .log, yScale: .log)
        XCTAssertEqual(fr.x0, 0, accuracy: 1e-12)
        XCTAssertEqual(fr.x1, 3, accuracy: 1e-12)
        let x10 = fr.px(10)!, y01 = fr.py(0.1)!
        XCTAssertEqual(x10, fr.left + fr.width / 3, accuracy: 1e-9)
        XCTAssertTrue(svg.contains("<circle cx=\"\(x10)\" cy=\"\(y01)\""), "point (10, 0.1) at (\(x10), \(y01))")
        XCTAssertNil(fr.py(0))
        // rank 16 keeps three points (its 0 is left out): 4 + 3 circles
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 7)
        XCTAssertTrue(fig.plain.contains("rank 16") && fig.plain.contains("1k"))
        // a linear axis is unchanged: point (10, 0.1) at its linear place
        let lin = Plot.frame([a])
        XCTAssertEqual(lin.px(1)!, lin.left, accuracy: 1e-9)
        XCTAssertEqual(Plot.logTicks(0, 1), [1, 2, 5, 10])
        XCTAssertEqual(Plot.logLabel(1e-5), "1e-5")
        XCTAssertEqual(Plot.logLabel(2e7), "2e7")

        // small multiples: two figures in two columns, nested at their cells
        let g = Plot.grid([fig, Plot.line([1, 2, 3], [3, 1, 2], label: "c")], cols: 2, title: "runs")
        let (w1, h1) = Plot.svgSize(fig.svg)
        XCTAssertGreaterThan(w1, 0)
        XCTAssertEqual(g.svg.components(separatedBy: "<svg ").count - 1, 3)
        XCTAssertTrue(g.svg.contains("<svg x=\"0.0\" y=\"36.0\" "))
        XCTAssertTrue(g.svg.contains("<svg x=\"\(w1)\" y=\"36.0\" "))
        let (gw, gh) = Plot.svgSize(g.svg)
        XCTAssertEqual(gw, 2 * w1)
        XCTAssertEqual(gh, 36 + h1)
        XCTAssertTrue(g.plain.hasPrefix("runs\n") && g.plain.contains("rank 4") && g.plain.contains("● c"))
    }
}

/// Writes sample figures for a person to look at when LLX_EVAL_FIGURES names a folder.
final class FigureDumpTests: XCTestCase {
    func testDumpFigures() throws {
        guard let dir = ProcessInfo.processInfo.environment["LLX_EVAL_FIGURES"] else {
            throw XCTSkip("writes sample figures for a person to look at: set LLX_EVAL_FIGURES to a folder")
        }
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
