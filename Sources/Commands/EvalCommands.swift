// EvalCommands: the evaluators (`eval.niah passkey topics ppl mc qa`), the metrics
// (`score.*`), eval results as values (`.mean .grid .lengths .depths .table`, shown as a
// heatmap/table), figures and `plot.heatmap` / `plot.line`. The evaluators get the model as an
// `NN.EvalModel` (Llama declares the conformance), so Eval never sees Llama.
import Foundation
import Lang
import Tensor
import Llama
import Tokenizer
import Eval
import NN

/// A figure: a colored block picture in the terminal, SVG in notebooks and files.
final class FigureValue: HostObject {
    let figure: Figure
    init(_ f: Figure) { figure = f }
    var typeName: String { "Figure" }
    var description: String { figure.terminal(color: isatty(1) != 0) }
    var fieldNames: [String] { ["title", "svg", "save"] }
    func getField(_ name: String) throws -> Value {
        switch name {
        case "title": return .string(figure.title)
        case "svg": return .string(figure.svg)
        case "save":
            return .command(Command("Figure.save", [Param("path", .string)], help: "Writes the figure as SVG.") { a, _ in
                let p = try a.string("path")
                try Lang.AtomicFile.write(self.figure.svg, to: p)
                return .null
            })
        default: throw LangRuntimeError(.name, "Figure has no field '\(name)'")
        }
    }
    func representation(_ mime: String) -> String? { mime == "image/svg+xml" ? figure.svg : nil }
}

/// An evaluator's result: its fields (from its JSON form), `.mean`, `.grid` as a tensor,
/// `.table`, `.figure`, `.interrupted`; shows as its table and heatmap.
final class ResultValue: HostObject {
    let result: any EvalResult
    /// The fields whose numbers JSON writes as "nan" / "inf" / "-inf" where they are not finite
    /// (cells not run, a window without tokens): they come back as floats.
    static let numericFields: Set<String> = ["grid", "accuracy", "documentNLL", "windowNLL", "nll", "scores",
                                             "subjectAccuracy", "categoryAccuracy"]
    /// A number as a float (JSON writes 0.0 as 0); anything else as it is.
    static func float(_ v: Value) -> Value { v.asDouble.map(Value.double) ?? v }
    static func numbers(_ v: Value) -> Value {
        switch v {
        case .list(let l): return .list(l.map(numbers))
        case .string("nan"): return .double(.nan)
        case .string("inf"): return .double(.infinity)
        case .string("-inf"): return .double(-.infinity)
        default: return v
        }
    }
    lazy var fields: Record = {
        guard let json = try? result.toJSON(), case .record(let env)? = try? JSON.parse(json),
              case .record(let r)? = env["result"] else { return Record() }
        var out = Record()
        for (k, v) in r.pairs {
            // fractions stay floats even where JSON wrote 0 and 1
            if k == "depths", let l = v.asList { out[k] = .list(l.map(ResultValue.float)); continue }
            if k == "misses", let l = v.asList {
                // each miss's depth and score as floats too
                out[k] = .list(l.map { m in
                    guard case .record(var r) = m else { return m }
                    for f in ["depth", "score"] { if let d = r[f] { r[f] = ResultValue.float(d) } }
                    return .record(r)
                })
                continue
            }
            out[ResultValue.snake(k)] = ResultValue.numericFields.contains(k) ? ResultValue.numbers(v) : v
        }
        // every result says whether it is whole (false) or the finished part of a stopped run (true)
        out["interrupted"] = .bool(result.interrupted == true)
        return out
    }()
    init(_ r: any EvalResult) { result = r }
    var typeName: String { "EvalResult" }
    var kind: String { type(of: result).kind }
    var description: String { result.table + "\n" + result.figure().terminal(color: isatty(1) != 0) }
    var fieldNames: [String] { ["kind", "mean", "headline", "table", "figure"] + fields.keys.filter { !["mean"].contains($0) } }

