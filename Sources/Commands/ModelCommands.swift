// ModelCommands: the Llama model and tokenizers — `llama.config/init/load`, the model value
// (`m.config`, settable `m.rope_theta` / `m.rope_scaling`, `m.trainable()`), `logits`, `loss`
// (a 0-d tensor whose `backward` fills the parameters' gradients), `generate` (streams to the
// terminal in the REPL), `tokenizer.load/llama3/bytes/train` and the tokenizer value.
import Foundation
import Lang
import Tensor
import Quant
import NN
import Llama
import Tokenizer

/// A model as a language value.
final class ModelValue: HostObject {
    var model: LlamaModel
    init(_ m: LlamaModel) { model = m }
    var typeName: String { "LlamaModel" }
    var fieldNames: [String] { ["config", "rope_theta", "rope_scaling", "num_parameters", "trainable", "parameters", "logits", "loss", "generate"] }

    var description: String {
        let c = model.config
        var s = "LlamaModel(layers: \(c.numHiddenLayers), hidden: \(c.hiddenSize), heads: \(c.numAttentionHeads)/\(c.numKeyValueHeads), vocab: \(c.vocabSize), params: \(ModelCommands.human(model.parameterCount)), rope_theta: \((try? getField("rope_theta"))?.repr ?? "")"
        if let r = c.ropeScaling { s += ", rope_scaling: \(r.ropeType.rawValue)" }
        let trainable = model.parameters.filter { $0.trainable }.reduce(0) { $0 + $1.count }
        if trainable != model.parameterCount { s += ", trainable: \(ModelCommands.human(trainable))" }
        return s + ")"
    }

    func getField(_ name: String) throws -> Value {
        switch name {
        case "config": return ModelCommands.configValue(model.config)
        case "rope_theta":
            let t = model.ropeTheta
            return t == t.rounded() && abs(t) < 9e15 ? .int(Int(t)) : .double(t)
        case "rope_scaling":
            guard let r = model.ropeScaling else { return .null }
            return Convert.value(r.jsonObject(), order: ["rope_type", "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"])
        case "num_parameters": return .int(model.parameterCount)
        case "trainable":
            return .command(Command("LlamaModel.trainable", [], help: "The trainable tensors by their Hugging Face / PEFT names.") { _, _ in
                ModelCommands.trainableRecord(self.model)
            })
        case "parameters":
            var r = Record()
            for p in model.parameters { r[p.name] = ModelCommands.paramValue(p) }
            return .record(r)
        case "logits", "loss", "generate":
            return .command(Command("LlamaModel.\(name)", [.variadic("args"), .keywords("options")], help: "m.\(name)(...) is \(name)(m, ...)") { a, interp in
                guard let c = interp.registry[name] else { throw LangRuntimeError(.name, "no command \(name)") }
                let args = Arguments([.host(self)] + a.rest, named: a.extra, location: a.location)
                return try c.implementation(try c.bind(args), interp)
            })
        default: throw LangRuntimeError(.name, "LlamaModel has no field '\(name)'")
        }
    }

    func setField(_ name: String, _ value: Value) throws {
        switch name {
        case "rope_theta":
            guard let t = value.asDouble, t > 0 else { throw LangRuntimeError(.value, "rope_theta must be a positive number, got \(value.repr)") }
            model.ropeTheta = t
        case "rope_scaling":
            if value.isNil { model.ropeScaling = nil; return }
            guard case .record = value, let d = try Convert.any(value) as? [String: Any] else {
                throw LangRuntimeError(.type, "rope_scaling must be a record like {rope_type: \"llama3\", factor: 8} or nil, got \(value.typeNameWithArticle)")
            }
            var s = try RopeScaling.parse(d)
            if var x = s, x.ropeType == .llama3 || x.ropeType == .yarn, x.originalMaxPositionEmbeddings == nil {
                x.originalMaxPositionEmbeddings = model.config.maxPositionEmbeddings
                s = x
            }
            try s?.validate()
            model.ropeScaling = s
        default:
            if fieldNames.contains(name) { throw LangRuntimeError(.name, "field '\(name)' of LlamaModel cannot be set (only rope_theta and rope_scaling)") }
            throw LangRuntimeError(.name, "LlamaModel has no field '\(name)'")
        }
    }
}

