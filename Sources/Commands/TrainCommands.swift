// TrainCommands: data and training — datasets (`data.jsonl`, `data.from`, `synth.*`,
// `ds.take(n)`, `a + b`, `shuffle`, `len`), `train` (AdamW with a progress bar; Ctrl-C stops
// after the current step), `grads`, and the step-by-step optimizer `adamw` / `opt.step(g)`.
import Foundation
import Lang
import Tensor
import Quant
import Llama
import Tokenizer
import Synth
import Train
import NN

/// A dataset as a language value.
final class DatasetValue: HostObject {
    let dataset: TrainDataset
    init(_ d: TrainDataset) { dataset = d }
    var typeName: String { "Dataset" }
    var description: String {
        var kinds: [String: Int] = [:]
        for r in dataset.records {
            switch r { case .text: kinds["text", default: 0] += 1; case .conversation: kinds["conversations", default: 0] += 1; case .tokens: kinds["tokens", default: 0] += 1 }
        }
        return "Dataset(\(dataset.count) records: " + kinds.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") + ", from \(dataset.source))"
    }
    var fieldNames: [String] { ["take", "shuffle", "source", "records"] }
    var length: Int? { dataset.count }
    func elements() throws -> [Value]? { dataset.records.map(TrainCommands.recordValue) }
    /// Two datasets are equal when their records are, in order (as lists are).
    func isEqual(to other: HostObject) -> Bool? {
        guard let o = other as? DatasetValue else { return false }
        guard dataset.count == o.dataset.count else { return false }
        return zip(dataset.records, o.dataset.records).allSatisfy {
            valuesEqual(TrainCommands.recordValue($0), TrainCommands.recordValue($1))
        }
    }
    func getIndex(_ items: [IndexItem]) throws -> Value {
        guard items.count == 1 else { throw LangRuntimeError(.index, "a dataset takes one index") }
        switch items[0] {
        case .index(let v): return TrainCommands.recordValue(dataset.records[try Builtins.normalizeIndex(v, count: dataset.count)])
        case .slice(let a, let b, let c):
            let idx = Builtins.sliceIndices(start: a, stop: b, step: c, count: dataset.count)
            return .host(DatasetValue(TrainDataset(records: idx.map { dataset.records[$0] }, source: dataset.source)))
        }
    }
    func getField(_ name: String) throws -> Value {
        switch name {
        case "source": return .string(dataset.source)
        case "records": return .list(dataset.records.map(TrainCommands.recordValue))
        case "take":
            return .command(Command("Dataset.take", [Param("n", .int)], help: "The first n records.") { a, _ in
                .host(DatasetValue(try self.dataset.take(try a.int("n"))))
            })
        case "shuffle":
            return .command(Command("Dataset.shuffle", [.named("seed", .int, optional: true)], help: "The records in a seeded random order.") { a, interp in
                .host(DatasetValue(self.dataset.shuffled(seed: try Convert.seed(a, interp))))
            })
        default: throw LangRuntimeError(.name, "Dataset has no field '\(name)'")
        }
    }
}

/// A step-by-step AdamW optimizer over a model's trainable tensors.
final class OptimizerValue: HostObject {
    let opt: AdamW
    init(_ o: AdamW) { opt = o }
    var typeName: String { "AdamW" }
    var description: String { "AdamW(\(opt.names.count) tensors, lr: \(Value.double(opt.lr).repr), step: \(opt.stepCount), schedule: \(opt.schedule))" }
    var fieldNames: [String] { ["lr", "step", "steps", "names"] }
    func getField(_ name: String) throws -> Value {
        switch name {
        case "lr": return .double(opt.lr)
        case "steps": return .int(opt.stepCount)
        case "names": return .list(opt.names.map { .string($0) })
        case "step":
            return .command(Command("AdamW.step", [Param("grads", .record)],
                                    help: "Applies a gradient record (by name) as torch.optim.AdamW does, then advances the schedule.") { a, _ in
                var g: [String: Tensor] = [:]
                for (k, v) in try a.record("grads").pairs where !v.isNil {
                    g[k] = try Convert.tensor(v, "opt.step", "grads.\(k)").to(.f32).contiguous()
                }
                try self.opt.step(g)
                return .null
            })
        default: throw LangRuntimeError(.name, "AdamW has no field '\(name)'")
        }
    }
}

enum TrainCommands {
    static func loadJSONL(_ path: String) throws -> TrainDataset { try TrainDataset.jsonl(path) }