    static func snake(_ s: String) -> String {
        var out = ""
        for c in s { if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) } }
        return out
    }

    func getField(_ name: String) throws -> Value {
        switch name {
        case "kind": return .string(kind)
        case "mean", "headline": return .double(result.headline)
        case "accuracy", "ppl":
            if fields[name] == nil { return .double(result.headline) }
        case "misses" where kind == "niah":
            return fields["misses"] ?? .null   // (the entities protocol's; nil in the other modes)
        case "table": return .string(result.table)
        case "figure": return .host(FigureValue(result.figure()))
        case "grid":
            if let g = fields["grid"]?.asList {
                let rows = g.count, cols = g.first?.asList?.count ?? 0
                let flat = g.flatMap { $0.asList ?? [] }.map { Float($0.asDouble ?? .nan) }
                return .host(TensorValue(Tensor(shape: [rows, cols], floats: flat)))
            }
        default: break
        }
        if let v = fields[name] { return v }
        throw LangRuntimeError(.name, "\(kind) result has no field '\(name)'")
    }

    func representation(_ mime: String) -> String? {
        switch mime {
        case "image/svg+xml": return result.figure().svg
        case "text/plain": return result.table
        case "application/json": return try? result.toJSON()
        default: return nil
        }
    }
}

enum EvalCommands {
    static func hooks(_ interp: Interpreter, _ name: String) -> EvalHooks {
        EvalHooks(progress: { p in
            guard interp.isInteractive else { return }
            // the message may quote a model's raw answer: control characters escaped
            let msg = TextStreamer.escapeControls(p.message, keepNewlines: false)
            FileHandle.standardError.write(Data("\r\u{1B}[K[\(name)] \(p.done)/\(p.total) \(msg)".utf8))
            if p.done >= p.total { FileHandle.standardError.write(Data("\n".utf8)) }
        }, cancel: interp.cancellationToken)
    }

    /// The help text's sentence on Ctrl-C; `what` says what an interrupted result holds.
    static func interruptHelp(_ what: String) -> String {
        " Ctrl-C stops it between units (an answer cut short is dropped) and it returns what finished, in the shape of a whole result with .interrupted true (\(what)); the code around the call stops too (`let r = ...` alone keeps r; llx run exits 130)."
    }

    /// Runs an evaluator. Ctrl-C (the interpreter's stop request) ends it between units, as
    /// `train`: it returns the units that finished, marked `interrupted: true`, and leaves the
    /// request pending, so the loop or script around the call stops at its next statement,
    /// iteration or call (`error: interrupted`; `llx run` exits 130), while `let r = eval...(...)`
    /// alone keeps `r` (the REPL clears the request after the entry).
    static func run<R: EvalResult>(_ interp: Interpreter, _ name: String = "eval", _ body: () throws -> R) throws -> Value {
        do {
            let r = try body()
            if r.interrupted == true {
                let units = ["eval.niah": "cells", "eval.passkey": "cells", "eval.topics": "counts", "eval.ppl": "windows",
                             "eval.mc": "questions", "eval.qa": "items"][name] ?? "units"
                if interp.isInteractive { FileHandle.standardError.write(Data("\n".utf8)) }   // after the progress line
                interp.write("\(name) interrupted: the result holds the finished \(units) only (interrupted: true)\n")
            }
            return .host(ResultValue(r))
        } catch EvalError.cancelled {
            interp.cancellationToken.reset()
            throw LangRuntimeError(.interrupted, "interrupted")
        } catch let e as EvalError {
            throw LangRuntimeError(.value, "\(name): \(e.description)")
        }
    }

    static func depths(_ a: BoundArguments) throws -> [Double] {
        switch a["depths"] {
        case .int(let n): return try NIAHConfig.depths(count: n)
        default: return try NIAHConfig.depths(list: try a.doubles("depths"))
        }
    }

    /// A string that reads as a file name rather than as text: one word with a slash or a
    /// file extension ("corpus.txt", "data/books"). Such a string that names no file is an
    /// error, not text to score.
    static func looksLikePath(_ s: String) -> Bool {
        guard !s.isEmpty, !s.contains(where: { $0.isWhitespace }) else { return false }
        if s.contains("/") { return true }
        let exts = [".txt", ".jsonl", ".json", ".md", ".csv", ".text"]
        return exts.contains { s.lowercased().hasSuffix($0) }
    }

