// Passkey: the landmark-attention passkey retrieval test. A task description, the repeated
// filler "The grass is green. ... There and back again.", the line "The pass key is K. Remember
// it. K is the pass key." at a depth, more filler, and "What is the pass key? The pass key is";
// a trial is right when the first integer the model answers equals K (1...50000, seeded).
// The filler is cut in characters (as the reference does) to reach the target token length.
import Foundation
import Tensor
import Tokenizer
import NN
import Synth

public struct PasskeyConfig {
    public var lengths: [Int]
    public var depths: [Double]
    public var trials = 1
    public var seed: UInt64 = 0
    public var maxTokens = 10
    /// Plain prompt after BOS (the reference protocol) or one user turn of the chat template.
    public var chat = false
    /// A JSON file of partial results: written after every cell, read at the start to skip the
    /// cells it holds (refused when it was made with another model, tokenizer or setting).
    public var resumePath: String? = nil

    public init(lengths: [Int], depths: [Double]) {
        self.lengths = lengths
        self.depths = depths
    }
}

public struct PasskeyResult: CodableEvalResult {
    public static let kind = "passkey"

    public init(lengths: [Int], depths: [Double], trials: Int, grid: [[Double]], keys: [[[Int]]], answers: [[[String]]], promptTokens: [Int]) {
        self.lengths = lengths
        self.depths = depths
        self.trials = trials
        self.grid = grid
        self.keys = keys
        self.answers = answers
        self.promptTokens = promptTokens
    }

    public var lengths: [Int]
    public var depths: [Double]
    public var trials: Int
    /// Accuracy in 0...1, [depth][length].
    public var grid: [[Double]]
    /// Per cell, the keys and the decoded answers of its trials.
    public var keys: [[[Int]]]
    public var answers: [[[String]]]
    public var promptTokens: [Int]
    /// true when the run was stopped before every cell was done: the cells not done are NaN in
    /// `grid` with no keys or answers (a cell counts once all its trials are done).
    public var interrupted: Bool? = nil

    public var accuracy: Double { finiteMean(grid.flatMap { $0 }) }
    public var headline: Double { accuracy }
    /// Mean accuracy over depths, per length.
    public var byLength: [Double] { lengths.indices.map { j in finiteMean(depths.indices.map { grid[$0][j] }) } }

    public var table: String {
        let header = ["depth \\ length"] + lengths.map { "\($0)" }
        let rows = depths.enumerated().map { i, d in [TableText.percent(d)] + grid[i].map { TableText.num($0) } }
        let note = interrupted == true ? " (interrupted: \(grid.joined().filter { $0.isFinite }.count) of \(grid.joined().count) cells)" : ""
        return "Passkey retrieval (\(trials) trial\(trials == 1 ? "" : "s") a cell): accuracy \(TableText.num(accuracy, 3))\(note)\n"
            + TableText.render(header, rows + [["mean"] + byLength.map { TableText.num($0) }])
    }

    public func figure() -> Figure {
        if depths.count == 1 {
            return Plot.line(lengths.map { Double($0) }, byLength, label: "passkey", title: "Passkey retrieval",
                             xTitle: "Context length (tokens)", yTitle: "Accuracy")
        }
        return Plot.heatmap(grid, title: "Passkey retrieval (accuracy \(TableText.num(accuracy, 3)))",
                            xLabels: lengths.map { "\($0)" }, yLabels: depths.map { TableText.percent($0) },
                            xTitle: "Token Limit", yTitle: "Depth Percent", colorbarLabel: "accuracy")
    }

    public var tensors: [(String, Tensor)] {
        [("grid", gridTensor(grid)), ("lengths", intTensor(lengths)), ("depths", vectorTensor(depths)),
         ("prompt_tokens", intTensor(promptTokens))]
    }

    public var extraAttributes: [(String, EvalAttribute)] { [("accuracy", .double(accuracy)), ("trials", .int(trials))] }
}

public enum Passkey {
    // The prompt's texts live in Synth (PasskeyText), which also makes passkey training data.
    public static var taskDescription: String { PasskeyText.taskDescription }
    public static var garbage: String { PasskeyText.garbage }
    public static var finalQuestion: String { PasskeyText.finalQuestion }
    public static func informationLine(_ key: Int) -> String { PasskeyText.informationLine(key) }
    public static func prompt(key: Int, nGarbage: Int, prefix: Int) -> String {
        PasskeyText.prompt(key: key, nGarbage: nGarbage, prefix: prefix)
    }

    /// Whether an answer gives the key: its first integer (the reference protocol), or, for a
    /// tokenizer that writes numbers digit by digit ("1 2 3 4 5"), the first integer once the
    /// spaces between digits are gone.
    static func answers(_ answer: String, _ key: Int) -> Bool {
        if Score.firstInteger(answer) == key { return true }
        var joined = ""
        var prev: Character? = nil
        for ch in answer {
            if ch == " ", let p = prev, p.isNumber { continue }
            joined.append(ch)
            if ch != " " { prev = ch }
        }
        return Score.firstInteger(joined) == key
    }