    static func text(of r: TrainRecord) -> String? { if case .text(let s) = r { return s }; return nil }

    static func recordValue(_ r: TrainRecord) -> Value {
        switch r {
        case .text(let s): return .record(Record([("text", .string(s))]))
        case .conversation(let ms): return .record(Record([("conversations", Convert.messagesValue(ms))]))
        case .tokens(let ids, let labels):
            return .record(Record([("input_ids", .list(ids.map { .int($0) })), ("labels", .list(labels.map { .int($0) }))]))
        }
    }

    static func dataset(_ v: Value, _ command: String, _ arg: String) throws -> TrainDataset {
        switch v {
        case .host(let h):
            if let d = h as? DatasetValue { return d.dataset }
        case .string(let p): return try TrainDataset.jsonl(p)
        case .list(let l):
            return TrainDataset(records: try l.enumerated().map { i, x in
                if let s = x.asString { return .text(s) }
                return try TrainDataset.record(try Convert.any(x), file: "<list>", line: i + 1)
            }, source: "list")
        default: break
        }
        throw Convert.error(command, arg, "must be a dataset (data.jsonl / data.from / synth.*), got \(v.typeNameWithArticle)")
    }

    static func synthDataset(_ ms: [[ChatMessage]], _ name: String) -> Value {
        .host(DatasetValue(TrainDataset(records: ms.map { .conversation($0) }, source: name)))
    }

    enum SynthBatch {
        case conversations([[ChatMessage]])
        case texts([String])
        case tokens([(ids: [Int], labels: [Int])])
    }