    static func missingFile(_ command: String, _ arg: String, _ s: String) -> Error {
        Convert.error(command, arg, "'\(s)' names no file or folder (a text to use as it is must contain a space)")
    }

    static func texts(_ v: Value, _ command: String) throws -> [String] {
        switch v {
        case .string(let s):
            if !FileManager.default.fileExists(atPath: s), looksLikePath(s) { throw missingFile(command, "data", s) }
            if FileManager.default.fileExists(atPath: s) {
                if s.hasSuffix(".jsonl") {
                    let ds = try TrainCommands.loadJSONL(s)
                    return ds.records.compactMap { TrainCommands.text(of: $0) }
                }
                guard let t = try? String(contentsOfFile: s, encoding: .utf8) else { throw Convert.error(command, "data", "cannot read '\(s)'") }
                return [t]
            }
            return [s]
        case .list(let l):
            return try l.enumerated().map { i, x in
                if let s = x.asString { return s }
                if let r = x.asRecord, let s = r["text"]?.asString { return s }
                throw Convert.error(command, "data", "element \(i) must be a string or a {text} record")
            }
        case .host(let h):
            if let d = h as? DatasetValue { return d.dataset.records.compactMap { TrainCommands.text(of: $0) } }
            fallthrough
        default:
            throw Convert.error(command, "data", "must be texts (a list of strings, a dataset or a file path), got \(v.typeNameWithArticle)")
        }
    }

    /// The options of the evaluators that fill a config, once: their defaults are the configs'.
    static let passkeyOptions = OptionTable(PasskeyConfig(lengths: [], depths: [])) { t in [
        t.int("trials", \.trials), t.seed(\.seed), t.int("max_tokens", \.maxTokens), t.bool("chat", \.chat),
        t.optionalString("resume", \.resumePath, doc: "a JSON file of partial results, written as the run goes and read at the start to skip what it holds (refused, naming the setting, when made with another model, tokenizer, data or setting)"),
    ] }
    static let topicsOptions = OptionTable(TopicsConfig(counts: [])) { t in [
        t.int("trials", \.trials), t.seed(\.seed), t.int("turn_tokens", \.turnTokens), t.int("max_tokens", \.maxTokens),
        t.optionalString("resume", \.resumePath, doc: "a JSON file of partial results, written as the run goes and read at the start to skip what it holds (refused, naming the setting, when made with another model, tokenizer, data or setting)"),
    ] }
    static let qaOptions = OptionTable(QAConfig()) { t in [
        t.int("max_len", \.maxLen), t.int("max_tokens", \.maxTokens),
        t.custom(.named("template", .string, optional: true)) { c, a, _ in if let s = try a.optionalString("template") { c.template = s } },
        t.bool("chat", \.chat), t.optionalString("resume", \.resumePath, doc: "a JSON file of partial results, written as the run goes and read at the start to skip what it holds (refused, naming the setting, when made with another model, tokenizer, data or setting)"),
    ] }

    /// Registers this area's commands.
    static func register(into r: Registry) {
        registerEvaluators(into: r)
        registerScores(into: r)
        registerPlots(into: r)
    }

