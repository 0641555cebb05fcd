// QuantCommands: NF4 quantization (`nf4`, `dequantize`, the NF4 tensor value), adapters on a
// model (`qlora`, `lora`, `merge`), and the PEFT / Hugging Face exports (`export.peft`,
// `lora.load_peft`, `export.hf`). Built on the Quant module's Linear/LoRA/PEFT API.
import Foundation
import Lang
import Tensor
import Quant
import Llama
import Checkpoint
import NN

/// A 4-bit NormalFloat tensor as a language value.
final class NF4Value: HostObject {
    let q: NF4Tensor
    init(_ q: NF4Tensor) { self.q = q }
    var typeName: String { "NF4Tensor" }
    var description: String { "NF4Tensor(shape: \(q.shape), blocksize: \(q.blocksize), double_quant: \(q.doubleQuant), \(q.byteCount) bytes)" }
    var fieldNames: [String] { ["codes", "absmax", "qabsmax", "absmax2", "offset", "shape", "blocksize", "double_quant"] }
    func getField(_ name: String) throws -> Value {
        switch name {
        case "codes": return .host(TensorValue(Tensor(shape: [q.codes.count], ints: q.codes.map { Int($0) }, dtype: .u8)))
        case "absmax":
            if let a = q.absmax { return .host(TensorValue(Tensor(shape: [a.count], floats: a))) }
            return .host(TensorValue(Tensor(shape: [q.blockCount], floats: q.blockScales())))
        case "qabsmax": return q.qabsmax.map { .host(TensorValue(Tensor(shape: [$0.count], ints: $0.map { Int($0) }, dtype: .u8))) } ?? .null
        case "absmax2": return q.absmax2.map { .host(TensorValue(Tensor(shape: [$0.count], floats: $0))) } ?? .null
        case "offset": return .double(Double(q.offset))
        case "shape": return .list(q.shape.map { .int($0) })
        case "blocksize": return .int(q.blocksize)
        case "double_quant": return .bool(q.doubleQuant)
        default: throw LangRuntimeError(.name, "NF4Tensor has no field '\(name)'")
        }
    }
}

/// The adapter settings a model got from `qlora` / `lora` / `lora.load_peft` (for export.peft).
final class AdapterInfo {
    var config: LoRAConfig
    var quantized: Bool
    /// The seed the adapters were made with (A's init and the dropout masks derive from it);
    /// saved with the model so that `load` re-creates the same dropout masks.
    var seed: UInt64
    init(config: LoRAConfig, quantized: Bool, seed: UInt64 = 0) { self.config = config; self.quantized = quantized; self.seed = seed }
}

enum QuantCommands {
    static var adapters: [ObjectIdentifier: AdapterInfo] = [:]

    static func setLinear(_ layer: LlamaLayer, _ proj: String, _ l: Linear) {
        switch proj {
        case "q_proj": layer.qProj = l
        case "k_proj": layer.kProj = l
        case "v_proj": layer.vProj = l
        case "o_proj": layer.oProj = l
        case "gate_proj": layer.gateProj = l
        case "up_proj": layer.upProj = l
        default: layer.downProj = l
        }
    }
    static let projections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    static func allLinears(_ m: LlamaModel) -> [Linear] { m.layers.flatMap { $0.linears } }

