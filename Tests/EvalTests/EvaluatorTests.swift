// EvaluatorTests: NIAH, passkey, topics, perplexity, multiple choice and QA against stub models
// whose right scores are known, resuming and cancelling, and result round trips.
import Eval
import NN
import Foundation
import Tensor
import Tokenizer
import XCTest

final class EvaluatorTests: XCTestCase {
    let tok = Tokenizers.bytes()

    func niahConfig(_ lengths: [Int] = [700, 1200, 2000], depths: Int = 5) throws -> NIAHConfig {
        var c = NIAHConfig(lengths: lengths, depths: try NIAHConfig.depths(count: depths))
        c.maxTokens = 200
        return c
    }

    func testNIAHPerfectAndSilentModels() throws {
        let c = try niahConfig()
        let perfect = FixedAnswerModel(tok, answer: c.needle)
        let r = try NIAH.run(model: perfect, tokenizer: tok, haystack: .synthetic(seed: 1), config: c)
        XCTAssertEqual(r.grid.count, 5)
        XCTAssertEqual(r.grid[0].count, 3)
        for v in r.grid.joined() { XCTAssertEqual(v, 1.0, accuracy: 1e-6) }
        XCTAssertEqual(r.mean, 1.0, accuracy: 1e-6)
        XCTAssertEqual(perfect.calls, 15)

        let silent = FixedAnswerModel(tok, answer: "")
        let z = try NIAH.run(model: silent, tokenizer: tok, haystack: .synthetic(seed: 1), config: c)
        XCTAssertEqual(z.mean, 0.0)
        XCTAssertTrue(z.grid.joined().allSatisfy { $0 == 0 })

        var ex = c
        ex.metric = "substring"
        ex.answer = "Dolores Park"
        let s = try NIAH.run(model: FixedAnswerModel(tok, answer: "Sitting in dolores park, surely."), tokenizer: tok,
                             haystack: .text("The sky is blue. The grass is green. "), config: ex)
        XCTAssertEqual(s.mean, 1.0)
    }