    /// The evaluators: eval.niah, eval.passkey, eval.topics, eval.ppl, eval.mc, eval.qa.
    static func registerEvaluators(into r: Registry) {
        let m = Param("m", ModelCommands.modelType), tok = Param("tok", ModelCommands.tokType)
        r.register("eval.niah", [m, tok, .named("lengths", .oneOf(.int, .list)), .named("depths", .oneOf(.int, .list), default: .int(5)),
                                 .named("haystack", .string, optional: true), .named("needle", .string, optional: true),
                                 .named("question", .string, optional: true), .named("answer", .string, optional: true),
                                 .named("metric", .string, optional: true), .named("max_tokens", .int, default: .int(50)),
                                 .named("chat", .bool, default: .bool(true)), .named("resume", .string, optional: true), .named("seed", .int, optional: true),
                                 .named("samples", .int, default: .int(1)), .named("distractors", .int, default: .int(0))],
                   help: "Needle-in-a-Haystack over lengths x depths (depths: a count of evenly spaced depths from 0 to 100%, or a list of fractions); haystack: text or a folder of .txt files (synthetic filler when omitted), or \"entities\": documents about the people of a synthetic world, the needle one person's secret code, `samples` cases a cell (each its own world) and `distractors` codes of other people in the context, scored by whether the answer holds the code (metric \"substring\"). The result shows as a heatmap; .mean, .grid [depths, lengths], .lengths, .depths, .table, .interrupted; with \"entities\" .misses, every case that scored below 1 ({length, depth, sample, needle, code, answer, score})." + interruptHelp("cells not run are NaN in .grid, nil in .answers")) { a, interp in
            var c = NIAHConfig(lengths: try a.ints("lengths"), depths: try depths(a))
            if let s = try a.optionalString("needle") { c.needle = s }
            if let s = try a.optionalString("question") { c.question = s }
            c.answer = try a.optionalString("answer")
            let entities = try a.optionalString("haystack") == "entities"
            c.metric = try a.optionalString("metric") ?? (entities ? "substring" : "rougeL")
            c.maxTokens = try a.int("max_tokens")
            c.chat = try a.bool("chat")
            c.resumePath = try a.optionalString("resume")
            var hay = Haystack.synthetic(seed: try Convert.seed(a, interp))
            if let h = try a.optionalString("haystack"), !entities {
                if FileManager.default.fileExists(atPath: h) { hay = .folder(h) }
                else if looksLikePath(h) { throw missingFile("eval.niah", "haystack", h) }
                else { hay = .text(h) }
            }
            if entities {
                hay = .entities(seed: try Convert.seed(a, interp), samples: try a.int("samples"), distractors: try a.int("distractors"))
            } else if try a.int("samples") != 1 || a.int("distractors") != 0 {
                throw Convert.error("eval.niah", "samples", "samples and distractors need haystack: \"entities\"")
            }
            let model = try ModelCommands.model(a), tk = try ModelCommands.tokenizer(a)
            try ModelCommands.checkVocab(model, tk, "eval.niah", interp)
            try PlanCommands.check(model, PlanRequest(kind: .generate, tokens: c.lengths.max() ?? 0, generate: c.maxTokens), "eval.niah")
            return try run(interp, "eval.niah") { try NIAH.run(model: model, tokenizer: tk, haystack: hay, config: c, hooks: hooks(interp, "eval.niah")) }
        }
        r.register("eval.passkey", [m, tok, .named("lengths", .oneOf(.int, .list)), .named("depths", .oneOf(.int, .list), default: .int(5))]
                                   + passkeyOptions.params,
                   help: "Passkey retrieval accuracy over lengths x depths." + interruptHelp("cells not done are NaN in .grid, with no .keys or .answers")) { a, interp in
            var c = PasskeyConfig(lengths: try a.ints("lengths"), depths: try depths(a))
            try passkeyOptions.apply(to: &c, a, interp)
            let model = try ModelCommands.model(a), tk = try ModelCommands.tokenizer(a)
            try ModelCommands.checkVocab(model, tk, "eval.passkey", interp)
            try PlanCommands.check(model, PlanRequest(kind: .generate, tokens: c.lengths.max() ?? 0, generate: c.maxTokens), "eval.passkey")
            return try run(interp, "eval.passkey") { try Passkey.run(model: model, tokenizer: tk, config: c, hooks: hooks(interp, "eval.passkey")) }
        }
        r.register("eval.topics", [m, tok, .named("counts", .oneOf(.int, .list))] + topicsOptions.params,
                   help: "LongChat-style first-topic retrieval accuracy for each number of topics." + interruptHelp("a count with trials left is NaN in .accuracy, with no .answers")) { a, interp in
            var c = TopicsConfig(counts: try a.ints("counts"))
            try topicsOptions.apply(to: &c, a, interp)
            let model = try ModelCommands.model(a), tk = try ModelCommands.tokenizer(a)
            try ModelCommands.checkVocab(model, tk, "eval.topics", interp)
            return try run(interp, "eval.topics") { try Topics.run(model: model, tokenizer: tk, config: c, hooks: hooks(interp, "eval.topics")) }
        }
        r.register("eval.ppl", [m, tok, Param("data"), .named("window", .int, default: .int(1024)), .named("stride", .int, optional: true), .named("resume", .string, optional: true)],
                   help: "Sliding-window perplexity over texts (a list of strings, a dataset or a file); stride defaults to window / 2. Log-probabilities are streamed (chunked prefill into a KV cache): no [window, vocab] logits are held." + interruptHelp("the windows scored so far, and their documents")) { a, interp in
            let texts = try texts(a["data"], "eval.ppl")
            let w = try a.int("window"), s = try a.optionalInt("stride") ?? max(1, w / 2)
            let model = try ModelCommands.model(a), tk = try ModelCommands.tokenizer(a)
            try ModelCommands.checkVocab(model, tk, "eval.ppl", interp)
            // a window never holds more tokens than the longest text has bytes (+ BOS)
            let longest = texts.map { $0.utf8.count + 1 }.max() ?? 0
            try PlanCommands.check(model, PlanRequest(kind: .eval, tokens: min(w, longest)), "eval.ppl")
            return try run(interp, "eval.ppl") { try Perplexity.run(model: model, tokenizer: tk, texts: texts, window: w, stride: s, hooks: hooks(interp, "eval.ppl"), resume: try a.optionalString("resume")) }
        }
        r.register("eval.mc", [m, tok, Param("data"), .named("resume", .string, optional: true)],
                   help: "MMLU protocol: zero-shot, each choice letter scored by its mean NLL as the assistant reply; accuracy per subject and category; the prompt runs once into a KV cache and each letter is scored from it. data: an MMLU CSV file or folder, or a list of {subject, question, choices, answer} records." + interruptHelp("the questions scored so far")) { a, interp in
            var items: [MCItem]
            if case .string(let p) = a["data"] { items = try MultipleChoice.load(path: p) }
            else {
                items = try a.list("data").enumerated().map { i, v in
                    guard let r = v.asRecord, let q = r["question"]?.asString, let ch = r["choices"]?.asList else {
                        throw a.error("data", "record \(i) needs question, choices and answer")
                    }
                    var ans = 0
                    if let n = r["answer"]?.asInt { ans = n }
                    else if let s = r["answer"]?.asString, let k = MultipleChoice.letters.firstIndex(of: s.uppercased()) { ans = k }
                    else { throw a.error("data", "record \(i): answer must be an index or a letter") }
                    return MCItem(subject: r["subject"]?.asString ?? "all", question: q, choices: ch.map { $0.description }, answer: ans)
                }
            }
            let model = try ModelCommands.model(a), tk = try ModelCommands.tokenizer(a)
            try ModelCommands.checkVocab(model, tk, "eval.mc", interp)
            return try run(interp, "eval.mc") { try MultipleChoice.run(model: model, tokenizer: tk, items: items, hooks: hooks(interp, "eval.mc"), resume: try a.optionalString("resume")) }
        }
        r.register("eval.qa", [m, tok, Param("data"), .named("metric", .string, default: .string(QAConfig().metric))] + qaOptions.params,
                   help: "LongBench/InfiniteBench-style generation scored with f1, rougeL, edit_sim, classification, count or retrieval; inputs over max_len are cut from the middle. data: a JSONL file or a list of {input, context, answers} records." + interruptHelp("the items answered so far")) { a, interp in
            var items: [QAItem]
            if case .string(let p) = a["data"] { items = try QA.load(path: p) }
            else {
                items = try a.list("data").enumerated().map { i, v in
                    guard let d = try Convert.any(v) as? [String: Any] else { throw a.error("data", "record \(i) must be a record") }
                    return try QA.item(d, where: "record \(i)")
                }
            }
            var c = QAConfig(metric: try a.string("metric"))
            try qaOptions.apply(to: &c, a, interp)
            let model = try ModelCommands.model(a), tk = try ModelCommands.tokenizer(a)
            try ModelCommands.checkVocab(model, tk, "eval.qa", interp)
            return try run(interp, "eval.qa") { try QA.run(model: model, tokenizer: tk, items: items, config: c, hooks: hooks(interp, "eval.qa")) }
        }
    }