    /// Adds adapters (and optionally quantizes every linear layer to NF4), then freezes all but
    /// the adapters and the parameters named in `train`.
    static func apply(_ m: LlamaModel, rank: Int, alpha: Double, dropout: Double, useRSLoRA: Bool = false, targets: [String], train: [String],
                      quant: String?, doubleQuant: Bool, seed: UInt64, command: String) throws {
        guard rank >= 1 else { throw LangRuntimeError(.value, "\(command): argument 'rank' must be >= 1, got \(rank)") }
        guard (0..<1).contains(dropout) else { throw LangRuntimeError(.value, "\(command): argument 'dropout' must be in [0, 1), got \(dropout)") }
        if let bad = targets.first(where: { !projections.contains($0) }) {
            throw LangRuntimeError(.value, "\(command): argument 'targets' has unknown module '\(bad)' (modules: \(projections.joined(separator: ", ")))")
        }
        if allLinears(m).contains(where: { $0.lora != nil }) {
            throw LangRuntimeError(.value, "\(command): the model already has adapters (merge(m) first)")
        }
        let kind = try quant.map { try Settings.adapterQuant($0, command: command) } ?? .dense
        // All adapters' memory is checked before the first is added, so that a refusal leaves
        // the model as it was rather than half adapted.
        var features = 0
        for layer in m.layers { for (proj, lin) in zip(projections, layer.linears) where targets.contains(proj) { features += lin.inFeatures + lin.outFeatures } }
        try Memory.require(count: Memory.elementCount([rank, features]) ?? Int.max, elementSize: 4,
                           "\(command): adapters of rank \(rank) on \(targets.joined(separator: ", "))")
        for layer in m.layers {
            for (proj, lin) in zip(projections, layer.linears) {
                var l = lin
                if kind == .nf4, lin.nf4 == nil {
                    l = try Linear.nf4(name: lin.name, inFeatures: lin.inFeatures, outFeatures: lin.outFeatures, weight: lin.denseWeight(),
                                       blocksize: 64, doubleQuant: doubleQuant)
                    setLinear(layer, proj, l)
                }
                if targets.contains(proj) { _ = try l.addLoRA(rank: rank, alpha: alpha, dropout: Float(dropout), useRSLoRA: useRSLoRA, seed: seed) }
            }
        }
        m.setTrainable { name in
            name.contains(".lora_A.") || name.contains(".lora_B.") || train.contains { name.contains($0) }
        }
        adapters[ObjectIdentifier(m)] = AdapterInfo(config: LoRAConfig(r: rank, loraAlpha: alpha, targetModules: targets, loraDropout: dropout,
                                                                       useRSLoRA: useRSLoRA),
                                                    quantized: kind == .nf4, seed: seed)
    }

    /// The model's tensors as `save_pretrained` writes them, as closures that make each one
    /// when called (one merged weight at a
    /// time: what export.hf and merge stream), with their shapes; `merged: false` leaves the
    /// adapters out (the base as it is). The projections come as f32; the other tensors as
    /// they are stored (bf16 embeddings stay bf16: the writer converts them in chunks).
    static func denseState(_ m: LlamaModel, lazily: Bool, merged: Bool = true) -> [(name: String, shape: [Int], make: () -> Tensor)] {
        var out: [(name: String, shape: [Int], make: () -> Tensor)] = []
        func param(_ p: Parameter) { out.append((p.name, p.value.shape, { p.value })) }
        param(m.embedTokens)
        for layer in m.layers {
            param(layer.inputLayernorm)
            for l in layer.linears { out.append((l.name + ".weight", [l.outFeatures, l.inFeatures], { merged ? l.mergedWeight() : l.denseWeight() })) }
            param(layer.postAttentionLayernorm)
        }
        param(m.norm)
        if m.lmHead !== m.embedTokens { param(m.lmHead) }
        return out
    }

    /// The modules PEFT saves whole (modules_to_save): the trainable tensors that are not adapters.
    static func modulesToSave(_ m: LlamaModel) -> (names: [String], params: [Parameter]) {
        let whole = m.parameters.filter { $0.trainable && !$0.name.contains(".lora_") }
        let names = Array(Set(whole.map { p in
            p.name.hasSuffix(".weight") ? String(p.name.dropLast(7).split(separator: ".").last ?? "") : p.name
        })).sorted()
        return (names, whole)
    }

    /// The base's RoPE as llx_base.json records it beside an adapter.
    static func ropeRecord(_ c: LlamaConfig) -> [String: Any] {
        ["rope_theta": c.ropeTheta, "rope_scaling": c.ropeScaling.map { $0.jsonObject() as Any } ?? NSNull(),
         "note": "written by llx: the rope_theta / rope_scaling of the base this adapter was trained on; lora.load_peft applies them"]
    }

