// ExportCommands: handing a model and an experiment to the Hugging Face stack and reading its
// results back: `export.hf` (a model directory, streamed tensor by tensor, sharded, with the
// tokenizer files), `export.experiment` (a runnable transformers + PEFT + accelerate training
// folder with exactly the session's `train` recipe) and `load_trainer_state` (a Trainer's
// trainer_state.json as llx values).
import Foundation
import Lang
import Tensor
import Quant
import Llama
import Checkpoint
import Train
import Tokenizer
import NN

enum ExportCommands {
    /// The Hugging Face directory a model was loaded from (llama.load), by identity; the weak
    /// reference keeps a later model at a freed model's address from inheriting it.
    final class Source { weak var model: LlamaModel?; let path: String; init(_ m: LlamaModel, _ p: String) { model = m; path = p } }
    nonisolated(unsafe) static var sources: [ObjectIdentifier: Source] = [:]

    static func noteSource(_ m: LlamaModel, path: String) {
        sources[ObjectIdentifier(m)] = Source(m, URL(fileURLWithPath: path).standardizedFileURL.path)
    }
    static func source(of m: LlamaModel) -> String? {
        guard let s = sources[ObjectIdentifier(m)], s.model === m else { return nil }
        return s.path
    }

    /// The tokenizer files of a Hugging Face directory that travel with an exported model.
    static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "generation_config.json"]

    /// Copies (or writes) the tokenizer files into `dir`: from the tokenizer's own file or
    /// directory, a word-level tokenizer saved as tokenizer.json, or the model's source
    /// directory. Returns the files written (empty when there is no tokenizer to write).
    static func writeTokenizer(_ tok: TokenizerValue?, modelSource: String?, into dir: String) throws -> [String] {
        let fm = FileManager.default
        var written: [String] = []
        func copy(_ from: String, _ name: String) throws {
            let to = (dir as NSString).appendingPathComponent(name)
            guard let d = fm.contents(atPath: from) else { throw LangRuntimeError(.io, "cannot read '\(from)'") }
            try Lang.AtomicFile.write(d, to: to)
            written.append(name)
        }
        func copyDir(_ src: String) throws {
            for n in tokenizerFiles where fm.fileExists(atPath: (src as NSString).appendingPathComponent(n)) {
                try copy((src as NSString).appendingPathComponent(n), n)
            }
        }
        if let t = tok {
            if let p = t.sourcePath {
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue { try copyDir(p) }
                else if p.hasSuffix(".json") { try copy(p, "tokenizer.json") }
            }
            if written.isEmpty, let w = t.tok as? WordLevelTokenizer {
                _ = try w.save(path: (dir as NSString).appendingPathComponent("tokenizer.json"))
                written.append("tokenizer.json")
            }
            if !written.isEmpty { return written }
        }
        if let s = modelSource { try copyDir(s) }
        return written
    }

    /// "5GB", "500MB", "2GiB" or a number of bytes.
    static func byteSize(_ v: Value, _ a: BoundArguments, _ arg: String) throws -> Int {
        if let n = v.asInt, n > 0 { return n }
        if let d = v.asDouble, d >= 1 { return Int(d) }
        if let s = v.asString?.trimmingCharacters(in: .whitespaces).uppercased() {
            let units: [(String, Double)] = [("GIB", 1_073_741_824), ("MIB", 1_048_576), ("KIB", 1024), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("B", 1)]
            for (u, f) in units where s.hasSuffix(u) {
                if let x = Double(s.dropLast(u.count).trimmingCharacters(in: .whitespaces)), x > 0 { return Int(x * f) }
            }
        }
        throw a.error(arg, "must be a size such as \"5GB\", \"500MB\" or a number of bytes, got \(v.repr)")
    }

    /// `dtype:` of a written model: "f32", "bf16", or "auto" (f32 below 1B parameters, bf16 from there).
    static func weightDType(_ name: String, _ m: LlamaModel, _ a: BoundArguments, _ arg: String) throws -> DType {
        switch name.lowercased() {
        case "f32", "float32": return .f32
        case "bf16", "bfloat16": return .bf16
        case "auto": return m.parameterCount >= 1_000_000_000 ? .bf16 : .f32
        default: throw a.error(arg, "must be \"auto\", \"f32\" or \"bf16\", got \"\(name)\"")
        }
    }

    /// A Hugging Face model directory: config.json, the weights streamed tensor by tensor (each
    /// merged weight made, converted and written before the next), sharded when larger than
    /// `shardBytes`, and the tokenizer files. Written into a temporary folder beside `dir`, then
    /// moved into place file by file (stale shards of an earlier export removed).
    static func writeHF(_ m: LlamaModel, dir: String, dtype: DType, shardBytes: Int, merged: Bool, tok: TokenizerValue?,
                        command: String) throws -> [String] {
        let fm = FileManager.default
        let parent = (dir as NSString).deletingLastPathComponent
        try QuantCommands.makeDirectory(parent.isEmpty ? "." : parent, command)
        let tmp = (parent.isEmpty ? "." : parent) + "/.\((dir as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try QuantCommands.makeDirectory(tmp, command)
        defer { try? fm.removeItem(atPath: tmp) }
        var cfg = m.config.jsonObject()
        cfg["torch_dtype"] = dtype == .bf16 ? "bfloat16" : "float32"
        try Lang.AtomicFile.write(try JSONSerialization.data(withJSONObject: cfg, options: [.prettyPrinted, .sortedKeys]), to: tmp + "/config.json")
        let items = QuantCommands.denseState(m, lazily: true, merged: merged).map { e in
            SafetensorsSource(name: e.name, dtype: dtype, shape: e.shape, make: e.make)
        }
        var files = try SafetensorsFile.writeSharded(items, maxShardBytes: shardBytes, metadata: ["format": "pt"], directory: tmp)
        files += try writeTokenizer(tok, modelSource: source(of: m), into: tmp)
        files.append("config.json")
        try QuantCommands.makeDirectory(dir, command)
        // the new files replace the old; weights of an earlier export that are not rewritten go
        if let old = try? fm.contentsOfDirectory(atPath: dir) {
            for n in old where !files.contains(n) && (n == "model.safetensors" || n == "model.safetensors.index.json"
                                                     || (n.hasPrefix("model-") && n.hasSuffix(".safetensors"))) {
                try? fm.removeItem(atPath: dir + "/" + n)
            }
        }
        for n in files {
            if rename(tmp + "/" + n, dir + "/" + n) != 0 {
                throw LangRuntimeError(.io, "\(command): cannot move '\(n)' into '\(dir)': \(String(cString: strerror(errno)))")
            }
        }
        return files
    }

    /// Registers this area's commands.
    static func register(into r: Registry) {
        r.register("export.hf", [Param("m", ModelCommands.modelType), Param("dir", .string), .named("dtype", .string, default: .string("auto")),
                                 .named("shard_size", .any, default: .string("5GB")), .named("tok", ModelCommands.tokType, optional: true)],
                   help: "Writes a Hugging Face model directory: config.json (the session's rope_theta / rope_scaling), the weights with the adapters merged (dtype: \"auto\" is f32 below 1B parameters and bf16 from there, or \"f32\" / \"bf16\"), streamed one tensor at a time (never a whole f32 model: an 8B NF4 model exports in the memory it already takes), in shards of at most shard_size (\"5GB\") with model.safetensors.index.json when there are several, and the tokenizer files (of tok:, else of the directory the model was loaded from). Returns the files written.") { a, _ in
            let m = try ModelCommands.model(a), dir = try a.string("dir")
            let tok: TokenizerValue? = a.has("tok") ? try a.host("tok", as: TokenizerValue.self) : nil
            let files = try writeHF(m, dir: dir, dtype: try weightDType(try a.string("dtype"), m, a, "dtype"),
                                    shardBytes: try byteSize(a["shard_size"], a, "shard_size"), merged: true, tok: tok, command: "export.hf")
            return .list(files.map { .string($0) })
        }
        r.register("export.experiment",
                   [Param("m", ModelCommands.modelType), Param("data"), Param("dir", .string), .named("tok", ModelCommands.tokType, optional: true)]
                   + TrainCommands.trainOptions.params
                   + [.named("processes", .int, default: .int(1)), .named("base", .string, optional: true),
                      .named("base_dtype", .string, default: .string("auto"))],
                   help: "Writes a folder that runs train(m, data, ...) with the same named arguments on transformers + PEFT (+ bitsandbytes NF4, on CUDA or CPU) under accelerate: `accelerate launch --config_file DIR/accelerate_config.yaml DIR/train.py` leaves the adapter and trainer_state.json in DIR/output/. The base is referenced by path when m was loaded from a Hugging Face directory (or by `base:`, a path or hub name), else written (base_dtype \"auto\": f32 below 1B parameters, bf16 from there); config.json carries the session's rope_theta / rope_scaling; data.jsonl holds the records in llx's order (batch by batch, as train would take them) and tokens.jsonl llx's ids and loss labels, which train.py checks its own tokenization against; init_adapter/ is m's adapter now (train.py starts from it). processes: the DDP processes of accelerate_config.yaml (batch must be a multiple of micro_batch x processes); accelerate_fsdp.yaml is the FSDP variant for 8B (GPUs). Returns {dir, steps, sequences, launch}.") { a, interp in
            try experiment(a, interp)
        }
        r.register("load_trainer_state", [Param("path", .string)],
                   help: "Reads a transformers Trainer's trainer_state.json (a file, or a folder holding one, e.g. export.experiment's DIR/output): {steps, loss, lr, grad_norm (lists over the logged training steps, for plot.line), history (those steps as records {step, loss, lr, grad_norm}, as train returns), log_history (every entry as written), global_step, max_steps, epoch}.") { a, _ in
            try trainerState(a)
        }
    }

    // MARK: trainer_state.json

    static func trainerState(_ a: BoundArguments) throws -> Value {
        var path = try a.string("path")
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw a.error("path", "'\(path)' does not exist") }
        if isDir.boolValue { path = (path as NSString).appendingPathComponent("trainer_state.json") }
        guard let data = FileManager.default.contents(atPath: path) else { throw a.error("path", "cannot read '\(path)'") }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw a.error("path", "'\(path)' is not a JSON object")
        }
        guard let log = obj["log_history"] as? [[String: Any]] else { throw a.error("path", "'\(path)' has no log_history list") }
        var steps: [Value] = [], loss: [Value] = [], lr: [Value] = [], gn: [Value] = [], history: [Value] = []
        for e in log {
            // the per-step training entries carry "loss"; the final summary has train_loss instead
            guard let l = (e["loss"] as? NSNumber)?.doubleValue, let s = (e["step"] as? NSNumber)?.intValue else { continue }
            let r = (e["learning_rate"] as? NSNumber)?.doubleValue, g = (e["grad_norm"] as? NSNumber)?.doubleValue
            steps.append(.int(s)); loss.append(.double(l)); lr.append(r.map { .double($0) } ?? .null); gn.append(g.map { .double($0) } ?? .null)
            history.append(.record(Record([("step", .int(s)), ("loss", .double(l)), ("lr", r.map { .double($0) } ?? .null),
                                           ("grad_norm", g.map { .double($0) } ?? .null)])))
        }
        return .record(Record([
            ("steps", .list(steps)), ("loss", .list(loss)), ("lr", .list(lr)), ("grad_norm", .list(gn)), ("history", .list(history)),
            ("log_history", Convert.value(log, order: ["step", "epoch", "loss", "grad_norm", "learning_rate"])),
            ("global_step", Convert.value(obj["global_step"])), ("max_steps", Convert.value(obj["max_steps"])),
            ("epoch", Convert.value(obj["epoch"])),
        ]))
    }

    // MARK: export.experiment

    static func json(_ obj: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    static func recordJSON(_ r: TrainRecord) -> [String: Any] {
        switch r {
        case .text(let s): return ["text": s]
        case .conversation(let ms): return ["conversations": ms.map { ["role": $0.role, "content": $0.content] }]
        case .tokens(let ids, let labels): return ["input_ids": ids, "labels": labels]
        }
    }

    static func experiment(_ a: BoundArguments, _ interp: Interpreter) throws -> Value {
        let m = try ModelCommands.model(a), dir = try a.string("dir")
        let ds = try TrainCommands.dataset(a["data"], "export.experiment", "data")
        let c = try TrainCommands.trainOptions.settings(a, interp)
        let processes = try a.int("processes")
        guard processes >= 1 else { throw a.error("processes", "must be >= 1, got \(processes)") }
        guard QuantCommands.allLinears(m).contains(where: { $0.lora != nil }), let info = QuantCommands.adapters[ObjectIdentifier(m)] else {
            throw a.error("m", "has no LoRA adapters: the exported recipe is LoRA / QLoRA (use lora or qlora first)")
        }
        if c.resume != nil { throw a.error("resume", "a resumed llx run cannot be exported (its optimizer state stays in llx); export the recipe from the start") }
        if c.out != nil || c.saveEvery != nil {
            throw a.error(c.out != nil ? "out" : "save_every", "is llx's training-state file; the exported run writes DIR/output/ instead (leave it out)")
        }
        let fm = FileManager.default
        if let existing = try? fm.contentsOfDirectory(atPath: dir), !existing.isEmpty {
            throw a.error("dir", "'\(dir)' exists and is not empty; export.experiment writes a new folder")
        }
        let tokValue: TokenizerValue? = a.has("tok") ? try a.host("tok", as: TokenizerValue.self) : nil
        let tk: TrainTokenizer? = tokValue.map { TrainTokenizer($0.tok) }
        if let t = tokValue { try ModelCommands.checkVocab(m, t.tok, "export.experiment", interp) }
        // the same preparation train does: the examples, their order and the steps
        let trainer = try Trainer(model: m, data: ds, tokenizer: tk, config: c)
        let batches = trainer.stepBatches()
        if let short = batches.firstIndex(where: { $0.count != c.batch }) {
            let n = trainer.examples.count
            throw a.error("batch", "llx's step \(short + 1) would take \(batches[short].count) sequences, not \(c.batch): \(n) examples are not a multiple of batch \(c.batch), so each epoch ends with a smaller batch, which transformers' Trainer does not make; use a batch that divides \(n) or ds.take(\(n / c.batch * c.batch))")
        }
        guard c.batch % (c.microBatch * processes) == 0 else {
            throw a.error("processes", "batch \(c.batch) must be a multiple of micro_batch \(c.microBatch) x processes \(processes) (the global batch is llx's batch)")
        }
        let schedule = try LRSchedule(checking: c.schedule, warmup: c.warmup, totalSteps: trainer.totalSteps)

        // the base: referenced or written
        let nf4 = QuantCommands.allLinears(m).first(where: { $0.nf4 != nil })?.nf4
        let loadedFrom = source(of: m)
        let baseRef = try a.optionalString("base") ?? loadedFrom
        let parent = (dir as NSString).deletingLastPathComponent
        try QuantCommands.makeDirectory(parent.isEmpty ? "." : parent, "export.experiment")
        let tmp = (parent.isEmpty ? "." : parent) + "/.\((dir as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try QuantCommands.makeDirectory(tmp, "export.experiment")
        var committed = false
        defer { if !committed { try? fm.removeItem(atPath: tmp) } }
        func write(_ text: String, _ name: String) throws { try Lang.AtomicFile.write(text, to: tmp + "/" + name) }

        var baseDType = "referenced"
        if baseRef == nil {
            // llx made this model: its frozen weights (NF4 ones dequantized, adapters left out) go along
            let dt = try weightDType(try a.string("base_dtype"), m, a, "base_dtype")
            baseDType = dt == .bf16 ? "bf16" : "f32"
            _ = try writeHF(m, dir: tmp + "/base", dtype: dt, shardBytes: 5_000_000_000, merged: false, tok: nil, command: "export.experiment")
        }
        try Lang.AtomicFile.write(try m.config.jsonData(), to: tmp + "/config.json")
        try QuantCommands.makeDirectory(tmp + "/init_adapter", "export.experiment")
        try QuantCommands.writePEFT(m, dir: tmp + "/init_adapter")
        try QuantCommands.makeDirectory(tmp + "/tokenizer", "export.experiment")
        let tokFiles = try writeTokenizer(tokValue, modelSource: loadedFrom, into: tmp + "/tokenizer")
        if tokFiles.isEmpty { try? fm.removeItem(atPath: tmp + "/tokenizer") }

        // data: llx's order, batch after batch; tokens.jsonl: llx's ids and labels
        var dataText = "", tokText = ""
        for b in batches {
            for i in b {
                dataText += try json(recordJSON(ds.records[trainer.prepared.recordIndices[i]])) + "\n"
                let e = trainer.examples[i]
                tokText += try json(["input_ids": e.ids, "labels": e.labels]) + "\n"
            }
        }
        try write(dataText, "data.jsonl")
        try write(tokText, "tokens.jsonl")

        let modules = QuantCommands.modulesToSave(m).names
        let trainable = m.parameters.filter { $0.trainable }.reduce(0) { $0 + $1.count }
        let recipe: [String: Any] = [
            "base": baseRef ?? "base", "base_written_by_llx": baseRef == nil, "base_dtype": baseDType,
            "quant": nf4 == nil ? "none" : "nf4", "double_quant": nf4?.doubleQuant ?? false,
            "rank": info.config.r, "alpha": info.config.loraAlpha, "dropout": info.config.loraDropout,
            "targets": info.config.targetModules.sorted(), "use_rslora": info.config.useRSLoRA, "modules_to_save": modules,
            "trainable_parameters": trainable,
            "lr": c.lr, "betas": [c.betas.0, c.betas.1], "eps": c.eps, "weight_decay": c.weightDecay,
            "schedule": schedule.kind.rawValue, "warmup": c.warmup, "steps": trainer.totalSteps, "batch": c.batch,
            "micro_batch": c.microBatch, "processes": processes, "clip": c.clip ?? 0, "max_len": c.maxLen.map { $0 as Any } ?? NSNull(),
            "checkpointing": c.checkpointing, "seed": Int(truncatingIfNeeded: c.seed), "shuffle": c.shuffle,
            "compute_dtype": c.bf16Compute ? "bf16" : "f32",
            "examples": trainer.examples.count, "records": ds.count, "data_source": ds.source,
            "llx_base": QuantCommands.ropeRecord(m.config),
        ]
        let recipeJSON = String(decoding: try JSONSerialization.data(withJSONObject: recipe, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
        try write(ExperimentFiles.trainPy.replacingOccurrences(of: "@RECIPE@", with: recipeJSON), "train.py")
        try write(recipeJSON + "\n", "experiment.json")
        try write(ExperimentFiles.ddpConfig(processes: processes), "accelerate_config.yaml")
        try write(ExperimentFiles.fsdpConfig(processes: max(processes, 2)), "accelerate_fsdp.yaml")
        try write(ExperimentFiles.requirements, "requirements.txt")
        try write(ExperimentFiles.readme(recipe: recipe, baseRef: baseRef, tokenizer: !tokFiles.isEmpty, dropped: trainer.prepared.droppedTooLong + trainer.prepared.droppedNoLoss,
                                         truncated: trainer.prepared.truncated), "README.md")
        if rename(tmp, dir) != 0 {
            // an empty folder of that name: replace it
            try? fm.removeItem(atPath: dir)
            if rename(tmp, dir) != 0 { throw a.error("dir", "cannot move the experiment into '\(dir)': \(String(cString: strerror(errno)))") }
        }
        committed = true
        let launch = "accelerate launch --config_file \(dir)/accelerate_config.yaml \(dir)/train.py"
        return .record(Record([("dir", .string(dir)), ("steps", .int(trainer.totalSteps)), ("sequences", .int(batches.count * c.batch)),
                               ("launch", .string(launch))]))
    }
}