    /// The answer scores: score.*.
    static func registerScores(into r: Registry) {
        let pr = [Param("pred", .string), Param("ref", .oneOf(.string, .list))]
        func best(_ metric: String, _ a: BoundArguments) throws -> Value {
            var refs: [String] = []
            if let s = a["ref"].asString { refs = [s] } else { refs = try a.list("ref").map { $0.description } }
            return .double(try Score.best(metric, try a.string("pred"), refs))
        }
        r.register("score.f1", pr, help: "LongBench QA F1 (normalized tokens); the best over a list of references.") { a, _ in try best("f1", a) }
        r.register("score.rouge_l", pr, help: "ROUGE-L F-measure as LongBench computes it.") { a, _ in try best("rougeL", a) }
        r.register("score.edit_sim", pr, help: "Edit similarity (fuzzywuzzy ratio / 100) of the first code line.") { a, _ in try best("edit_sim", a) }
        r.register("score.exact", pr, help: "1 when the normalized answers are equal.") { a, _ in try best("exact", a) }
        r.register("score.count", pr, help: "LongBench passage count score.") { a, _ in try best("count", a) }
        r.register("score.retrieval", pr, help: "LongBench passage retrieval score.") { a, _ in try best("retrieval", a) }
        r.register("score.classification", [Param("pred", .string), Param("ref", .string), Param("classes", .list)],
                   help: "LongBench classification score against the class list.") { a, _ in
            .double(Score.classification(try a.string("pred"), try a.string("ref"), classes: try a.list("classes").map { $0.description }))
        }
        r.alias("score.rougeL", for: "score.rouge_l")
    }

