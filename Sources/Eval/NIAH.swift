// NIAH: Needle-in-a-Haystack over a grid of context lengths x needle depths, as the paper's
// evaluation runs it (FlagEmbedding longllm_qlora eval_needle.py, after gkamradt's
// LLMTest_NeedleInAHaystack): instruction prefix + haystack cut to the length minus the prompt
// budget, with the needle inserted at the depth and moved back to the previous sentence end,
// then the question; the whole text as one user turn of the Llama-3 chat template; greedy
// decoding of up to 50 tokens; ROUGE-L F against the needle (or "exact" / "substring").
// The haystack is tokenized once for the whole grid; finished cells can be saved after each
// cell and are skipped when the run resumes from that file.
import Foundation
import Synth
import Tensor
import Tokenizer
import NN

/// Where the haystack text comes from.
public enum Haystack {
    /// This text (repeated when shorter than the longest context).
    case text(String)
    /// The `.txt` files of a folder, in name order, read until they hold enough tokens.
    case folder(String)
    /// Synth.filler prose with this seed.
    case synthetic(seed: UInt64)
    /// Documents about the people of a synthetic world (Synth.needleCase): every sample draws
    /// its own world, needle (a person's secret code) and question; `distractors` codes of
    /// other people stand elsewhere in the context.
    case entities(seed: UInt64, samples: Int, distractors: Int)

    /// The haystack's token ids, at least `tokens` long (the text repeats when shorter).
    func ids(tokenizer: TextTokenizer, tokens: Int) throws -> [Int] {
        var ids: [Int]
        switch self {
        case .text(let s):
            ids = tokenizer.encode(s, bos: false)
        case .synthetic(let seed):
            ids = tokenizer.encode(Synth.filler(tokenizer: tokenizer, tokens: tokens + 16, seed: seed), bos: false)
        case .entities(let seed, _, _):
            ids = tokenizer.encode(try Synth.shortText(tokenizer: tokenizer, count: 1, length: tokens + 16, seed: seed).first ?? "", bos: false)
        case .folder(let path):
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw EvalError.file(path, "haystack folder not found")
            }
            if !isDir.boolValue {
                guard let s = try? String(contentsOfFile: path, encoding: .utf8) else { throw EvalError.file(path, "cannot read haystack file as UTF-8") }
                ids = tokenizer.encode(s, bos: false)
                break
            }
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".txt") }.sorted()
            guard !names.isEmpty else { throw EvalError.file(path, "no .txt files in the haystack folder") }
            ids = []
            for n in names {
                let file = (path as NSString).appendingPathComponent(n)
                guard let s = try? String(contentsOfFile: file, encoding: .utf8) else { throw EvalError.file(file, "cannot read haystack file as UTF-8") }
                ids += tokenizer.encode(s, bos: false)
                if ids.count > tokens { break }
            }
        }
        guard !ids.isEmpty else { throw EvalError.argument("haystack", "the haystack is empty") }
        if ids.count < tokens {
            let base = ids
            while ids.count < tokens { ids += base }
        }
        return ids
    }
}

public struct NIAHConfig {
    /// Total prompt lengths in tokens (instruction + haystack + needle + question).
    public var lengths: [Int]
    /// Needle depths as fractions 0...1 (top to bottom of the haystack).
    public var depths: [Double]
    public var needle = "\n\nThe best thing to do in San Francisco is sitting in Dolores Park and eating a hamburg on a sunny day.\n\n"
    public var question = "\n\nWhat is the best thing to do in San Francisco?\nAnswer:"
    /// The reference the answer is scored against (nil: the needle, as the paper does).
    public var answer: String? = nil
    public var instruction = "There is an important infomation hidden in the following context. Find the information and memorize it. I will quiz you about the important information there.\n"
    /// "rougeL" (default), "exact" or "substring" (any Score metric name works).
    public var metric = "rougeL"
    public var maxTokens = 50
    /// Wrap the prompt in the chat template (true) or feed it as plain text after BOS.
    public var chat = true
    /// A JSON file of partial results: written after every cell, read at the start to skip
    /// the cells it already holds.
    public var resumePath: String? = nil

