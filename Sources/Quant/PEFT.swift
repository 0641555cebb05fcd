// PEFT: the names and the adapter_config.json of Hugging Face PEFT LoRA adapters (peft 0.21),
// without file I/O (Quant does not depend on Checkpoint; the safetensors side lives with the
// trainer). Keys in adapter_model.safetensors carry no adapter name:
//   base_model.model.<module>.lora_A.weight   [r, in]
//   base_model.model.<module>.lora_B.weight   [out, r]
// e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight. In-memory PEFT state
// dicts also use ".lora_A.<adapter>.weight"; `parseKey` accepts both.
import Foundation
import Tensor

public enum PEFT {
    public enum Matrix: String, Sendable { case A, B }

    public static let prefix = "base_model.model."

    /// The adapter-file key of lora_A / lora_B of a module.
    public static func loraKey(module: String, matrix: Matrix) -> String {
        prefix + module + ".lora_" + matrix.rawValue + ".weight"
    }

    /// (module, matrix) of an adapter key, or nil when the key is not a LoRA A/B weight.
    public static func parseKey(_ key: String) -> (module: String, matrix: Matrix)? {
        guard key.hasPrefix(prefix), key.hasSuffix(".weight") else { return nil }
        var parts = key.dropFirst(prefix.count).dropLast(".weight".count).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        // optional adapter name: ...lora_A.<adapter>
        if parts.count >= 2, !parts[parts.count - 1].hasPrefix("lora_"), parts[parts.count - 2].hasPrefix("lora_") { parts.removeLast() }
        guard let last = parts.last, parts.count >= 2 else { return nil }
        let matrix: Matrix
        switch last {
        case "lora_A": matrix = .A
        case "lora_B": matrix = .B
        default: return nil
        }
        return (parts.dropLast().joined(separator: "."), matrix)
    }

    /// The (key, tensor) pairs of the adapters of `layers`, in layer order (A then B).
    public static func adapterTensors(_ layers: [Linear]) -> [(key: String, tensor: Tensor)] {
        var out: [(key: String, tensor: Tensor)] = []
        for l in layers { if let a = l.lora { out.append((a.A.name, a.A.value)); out.append((a.B.name, a.B.value)) } }
        return out
    }

    /// Loads A/B tensors into the adapters of `layers` (which must already have LoRA of the right rank).
    /// Throws on a missing, unexpected or mis-shaped key.
    public static func loadAdapterTensors(_ tensors: [String: Tensor], into layers: [Linear]) throws {
        var byModule: [String: Linear] = [:]
        for l in layers where l.lora != nil { byModule[l.name] = l }
        var pairs: [String: (a: Tensor?, b: Tensor?)] = [:]
        for (k, t) in tensors {
            guard let (m, which) = parseKey(k) else { throw QuantError.format("PEFT adapter: unexpected key \(k)") }
            guard byModule[m] != nil else { throw QuantError.format("PEFT adapter: key \(k) names no LoRA layer of the model") }
            var p = pairs[m] ?? (nil, nil)
            if which == .A { p.a = t } else { p.b = t }
            pairs[m] = p
        }
        for (m, l) in byModule {
            guard let p = pairs[m], let a = p.a, let b = p.b, let lora = l.lora else {
                throw QuantError.format("PEFT adapter: missing \(loraKey(module: m, matrix: pairs[m]?.a == nil ? .A : .B))")
            }
            try lora.load(A: a, B: b)
        }
    }

    /// The short module names PEFT matches against target_modules ("q_proj", ...).
    public static func targetName(_ module: String) -> String {
        String(module.split(separator: ".").last ?? Substring(module))
    }
}

/// adapter_config.json of a PEFT LoRA adapter (the fields llx reads and writes; PEFT's defaults
/// for the rest).
public struct LoRAConfig: Equatable, Sendable {
    public var r: Int
    public var loraAlpha: Double
    public var targetModules: [String]
    public var loraDropout: Double
    public var useRSLoRA: Bool
    public var bias: String = "none"
    public var taskType: String = "CAUSAL_LM"
    public var baseModelNameOrPath: String? = nil
    /// Modules trained whole and saved with the adapters (PEFT's modules_to_save), e.g. ["embed_tokens"].
    public var modulesToSave: [String] = []