    /// Figures: plot.heatmap, plot.line.
    static func registerPlots(into r: Registry) {
        r.register("plot.heatmap", [Param("x"), .named("title", .string, default: .string("")), .named("x_labels", .list, optional: true),
                                    .named("y_labels", .list, optional: true), .named("vmin", .number, optional: true), .named("vmax", .number, optional: true)],
                   help: "A heatmap figure of a 2-D tensor or list of lists (or an eval result's grid).") { a, _ in
            var grid: [[Double]]
            var xl: [String]? = try a.optionalList("x_labels")?.map { $0.description }
            var yl: [String]? = try a.optionalList("y_labels")?.map { $0.description }
            if case .host(let h) = a["x"], let rv = h as? ResultValue, case .host(let g as TensorValue) = try rv.getField("grid") {
                let t = g.tensor, cols = t.shape[1]
                let f = Convert.doubles(t)
                grid = (0..<t.shape[0]).map { Array(f[$0 * cols..<($0 + 1) * cols]) }
                xl = xl ?? rv.fields["lengths"]?.asList?.map { $0.description }
                yl = yl ?? rv.fields["depths"]?.asList?.map { "\(Int((($0.asDouble ?? 0) * 100).rounded()))%" }
            } else {
                let t = try Convert.tensor(a["x"], "plot.heatmap", "x")
                guard t.shape.count == 2 else { throw a.error("x", "must be 2-D, got shape \(t.shape)") }
                let cols = t.shape[1], f = Convert.doubles(t)
                grid = (0..<t.shape[0]).map { Array(f[$0 * cols..<($0 + 1) * cols]) }
            }
            let flat = grid.flatMap { $0 }.filter { $0.isFinite }
            let lo = try a.optionalDouble("vmin") ?? min(0, flat.min() ?? 0)
            let hi = try a.optionalDouble("vmax") ?? max(1, flat.max() ?? 1)
            return .host(FigureValue(Plot.heatmap(grid, title: try a.string("title"), xLabels: xl, yLabels: yl, vmin: lo, vmax: hi)))
        }
        r.register("plot.line", [Param("xs"), Param("ys", optional: true), .named("label", .string, default: .string("")),
                                 .named("title", .string, default: .string("")), .named("x_title", .string, default: .string("")),
                                 .named("y_title", .string, default: .string("")), .named("y_range", .list, optional: true),
                                 .named("xscale", .string, default: .string("linear")), .named("yscale", .string, default: .string("linear"))],
                   help: "A line chart of ys against xs (or of xs against 0, 1, 2, ... when ys is omitted). Several series share the figure, with a legend, when ys is a record {label: values, ...}; a series may also bring its own xs as {x: [...], y: [...]}. x_title, y_title: the axes' labels; xscale, yscale: \"linear\" or \"log\" (values <= 0 are left out of a log axis); y_range: [lo, hi] fixes the y axis. plot.grid puts several figures side by side.") { a, _ in
            func nums(_ v: Value, _ n: String) throws -> [Double] { Convert.doubles(try Convert.tensor(v, "plot.line", n)).map { $0 } }
            var xs = try nums(a["xs"], "xs")
            var series: [Series] = []
            if a.has("ys"), let rec = a["ys"].asRecord {
                for (name, v) in rec.pairs {
                    if let own = v.asRecord {
                        guard let ox = own["x"], let oy = own["y"] else { throw a.error("ys", "series '\(name)' must be a list of values or {x: [...], y: [...]}") }
                        let sx = try nums(ox, "ys.\(name).x"), sy = try nums(oy, "ys.\(name).y")
                        guard sx.count == sy.count else { throw a.error("ys", "series '\(name)' has \(sy.count) y values but \(sx.count) x values") }
                        series.append(Series(label: name, xs: sx, ys: sy))
                        continue
                    }
                    let ys = try nums(v, "ys.\(name)")
                    guard xs.count == ys.count else { throw a.error("ys", "series '\(name)' has \(ys.count) values but xs has \(xs.count)") }
                    series.append(Series(label: name, xs: xs, ys: ys))
                }
                guard !series.isEmpty else { throw a.error("ys", "the record holds no series") }
            } else {
                var ys: [Double]
                if a.has("ys") { ys = try nums(a["ys"], "ys") } else { ys = xs; xs = (0..<ys.count).map(Double.init) }
                guard xs.count == ys.count else { throw a.error("ys", "has \(ys.count) values but xs has \(xs.count)") }
                series = [Series(label: try a.string("label"), xs: xs, ys: ys)]
            }
            var range: ClosedRange<Double>? = nil
            if let r = try a.optionalList("y_range") {
                guard r.count == 2, let lo = r[0].asDouble, let hi = r[1].asDouble, lo < hi else { throw a.error("y_range", "must be [lo, hi] with lo < hi") }
                range = lo...hi
            }
            func scale(_ n: String) throws -> Plot.Scale {
                let v = try a.string(n)
                guard let s = Plot.Scale(rawValue: v) else { throw a.error(n, "must be \"linear\" or \"log\", got \"\(v)\"") }
                return s
            }
            let xs_ = try scale("xscale"), ys_ = try scale("yscale")
            if ys_ == .log, let r = range, r.lowerBound <= 0 { throw a.error("y_range", "must be positive on a log axis") }
            return .host(FigureValue(Plot.line(series, title: try a.string("title"), xTitle: try a.string("x_title"),
                                               yTitle: try a.string("y_title"), yRange: range, xScale: xs_, yScale: ys_)))
        }
        r.register("plot.grid", [Param("figures", .list), .named("cols", .int, default: .int(2)), .named("title", .string, default: .string(""))],
                   help: "Small multiples: several figures in a grid of `cols` columns, row by row, each with its own axes (plot.grid([f1, f2, f3], cols: 2)).") { a, _ in
            var figs: [Figure] = []
            for (i, v) in try a.list("figures").enumerated() {
                guard case .host(let h) = v, let f = h as? FigureValue else {
                    throw a.error("figures", "element \(i) is \(v.typeNameWithArticle), not a Figure")
                }
                figs.append(f.figure)
            }
            guard !figs.isEmpty else { throw a.error("figures", "is empty") }
            let cols = try a.int("cols")
            guard cols >= 1 else { throw a.error("cols", "must be at least 1, got \(cols)") }
            return .host(FigureValue(Plot.grid(figs, cols: cols, title: try a.string("title"))))
        }
    }
}