    public init(lengths: [Int], depths: [Double]) {
        self.lengths = lengths
        self.depths = depths
    }

    /// `count` depths evenly spaced from 0 to 100%, truncated to whole percents as the paper's
    /// `np.linspace(0, 100, count).astype(int)` does (8 gives 0, 14, 28, 42, 57, 71, 85, 100%).
    public static func depths(count: Int) throws -> [Double] {
        guard count >= 1 else { throw EvalError.argument("depths", "needs at least one depth, got \(count)") }
        if count == 1 { return [0] }
        let step = 100.0 / Double(count - 1)
        return (0..<count).map { k in k == count - 1 ? 1 : (Double(k) * step).rounded(.towardZero) / 100 }
    }

    /// `count` lengths evenly spaced from `min` to `max`, truncated to integers as the paper's
    /// `np.linspace(min, max, count).astype(int)` does.
    public static func lengths(min lo: Int, max hi: Int, count: Int) throws -> [Int] {
        guard count >= 1 else { throw EvalError.argument("lengths", "needs at least one length, got \(count)") }
        guard lo >= 1 && hi >= lo else { throw EvalError.argument("lengths", "needs 1 <= min <= max, got \(lo)...\(hi)") }
        if count == 1 { return [lo] }
        let step = Double(hi - lo) / Double(count - 1)
        return (0..<count).map { k in k == count - 1 ? hi : Int((Double(lo) + Double(k) * step).rounded(.towardZero)) }
    }

    /// Depths given as fractions in 0...1 (`[0, 0.5, 1]`), or as percents when a value is above 1
    /// (`[0, 50, 100]`). A list that mixes the two (a value in (0, 1] beside one above 1, as
    /// `[0, 0.5, 1.5]`) is refused: 0.5 and 1 mean 50% and 100% as fractions but 0.5% and 1% as
    /// percents, and guessing silently moved needles to the start of the haystack.
    public static func depths(list: [Double]) throws -> [Double] {
        guard !list.isEmpty else { throw EvalError.argument("depths", "the list is empty") }
        if let bad = list.first(where: { !$0.isFinite }) {
            throw EvalError.argument("depths", "depth \(bad) is not a number")
        }
        if let big = list.first(where: { $0 > 1 }), let frac = list.first(where: { $0 > 0 && $0 <= 1 }) {
            throw EvalError.argument("depths", "\(pyList(list)) is ambiguous: \(big) is a percent but \(frac) reads as a fraction (\(frac * 100)%) or as \(frac)%; give every depth as a fraction in 0...1 (\(pyList(list.map { $0 > 1 ? $0 / 100 : $0 }))) or every depth as a percent in 0...100 (\(pyList(list.map { $0 > 1 ? $0 : $0 * 100 })))")
        }
        let scale = list.contains { $0 > 1 } ? 0.01 : 1
        let d = list.map { $0 * scale }
        if let bad = d.first(where: { !($0 >= 0 && $0 <= 1) }) {
            throw EvalError.argument("depths", "depth \(bad) is outside 0...1 (or 0...100%)")
        }
        return d
    }

    static func pyList(_ xs: [Double]) -> String {
        "[" + xs.map { x in x == x.rounded() && abs(x) < 1e15 ? String(format: "%.1f", x) : "\(x)" }.joined(separator: ", ") + "]"
    }
}

/// A case of the entities protocol that scored below 1: its cell, which of the cell's samples,
/// the needle sentence and its code, what the model answered, and the score.
public struct NIAHMiss: Codable, Equatable, Sendable {
    public var length: Int
    public var depth: Double
    public var sample: Int
    public var needle: String
    public var code: String
    public var answer: String
    public var score: Double