/// A tokenizer as a language value.
final class TokenizerValue: HostObject {
    let tok: TextTokenizer
    let name: String
    /// The file or directory it was loaded from (export.hf / export.experiment copy its files).
    var sourcePath: String? = nil
    init(_ t: TextTokenizer, name: String) { tok = t; self.name = name }
    var typeName: String { "Tokenizer" }
    var description: String { "Tokenizer(\(name), vocab_size: \(tok.vocabSize))" }
    var fieldNames: [String] { ["vocab_size", "bos_id", "end_ids", "encode", "decode", "chat", "token_id", "save"] }

    func getField(_ name: String) throws -> Value {
        func m(_ params: [Param], _ help: String, _ f: @escaping (BoundArguments) throws -> Value) -> Value {
            .command(Command("Tokenizer.\(name)", params, help: help) { a, _ in try f(a) })
        }
        switch name {
        case "vocab_size": return .int(tok.vocabSize)
        case "bos_id": return tok.bosID.map { .int($0) } ?? .null
        case "end_ids": return .list(tok.endTokenIDs.sorted().map { .int($0) })
        case "encode":
            return m([Param("text", .string), .named("bos", .bool, default: .bool(true)), .named("allow_special", .bool, default: .bool(false))],
                     "Token ids of the text (with the BOS id first unless bos: false).") { a in
                .list(self.tok.encode(try a.string("text"), bos: try a.bool("bos"), allowSpecial: try a.bool("allow_special")).map { .int($0) })
            }
        case "decode":
            return m([Param("ids"), .named("skip_special", .bool, default: .bool(false))],
                     "The text of a list (or 1-D tensor) of ids; skip_special: true leaves special tokens out. A word-level tokenizer joins its words with spaces.") { a in
                do {
                    return .string(try self.tok.decodeChecked(try Convert.ids(a["ids"], "decode", "ids"), skipSpecialTokens: try a.bool("skip_special")))
                } catch let e as TokenIDError { throw LangRuntimeError(.value, "decode: \(e)") }
            }
        case "chat":
            return m([Param("messages", .list), .named("generation_prompt", .bool, default: .bool(true))],
                     "The ids of the Llama-3 chat template applied to [{role, content}, ...].") { a in
                .list(self.tok.chat(try Convert.messages(a["messages"], "chat", "messages"), generationPrompt: try a.bool("generation_prompt")).map { .int($0) })
            }
        case "token_id":
            return m([Param("token", .string)], "The id of a special token such as \"<|eot_id|>\" (nil if none).") { a in
                self.tok.tokenID(try a.string("token")).map { .int($0) } ?? .null
            }
        case "save":
            return m([Param("path", .string)],
                     "Writes a Hugging Face tokenizer.json (word-level tokenizers, e.g. from tokenizer.train): a path ending in .json is the file, any other path a directory that gets tokenizer.json. Returns the file written.") { a in
                let path = try a.string("path")
                guard !path.isEmpty else { throw a.error("path", "must not be empty") }
                guard let w = self.tok as? WordLevelTokenizer else {
                    throw LangRuntimeError(.value, "Tokenizer.save: only word-level tokenizers (tokenizer.train, or a WordLevel tokenizer.json) can be saved; \(self.name) is not one")
                }
                return .string(try w.save(path: path))
            }
        default: throw LangRuntimeError(.name, "Tokenizer has no field '\(name)'")
        }
    }
}

enum ModelCommands {
    static func human(_ n: Int) -> String {
        if n >= 1_000_000_000 { return String(format: "%.2fB", Double(n) / 1e9) }
        if n >= 1_000_000 { return String(format: "%.2fM", Double(n) / 1e6) }
        if n >= 1_000 { return String(format: "%.1fk", Double(n) / 1e3) }
        return String(n)
    }