    /// adapter_config.json + adapter_model.safetensors + llx_base.json of m's adapters in dir.
    static func writePEFT(_ m: LlamaModel, dir: String) throws {
        guard let info = adapters[ObjectIdentifier(m)] else { throw LangRuntimeError(.value, "the model has no LoRA adapters") }
        let (names, whole) = modulesToSave(m)
        var config = info.config
        config.modulesToSave = names
        try Lang.AtomicFile.write(try config.jsonData(), to: (dir as NSString).appendingPathComponent("adapter_config.json"))
        let saved = whole.map { (PEFT.prefix + $0.name, $0.value) }
        try SafetensorsFile.write(PEFT.adapterTensors(allLinears(m)).map { ($0.key, $0.tensor) } + saved, metadata: ["format": "pt"],
                                  to: (dir as NSString).appendingPathComponent("adapter_model.safetensors"))
        try Lang.AtomicFile.write(try JSONSerialization.data(withJSONObject: ropeRecord(m.config), options: [.prettyPrinted, .sortedKeys]),
                                  to: (dir as NSString).appendingPathComponent("llx_base.json"))
    }

    static func makeDirectory(_ dir: String, _ command: String) throws {
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        catch { throw LangRuntimeError(.io, "\(command): cannot create directory '\(dir)': \(error.localizedDescription)") }
    }

    /// Registers this area's commands.
    static func register(into r: Registry) {
        registerAdapters(into: r)
        registerExport(into: r)
    }

    /// NF4 and adapters: nf4, dequantize, qlora, lora, merge.
    static func registerAdapters(into r: Registry) {
        r.register("nf4", [Param("t", TensorCommands.tensorLike), .named("blocksize", .int, default: .int(64)), .named("double_quant", .bool, default: .bool(false))],
                   help: "A 4-bit NormalFloat tensor, bit-compatible with bitsandbytes: .codes (u8, two codes a byte), .absmax (or .qabsmax + .absmax2 + .offset with double quant), .shape, .blocksize.") { a, _ in
            let t = try Convert.tensor(a["t"], "nf4", "t").to(.f32).contiguous()
            return .host(NF4Value(try NF4Tensor.quantize(t, blocksize: try a.int("blocksize"), doubleQuant: try a.bool("double_quant"))))
        }
        r.register("dequantize", [Param("q", .host("NF4Tensor"))], help: "An NF4 tensor back to f32.") { a, _ in
            .host(TensorValue(try a.host("q", as: NF4Value.self).q.dequantize()))
        }
        let loraParams: [Param] = [Param("m", ModelCommands.modelType), .named("rank", .int, default: .int(32)), .named("alpha", .number, default: .int(16)),
                                   .named("dropout", .number, default: .double(0)), .named("use_rslora", .bool, default: .bool(false)),
                                   .named("targets", .list, default: .list(["q_proj", "k_proj", "v_proj", "o_proj"].map { .string($0) })),
                                   .named("train", .list, default: .list([.string("embed_tokens")])), .named("seed", .int, optional: true)]
        r.register("qlora", loraParams + [.named("quant", .string, default: .string("nf4")), .named("double_quant", .bool, default: .bool(true))],
                   help: "The model with its linear weights in NF4, frozen, and LoRA adapters on `targets` (PEFT semantics: B starts at zero, scale alpha / rank, or alpha / sqrt(rank) with use_rslora); names in `train` stay full precision and trainable. Changes m in place and returns it.") { a, interp in
            let m = try ModelCommands.model(a)
            try apply(m, rank: try a.int("rank"), alpha: try a.double("alpha"), dropout: try a.double("dropout"),
                      useRSLoRA: try a.bool("use_rslora"), targets: try a.list("targets").map { $0.description }, train: try a.list("train").map { $0.description },
                      quant: try a.string("quant"), doubleQuant: try a.bool("double_quant"), seed: try Convert.seed(a, interp), command: "qlora")
            return a["m"]
        }
        r.register("lora", loraParams, help: "LoRA adapters on `targets` without quantizing the base (as qlora with quant: \"none\"). Changes m in place and returns it.") { a, interp in
            let m = try ModelCommands.model(a)
            try apply(m, rank: try a.int("rank"), alpha: try a.double("alpha"), dropout: try a.double("dropout"),
                      useRSLoRA: try a.bool("use_rslora"), targets: try a.list("targets").map { $0.description }, train: try a.list("train").map { $0.description },
                      quant: nil, doubleQuant: false, seed: try Convert.seed(a, interp), command: "lora")
            return a["m"]
        }
        r.register("merge", [Param("m", ModelCommands.modelType)], help: "A plain model with the adapters folded into the weights (a new model; m keeps its adapters). Each merged weight goes straight into the new model: no random model is built first.") { a, _ in
            let m = try ModelCommands.model(a)
            let state = Dictionary(uniqueKeysWithValues: denseState(m, lazily: true).map { ($0.name, $0.make) })
            return .host(ModelValue(try LlamaModel.assemble(config: m.config) { name, _ in
                guard let make = state[name] else { throw LangRuntimeError(.value, "merge: the model has no tensor '\(name)'") }
                return make()
            }))
        }
    }

