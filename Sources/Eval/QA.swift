// QA: LongBench / InfiniteBench-style generation tasks from JSONL. Each record has `input`,
// `context` and `answers` (or `answer`, a string or a list; LongBench's `all_classes` for
// classification). The prompt template's {context} and {input} are filled; a prompt over
// `max_len` tokens keeps its first and last max_len/2 tokens (LongBench's middle truncation);
// the model answers greedily and the best score over the references counts.
import Foundation
import Tensor
import Tokenizer
import NN

public struct QAItem: Codable, Equatable {
    public var input: String
    public var context: String
    public var answers: [String]
    public var allClasses: [String]

    public init(input: String, context: String, answers: [String], allClasses: [String] = []) {
        self.input = input
        self.context = context
        self.answers = answers
        self.allClasses = allClasses
    }
}

public struct QAConfig {
    public var metric = "f1"
    public var maxLen = 8192
    public var maxTokens = 64
    public var template = "{context}\n\nAnswer the question based on the text above.\nQuestion: {input}\nAnswer:"
    public var chat = true
    /// Keep only the first line of the prediction (LongBench does for trec, triviaqa, samsum, lsht).
    public var firstLine = false
    /// Also stop at a newline token (the paper's evaluation does for its QA tasks and samsum).
    public var stopAtNewline = false

    /// A JSON file of partial results: written after every item, read at the start to skip the
    /// items it holds (refused when it was made with another model, tokenizer, data or setting).
    public var resumePath: String? = nil

    public init(metric: String = "f1") { self.metric = metric }
}

public struct QAResult: CodableEvalResult {
    public static let kind = "qa"

    public init(metric: String, scores: [Double], predictions: [String], promptTokens: [Int], truncated: Int) {
        self.metric = metric
        self.scores = scores
        self.predictions = predictions
        self.promptTokens = promptTokens
        self.truncated = truncated
    }

    public var metric: String
    public var scores: [Double]
    public var predictions: [String]
    public var promptTokens: [Int]
    public var truncated: Int
    /// true when the run was stopped before every item was answered: the items answered so far
    /// (the first ones, in order).
    public var interrupted: Bool? = nil

    public var mean: Double { finiteMean(scores) }
    public var headline: Double { mean }

    public var table: String {
        let rows = [[metric, "\(scores.count)", "\(truncated)", TableText.num(mean, 4), TableText.num(mean * 100, 2)]]
        let note = interrupted == true ? " (interrupted: the items answered so far)" : ""
        return "Generation QA\(note)\n" + TableText.render(["metric", "items", "truncated", "mean", "x100"], rows)
    }

    public func figure() -> Figure {
        let order = promptTokens.indices.sorted { promptTokens[$0] < promptTokens[$1] }
        return Plot.line([Series(label: metric, xs: order.map { Double(promptTokens[$0]) }, ys: order.map { scores[$0] })],
                         title: "\(metric) by prompt length (mean \(TableText.num(mean, 3)))", xTitle: "Prompt tokens",
                         yTitle: metric, yRange: 0...1)
    }

    public var tensors: [(String, Tensor)] { [("scores", vectorTensor(scores)), ("prompt_tokens", intTensor(promptTokens))] }
    public var extraAttributes: [(String, EvalAttribute)] { [("mean", .double(mean)), ("metric", .string(metric))] }
}

public enum QA {
    /// The metric LongBench scores each of its English datasets with.
    public static let longBenchMetric: [String: String] = [
        "narrativeqa": "f1", "qasper": "f1", "multifieldqa_en": "f1", "hotpotqa": "f1", "2wikimqa": "f1", "musique": "f1",
        "triviaqa": "f1", "gov_report": "rougeL", "qmsum": "rougeL", "multi_news": "rougeL", "samsum": "rougeL",
        "trec": "classification", "passage_count": "count", "passage_retrieval_en": "retrieval",
        "passage_retrieval_zh": "retrieval_zh", "lcc": "edit_sim", "repobench-p": "edit_sim",
    ]

    /// LongBench datasets whose predictions are cut to their first line before scoring.
    public static let longBenchFirstLine: Set<String> = ["trec", "triviaqa", "samsum", "lsht"]

    /// Fills a template's {context} and {input}.
    public static func fill(_ template: String, _ item: QAItem) -> String {
        template.replacingOccurrences(of: "{context}", with: item.context).replacingOccurrences(of: "{input}", with: item.input)
    }

    /// LongBench's truncation: the prompt is encoded as `tokenizer.encode` does (with BOS);
    /// over `maxLen` tokens, the first and the last maxLen/2 are decoded without special tokens.
    public static func truncateMiddle(_ text: String, tokenizer tok: TextTokenizer, maxLen: Int) -> (String, Bool) {
        let ids = tok.encode(text, bos: true)
        guard ids.count > maxLen else { return (text, false) }
        let half = maxLen / 2
        let head = ids[..<half].filter { $0 != tok.bosID }
        let tail = ids[(ids.count - half)...].filter { $0 != tok.bosID }
        return (tok.decode(Array(head)) + tok.decode(Array(tail)), true)
    }