    public init(r: Int, loraAlpha: Double, targetModules: [String], loraDropout: Double = 0, useRSLoRA: Bool = false,
                baseModelNameOrPath: String? = nil) {
        self.r = r; self.loraAlpha = loraAlpha; self.targetModules = targetModules
        self.loraDropout = loraDropout; self.useRSLoRA = useRSLoRA; self.baseModelNameOrPath = baseModelNameOrPath
    }

    /// The JSON object PEFT writes (sorted keys, 2-space indent as save_pretrained).
    public func jsonData() throws -> Data {
        let alpha: Any = loraAlpha.rounded() == loraAlpha && abs(loraAlpha) < 1e15 ? Int(loraAlpha) : loraAlpha
        let obj: [String: Any] = [
            "alpha_pattern": [String: Any](),
            "auto_mapping": NSNull(),
            "base_model_name_or_path": baseModelNameOrPath.map { $0 as Any } ?? NSNull(),
            "bias": bias,
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "layer_replication": NSNull(),
            "layers_pattern": NSNull(),
            "layers_to_transform": NSNull(),
            "loftq_config": [String: Any](),
            "lora_alpha": alpha,
            "lora_bias": false,
            "lora_dropout": loraDropout,
            "megatron_config": NSNull(),
            "megatron_core": "megatron.core",
            "modules_to_save": modulesToSave.isEmpty ? NSNull() as Any : modulesToSave.sorted() as Any,
            "peft_type": "LORA",
            "r": r,
            "rank_pattern": [String: Any](),
            "revision": NSNull(),
            "target_modules": targetModules.sorted(),
            "task_type": taskType,
            "use_dora": false,
            "use_rslora": useRSLoRA,
        ]
        return try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
    }

    /// Parses adapter_config.json; throws on a non-LoRA adapter or settings llx cannot honour.
    public static func parse(_ data: Data) throws -> LoRAConfig {
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw QuantError.format("adapter_config.json: not a JSON object")
        }
        guard (obj["peft_type"] as? String)?.uppercased() == "LORA" else {
            throw QuantError.format("adapter_config.json: peft_type \(obj["peft_type"] ?? "missing") is not LORA")
        }
        guard let r = (obj["r"] as? NSNumber)?.intValue, r > 0 else { throw QuantError.format("adapter_config.json: missing or invalid r") }
        let alpha = (obj["lora_alpha"] as? NSNumber)?.doubleValue ?? 8
        let targets: [String]
        if let list = obj["target_modules"] as? [String] { targets = list }
        else if let s = obj["target_modules"] as? String { targets = [s] }
        else { throw QuantError.format("adapter_config.json: missing target_modules") }
        if let b = obj["bias"] as? String, b != "none" { throw QuantError.format("adapter_config.json: bias \"\(b)\" is not supported (only \"none\")") }
        if (obj["use_dora"] as? Bool) == true { throw QuantError.format("adapter_config.json: DoRA is not supported") }
        if (obj["fan_in_fan_out"] as? Bool) == true { throw QuantError.format("adapter_config.json: fan_in_fan_out is not supported") }
        if let rp = obj["rank_pattern"] as? [String: Any], !rp.isEmpty { throw QuantError.format("adapter_config.json: rank_pattern is not supported") }
        if let ap = obj["alpha_pattern"] as? [String: Any], !ap.isEmpty { throw QuantError.format("adapter_config.json: alpha_pattern is not supported") }
        var c = LoRAConfig(r: r, loraAlpha: alpha, targetModules: targets,
                           loraDropout: (obj["lora_dropout"] as? NSNumber)?.doubleValue ?? 0,
                           useRSLoRA: (obj["use_rslora"] as? Bool) ?? false,
                           baseModelNameOrPath: obj["base_model_name_or_path"] as? String)
        if let t = obj["task_type"] as? String { c.taskType = t }
        if let m = obj["modules_to_save"] as? [String] { c.modulesToSave = m }
        return c
    }

    /// Whether PEFT would wrap `module` (exact short-name match against a list, or a full-path
    /// suffix match: PEFT's rule for a list of target_modules).
    public func targets(_ module: String) -> Bool {
        targetModules.contains { t in module == t || module.hasSuffix("." + t) }
    }
}