    /// A model that only "sees" the first half of the haystack: the grid must show where the
    /// needle was put, and each prompt must be near its length with the needle after a '.'.
    func testNIAHNeedlePlacementAndLengths() throws {
        let c = try niahConfig([800, 1600], depths: 5)
        let needleCore = "The best thing to do in San Francisco"
        let model = ReadingModel(tok) { prompt in
            guard let start = prompt.range(of: "memorize it. I will quiz you about the important information there.\n"),
                  let end = prompt.range(of: "What is the best thing to do"),
                  let n = prompt.range(of: needleCore) else { return "" }
            let total = prompt.distance(from: start.upperBound, to: end.lowerBound)
            let at = prompt.distance(from: start.upperBound, to: n.lowerBound)
            return Double(at) / Double(total) < 0.5 ? c.needle : "no idea"
        }
        let r = try NIAH.run(model: model, tokenizer: tok, haystack: .synthetic(seed: 3), config: c)
        // depths 0, 25% see it; 75%, 100% do not
        for j in 0..<2 {
            XCTAssertEqual(r.grid[0][j], 1, accuracy: 1e-6)
            XCTAssertEqual(r.grid[1][j], 1, accuracy: 1e-6)
            XCTAssertEqual(r.grid[3][j], 0)
            XCTAssertEqual(r.grid[4][j], 0)
        }
        let header = tok.chat([ChatMessage(role: "user", content: "")], generationPrompt: true).count
        for (k, p) in model.prompts.enumerated() {
            let length = c.lengths[k / 5]
            XCTAssertLessThanOrEqual(abs(p.count - header - length), 4, "prompt \(k): \(p.count) tokens for length \(length)")
            let text = tok.decode(p)
            guard let n = text.range(of: c.needle) else { XCTFail("needle missing in prompt \(k)"); continue }
            if k % 5 == 4 { continue }  // depth 100%: appended at the very end, as the reference does
            let before = text[..<n.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertTrue(before.hasSuffix(".") || before.hasSuffix("there."), "needle not at a sentence end in prompt \(k)")
        }
    }

    func testNIAHResumeAndCancel() throws {
        let path = NSTemporaryDirectory() + "llx-niah-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var c = try niahConfig([700, 900], depths: 3)
        c.resumePath = path
        let m1 = FixedAnswerModel(tok, answer: c.needle)
        var progress: [Int] = []
        // the token is set once the model has answered four prompts (as Ctrl-C would set it)
        let token = CancellationToken()
        let hooks = EvalHooks(progress: { p in progress.append(p.done); if m1.calls >= 4 { token.cancel() } }, cancel: token)
        // the stopped run returns its four finished cells, marked interrupted (issue 14: an
        // interrupted evaluation returned nothing), the others NaN / nil in the same grid
        let stopped = try NIAH.run(model: m1, tokenizer: tok, haystack: .synthetic(seed: 2), config: c, hooks: hooks)
        XCTAssertEqual(stopped.interrupted, true)
        XCTAssertTrue(token.isCancelled, "the stop request is left for the caller")
        XCTAssertEqual(m1.calls, 4)
        XCTAssertEqual(progress.last, 4)
        XCTAssertEqual(stopped.grid.count, 3)
        XCTAssertEqual(stopped.grid.joined().filter { abs($0 - 1) < 1e-6 }.count, 4)
        XCTAssertEqual(stopped.grid.joined().filter { $0.isNaN }.count, 2)
        XCTAssertEqual(stopped.answers.joined().filter { $0 == nil }.count, 2)
        XCTAssertEqual(stopped.mean, 1, accuracy: 1e-6)
        XCTAssertTrue(stopped.table.contains("(interrupted: 4 of 6 cells)"), stopped.table)
        let back = try NIAHResult.fromJSON(try stopped.toJSON())
        XCTAssertEqual(back.interrupted, true)
        XCTAssertEqual(try back.toJSON(), try stopped.toJSON())
        let partial = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        XCTAssertEqual(partial["llx_partial_results"] as? String, "niah")
        XCTAssertEqual((partial["units"] as? [String: Any])?.count, 4)
        let m2 = FixedAnswerModel(tok, answer: c.needle)
        let r = try NIAH.run(model: m2, tokenizer: tok, haystack: .synthetic(seed: 2), config: c)
        XCTAssertEqual(m2.calls, 2)
        XCTAssertTrue(r.complete)
        XCTAssertNil(r.interrupted)
        XCTAssertFalse(try r.toJSON().contains("interrupted"), "a whole result is written as before")
        XCTAssertEqual(r.mean, 1, accuracy: 1e-6)
        // a partial file from another needle is refused
        var other = c
        other.needle = "Something else entirely."
        XCTAssertThrowsError(try NIAH.run(model: m2, tokenizer: tok, haystack: .synthetic(seed: 2), config: other)) { e in
            XCTAssertTrue("\(e)".contains("another needle"), "\(e)")
        }
        // so is one from another haystack, instruction, chat setting or model, each named
        XCTAssertThrowsError(try NIAH.run(model: m2, tokenizer: tok, haystack: .synthetic(seed: 3), config: c)) { e in
            XCTAssertTrue("\(e)".contains("another haystack"), "\(e)")
        }
        var instr = c
        instr.instruction = "Read this.\n"
        XCTAssertThrowsError(try NIAH.run(model: m2, tokenizer: tok, haystack: .synthetic(seed: 2), config: instr)) { e in
            XCTAssertTrue("\(e)".contains("another instruction"), "\(e)")
        }
        var plain = c
        plain.chat = false
        XCTAssertThrowsError(try NIAH.run(model: m2, tokenizer: tok, haystack: .synthetic(seed: 2), config: plain)) { e in
            XCTAssertTrue("\(e)".contains("another chat"), "\(e)")
        }
        XCTAssertThrowsError(try NIAH.run(model: CountingModel(m2, shift: -0.5), tokenizer: tok, haystack: .synthetic(seed: 2), config: c)) { e in
            XCTAssertTrue("\(e)".contains("another model"), "\(e)")
        }
        try "garbage".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try NIAH.run(model: m2, tokenizer: tok, haystack: .synthetic(seed: 2), config: c)) { e in
            XCTAssertTrue("\(e)".hasPrefix(path), "\(e)")
        }
    }