    /// PEFT and Hugging Face files: export.peft, lora.load_peft, export.hf.
    static func registerExport(into r: Registry) {
        r.register("export.peft", [Param("m", ModelCommands.modelType), Param("dir", .string)],
                   help: "Writes the adapters as PEFT adapter_config.json + adapter_model.safetensors, and llx_base.json: the base's rope_theta / rope_scaling, which lora.load_peft applies.") { a, _ in
            let m = try ModelCommands.model(a), dir = try a.string("dir")
            guard allLinears(m).contains(where: { $0.lora != nil }), adapters[ObjectIdentifier(m)] != nil else {
                throw a.error("m", "has no LoRA adapters (use qlora or lora first)")
            }
            try makeDirectory(dir, "export.peft")
            try writePEFT(m, dir: dir)
            return .null
        }
        r.register("lora.load_peft", [Param("m", ModelCommands.modelType), Param("dir", .string), .named("rope", .string, default: .string("apply"))],
                   help: "Loads PEFT adapters (adapter_config.json + adapter_model.safetensors) into m, adding LoRA layers as the config says. When the adapter has llx_base.json (export.peft and export.experiment write it), its rope_theta / rope_scaling are those the adapter was trained with: rope: \"apply\" sets them on m (saying so when they change), \"check\" refuses a model whose RoPE differs, naming the difference. Returns m.") { a, interp in
            let m = try ModelCommands.model(a), dir = try a.string("dir")
            let cfgPath = (dir as NSString).appendingPathComponent("adapter_config.json")
            guard let data = FileManager.default.contents(atPath: cfgPath) else { throw a.error("dir", "has no adapter_config.json ('\(cfgPath)')") }
            let cfg: LoRAConfig
            do { cfg = try LoRAConfig.parse(data) } catch { throw a.error("dir", "\(cfgPath): \(error)") }
            let ropeMode = try a.string("rope")
            guard ropeMode == "apply" || ropeMode == "check" else { throw a.error("rope", "must be \"apply\" or \"check\", got \"\(ropeMode)\"") }
            // the base's RoPE the adapter was trained with, checked before anything changes
            var rope: (theta: Double, scaling: RopeScaling?)? = nil
            let ropePath = (dir as NSString).appendingPathComponent("llx_base.json")
            if let rd = FileManager.default.contents(atPath: ropePath) {
                guard let obj = (try? JSONSerialization.jsonObject(with: rd)) as? [String: Any],
                      let theta = (obj["rope_theta"] as? NSNumber)?.doubleValue, theta > 0 else {
                    throw a.error("dir", "\(ropePath): not a JSON object with a positive rope_theta")
                }
                var scaling: RopeScaling? = nil
                if let sc = obj["rope_scaling"] as? [String: Any] {
                    do { scaling = try RopeScaling.parse(sc); try scaling?.validate() } catch { throw a.error("dir", "\(ropePath): rope_scaling: \(error)") }
                }
                rope = (theta, scaling)
                var diffs: [String] = []
                func num(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : Value.double(d).repr }
                if theta != m.ropeTheta { diffs.append("rope_theta \(num(m.ropeTheta)) in the model, \(num(theta)) in \(ropePath)") }
                if scaling != m.ropeScaling {
                    func show(_ s: RopeScaling?) -> String { s.map { "\($0.ropeType.rawValue)\($0.factor.map { " factor \(num($0))" } ?? "")" } ?? "none" }
                    diffs.append("rope_scaling \(show(m.ropeScaling)) in the model, \(show(scaling)) in \(ropePath)")
                }
                if !diffs.isEmpty {
                    if ropeMode == "check" {
                        throw a.error("m", "was not the base this adapter was trained on: " + diffs.joined(separator: "; ") + " (rope: \"apply\" sets them)")
                    }
                    interp.write("lora.load_peft: set the model's " + diffs.joined(separator: "; ").replacingOccurrences(of: " in the model, ", with: " -> ").replacingOccurrences(of: " in \(ropePath)", with: "") + " (from llx_base.json)\n")
                }
            }
            if !allLinears(m).contains(where: { $0.lora != nil }) {
                try apply(m, rank: cfg.r, alpha: cfg.loraAlpha, dropout: cfg.loraDropout, useRSLoRA: cfg.useRSLoRA,
                          targets: cfg.targetModules.map { PEFT.targetName($0) },
                          train: cfg.modulesToSave, quant: nil, doubleQuant: false, seed: try Convert.seed(a, interp), command: "lora.load_peft")
            } else {
                // Adapters already there must be the ones the config describes.
                let want = Float(cfg.useRSLoRA ? cfg.loraAlpha / Double(cfg.r).squareRoot() : cfg.loraAlpha / Double(cfg.r))
                for lin in allLinears(m) {
                    guard let l = lin.lora else { continue }
                    if l.rank != cfg.r || abs(l.scale - want) > 1e-6 * max(1, abs(want)) {
                        throw a.error("m", "has adapters of rank \(l.rank) and scale \(l.scale) on \(lin.name), but \(cfgPath) says r \(cfg.r), lora_alpha \(cfg.loraAlpha)\(cfg.useRSLoRA ? ", use_rslora" : "") (scale \(want)); load into a model without adapters")
                    }
                }
            }
            let st = try SafetensorsFile.open((dir as NSString).appendingPathComponent("adapter_model.safetensors"))
            var tensors: [String: Tensor] = [:]
            var tiedHead: (String, Tensor)? = nil
            for n in st.names {
                let t = try st.tensor(n).to(.f32).contiguous()
                if PEFT.parseKey(n) == nil, n.hasPrefix(PEFT.prefix) {
                    // a module saved whole (modules_to_save): replaces the model's tensor
                    let name = String(n.dropFirst(PEFT.prefix.count)).replacingOccurrences(of: ".modules_to_save.default", with: "")
                    if name == "lm_head.weight", m.lmHead === m.embedTokens {
                        // PEFT's ensure_weight_tying saves the tied head too: it must be the embedding
                        tiedHead = (n, t)
                        continue
                    }
                    guard let p = m.parameter(named: name) else { throw a.error("dir", "adapter tensor '\(n)' names no parameter of the model") }
                    guard p.value.shape == t.shape else { throw a.error("dir", "adapter tensor '\(n)' has shape \(t.shape), the model's is \(p.value.shape)") }
                    p.value = t
                    continue
                }
                tensors[n] = t
            }
            if let (n, t) = tiedHead {
                let e = m.embedTokens.value.to(.f32).contiguous()
                guard e.shape == t.shape, (0..<t.count).allSatisfy({ e.floatPointer[$0] == t.floatPointer[$0] }) else {
                    throw a.error("dir", "adapter tensor '\(n)' differs from the embedding, but the model ties lm_head to embed_tokens")
                }
            }
            try PEFT.loadAdapterTensors(tensors, into: allLinears(m))
            if let r = rope { m.ropeTheta = r.theta; m.ropeScaling = r.scaling }
            adapters[ObjectIdentifier(m)] = AdapterInfo(config: cfg, quantized: false)
            return a["m"]
        }
    }
}