    /// A synthetic dataset of `count` records: all of `length` tokens, or (with min_length)
    /// each of its own length drawn from min_length...length, record i made with seed + i.
    static func synthRecords(_ a: BoundArguments, _ interp: Interpreter, _ source: String,
                             _ make: (Int, Int, UInt64) throws -> SynthBatch) throws -> Value {
        let count = try a.int("count"), length = try a.int("length"), seed = try Convert.seed(a, interp)
        guard count >= 0 else { throw Convert.error(source, "count", "must be >= 0, got \(count)") }
        func records(_ b: SynthBatch) -> [TrainRecord] {
            switch b {
            case .conversations(let cs): return cs.map { .conversation($0) }
            case .texts(let ts): return ts.map { .text($0) }
            case .tokens(let xs): return xs.map { .tokens(ids: $0.ids, labels: $0.labels) }
            }
        }
        guard let lo = try a.optionalInt("min_length") else {
            return .host(DatasetValue(TrainDataset(records: records(try make(count, length, seed)), source: source)))
        }
        guard lo >= 1, lo <= length else { throw Convert.error(source, "min_length", "must be within 1...length (\(length)), got \(lo)") }
        var rng = SplitMix64(synthSeed: seed ^ 0x4C454E)
        var out: [TrainRecord] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let n: Int = lo + Int(rng.next() % UInt64(length - lo + 1))
            out += records(try make(1, n, seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15))
        }
        return .host(DatasetValue(TrainDataset(records: out, source: source)))
    }

    static func distractorRange(_ a: BoundArguments) throws -> ClosedRange<Int> { try intRange(a, "distractors", "synth.retrieval") }

    /// An argument that is a number or a list [lo, hi] of two integers (drawn per record).
    static func intRange(_ a: BoundArguments, _ name: String, _ command: String) throws -> ClosedRange<Int> {
        let v = a[name]
        if let n = v.asInt { return n...n }
        if let l = v.asList, l.count == 2, let lo = l[0].asInt, let hi = l[1].asInt {
            guard lo <= hi else { throw Convert.error(command, name, "[lo, hi] needs lo <= hi, got [\(lo), \(hi)]") }
            return lo...hi
        }
        throw Convert.error(command, name, "must be a number or a list [lo, hi] of two integers, got \(v.typeNameWithArticle)")
    }

    /// train's options, once: their defaults are TrainConfig's (Train/Trainer.swift).
    static let trainOptions = OptionTable(TrainConfig()) { t in [
        t.double("lr", \.lr),
        t.custom(.named("schedule", .string, default: .string(t.defaults.schedule.rawValue))) { c, a, _ in
            c.schedule = try Settings.schedule(try a.string("schedule"))
        },
        t.int("warmup", \.warmup), t.int("batch", \.batch), t.int("micro_batch", \.microBatch), t.int("epochs", \.epochs),
        t.optionalInt("steps", \.steps), t.optionalInt("max_len", \.maxLen), t.bool("checkpointing", \.checkpointing),
        t.custom(.named("clip", .number, default: .double(t.defaults.clip ?? 0))) { c, a, _ in
            let clip = try a.double("clip"); c.clip = clip > 0 ? clip : nil   // 0: no clipping
        },
        t.double("weight_decay", \.weightDecay), t.optionalInt("save_every", \.saveEvery),
        t.optionalString("out", \.out), t.optionalString("resume", \.resume), t.seed(\.seed), t.bool("shuffle", \.shuffle),
        t.custom(.named("compute_dtype", .string, default: .string("f32"))) { c, a, _ in
            switch try a.string("compute_dtype") {
            case "f32", "float32": c.bf16Compute = false
            case "bf16", "bfloat16": c.bf16Compute = true
            case let s: throw a.error("compute_dtype", "must be \"f32\" or \"bf16\", got \"\(s)\"")
            }
        },
    ] }

    /// Registers this area's commands.
    static func register(into r: Registry) {
        registerData(into: r)
        registerTraining(into: r)
    }

    /// Datasets: data.jsonl, data.from, the synth.* generators, shuffle.
    static func registerData(into r: Registry) {
        r.register("data.jsonl", [Param("path", .string)],
                   help: "Records with `text` (loss on every token) or `conversations: [{role, content}]` (loss on assistant turns and their <|eot_id|> only).") { a, _ in
            .host(DatasetValue(try TrainDataset.jsonl(try a.string("path"))))
        }
        r.register("data.from", [Param("records", .list)], help: "A dataset from a list of strings or {text} / {conversations} records.") { a, _ in
            .host(DatasetValue(try dataset(a["records"], "data.from", "records")))
        }
        let tok = Param("tok", ModelCommands.tokType)
        let common: [Param] = [.named("count", .int, default: .int(8)), .named("length", .int, default: .int(1024)),
                               .named("min_length", .int, optional: true), .named("seed", .int, optional: true)]
        let turns = Param.named("turns", .int, default: .int(1))
        r.register("synth.needle_qa", [tok] + common + [turns],
                   help: "Single-detail QA conversations: a context of small documents about many people (the same templates for all, so only the name tells the facts apart) and `turns` questions, each about one fact of it. Lengths in tokens: `length`, or each drawn from min_length...length.") { a, interp in
            let t = try ModelCommands.tokenizer(a), n = try a.int("turns")
            return try synthRecords(a, interp, "synth.needle_qa") { SynthBatch.conversations(try Synth.needleQA(tokenizer: t, count: $0, length: $1, turns: n, seed: $2)) }
        }
        r.register("synth.multi_detail", [tok] + common + [.named("details", .int, default: .int(3)), turns],
                   help: "Multi-detail QA conversations: each question asks for `details` (2-6) facts about different people, stated in different places of the context.") { a, interp in
            let t = try ModelCommands.tokenizer(a), d = try a.int("details"), n = try a.int("turns")
            return try synthRecords(a, interp, "synth.multi_detail") { SynthBatch.conversations(try Synth.multiDetail(tokenizer: t, count: $0, length: $1, details: d, turns: n, seed: $2)) }
        }
        r.register("synth.summary", [tok] + common + [.named("people", .int, default: .int(1))],
                   help: "Biography-summary conversations: every fact about `people` persons (1-4), each a sentence at its own place in the context; the answer states them all.") { a, interp in
            let t = try ModelCommands.tokenizer(a), p = try a.int("people")
            return try synthRecords(a, interp, "synth.summary") { SynthBatch.conversations(try Synth.summary(tokenizer: t, count: $0, length: $1, people: p, seed: $2)) }
        }
        r.register("synth.retrieval", [tok] + common + [.named("distractors", .any, default: .int(0)), .named("depth", .any, optional: true)],
                   help: "The retrieval test's own format as training conversations: instruction, documents, one person's secret code at a random depth and `distractors` codes of other people (a number, or [lo, hi] drawn per record), then the question; the answer is the code's sentence. depth: a fraction of the context (or [lo, hi], drawn per record) places the needle as eval.niah does.") { a, interp in
            let t = try ModelCommands.tokenizer(a)
            let d = try distractorRange(a)
            var depth: ClosedRange<Double>? = nil
            if a.has("depth") {
                let v = a["depth"]
                if let x = v.asDouble { depth = x...x }
                else if let l = v.asList, l.count == 2, let lo = l[0].asDouble, let hi = l[1].asDouble, lo <= hi { depth = lo...hi }
                else { throw a.error("depth", "must be a fraction of the context or [lo, hi] with lo <= hi, got \(v.repr)") }
            }
            return try synthRecords(a, interp, "synth.retrieval") {
                SynthBatch.conversations(try Synth.retrieval(tokenizer: t, count: $0, length: $1, distractors: d, depth: depth, seed: $2))
            }
        }
        r.register("synth.passkey", [tok] + common,
                   help: "Passkey conversations in the evaluation's own format (eval.passkey): a random key (1 to 50000) at a random depth of the filler; the answer is \"The pass key is K.\"") { a, interp in
            let t = try ModelCommands.tokenizer(a)
            return try synthRecords(a, interp, "synth.passkey") { SynthBatch.conversations(try Synth.passkey(tokenizer: t, count: $0, length: $1, seed: $2)) }
        }
        r.register("synth.short_text", [tok, .named("count", .int, default: .int(8)), .named("length", .int, default: .int(128)),
                                        .named("min_length", .int, optional: true), .named("seed", .int, optional: true)],
                   help: "Short plain text (documents about people) for the short mix: language modelling, loss on every token.") { a, interp in
            let t = try ModelCommands.tokenizer(a)
            return try synthRecords(a, interp, "synth.short_text") { SynthBatch.texts(try Synth.shortText(tokenizer: t, count: $0, length: $1, seed: $2)) }
        }
        r.register("synth.copy", [tok, .named("count", .int, default: .int(8)), .named("length", .int, default: .int(128)),
                                  .named("min_length", .int, optional: true), .named("seed", .int, optional: true),
                                  .named("distinct", .int, optional: true)],
                   help: "Copy lessons: <bos> and random ordinary tokens of the vocabulary told twice ({input_ids, labels} records, loss on the second telling only). The plainest lesson in reading from context: an induction head forms within a few hundred steps, and retrieval training builds on it. distinct: n draws each record from n random tokens, so tokens repeat and only a longer prefix says where to look.") { a, interp in
            let t = try ModelCommands.tokenizer(a), d = try a.optionalInt("distinct"), pool = Synth.ordinaryIDs(t)
            return try synthRecords(a, interp, "synth.copy") {
                SynthBatch.tokens(try Synth.copyLessons(tokenizer: t, count: $0, length: $1, distinct: d, pool: pool, seed: $2))
            }
        }
        r.register("synth.recall", [tok, .named("count", .int, default: .int(8)), .named("length", .int, default: .int(256)),
                                    .named("pairs", .any, default: .int(16)), .named("queries", .int, optional: true),
                                    .named("seed", .int, optional: true)],
                   help: "Associative-recall lessons ({input_ids, labels} records): <bos>, `pairs` bindings \"{name} reads {code}.\" of distinct people (a number, or [lo, hi] drawn per record), then `queries` of them (default all) asked again in a random order; the loss on the queried codes only, which only the name tells apart. At most `length` tokens (a record longer is an error).") { a, interp in
            let t = try ModelCommands.tokenizer(a)
            let p = try intRange(a, "pairs", "synth.recall"), q = try a.optionalInt("queries")
            return try synthRecords(a, interp, "synth.recall") { SynthBatch.tokens(try Synth.recall(tokenizer: t, count: $0, length: $1, pairs: p, queries: q, seed: $2)) }
        }
        r.register("synth.short_instructions", [tok, .named("count", .int, default: .int(8)), .named("length", .int, default: .int(128)),
                                                .named("min_length", .int, optional: true), .named("seed", .int, optional: true)],
                   help: "Short instructions for the short mix: a few sentences and one to three questions about them.") { a, interp in
            let t = try ModelCommands.tokenizer(a)
            return try synthRecords(a, interp, "synth.short_instructions") { SynthBatch.conversations(try Synth.shortInstructions(tokenizer: t, count: $0, length: $1, seed: $2)) }
        }
        r.register("synth.filler", [tok, .named("tokens", .int, default: .int(256)), .named("count", .int, optional: true), .named("seed", .int, optional: true)],
                   help: "Filler prose of about `tokens` tokens (a string), or a dataset of `count` such texts.") { a, interp in
            let t = try ModelCommands.tokenizer(a), n = try a.int("tokens"), seed = try Convert.seed(a, interp)
            guard let count = try a.optionalInt("count") else { return .string(Synth.filler(tokenizer: t, tokens: n, seed: seed)) }
            return .host(DatasetValue(TrainDataset(records: (0..<max(0, count)).map { .text(Synth.filler(tokenizer: t, tokens: n, seed: seed &+ UInt64($0))) }, source: "synth.filler")))
        }
        r.register("shuffle", [Param("ds"), .named("seed", .int, optional: true)], help: "A dataset (or list) in a seeded random order.") { a, interp in
            let seed = try Convert.seed(a, interp)
            if let l = a["ds"].asList {
                var rng = SplitMix64(seed: seed)
                return .list(rng.permutation(l.count).map { l[$0] })
            }
            return .host(DatasetValue(try dataset(a["ds"], "shuffle", "ds").shuffled(seed: seed)))
        }
    }

    /// Training: train, grads, adamw.
    static func registerTraining(into r: Registry) {
        r.register("train", [Param("m", ModelCommands.modelType), Param("data"), .named("tok", ModelCommands.tokType, optional: true)]
                             + trainOptions.params
                             + [.named("progress", .bool, default: .bool(true)), .named("callback", optional: true), .named("every", .int, default: .int(1))],
                   help: "AdamW over the trainable tensors with a progress bar; returns the history (step, loss, lr, tokens_per_s, grad_norm). Ctrl-C stops after the current step and leaves the model usable. callback: fn(s) runs every `every` steps (and after the last) with the step's record: a record it returns joins that step's history entry, false stops the run. compute_dtype: \"bf16\" multiplies in bf16 in the forward and backward passes (operands rounded to bf16, sums in f32, as QLoRA's bnb_4bit_compute_dtype=bfloat16 or torch's autocast; on the AMX tile unit where the CPU has it); weights, gradients and AdamW stay f32.") { a, interp in
            let m = try ModelCommands.model(a)
            let ds = try dataset(a["data"], "train", "data")
            let c = try trainOptions.settings(a, interp)
            let tk: TrainTokenizer? = a.has("tok") ? TrainTokenizer(try ModelCommands.tokenizer(a)) : nil
            if a.has("tok") { try ModelCommands.checkVocab(m, try ModelCommands.tokenizer(a), "train", interp) }
            let trainer = try Trainer(model: m, data: ds, tokenizer: tk, config: c)
            var q = PlanRequest(kind: .train, tokens: trainer.examples.map { $0.ids.count }.max() ?? 0)
            q.checkpointing = c.checkpointing
            q.microBatch = c.microBatch
            q.sequences = trainer.totalSteps * c.batch
            try PlanCommands.check(m, q, "train")
            let total = trainer.totalSteps
            let bar = ProgressBar(isTerminal: interp.isInteractive && isatty(1) != 0, every: max(1, total / 10), write: { interp.write($0) })
            if bar.isTerminal { bar.columns = Terminal.columns() }
            let cancel = interp.cancellationToken
            let result: TrainResult
            let showProgress = try a.bool("progress")
            let prep = trainer.prepared
            let dropped = prep.droppedTooLong + prep.droppedNoLoss
            func record(_ s: TrainStep) -> Record {
                Record([("step", .int(s.step)), ("loss", .double(s.loss)), ("lr", .double(s.lr)),
                        ("tokens_per_s", .double(s.tokensPerSecond)), ("grad_norm", .double(s.gradNorm)),
                        ("dropped", .int(dropped)), ("truncated", .int(prep.truncated))])
            }
            // Records the run leaves out or cuts are said before it starts, never silently.
            if dropped > 0 || prep.truncated > 0 {
                var parts: [String] = []
                if prep.droppedTooLong > 0 { parts.append("\(prep.droppedTooLong) conversation\(prep.droppedTooLong == 1 ? "" : "s") longer than max_len \(c.maxLen ?? 0) dropped") }
                if prep.droppedNoLoss > 0 { parts.append("\(prep.droppedNoLoss) record\(prep.droppedNoLoss == 1 ? "" : "s") without a loss token dropped") }
                if prep.truncated > 0 { parts.append("\(prep.truncated) record\(prep.truncated == 1 ? "" : "s") cut to max_len \(c.maxLen ?? 0)") }
                interp.write("train: \(parts.joined(separator: ", ")) (of \(ds.count) records; h[i].dropped, h[i].truncated)\n")
            }
            // the step callback: its records are kept by step and merged into the history
            var extra: [Int: Record] = [:]
            var onStep: ((TrainStep) throws -> Bool)? = nil
            if a.has("callback") {
                let fn = a["callback"], every = try a.int("every")
                guard every >= 1 else { throw a.error("every", "must be at least 1 (got \(every))") }
                switch fn {
                case .function, .command: break
                default: throw a.error("callback", "must be a function of one argument (the step's record), got \(fn.typeNameWithArticle)")
                }
                onStep = { s in
                    guard s.step % every == 0 || s.step == total else { return true }
                    bar.finish()
                    let v = try interp.call(fn, Arguments([.record(record(s))], location: a.location))
                    switch v {
                    case .bool(let b): return b
                    case .record(let r): extra[s.step] = r; return true
                    case .null: return true
                    default: throw a.error("callback", "returned \(v.typeNameWithArticle); it may return a record (kept in the history), false (stop) or nothing")
                    }
                }
            }
            do { result = try trainer.run(progress: { if showProgress { bar($0) } }, cancel: cancel, onStep: onStep) } catch { bar.finish(); throw error }
            bar.finish()
            // the stop request stays set: the loop or script around this call stops too (the
            // interpreter raises "interrupted" at its next statement, iteration or call), as
            // Python's KeyboardInterrupt would; the REPL clears it after the entry
            if result.cancelled { interp.write("training interrupted after step \(result.steps)/\(result.totalSteps)\n") }
            if result.stopped { interp.write("training stopped by the callback after step \(result.steps)/\(result.totalSteps)\n") }
            if let from = result.resumedFromTotal { interp.write("train: resumed a run of \(from) steps and ran it to \(result.totalSteps)\n") }
            return .list(result.history.map { s in
                var r = record(s)
                if let e = extra[s.step] { for (k, v) in e.pairs { r[k] = v } }
                return .record(r)
            })
        }
        r.register("grads", [Param("m", ModelCommands.modelType), Param("ids"), .named("labels", optional: true)],
                   help: "A record of the gradients of loss(m, ids) for every trainable tensor, by name (ids a 1-D sequence or a 2-D batch; the loss is the mean over all shifted positions).") { a, _ in
            let m = try ModelCommands.model(a)
            let trainables = m.parameters.filter { $0.trainable }
            let saved = trainables.map { $0.grad }
            for p in trainables { p.grad = nil }
            defer { for (p, g) in zip(trainables, saved) { p.grad = g } }
            switch Convert.ids2(a["ids"], "grads", "ids") {
            case .one(let ids):
                let lab: [Int]? = a.has("labels") ? try Convert.ids(a["labels"], "grads", "labels") : nil
                _ = try m.forwardBackward(ids, labels: lab, checkpointing: false)
            case .batch(let b):
                var lab: [[Int]]? = nil
                if a.has("labels"), case .batch(let x) = Convert.ids2(a["labels"], "grads", "labels") { lab = x }
                _ = try m.forwardBackward(batch: b, labels: lab, checkpointing: false)
            case .failure(let e): throw e
            }
            var r = Record()
            for p in trainables { r[p.name] = .host(TensorValue(p.grad ?? Tensor(zeros: p.shape))) }
            return .record(r)
        }
        r.register("adamw", [Param("m", ModelCommands.modelType), .named("lr", .number, default: .double(1e-3)), .named("betas", .list, default: .list([.double(0.9), .double(0.999)])),
                             .named("eps", .number, default: .double(1e-8)), .named("weight_decay", .number, default: .double(0)),
                             .named("schedule", .string, default: .string("constant")), .named("warmup", .int, default: .int(0)), .named("total_steps", .int, optional: true)],
                   help: "An AdamW optimizer over m.trainable() for step-by-step work: opt.step(grads) applies a gradient record as torch.optim.AdamW does, then advances the schedule as transformers' schedulers do; opt.lr is the next lr.") { a, _ in
            let m = try ModelCommands.model(a)
            let b = try a.doubles("betas")
            guard b.count == 2 else { throw a.error("betas", "must be [beta1, beta2]") }
            let sched = try LRSchedule(checking: try Settings.schedule(try a.string("schedule")), warmup: try a.int("warmup"), totalSteps: try a.optionalInt("total_steps") ?? 0)
            let params = m.parameters.filter { $0.trainable }.map { (name: $0.name, tensor: $0.value) }
            return .host(OptimizerValue(try AdamW(params: params, lr: try a.double("lr"), betas: (b[0], b[1]), eps: try a.double("eps"),
                                                   weightDecay: try a.double("weight_decay"), schedule: sched)))
        }
    }
}