    static let configOrder = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                              "num_key_value_heads", "head_dim", "max_position_embeddings", "rms_norm_eps", "rope_theta",
                              "rope_scaling", "tie_word_embeddings", "initializer_range", "bos_token_id", "eos_token_id", "pad_token_id"]

    static func configValue(_ c: LlamaConfig) -> Value {
        var d = c.jsonObject()
        for k in Array(d.keys) where !configOrder.contains(k) { d[k] = nil }
        var v = Convert.value(d, order: configOrder)
        // numbers the user typed as ints stay ints (rope_theta: 500000)
        if case .record(var r) = v {
            if case .double(let t)? = r["rope_theta"], t == t.rounded(), abs(t) < 9e15 { r["rope_theta"] = .int(Int(t)) }
            v = .record(r)
        }
        return v
    }

    static func config(from v: Value, _ command: String) throws -> LlamaConfig {
        switch v {
        case .string(let preset): return try LlamaConfig.preset(preset)
        case .record:
            guard let d = try Convert.any(v) as? [String: Any] else { throw Convert.error(command, "config", "must be a record") }
            let c = try LlamaConfig(json: d)
            try c.validate()
            return c
        default:
            throw Convert.error(command, "config", "must be a config record (llama.config(...)) or a preset name, got \(v.typeNameWithArticle)")
        }
    }

    static func paramValue(_ p: Parameter) -> Value {
        let t = TensorValue(p.value)
        t.param = p
        return .host(t)
    }

    static func trainableRecord(_ m: LlamaModel) -> Value {
        var r = Record()
        for p in m.parameters where p.trainable { r[p.name] = paramValue(p) }
        return .record(r)
    }

    static func model(_ a: BoundArguments, _ name: String = "m") throws -> LlamaModel {
        guard case .host(let h) = a[name], let m = h as? ModelValue else {
            throw LangRuntimeError(.type, "\(a.command): argument '\(name)' must be a model (llama.init / llama.load), got \(a[name].typeNameWithArticle)")
        }
        return m.model
    }

    static func tokenizer(_ a: BoundArguments, _ name: String = "tok") throws -> TextTokenizer {
        guard case .host(let h) = a[name], let t = h as? TokenizerValue else {
            throw LangRuntimeError(.type, "\(a.command): argument '\(name)' must be a tokenizer (tokenizer.load / llama3 / bytes / train), got \(a[name].typeNameWithArticle)")
        }
        return t.tok
    }

    /// Checks that a tokenizer fits a model, at each command that uses the two together
    /// (`generate`, `train`, the evaluators). A tokenizer with more ids than the model's
    /// vocab_size is an error (its ids past the embedding cannot be looked up); a model with a
    /// larger vocab_size than the tokenizer's gets a warning, once per model and tokenizer (ids
    /// the model may produce have no text, and decoding one is an error).
    static func checkVocab(_ m: LlamaModel, _ tok: TextTokenizer, _ command: String, _ interp: Interpreter) throws {
        let mv = m.config.vocabSize, tv = tok.vocabSize
        if tv > mv {
            throw LangRuntimeError(.value, "\(command): the tokenizer has \(tv) ids but the model's vocab_size is \(mv): its ids \(mv)...\(tv - 1) have no embedding; use a tokenizer that fits the model (or a model with vocab_size >= \(tv))")
        }
        if mv > tv {
            let key = VocabPair(model: ObjectIdentifier(m), tok: ObjectIdentifier(tok))
            warnedLock.lock()
            let first = warnedPairs.insert(key).inserted
            warnedLock.unlock()
            if first {
                interp.write("warning: \(command): the model's vocab_size (\(mv)) is larger than the tokenizer's (\(tv)): ids \(tv)...\(mv - 1) have no text, and decoding one the model produces is an error\n")
            }
        }
    }
    struct VocabPair: Hashable { let model: ObjectIdentifier; let tok: ObjectIdentifier }
    nonisolated(unsafe) static var warnedPairs = Set<VocabPair>()
    static let warnedLock = NSLock()

    /// tokenizer.train's default special tokens: the Llama-3 chat specials and the unk token.
    static let trainSpecials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                "<|eot_id|>", "[UNK]"]

    static let modelType = ParamType.host("LlamaModel")
    static let tokType = ParamType.host("Tokenizer")

    /// Registers this area's commands.
    static func register(into r: Registry) {
        registerModel(into: r)
        registerTokenizers(into: r)
    }

    /// The model: llama.config, llama.init, llama.load, logits, loss, generate.
    static func registerModel(into r: Registry) {
        r.register("llama.config", [Param("preset", .oneOf(.string, .record), default: .string("tiny")), .keywords("fields")],
                   help: "A config record from a preset (\"tiny\", \"small\", \"llama3-8b\") with fields overridden by name (Hugging Face config.json names).") { a, _ in
            var base = try config(from: a["preset"], "llama.config")
            let extra = a.extra
            if !extra.isEmpty {
                guard var d = try Convert.any(configValue(base)) as? [String: Any] else { throw LangRuntimeError(.value, "llama.config: bad preset") }
                let known = Set(configOrder + ["rope_scaling"])
                for (k, v) in extra {
                    guard known.contains(k) else {
                        var msg = "llama.config: unknown field '\(k)'"
                        if let s = closestName(k, configOrder) { msg += " (did you mean '\(s)'?)" }
                        throw LangRuntimeError(.argument, msg)
                    }
                    d[k] = try Convert.any(v)
                    if k == "num_attention_heads" || k == "hidden_size", extra.first(where: { $0.0 == "head_dim" }) == nil { d["head_dim"] = nil }
                }
                base = try LlamaConfig(json: d)
            }
            try base.validate()
            return configValue(base)
        }
        r.register("llama.init", [Param("config", .oneOf(.record, .string), default: .string("tiny")), .named("seed", .int, optional: true),
                                  .named("quant", .string, default: .string("none")), .named("embeddings", .string, default: .string("f32"))],
                   help: "A Llama model with random weights (normal(0, initializer_range), as transformers initializes). quant: \"nf4\" makes each projection directly in NF4 (double quant), never holding it in f32, so the llama3-8b shape fits in about 6 GB; embeddings: \"bf16\" stores embed_tokens / lm_head in bf16 (frozen).") { a, interp in
            let c = try config(from: a["config"], "llama.init")
            let emb = try a.string("embeddings").lowercased()
            guard emb == "f32" || emb == "bf16" else { throw a.error("embeddings", "must be \"f32\" or \"bf16\", got \"\(emb)\"") }
            return .host(ModelValue(try LlamaModel(config: c, seed: try Convert.seed(a, interp), quant: try Settings.modelQuant(try a.string("quant")),
                                                   doubleQuant: true, embeddingsBF16: emb == "bf16")))
        }
        r.register("llama.load", [Param("path", .string), .named("quant", .string, default: .string("none")), .named("double_quant", .bool, default: .bool(true)),
                                  .named("embeddings", .string, default: .string("f32"))],
                   help: "A model from a Hugging Face directory (config.json + *.safetensors) or an llx .h5 checkpoint; quant: \"nf4\" quantizes the projections while loading, \"bf16\" stores them in bf16 (frozen, for inference); embeddings: \"bf16\" stores embed_tokens and lm_head in bf16 (frozen).") { a, interp in
            let path = try a.string("path")
            if path.hasSuffix(".h5"), let loader = interp.registry["load"] {
                return try loader.implementation(try loader.bind(Arguments([.string(path)], location: a.location)), interp)
            }
            guard FileManager.default.fileExists(atPath: path) else { throw a.error("path", "'\(path)' does not exist") }
            let emb = try a.string("embeddings").lowercased()
            guard emb == "f32" || emb == "bf16" else { throw a.error("embeddings", "must be \"f32\" or \"bf16\", got \"\(emb)\"") }
            let quant = try a.string("quant").lowercased()
            if quant == "bf16" {
                let m = try LlamaModel.load(path: path, quant: .dense, doubleQuant: true)
                m.storeWeightsInBF16(embeddings: emb == "bf16")
                ExportCommands.noteSource(m, path: path)
                return .host(ModelValue(m))
            }
            let m = try LlamaModel.load(path: path, quant: try Settings.modelQuant(quant), doubleQuant: try a.bool("double_quant"),
                                        embeddingsBF16: emb == "bf16")
            ExportCommands.noteSource(m, path: path)   // export.experiment references it rather than rewriting it
            return .host(ModelValue(m))
        }
        r.register("logits", [Param("m", modelType), Param("ids")],
                   help: "[T, vocab] f32 logits for a 1-D id list or tensor; [B, T, vocab] for a 2-D batch.") { a, _ in
            let m = try model(a)
            switch Convert.ids2(a["ids"], "logits", "ids") {
            case .one(let ids): return .host(TensorValue(try m.logits(ids)))
            case .batch(let b): return .host(TensorValue(try m.logits(batch: b)))
            case .failure(let e): throw e
            }
        }
        r.register("loss", [Param("m", modelType), Param("ids"), .named("labels", optional: true)],
                   help: "Mean next-token cross-entropy as a 0-d tensor (labels = inputs shifted by one; -100 ignored); backward(l) fills the trainable parameters' .grad.") { a, _ in
            let m = try model(a)
            let labels: IDsOrNil = a.has("labels") ? Convert.ids2(a["labels"], "loss", "labels") : nil
            // one node on the autograd tape: backward(l), backward(2 * l + ...) reach the parameters
            switch Convert.ids2(a["ids"], "loss", "ids") {
            case .one(let ids):
                var lab: [Int]? = nil
                if let l = labels { guard case .one(let x) = l else { throw a.error("labels", "must match ids (1-D)") }; lab = x }
                return .host(TensorValue(try m.lossTensor(ids, labels: lab)))
            case .batch(let b):
                var lab: [[Int]]? = nil
                if let l = labels { guard case .batch(let x) = l else { throw a.error("labels", "must match ids (2-D)") }; lab = x }
                return .host(TensorValue(try m.lossTensor(batch: b, labels: lab)))
            case .failure(let e): throw e
            }
        }
        r.register("generate", [Param("m", modelType), Param("tok", tokType), Param("prompt", .oneOf(.string, .list)),
                                .named("max_tokens", .int, default: .int(64)), .named("temperature", .number, default: .double(0)),
                                .named("top_p", .number, default: .double(1)), .named("top_k", .int, default: .int(0)),
                                .named("seed", .int, optional: true), .named("stream", .bool, optional: true)],
                   help: "Continues a prompt (a string, or a list of chat messages) with a KV cache; greedy when temperature is 0; stops at the tokenizer's end tokens. Streams to the terminal in the REPL.") { a, interp in
            let m = try model(a), tok = try tokenizer(a)
            try checkVocab(m, tok, "generate", interp)
            let ids: [Int]
            if case .string(let s) = a["prompt"] { ids = tok.encode(s, bos: true) }
            else { ids = tok.chat(try Convert.messages(a["prompt"], "generate", "prompt"), generationPrompt: true) }
            let stream = (a.has("stream") ? try a.bool("stream") : interp.isInteractive)
            var out: [Int] = []
            var streamer = TextStreamer()
            let seed: UInt64? = a.has("seed") ? UInt64(bitPattern: Int64(try a.int("seed"))) : interp.seedValue.map { UInt64(bitPattern: Int64($0)) }
            var stop = tok.endTokenIDs
            if stop.isEmpty { stop = Set(m.config.eosTokenIds) }
            let cancel = interp.cancellationToken
            let maxTokens = max(0, try a.int("max_tokens"))
            try PlanCommands.check(m, PlanRequest(kind: .generate, tokens: ids.count, generate: maxTokens), "generate: a KV cache for \(ids.count) + \(maxTokens) tokens")
            let gen = try m.generate(prompt: ids, maxTokens: try a.int("max_tokens"), temperature: Float(try a.double("temperature")),
                                     topP: Float(try a.double("top_p")), topK: try a.int("top_k"), seed: seed, stop: stop, cancel: cancel) { t in
                if t >= tok.vocabSize { return false }
                out.append(t)
                if stream {
                    // whole characters only, control characters escaped (TextStream.swift)
                    let piece = streamer.next(tok.decode(out))
                    if !piece.isEmpty { interp.write(piece) }
                }
                return true
            }
            if let bad = gen.first(where: { $0 >= tok.vocabSize }) {
                if stream { interp.write("\n") }
                throw LangRuntimeError(.value, "generate: the model produced id \(bad), which the tokenizer (\(tok.vocabSize) ids) does not have: the model's vocab_size \(m.config.vocabSize) does not fit this tokenizer")
            }
            let text = try tok.decodeChecked(gen)
            if stream {
                interp.write(streamer.finish(text) + "\n")
                interp.resultWasStreamed = true
            }
            // left set, so that the loop or script around this call stops too
            if cancel.isCancelled { interp.write("[generation interrupted]\n") }
            return .string(text)
        }
    }

    /// Tokenizers: tokenizer.load, tokenizer.train, tokenizer.llama3, tokenizer.bytes.
    static func registerTokenizers(into r: Registry) {
        r.register("tokenizer.load", [Param("path", .string)],
                   help: "A tiktoken-format BPE file (Meta's tokenizer.model), a Hugging Face tokenizer.json, or a model directory holding either.") { a, _ in
            let p = try a.string("path")
            guard FileManager.default.fileExists(atPath: p) else { throw a.error("path", "'\(p)' does not exist") }
            let t = TokenizerValue(try Tokenizers.load(path: p), name: (p as NSString).lastPathComponent)
            t.sourcePath = URL(fileURLWithPath: p).standardizedFileURL.path
            return .host(t)
        }
        r.register("tokenizer.train", [
            Param("texts", .list, doc: "the training texts, a list of strings"),
            .named("vocab_size", .int, default: .int(1000), doc: "the most entries, special tokens included"),
            .named("min_frequency", .int, default: .int(0), doc: "words seen fewer times are left out"),
            .named("special_tokens", .list, default: .list(trainSpecials.map { .string($0) }),
                   doc: "ids 0, 1, ... in this order; recognised in text by encode(allow_special: true) and chat"),
            .named("unk_token", .string, default: .string("[UNK]"), doc: "what words missing from the vocabulary become; must be one of special_tokens"),
            .named("digits", .oneOf(.bool, .string), default: .bool(false),
                   doc: "false, \"individual\" (every digit its own token; true means the same) or \"contiguous\" (digit runs cut from letters)"),
        ], help: "A word-level tokenizer learned from texts as Hugging Face's WordLevelTrainer learns it (Whitespace pre-tokenizer: words and punctuation runs): special tokens first, then words by descending count (ties in byte order). tok.save(path) writes a tokenizer.json that tokenizer.load and the `tokenizers` library read with the same ids.") { a, _ in
            var texts: [String] = []
            for (i, v) in try a.list("texts").enumerated() {
                guard let s = v.asString else { throw a.error("texts", "element \(i) must be a string, got \(v.typeNameWithArticle)") }
                texts.append(s)
            }
            let vocabSize = try a.int("vocab_size"), minFreq = try a.int("min_frequency")
            guard vocabSize > 0 else { throw a.error("vocab_size", "must be positive, got \(vocabSize)") }
            guard minFreq >= 0 else { throw a.error("min_frequency", "must not be negative, got \(minFreq)") }
            var specials: [String] = []
            for (i, v) in try a.list("special_tokens").enumerated() {
                guard let s = v.asString, !s.isEmpty else { throw a.error("special_tokens", "element \(i) must be a non-empty string, got \(v.repr)") }
                specials.append(s)
            }
            let unk = try a.string("unk_token")
            guard specials.contains(unk) else {
                throw a.error("unk_token", "\(unk.debugDescription) must be one of special_tokens (words missing from the vocabulary become it)")
            }
            let digits: DigitSplit
            switch a["digits"] {
            case .bool(let b): digits = b ? .individual : .none
            case .string(let s):
                guard let d = DigitSplit(rawValue: s), d != .none else {
                    throw a.error("digits", "must be false, \"individual\" or \"contiguous\", got \(s.debugDescription)")
                }
                digits = d
            default: throw a.error("digits", "must be false, \"individual\" or \"contiguous\"")
            }
            let tok = Tokenizers.trainWordLevel(texts: texts, vocabSize: vocabSize, minFrequency: minFreq,
                                                specialTokens: specials, unkToken: unk, digits: digits)
            return .host(TokenizerValue(tok, name: "wordlevel"))
        }
        r.register("tokenizer.llama3", [], help: "The real Llama-3 tokenizer (after scripts/ installed its vocabulary).") { _, _ in
            .host(TokenizerValue(try Tokenizers.llama3(), name: "llama3"))
        }
        r.register("tokenizer.bytes", [], help: "A byte-level tokenizer (256 byte ids + special tokens) for tiny models.") { _, _ in
            .host(TokenizerValue(Tokenizers.bytes(), name: "bytes"))
        }
    }
    typealias IDsOrNil = Convert.IDs?
}