    public init(length: Int, depth: Double, sample: Int, needle: String, code: String, answer: String, score: Double) {
        (self.length, self.depth, self.sample, self.needle, self.code, self.answer, self.score) =
            (length, depth, sample, needle, code, answer, score)
    }

    /// The form kept with a cell's partial results.
    var unit: [String: Any] { ["sample": sample, "needle": needle, "code": code, "answer": answer, "score": exact(score)] }
    init?(unit u: Any, length: Int, depth: Double) {
        guard let u = u as? [String: Any], let k = u["sample"] as? Int, let n = u["needle"] as? String,
              let c = u["code"] as? String, let a = u["answer"] as? String, let s = exactDouble(u["score"]) else { return nil }
        self.init(length: length, depth: depth, sample: k, needle: n, code: c, answer: a, score: s)
    }
}

public struct NIAHResult: CodableEvalResult {
    public static let kind = "niah"

    public init(lengths: [Int], depths: [Double], grid: [[Double]], answers: [[String?]], metric: String, needle: String, question: String, reference: String, promptTokens: [Int]) {
        self.lengths = lengths
        self.depths = depths
        self.grid = grid
        self.answers = answers
        self.metric = metric
        self.needle = needle
        self.question = question
        self.reference = reference
        self.promptTokens = promptTokens
    }

    public var lengths: [Int]
    public var depths: [Double]
    /// Scores in 0...1, [depth][length]; NaN for cells not run yet.
    public var grid: [[Double]]
    /// The decoded answers, [depth][length] (nil: not run yet).
    public var answers: [[String?]]
    public var metric: String
    public var needle: String
    public var question: String
    public var reference: String
    /// The number of prompt tokens of each column (after the chat template).
    public var promptTokens: [Int]
    /// true when the run was stopped before every cell was done (the cells not run are NaN / nil).
    public var interrupted: Bool? = nil
    /// With haystack "entities": every case that scored below 1, in the grid's order (lengths,
    /// then depths, then samples); nil in the other modes.
    public var misses: [NIAHMiss]? = nil

    public var mean: Double { finiteMean(grid.flatMap { $0 }) }
    public var headline: Double { mean }
    public var complete: Bool { !answers.joined().contains { $0 == nil } }
    /// "(partial)" or "(interrupted: 4 of 6 cells)" for a result with cells not run.
    var partialNote: String {
        if interrupted == true {
            let n = answers.joined().count
            return " (interrupted: \(answers.joined().filter { $0 != nil }.count) of \(n) cells)"
        }
        return complete ? "" : " (partial)"
    }

    public var table: String {
        let header = ["depth \\ length"] + lengths.map { "\($0)" }
        let rows = depths.enumerated().map { i, d in [TableText.percent(d)] + grid[i].map { TableText.num($0) } }
        let footer = [["mean"] + lengths.indices.map { j in TableText.num(finiteMean(depths.indices.map { grid[$0][j] })) }]
        return "Needle in a haystack (\(metric)): mean \(TableText.num(mean, 3))\(partialNote)\n"
            + TableText.render(header, rows + footer)
    }

    public func figure() -> Figure {
        Plot.heatmap(grid, title: "Needle In A Haystack (\(metric), mean \(TableText.num(mean, 3)))",
                     xLabels: lengths.map { "\($0)" }, yLabels: depths.map { TableText.percent($0) },
                     xTitle: "Token Limit", yTitle: "Depth Percent", colorbarLabel: metric)
    }

    public var tensors: [(String, Tensor)] {
        [("grid", gridTensor(grid)), ("lengths", intTensor(lengths)), ("depths", vectorTensor(depths)),
         ("prompt_tokens", intTensor(promptTokens))]
    }

    public var extraAttributes: [(String, EvalAttribute)] {
        [("mean", .double(mean)), ("metric", .string(metric)), ("needle", .string(needle)), ("question", .string(question))]
    }
}