    /// Cancels a run once `cancelAt` units are reported done, then resumes it with a fresh model:
    /// the resumed result equals the uninterrupted one, and only the units left are run.
    /// The stopped run returns the finished units marked interrupted (`partial` checks them
    /// against the uninterrupted result), and its JSON round trip keeps the mark.
    func interruptAndResume<R: EvalResult>(_ name: String, cancelAt: Int, path: String,
                                           run: (EvalModel, String?, EvalHooks) throws -> R,
                                           make: () -> CountingModel, calls: (CountingModel) -> Int, remainingCalls: Int,
                                           partial: (R, R) throws -> Void) throws {
        let full = try run(make(), nil, .none)
        XCTAssertNil(full.interrupted, name)
        let token = CancellationToken()
        let hooks = EvalHooks(progress: { p in if p.done >= cancelAt { token.cancel() } }, cancel: token)
        let stopped = try run(make(), path, hooks)
        XCTAssertEqual(stopped.interrupted, true, name)
        XCTAssertTrue(token.isCancelled, "\(name): the stop request is left for the caller")
        XCTAssertTrue(stopped.table.contains("(interrupted"), "\(name): \(stopped.table)")
        try partial(stopped, full)
        let back = try EvalResults.fromJSON(try stopped.toJSON())
        XCTAssertEqual(back.interrupted, true, name)
        XCTAssertEqual(try back.toJSON(), try stopped.toJSON(), name)
        _ = stopped.figure()   // draws with the units not run left out
        let m = make()
        let resumed = try run(m, path, .none)
        XCTAssertNil(resumed.interrupted, name)
        XCTAssertEqual(calls(m), remainingCalls, name)
        XCTAssertEqual(try resumed.toJSON(), try full.toJSON(), name)
        // another model (same answers, other log-probabilities) is refused, named
        XCTAssertThrowsError(try run(CountingModel(make(), shift: -0.25), path, .none), name) { e in
            XCTAssertTrue("\(e)".contains("partial results were made with another model"), "\(name): \(e)")
        }
    }

    /// Ctrl-C while the model answers: generation returns the answer cut short, and the
    /// evaluator must neither score it nor save it as a finished unit (it did: a resume then
    /// kept the cut answer's score).
    func testAnAnswerCutShortByTheStopIsNotAFinishedUnit() throws {
        let dir = NSTemporaryDirectory() + "llx-cut-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func units(_ path: String) throws -> Int {
            let o = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
            return (o?["units"] as? [String: Any])?.count ?? -1
        }
        var c = try niahConfig([700, 900], depths: 3)
        c.resumePath = dir + "/niah.json"
        let token = CancellationToken()
        let m = StoppedWhileAnsweringModel(tok, answer: c.needle, stopAt: 3)
        let r = try NIAH.run(model: m, tokenizer: tok, haystack: .synthetic(seed: 2), config: c, hooks: EvalHooks(cancel: token))
        XCTAssertEqual(r.interrupted, true)
        XCTAssertEqual(r.answers.joined().filter { $0 != nil }.count, 2, "the third answer was cut short")
        XCTAssertEqual(r.grid.joined().filter { abs($0 - 1) < 1e-6 }.count, 2)
        XCTAssertEqual(try units(dir + "/niah.json"), 2)

        var pc = PasskeyConfig(lengths: [400], depths: [0, 1])
        pc.resumePath = dir + "/pk.json"
        let pm = StoppedWhileAnsweringModel(tok, answer: " 12345.", stopAt: 2)
        let p = try Passkey.run(model: pm, tokenizer: tok, config: pc, hooks: EvalHooks(cancel: CancellationToken()))
        XCTAssertEqual(p.interrupted, true)
        XCTAssertEqual(p.grid.joined().filter { $0.isFinite }.count, 1)
        XCTAssertEqual(try units(dir + "/pk.json"), 1)

        var tc = TopicsConfig(counts: [1, 2])
        tc.trials = 1; tc.turnTokens = 20; tc.resumePath = dir + "/topics.json"
        let t = try Topics.run(model: StoppedWhileAnsweringModel(tok, answer: "the topic", stopAt: 2), tokenizer: tok, config: tc,
                               hooks: EvalHooks(cancel: CancellationToken()))
        XCTAssertEqual(t.interrupted, true)
        XCTAssertEqual(t.accuracy.filter { $0.isFinite }.count, 1)
        XCTAssertEqual(t.answers[1], [])
        XCTAssertEqual(try units(dir + "/topics.json"), 1)