    public static func run(model: EvalModel, tokenizer tok: TextTokenizer, items: [QAItem], config c: QAConfig,
                           hooks: EvalHooks = .none) throws -> QAResult {
        guard !items.isEmpty else { throw EvalError.argument("data", "no records") }
        guard c.maxLen >= 2 else { throw EvalError.argument("max_len", "must be >= 2, got \(c.maxLen)") }
        guard c.maxTokens >= 1 else { throw EvalError.argument("max_tokens", "must be >= 1, got \(c.maxTokens)") }
        _ = try Score.score(c.metric, "", "x", classes: [])
        var r = QAResult(metric: c.metric, scores: [], predictions: [], promptTokens: [], truncated: 0)
        var stop = tok.endTokenIDs
        if c.stopAtNewline, let nl = tok.encode("\n", bos: false).last { stop.insert(nl) }
        var partial = try PartialResults(path: c.resumePath, evaluator: "qa") {
            var f = EvalFingerprint()
            try f.add(model: model, tokenizer: tok)
            f.add("data", hashOf: items.map { $0.input + "\u{1}" + $0.context + "\u{1}" + $0.answers.joined(separator: "\u{2}") + "\u{1}" + $0.allClasses.joined(separator: "\u{2}") })
            f.add("metric", c.metric); f.add("max_len", c.maxLen); f.add("max_tokens", c.maxTokens); f.add("template", c.template)
            f.add("chat", c.chat); f.add("first_line", c.firstLine); f.add("stop_at_newline", c.stopAtNewline)
            return f
        }
        do {
            for (n, item) in items.enumerated() {
                if let u = partial.unit("\(n)"), let pred = u["prediction"] as? String, let score = exactDouble(u["score"]),
                   let tokens = u["tokens"] as? Int, let cut = u["truncated"] as? Int {
                    r.scores.append(score); r.predictions.append(pred); r.promptTokens.append(tokens); r.truncated += cut
                    continue
                }
                try hooks.checkCancelled()
                let (text, cut) = truncateMiddle(fill(c.template, item), tokenizer: tok, maxLen: c.maxLen)
                let ids = c.chat ? tok.chat([ChatMessage(role: "user", content: text)], generationPrompt: true) : tok.encode(text, bos: true)
                let out = try model.generate(prompt: ids, maxTokens: c.maxTokens, stop: stop, cancel: hooks.cancel)
                try hooks.checkCancelled()   // an answer cut short by the stop is not scored
                if cut { r.truncated += 1 }
                var pred = tok.decode(out.filter { !stop.contains($0) })
                if c.firstLine {
                    var s = Substring(pred)
                    while s.first == "\n" { s = s.dropFirst() }
                    pred = String(s.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                }
                let score = try Score.best(c.metric, pred, item.answers, classes: item.allClasses)
                r.scores.append(score)
                r.predictions.append(pred)
                r.promptTokens.append(ids.count)
                try partial.record("\(n)", ["prediction": pred, "score": exact(score), "tokens": ids.count, "truncated": cut ? 1 : 0])
                hooks.report("qa", n + 1, items.count, "\(c.metric) \(TableText.num(score))")
            }
        } catch EvalError.cancelled {
            r.interrupted = true   // the items answered so far
        }
        return r
    }

    // MARK: loading

    /// Records from a JSONL file (LongBench `input`/`context`/`answers`/`all_classes`;
    /// InfiniteBench `context`/`input`/`answer`).
    public static func load(path: String) throws -> [QAItem] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw EvalError.file(path, "not found") }
        guard !isDir.boolValue else { throw EvalError.file(path, "is a folder, not a JSONL file") }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw EvalError.file(path, "cannot read as UTF-8") }
        var items: [QAItem] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if t.isEmpty { continue }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(t.utf8)) as? [String: Any] else {
                throw EvalError.file(path, "line \(n + 1): not a JSON object")
            }
            items.append(try item(obj, where: "\(path):\(n + 1)"))
        }
        guard !items.isEmpty else { throw EvalError.file(path, "no records") }
        return items
    }

    /// One record from a decoded JSON object.
    public static func item(_ obj: [String: Any], where loc: String = "record") throws -> QAItem {
        func strings(_ v: Any?) -> [String]? {
            if let s = v as? String { return [s] }
            if let a = v as? [Any] { return a.map { ($0 as? String) ?? "\($0)" } }
            if let x = v as? NSNumber { return ["\(x)"] }
            return nil
        }
        guard let answers = strings(obj["answers"]) ?? strings(obj["answer"]) ?? strings(obj["outputs"]) else {
            throw EvalError.file(loc, "record has no 'answers' (or 'answer')")
        }
        return QAItem(input: (obj["input"] as? String) ?? "", context: (obj["context"] as? String) ?? "",
                      answers: answers, allClasses: strings(obj["all_classes"]) ?? [])
    }
}