public enum NIAH {
    /// The haystack's identity in a fingerprint: its kind and seed, or a hash of its text.
    static func describe(_ h: Haystack) throws -> String {
        switch h {
        case .text(let s): return "text " + EvalFingerprint.hash([s])
        case .synthetic(let seed): return "synthetic filler, seed \(seed)"
        case .entities(let seed, let samples, let distractors): return "entities, seed \(seed), \(samples) samples, \(distractors) distractors"
        case .folder(let path):
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw EvalError.file(path, "haystack folder not found") }
            let names = isDir.boolValue ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".txt") }.sorted() : [""]
            let parts = names.map { n -> String in
                let f = n.isEmpty ? path : (path as NSString).appendingPathComponent(n)
                return n + "\u{1}" + ((try? String(contentsOfFile: f, encoding: .utf8)) ?? "")
            }
            return "folder " + EvalFingerprint.hash(parts)
        }
    }

    /// The partial results of a NIAH run: cells are kept by (length, depth), so a run with a
    /// larger grid reuses the cells it shares; everything else must match.
    static func partialResults(model: EvalModel, tokenizer tok: TextTokenizer, haystack: Haystack, config c: NIAHConfig) throws -> PartialResults {
        try PartialResults(path: c.resumePath, evaluator: "niah") {
            var f = EvalFingerprint()
            try f.add(model: model, tokenizer: tok)
            f.add("haystack", try describe(haystack))
            f.add("needle", c.needle); f.add("question", c.question); f.add("answer", c.answer ?? "(the needle)")
            f.add("instruction", c.instruction); f.add("metric", c.metric); f.add("max_tokens", c.maxTokens); f.add("chat", c.chat)
            return f
        }
    }

    static func cellKey(_ length: Int, _ depth: Double) -> String { "\(length),\(depth)" }

    /// Copies the cells the partial results hold into `r` (and, for the entities protocol, their
    /// misses into `misses`, [depth][length]).
    static func fill(_ r: inout NIAHResult, from partial: PartialResults, misses: inout [[[NIAHMiss]]]?) {
        for (j, l) in r.lengths.enumerated() {
            for (i, d) in r.depths.enumerated() {
                guard let u = partial.unit(cellKey(l, d)), let a = u["answer"] as? String, let s = exactDouble(u["score"]),
                      let t = u["tokens"] as? Int else { continue }
                if misses != nil {
                    // a cell kept before misses were recorded is run again
                    guard let list = u["misses"] as? [Any] else { continue }
                    let m = list.compactMap { NIAHMiss(unit: $0, length: l, depth: d) }
                    guard m.count == list.count else { continue }
                    misses?[i][j] = m
                }
                r.answers[i][j] = a
                r.grid[i][j] = s
                r.promptTokens[j] = t
            }
        }
    }

    public static func run(model: EvalModel, tokenizer tok: TextTokenizer, haystack: Haystack, config c: NIAHConfig,
                           hooks: EvalHooks = .none) throws -> NIAHResult {
        guard !c.lengths.isEmpty else { throw EvalError.argument("lengths", "the list is empty") }
        guard !c.depths.isEmpty else { throw EvalError.argument("depths", "the list is empty") }
        guard c.maxTokens >= 1 else { throw EvalError.argument("max_tokens", "must be >= 1") }
        _ = try Score.score(c.metric, "", "x")  // validates the metric name
        if case let .entities(seed, samples, distractors) = haystack {
            return try runEntities(model: model, tokenizer: tok, config: c, seed: seed, samples: samples, distractors: distractors, hooks: hooks)
        }
        let instruction = tok.encode(c.instruction, bos: false)
        let needle = tok.encode(c.needle, bos: false)
        let question = tok.encode(c.question, bos: false)
        let fixed = instruction.count + needle.count + question.count
        for l in c.lengths where l <= fixed {
            throw EvalError.argument("lengths", "length \(l) leaves no room for the haystack (instruction, needle and question take \(fixed) tokens)")
        }
        let reference = c.answer ?? c.needle
        var result = NIAHResult(lengths: c.lengths, depths: c.depths,
                                grid: Array(repeating: Array(repeating: .nan, count: c.lengths.count), count: c.depths.count),
                                answers: Array(repeating: Array(repeating: nil, count: c.lengths.count), count: c.depths.count),
                                metric: c.metric, needle: c.needle, question: c.question, reference: reference,
                                promptTokens: Array(repeating: 0, count: c.lengths.count))
        var partial = try partialResults(model: model, tokenizer: tok, haystack: haystack, config: c)
        var none: [[[NIAHMiss]]]? = nil
        fill(&result, from: partial, misses: &none)

        let total = c.lengths.count * c.depths.count
        var done = result.answers.joined().filter { $0 != nil }.count
        if done == total { return result }
        let maxLen = c.lengths.max() ?? 0
        let hay = try haystack.ids(tokenizer: tok, tokens: maxLen - fixed)
        var periodCache: [Int: Bool] = [:]
        func endsSentence(_ id: Int) -> Bool {
            if let v = periodCache[id] { return v }
            let t = tok.decode([id]).trimmingCharacters(in: .whitespacesAndNewlines)
            let v = t.hasSuffix(".")
            periodCache[id] = v
            return v
        }
        hooks.report("niah", done, total, "start")
        do {
            for (j, length) in c.lengths.enumerated() {
                let budget = length - fixed
                let context = hay[0..<budget]
                for (i, depth) in c.depths.enumerated() where result.answers[i][j] == nil {
                    try hooks.checkCancelled()
                    var pos = depth >= 1 ? budget : Int(Double(budget) * depth)
                    if pos < budget { while pos > 0 && !endsSentence(context[context.startIndex + pos - 1]) { pos -= 1 } }
                    let ids = instruction + context[..<(context.startIndex + pos)] + needle + context[(context.startIndex + pos)...] + question
                    let text = tok.decode(Array(ids))
                    let prompt = c.chat ? tok.chat([ChatMessage(role: "user", content: text)], generationPrompt: true)
                                        : tok.encode(text, bos: true)
                    let out = try model.generate(prompt: prompt, maxTokens: c.maxTokens, stop: tok.endTokenIDs, cancel: hooks.cancel)
                    try hooks.checkCancelled()   // an answer cut short by the stop is not scored
                    let answer = tok.decode(out.filter { !tok.endTokenIDs.contains($0) })
                    let score = try Score.score(c.metric, answer, reference)
                    result.grid[i][j] = score
                    result.answers[i][j] = answer
                    result.promptTokens[j] = prompt.count
                    done += 1
                    try partial.record(cellKey(length, depth), ["answer": answer, "score": exact(score), "tokens": prompt.count])
                    hooks.report("niah", done, total, "length \(length) depth \(TableText.percent(depth)): \(TableText.num(score))")
                }
            }
        } catch EvalError.cancelled {
            result.interrupted = true   // the cells done so far; the others stay NaN / nil
        }
        return result
    }

    /// The entity protocol: each cell is the mean score of `samples` cases, sample k drawing
    /// its world from (seed, k) so every cell asks about the same people; the score compares
    /// the answer with the secret code as the tokenizer writes it (metric "substring" by default).
    static func runEntities(model: EvalModel, tokenizer tok: TextTokenizer, config c: NIAHConfig, seed: UInt64,
                            samples: Int, distractors: Int, hooks: EvalHooks) throws -> NIAHResult {
        // lengths, depths, max_tokens and the metric were checked by run()
        guard samples >= 1 else { throw EvalError.argument("samples", "must be >= 1, got \(samples)") }
        guard (0...8).contains(distractors) else { throw EvalError.argument("distractors", "must be within 0...8, got \(distractors)") }
        let describe = "entities (seed \(seed), \(samples) sample\(samples == 1 ? "" : "s") a cell, \(distractors) distractor\(distractors == 1 ? "" : "s"))"
        var result = NIAHResult(lengths: c.lengths, depths: c.depths,
                                grid: Array(repeating: Array(repeating: .nan, count: c.lengths.count), count: c.depths.count),
                                answers: Array(repeating: Array(repeating: nil, count: c.lengths.count), count: c.depths.count),
                                metric: c.metric, needle: describe, question: World.codeQuestion.replacingOccurrences(of: "{n}", with: "<person>"), reference: "the secret code",
                                promptTokens: Array(repeating: 0, count: c.lengths.count))
        var partial = try partialResults(model: model, tokenizer: tok, haystack: .entities(seed: seed, samples: samples, distractors: distractors), config: c)
        var kept: [[[NIAHMiss]]]? = Array(repeating: Array(repeating: [], count: c.lengths.count), count: c.depths.count)
        fill(&result, from: partial, misses: &kept)
        var misses = kept!
        let total = c.lengths.count * c.depths.count
        var done = result.answers.joined().filter { $0 != nil }.count
        hooks.report("niah", done, total, "start")
        do {
            for (j, length) in c.lengths.enumerated() {
                for (i, depth) in c.depths.enumerated() where result.answers[i][j] == nil {
                    var sum = 0.0
                    var first: String? = nil
                    var tokens = 0
                    var cell: [NIAHMiss] = []
                    for k in 0..<samples {
                        try hooks.checkCancelled()
                        var rng = SplitMix64(synthSeed: seed &+ UInt64(k) &* 0x9E37_79B9)
                        let item: NeedleCase
                        do {
                            item = try Synth.needleCase(tokenizer: tok, length: length - (c.chat ? 0 : 1), depth: depth,
                                                        distractors: distractors, rng: &rng)
                        } catch let SynthError.argument(_, why) {
                            throw EvalError.argument("lengths", "length \(length): \(why)")
                        }
                        let prompt = c.chat ? tok.chat([ChatMessage(role: "user", content: item.prompt)], generationPrompt: true)
                                            : tok.encode(item.prompt, bos: true)
                        let out = try model.generate(prompt: prompt, maxTokens: c.maxTokens, stop: tok.endTokenIDs, cancel: hooks.cancel)
                        try hooks.checkCancelled()   // an answer cut short by the stop is not scored
                        let answer = tok.decode(out.filter { !tok.endTokenIDs.contains($0) })
                        // the code as this tokenizer writes it ("4 7 2 1" for a digit-level vocabulary)
                        let reference = tok.decode(tok.encode(item.value, bos: false))
                        let score = try Score.score(c.metric, answer, reference)
                        sum += score
                        if score < 1 {
                            cell.append(NIAHMiss(length: length, depth: depth, sample: k, needle: item.needle, code: item.value,
                                                 answer: answer, score: score))
                        }
                        if first == nil { first = answer }
                        tokens = max(tokens, prompt.count)
                    }
                    let score = sum / Double(samples)
                    result.grid[i][j] = score
                    result.answers[i][j] = first ?? ""
                    result.promptTokens[j] = tokens
                    misses[i][j] = cell
                    done += 1
                    try partial.record(cellKey(length, depth), ["answer": first ?? "", "score": exact(score), "tokens": tokens,
                                                                "misses": cell.map(\.unit)])
                    hooks.report("niah", done, total, "length \(length) depth \(TableText.percent(depth)): \(TableText.num(score))")
                }
            }
        } catch EvalError.cancelled {
            result.interrupted = true   // the cells whose samples all finished; the others stay NaN / nil
        }
        result.misses = c.lengths.indices.flatMap { j in c.depths.indices.flatMap { i in misses[i][j] } }
        return result
    }
}