    public static func run(model: EvalModel, tokenizer tok: TextTokenizer, config c: PasskeyConfig,
                           hooks: EvalHooks = .none) throws -> PasskeyResult {
        guard !c.lengths.isEmpty else { throw EvalError.argument("lengths", "the list is empty") }
        guard !c.depths.isEmpty else { throw EvalError.argument("depths", "the list is empty") }
        guard c.trials >= 1 else { throw EvalError.argument("trials", "must be >= 1, got \(c.trials)") }
        let charsPerToken = PasskeyText.charsPerToken(tok)
        var rng = SplitMix64(evalSeed: c.seed)
        var r = PasskeyResult(lengths: c.lengths, depths: c.depths, trials: c.trials,
                              grid: Array(repeating: Array(repeating: .nan, count: c.lengths.count), count: c.depths.count),
                              keys: Array(repeating: Array(repeating: [], count: c.lengths.count), count: c.depths.count),
                              answers: Array(repeating: Array(repeating: [], count: c.lengths.count), count: c.depths.count),
                              promptTokens: Array(repeating: 0, count: c.lengths.count))
        var partial = try PartialResults(path: c.resumePath, evaluator: "passkey") {
            var f = EvalFingerprint()
            try f.add(model: model, tokenizer: tok)
            f.add("lengths", ints: c.lengths); f.add("depths", doubles: c.depths); f.add("trials", c.trials)
            f.add("seed", "\(c.seed)"); f.add("max_tokens", c.maxTokens); f.add("chat", c.chat)
            return f
        }
        let total = c.lengths.count * c.depths.count * c.trials
        var done = 0
        do {
            for (j, length) in c.lengths.enumerated() {
                // the fixed part with a 5-digit key, then the filler that fills the rest
                let fixedText = prompt(key: 50000, nGarbage: 0, prefix: 0)
                let fixed = (c.chat ? tok.chat([ChatMessage(role: "user", content: fixedText)], generationPrompt: true)
                                    : tok.encode(fixedText, bos: true)).count
                guard length > fixed else {
                    throw EvalError.argument("lengths", "length \(length) leaves no room for filler (the question takes \(fixed) tokens)")
                }
                let nGarbage = Int(Double(length - fixed) * charsPerToken)
                for (i, depth) in c.depths.enumerated() {
                    if let u = partial.unit("\(i),\(j)"), let keys = u["keys"] as? [Int], let answers = u["answers"] as? [String],
                       let right = u["right"] as? Int, let tokens = u["tokens"] as? Int, keys.count == c.trials, answers.count == c.trials {
                        for _ in 0..<c.trials { _ = rng.next() }   // the keys this cell drew
                        r.keys[i][j] = keys; r.answers[i][j] = answers; r.promptTokens[j] = tokens
                        r.grid[i][j] = Double(right) / Double(c.trials)
                        done += c.trials
                        continue
                    }
                    // the cell's trials are kept apart until the last is done: an interrupted result
                    // holds whole cells only
                    var right = 0, tokens = 0
                    var keys: [Int] = [], said: [String] = []
                    for _ in 0..<c.trials {
                        try hooks.checkCancelled()
                        let key = Int(rng.next() % 50000) + 1
                        let text = prompt(key: key, nGarbage: nGarbage, prefix: Int(Double(nGarbage) * depth))
                        let ids = c.chat ? tok.chat([ChatMessage(role: "user", content: text)], generationPrompt: true)
                                         : tok.encode(text, bos: true)
                        let out = try model.generate(prompt: ids, maxTokens: c.maxTokens, stop: tok.endTokenIDs, cancel: hooks.cancel)
                        try hooks.checkCancelled()   // an answer cut short by the stop is not scored
                        let answer = tok.decode(out.filter { !tok.endTokenIDs.contains($0) })
                        if answers(answer, key) { right += 1 }
                        keys.append(key)
                        said.append(answer)
                        tokens = ids.count
                        done += 1
                        hooks.report("passkey", done, total, "length \(length) depth \(TableText.percent(depth)): \(answer.prefix(20))")
                    }
                    r.keys[i][j] = keys
                    r.answers[i][j] = said
                    r.promptTokens[j] = tokens
                    r.grid[i][j] = Double(right) / Double(c.trials)
                    try partial.record("\(i),\(j)", ["keys": keys, "answers": said, "right": right, "tokens": tokens])
                }
            }
        } catch EvalError.cancelled {
            r.interrupted = true   // the cells done so far; the others stay NaN, without keys or answers
        }
        return r
    }
}