        var qc = QAConfig(metric: "f1")
        qc.maxLen = 400; qc.resumePath = dir + "/qa.json"
        let items = [QAItem(input: "Where?", context: "The tower is in a city with a long name: Paris.", answers: ["in Paris"]),
                     QAItem(input: "Who?", context: "Marie Curie did.", answers: ["in Paris"])]
        let q = try QA.run(model: StoppedWhileAnsweringModel(tok, answer: "in Paris", stopAt: 2), tokenizer: tok, items: items, config: qc,
                           hooks: EvalHooks(cancel: CancellationToken()))
        XCTAssertEqual(q.interrupted, true)
        XCTAssertEqual(q.scores, [1])
        XCTAssertEqual(q.truncated, 0)
        XCTAssertEqual(try units(dir + "/qa.json"), 1)
    }

    func assertRefused(_ field: String, _ body: @autoclosure () throws -> Any) {
        XCTAssertThrowsError(try body(), field) { e in
            XCTAssertTrue("\(e)".contains("partial results were made with another \(field):"), "\(field): \(e)")
        }
    }

    func testEveryEvaluatorResumesExactlyAndRefusesAnotherSetting() throws {
        let dir = NSTemporaryDirectory() + "llx-resume-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tok = self.tok
        // passkey: 2 lengths x 3 depths x 2 trials; cut after 2 cells (4 answers)
        var pk = PasskeyConfig(lengths: [400, 900], depths: [0, 0.5, 1])
        pk.trials = 2
        pk.seed = 7
        let reader = { CountingModel(ReadingModel(tok) { prompt in
            guard let r = prompt.range(of: "The pass key is ") else { return "" }
            return " " + prompt[r.upperBound...].prefix { $0.isNumber } + ". Remember"
        }) }
        try interruptAndResume("passkey", cancelAt: 4, path: dir + "/pk.json", run: { m, p, h in
            var c = pk; c.resumePath = p
            return try Passkey.run(model: m, tokenizer: tok, config: c, hooks: h)
        }, make: reader, calls: { $0.generates }, remainingCalls: 8, partial: { s, full in
            // two whole cells (both trials each) at the first length; the others not run
            XCTAssertEqual(s.grid.joined().filter { $0.isFinite }.count, 2)
            for i in 0..<2 { XCTAssertEqual(s.grid[i][0], full.grid[i][0]); XCTAssertEqual(s.keys[i][0], full.keys[i][0]); XCTAssertEqual(s.answers[i][0], full.answers[i][0]) }
            XCTAssertTrue(s.grid[2][0].isNaN && s.keys[2][0].isEmpty && s.answers[2][0].isEmpty)
            XCTAssertTrue(s.table.contains("(interrupted: 2 of 6 cells)"), s.table)
        })
        for (field, change) in [("seed", { (c: inout PasskeyConfig) in c.seed = 8 }), ("trials", { $0.trials = 3 }),
                                ("lengths", { $0.lengths = [400] }), ("chat", { $0.chat = true }), ("max_tokens", { $0.maxTokens = 11 })] {
            var c = pk; c.resumePath = dir + "/pk.json"; change(&c)
            assertRefused(field, try Passkey.run(model: reader(), tokenizer: tok, config: c))
        }
        assertRefused("tokenizer", try Passkey.run(model: reader(), tokenizer: WiderVocab(tok), config: { var c = pk; c.resumePath = dir + "/pk.json"; return c }()))

        // topics: 2 counts x 3 trials; cut after 4 trials
        var tc = TopicsConfig(counts: [1, 3])
        tc.trials = 3
        tc.turnTokens = 40
        tc.maxTokens = 200
        let first = { CountingModel(ReadingModel(tok) { p in
            let t = p.components(separatedBy: "I would like to discuss the topic of ").dropFirst().first ?? ""
            return "It was " + (t.components(separatedBy: ".\nASSISTANT").first ?? "?")
        }) }
        try interruptAndResume("topics", cancelAt: 4, path: dir + "/topics.json", run: { m, p, h in
            var c = tc; c.resumePath = p
            return try Topics.run(model: m, tokenizer: tok, config: c, hooks: h)
        }, make: first, calls: { $0.generates }, remainingCalls: 2, partial: { s, full in
            // the first count whole (3 trials); the second had 1 of 3: not a finished count
            XCTAssertEqual(s.counts, full.counts)
            XCTAssertEqual(s.accuracy[0], full.accuracy[0])
            XCTAssertTrue(s.accuracy[1].isNaN)
            XCTAssertEqual(s.answers[0], full.answers[0]); XCTAssertEqual(s.firstTopics[0], full.firstTopics[0])
            XCTAssertEqual(s.answers[1], []); XCTAssertEqual(s.promptTokens[1], 0)
            XCTAssertEqual(s.mean, full.accuracy[0])
        })
        assertRefused("turn_tokens", try Topics.run(model: first(), tokenizer: tok, config: { var c = tc; c.resumePath = dir + "/topics.json"; c.turnTokens = 41; return c }()))

        // ppl: 2 texts, windows of 5 every 3 tokens; cut after 3 windows (one log-prob call each,
        // plus the probe of the model's fingerprint)
        let texts = ["hello world, a text", "a longer text here to score"]
        let windows = texts.map { tok.encode($0, bos: true).count }.reduce(0) { $0 + ($1 - 5 + 2) / 3 + 1 }
        try interruptAndResume("ppl", cancelAt: 3, path: dir + "/ppl.json", run: { m, p, h in
            try Perplexity.run(model: m, tokenizer: tok, texts: texts, window: 5, stride: 3, hooks: h, resume: p)
        }, make: { CountingModel(PositionalLogProbModel()) }, calls: { $0.logProbCalls }, remainingCalls: 1 + windows - 3, partial: { s, full in
            // three windows of the first document: it stands for those windows only
            XCTAssertEqual(s.windowNLL, Array(full.windowNLL.prefix(3)))
            XCTAssertEqual(s.windowTokens, Array(full.windowTokens.prefix(3)))
            XCTAssertEqual(s.documentTokens, [s.windowTokens.reduce(0, +)])
            let nll = zip(s.windowNLL, s.windowTokens).map { $0 * Double($1) }.reduce(0, +) / Double(s.windowTokens.reduce(0, +))
            XCTAssertEqual(s.nll, nll, accuracy: 1e-12)
            XCTAssertLessThan(s.documentTokens[0], full.documentTokens[0])
        })
        assertRefused("stride", try Perplexity.run(model: CountingModel(PositionalLogProbModel()), tokenizer: tok, texts: texts, window: 5, stride: 2, resume: dir + "/ppl.json"))
        assertRefused("data", try Perplexity.run(model: CountingModel(PositionalLogProbModel()), tokenizer: tok, texts: texts + ["more"], window: 5, stride: 3, resume: dir + "/ppl.json"))

        // mc: 4 items of 4 choices (one log-prob call a choice); cut after 2 items
        let items = try MultipleChoice.parse(csv: "What is 2+2?,3,4,5,6,B\nLargest planet?,Jupiter,Mars,Venus,Earth,A\nRed?,sky,grass,blood,snow,C\nCold?,fire,ice,sun,lava,B\n", subject: "misc")
        let letters = { CountingModel(LetterModel(tok) { $0.contains("2+2") ? "B" : "A" }) }
        try interruptAndResume("mc", cancelAt: 2, path: dir + "/mc.json", run: { m, p, h in
            try MultipleChoice.run(model: m, tokenizer: tok, items: items, hooks: h, resume: p)
        }, make: letters, calls: { $0.logProbCalls }, remainingCalls: 1 + 2 * 4, partial: { s, full in
            // the first two questions, their labels, and the accuracy over them
            XCTAssertEqual(s.predictions, Array(full.predictions.prefix(2)))
            XCTAssertEqual(s.labels, Array(full.labels.prefix(2)))
            XCTAssertEqual(s.nll, Array(full.nll.prefix(2)))
            XCTAssertEqual(s.subjectCounts, [2])
            XCTAssertEqual(s.accuracy, Double(zip(s.predictions, s.labels).filter { $0 == $1 }.count) / 2)
        })
        assertRefused("data", try MultipleChoice.run(model: letters(), tokenizer: tok, items: Array(items.reversed()), resume: dir + "/mc.json"))

        // qa: 3 items; cut after 1
        let qa = [QAItem(input: "Where?", context: "The tower is in Paris.", answers: ["Paris"]),
                  QAItem(input: "Who?", context: "Marie Curie did.", answers: ["Marie Curie"]),
                  QAItem(input: "When?", context: "In 1900.", answers: ["1900"])]
        var qc = QAConfig(metric: "f1")
        qc.maxLen = 400
        let echo = { CountingModel(ReadingModel(tok) { $0.contains("tower") ? "in Paris" : "no idea" }) }
        try interruptAndResume("qa", cancelAt: 1, path: dir + "/qa.json", run: { m, p, h in
            var c = qc; c.resumePath = p
            return try QA.run(model: m, tokenizer: tok, items: qa, config: c, hooks: h)
        }, make: echo, calls: { $0.generates }, remainingCalls: 2, partial: { s, full in
            XCTAssertEqual(s.scores, Array(full.scores.prefix(1)))
            XCTAssertEqual(s.predictions, Array(full.predictions.prefix(1)))
            XCTAssertEqual(s.promptTokens, Array(full.promptTokens.prefix(1)))
            XCTAssertEqual(s.mean, full.scores[0])
        })
        assertRefused("metric", try QA.run(model: echo(), tokenizer: tok, items: qa, config: { var c = qc; c.resumePath = dir + "/qa.json"; c.metric = "rougeL"; return c }()))
        assertRefused("template", try QA.run(model: echo(), tokenizer: tok, items: qa, config: { var c = qc; c.resumePath = dir + "/qa.json"; c.template = "{input}"; return c }()))

        // a file of another evaluator is refused
        XCTAssertThrowsError(try QA.run(model: echo(), tokenizer: tok, items: qa, config: { var c = qc; c.resumePath = dir + "/mc.json"; return c }())) { e in
            XCTAssertTrue("\(e)".contains("holds partial results of eval.mc, not eval.qa"), "\(e)")
        }
    }

    func testNIAHHaystackFolderAndErrors() throws {
        let dir = NSTemporaryDirectory() + "llx-hay-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "Alpha beta gamma. Delta epsilon.".write(toFile: dir + "/a.txt", atomically: true, encoding: .utf8)
        try "Zeta eta theta. Iota kappa.".write(toFile: dir + "/b.txt", atomically: true, encoding: .utf8)
        let c = try niahConfig([600], depths: 2)
        let model = ReadingModel(tok) { _ in "" }
        _ = try NIAH.run(model: model, tokenizer: tok, haystack: .folder(dir), config: c)
        XCTAssertTrue(tok.decode(model.prompts[0]).contains("Alpha beta gamma. Delta epsilon.Zeta eta"))
        XCTAssertThrowsError(try NIAH.run(model: model, tokenizer: tok, haystack: .folder(dir + "/missing"), config: c))
        XCTAssertThrowsError(try NIAH.run(model: model, tokenizer: tok, haystack: .synthetic(seed: 0), config: try niahConfig([100])))
        XCTAssertEqual(try NIAHConfig.depths(count: 3), [0, 0.5, 1])
        XCTAssertEqual(try NIAHConfig.depths(count: 8).map { Int(($0 * 100).rounded()) }, [0, 14, 28, 42, 57, 71, 85, 100])
        XCTAssertEqual(try NIAHConfig.depths(count: 11).map { Int(($0 * 100).rounded()) }, Array(stride(from: 0, through: 100, by: 10)))
        XCTAssertEqual(try NIAHConfig.depths(list: [0, 50, 100]), [0, 0.5, 1])
        // np.linspace(8192, 131072, 10).astype(int)
        XCTAssertEqual(try NIAHConfig.lengths(min: 8192, max: 131072, count: 10),
                       [8192, 21845, 35498, 49152, 62805, 76458, 90112, 103765, 117418, 131072])
        XCTAssertThrowsError(try NIAHConfig.depths(list: [-0.5]))
        // a list that mixes fractions with percents is refused, not read as 0%, 0.5%, 1.5%
        XCTAssertEqual(try NIAHConfig.depths(list: [0, 0.25, 1]), [0, 0.25, 1])
        XCTAssertThrowsError(try NIAHConfig.depths(list: [0.0, 0.5, 1.5])) { e in
            XCTAssertTrue("\(e)".contains("[0.0, 0.5, 1.5] is ambiguous"), "\(e)")
        }
        XCTAssertThrowsError(try NIAHConfig.depths(list: [1, 50]))
        XCTAssertThrowsError(try NIAHConfig.depths(list: [.nan]))
        var bad = c
        bad.metric = "bleu"
        XCTAssertThrowsError(try NIAH.run(model: model, tokenizer: tok, haystack: .synthetic(seed: 0), config: bad))
    }

    func testPasskey() throws {
        var c = PasskeyConfig(lengths: [400, 900], depths: [0, 0.5, 1])
        c.trials = 2
        c.seed = 7
        let reader = ReadingModel(tok) { prompt in
            guard let r = prompt.range(of: "The pass key is ") else { return "" }
            return " " + prompt[r.upperBound...].prefix { $0.isNumber } + ". Remember"
        }
        let r = try Passkey.run(model: reader, tokenizer: tok, config: c)
        XCTAssertEqual(r.accuracy, 1)
        XCTAssertEqual(reader.prompts.count, 12)
        for (k, p) in reader.prompts.enumerated() {
            let length = c.lengths[k / 6]
            XCTAssertLessThanOrEqual(abs(p.count - length), 8, "prompt \(k) has \(p.count) tokens for \(length)")
            let text = tok.decode(p)
            XCTAssertTrue(text.hasSuffix("What is the pass key? The pass key is"))
            XCTAssertTrue(text.contains("The grass is green. The sky is blue."))
        }
        // depth 0: the key line comes right after the task description
        XCTAssertTrue(tok.decode(reader.prompts[0]).contains("the important information there.\n\nThe pass key is"))
        let keys = r.keys.joined().joined()
        XCTAssertEqual(Set(keys).count, keys.count)
        XCTAssertTrue(keys.allSatisfy { (1...50000).contains($0) })
        let wrong = try Passkey.run(model: FixedAnswerModel(tok, answer: " 0"), tokenizer: tok, config: c)
        XCTAssertEqual(wrong.accuracy, 0)
        let again = try Passkey.run(model: reader, tokenizer: tok, config: c)
        XCTAssertEqual(again.keys, r.keys)
    }

    func testTopics() throws {
        var c = TopicsConfig(counts: [1, 3, 5])
        c.trials = 3
        c.turnTokens = 60
        c.maxTokens = 200
        func topics(_ prompt: String) -> [String] {
            prompt.components(separatedBy: "I would like to discuss the topic of ").dropFirst().compactMap { s in
                s.range(of: ".\nASSISTANT").map { String(s[..<$0.lowerBound]) }
            }
        }
        let first = ReadingModel(tok) { "The first topic was " + (topics($0).first ?? "?") + "." }
        let r = try Topics.run(model: first, tokenizer: tok, config: c)
        XCTAssertEqual(r.accuracy, [1, 1, 1])
        XCTAssertEqual(topics(tok.decode(first.prompts[4])).count, 3)
        let last = ReadingModel(tok) { topics($0).last ?? "" }
        let l = try Topics.run(model: last, tokenizer: tok, config: c)
        XCTAssertEqual(l.accuracy, [1, 0, 0])
        XCTAssertThrowsError(try Topics.run(model: last, tokenizer: tok, config: TopicsConfig(counts: [0])))
    }

    func testPerplexityWindows() throws {
        let doc = Array(0..<10)
        let m = PositionalLogProbModel()
        let r = try Perplexity.run(model: m, documents: [doc], window: 4, stride: 2)
        // windows [0,4) scores positions 1,2,3; [2,6), [4,8), [6,10) each score their last 2
        XCTAssertEqual(m.chunks, [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]])
        XCTAssertEqual(r.tokens, 9)
        XCTAssertEqual(r.nll, 21.0 / 9.0, accuracy: 1e-12)
        XCTAssertEqual(r.ppl, exp(21.0 / 9.0), accuracy: 1e-9)
        // the guide's weighting: window means 2, 2.5, 2.5, 2.5 with weights 3, 1, 1, 1
        XCTAssertEqual(r.guidePPL, exp((2 * 3 + 2.5 * 3) / 6), accuracy: 1e-9)
        let disjoint = try Perplexity.run(model: PositionalLogProbModel(), documents: [doc], window: 4, stride: 4)
        XCTAssertEqual(disjoint.tokens, 7)
        XCTAssertEqual(disjoint.nll, 13.0 / 7.0, accuracy: 1e-12)
        let two = try Perplexity.run(model: ConstantLogProbModel(p: 0.5), tokenizer: tok, texts: ["hello world", "a longer text here"],
                                     window: 5, stride: 3)
        XCTAssertEqual(two.ppl, 2, accuracy: 1e-5)
        XCTAssertEqual(two.tokens, 11 + 18)
        XCTAssertThrowsError(try Perplexity.run(model: m, documents: [doc], window: 4, stride: 5))
    }

    func testMultipleChoice() throws {
        let csv = """
        What is 2+2?,3,4,5,6,B
        "Which, of these, is ""red""?",sky,grass,blood,snow,C
        Largest planet?,Jupiter,Mars,Venus,Earth,A
        """
        var items = try MultipleChoice.parse(csv: csv, subject: "elementary_mathematics")
        items += try MultipleChoice.parse(csv: "Who wrote Hamlet?,Shakespeare,Dante,Homer,Goethe,A\nFirst emperor of Rome?,Nero,Augustus,Caesar,Trajan,B\n",
                                          subject: "world_religions")
        XCTAssertEqual(items[1].question, "Which, of these, is \"red\"?")
        XCTAssertEqual(items[1].answer, 2)
        let answers = Dictionary(uniqueKeysWithValues: items.map { ($0.question, MultipleChoice.letters[$0.answer]) })
        let oracle = LetterModel(tok) { prompt in answers.first { prompt.contains($0.key) }?.value ?? "?" }
        let r = try MultipleChoice.run(model: oracle, tokenizer: tok, items: items)
        XCTAssertEqual(r.accuracy, 1)
        XCTAssertEqual(r.predictions, items.map { $0.answer })
        let alwaysA = try MultipleChoice.run(model: LetterModel(tok) { _ in "A" }, tokenizer: tok, items: items)
        // math: 1/3 right, religions: 1/2 right; categories STEM and Humanities
        XCTAssertEqual(alwaysA.subjects, ["elementary_mathematics", "world_religions"])
        XCTAssertEqual(alwaysA.subjectAccuracy[0], 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(alwaysA.subjectAccuracy[1], 0.5, accuracy: 1e-12)
        XCTAssertEqual(alwaysA.categories, ["STEM", "Humanities"])
        XCTAssertEqual(alwaysA.accuracy, (1.0 / 3 + 0.5) / 2, accuracy: 1e-12)
        XCTAssertEqual(alwaysA.nll[0][0], 0.1, accuracy: 1e-6)
        XCTAssertEqual(alwaysA.nll[0][1], 5, accuracy: 1e-6)
        XCTAssertTrue(MultipleChoice.prompt(items[0]).hasPrefix("The following are multiple choice questions (with answers) about elementary mathematics.\n\nWhat is 2+2?\nA. 3\nB. 4"))
        XCTAssertThrowsError(try MultipleChoice.parse(csv: "q,a,b,c,d,Z\n", subject: "x"))
        XCTAssertEqual(try MultipleChoice.item(["query": "Q?", "choices": ["x", "y"], "answer": 1, "subject": "anatomy"]),
                       MCItem(subject: "anatomy", question: "Q?", choices: ["x", "y"], answer: 1))
        XCTAssertEqual(try MultipleChoice.item(["question": "Q?", "A": "x", "B": "y", "C": "z", "answer": "c"]).answer, 2)
        XCTAssertThrowsError(try MultipleChoice.item(["question": "Q?", "choices": ["x", "y"], "answer": 5]))
        let dir = NSTemporaryDirectory() + "llx-mmlu-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try csv.write(toFile: dir + "/college_physics_test.csv", atomically: true, encoding: .utf8)
        let loaded = try MultipleChoice.load(path: dir)
        XCTAssertEqual(loaded.count, 3)
        XCTAssertEqual(loaded[0].subject, "college_physics")
        XCTAssertThrowsError(try MultipleChoice.parse(csv: "\"open,a,b\n", subject: "x"))
    }

    func testQA() throws {
        let items = [QAItem(input: "Where is the tower?", context: "The tower is in Paris.", answers: ["Paris", "in Paris"]),
                     QAItem(input: "Who?", context: String(repeating: "filler ", count: 300) + "END", answers: ["Marie Curie"])]
        let echo = ReadingModel(tok) { $0.contains("tower") ? "It is in Paris." : "marie curie" }
        var c = QAConfig(metric: "f1")
        c.maxLen = 400
        let r = try QA.run(model: echo, tokenizer: tok, items: items, config: c)
        XCTAssertEqual(r.scores[0], Score.f1("It is in Paris.", "in Paris"), accuracy: 1e-12)
        XCTAssertEqual(r.scores[1], 1)
        XCTAssertEqual(r.truncated, 1)
        let long = tok.decode(echo.prompts[1])
        XCTAssertTrue(long.contains("filler filler"))
        XCTAssertTrue(long.contains("END"))
        XCTAssertLessThan(echo.prompts[1].count, 400 + 40)
        let (cut, was) = QA.truncateMiddle("abcdefghij", tokenizer: tok, maxLen: 4)
        XCTAssertTrue(was)
        XCTAssertEqual(cut, "aij")  // the BOS counts, as with transformers' encode
        let jsonl = NSTemporaryDirectory() + "llx-qa-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: jsonl) }
        try "{\"input\": \"q\", \"context\": \"c\", \"answers\": [\"a\"], \"all_classes\": null}\n\n{\"context\": \"c2\", \"input\": \"q2\", \"answer\": \"b\"}\n"
            .write(toFile: jsonl, atomically: true, encoding: .utf8)
        let loaded = try QA.load(path: jsonl)
        XCTAssertEqual(loaded, [QAItem(input: "q", context: "c", answers: ["a"]), QAItem(input: "q2", context: "c2", answers: ["b"])])
    }

    /// A missing data file was reported as "cannot read as UTF-8".
    func testQADataFileErrorsNameTheProblem() {
        let missing = NSTemporaryDirectory() + "llx-qa-missing-\(UUID().uuidString).jsonl"
        XCTAssertThrowsError(try QA.load(path: missing)) { e in
            XCTAssertTrue("\(e)".contains(missing) && "\(e)".contains("not found"), "\(e)")
        }
        XCTAssertThrowsError(try QA.load(path: NSTemporaryDirectory())) { e in
            XCTAssertTrue("\(e)".contains("is a folder"), "\(e)")
        }
    }
}
