// LlamaConfig: the Llama architecture hyper-parameters with Hugging Face `config.json` names.
// Reads every config.json form in use: top-level `rope_theta` + `rope_scaling` (Meta's Llama-3 /
// 3.1 releases, `rope_type` or the older `type`) and transformers 5's `rope_parameters`; writes
// both forms. Presets "tiny", "small" and "llama3-8b".
import Foundation

public enum LlamaError: Error, CustomStringConvertible {
    case config(String)
    case missingTensor(String)
    case unexpectedTensor(String)
    case shapeMismatch(String)
    case tokenId(String)
    case file(String)
    case argument(String)

    public var description: String {
        switch self {
        case .config(let s): return "llama config: \(s)"
        case .missingTensor(let s): return "missing tensor: \(s)"
        case .unexpectedTensor(let s): return "unexpected tensor: \(s)"
        case .shapeMismatch(let s): return "shape mismatch: \(s)"
        case .tokenId(let s): return "token id: \(s)"
        case .file(let s): return s
        case .argument(let s): return s
        }
    }
}

/// The RoPE scaling types (`rope_type` in config.json; "default" is represented by no scaling).
public enum RopeType: String, CaseIterable, Sendable {
    case linear, dynamic, yarn, llama3
}

/// RoPE scaling parameters (`rope_scaling` / `rope_parameters` without `rope_theta`).
public struct RopeScaling: Equatable, Sendable {
    public var ropeType: RopeType
    public var factor: Double?
    public var originalMaxPositionEmbeddings: Int?
    public var lowFreqFactor: Double?
    public var highFreqFactor: Double?
    public var betaFast: Double?
    public var betaSlow: Double?
    public var mscale: Double?
    public var mscaleAllDim: Double?
    public var attentionFactor: Double?
    public var truncate: Bool?

    public init(ropeType: RopeType, factor: Double? = nil, originalMaxPositionEmbeddings: Int? = nil,
                lowFreqFactor: Double? = nil, highFreqFactor: Double? = nil,
                betaFast: Double? = nil, betaSlow: Double? = nil, mscale: Double? = nil,
                mscaleAllDim: Double? = nil, attentionFactor: Double? = nil, truncate: Bool? = nil) {
        self.ropeType = ropeType; self.factor = factor
        self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
        self.lowFreqFactor = lowFreqFactor; self.highFreqFactor = highFreqFactor
        self.betaFast = betaFast; self.betaSlow = betaSlow; self.mscale = mscale
        self.mscaleAllDim = mscaleAllDim; self.attentionFactor = attentionFactor; self.truncate = truncate
    }

    /// Parses a JSON-like dictionary (`rope_type` or legacy `type`). Returns nil for "default".
    /// `rope_theta` and unknown keys are ignored here.
    public static func parse(_ d: [String: Any]) throws -> RopeScaling? {
        let type = (d["rope_type"] as? String) ?? (d["type"] as? String) ?? "default"
        if type == "default" { return nil }
        guard let kind = RopeType(rawValue: type) else {
            throw LlamaError.config("rope_scaling: unsupported rope_type \"\(type)\" (supported: default, \(RopeType.allCases.map { $0.rawValue }.joined(separator: ", ")))")
        }
        func num(_ k: String) throws -> Double? {
            guard let v = d[k], !(v is NSNull) else { return nil }
            if let x = v as? Double { return x }
            if let x = v as? Int { return Double(x) }
            if let x = v as? Float { return Double(x) }
            throw LlamaError.config("rope_scaling.\(k) must be a number, got \(v)")
        }
        var s = RopeScaling(ropeType: kind)
        s.factor = try num("factor")
        if let o = try num("original_max_position_embeddings") { s.originalMaxPositionEmbeddings = Int(o) }
        s.lowFreqFactor = try num("low_freq_factor")
        s.highFreqFactor = try num("high_freq_factor")
        s.betaFast = try num("beta_fast")
        s.betaSlow = try num("beta_slow")
        s.mscale = try num("mscale")
        s.mscaleAllDim = try num("mscale_all_dim")
        s.attentionFactor = try num("attention_factor")
        if let t = d["truncate"] as? Bool { s.truncate = t }
        return s
    }

    /// Checks the fields each type needs (as transformers' validation does).
    public func validate() throws {
        switch ropeType {
        case .linear, .dynamic:
            guard let f = factor else { throw LlamaError.config("rope_scaling (\(ropeType.rawValue)) needs `factor`") }
            guard f >= 1 else { throw LlamaError.config("rope_scaling.factor must be >= 1, got \(f)") }
        case .yarn:
            guard factor != nil else { throw LlamaError.config("rope_scaling (yarn) needs `factor`") }
        case .llama3:
            guard factor != nil else { throw LlamaError.config("rope_scaling (llama3) needs `factor`") }
            guard let lo = lowFreqFactor else { throw LlamaError.config("rope_scaling (llama3) needs `low_freq_factor`") }
            guard let hi = highFreqFactor else { throw LlamaError.config("rope_scaling (llama3) needs `high_freq_factor`") }
            guard hi > lo else { throw LlamaError.config("rope_scaling: high_freq_factor (\(hi)) must be > low_freq_factor (\(lo))") }
        }
    }

    /// The HF dictionary form (without rope_theta).
    public func jsonObject() -> [String: Any] {
        var d: [String: Any] = ["rope_type": ropeType.rawValue]
        if let v = factor { d["factor"] = v }
        if let v = originalMaxPositionEmbeddings { d["original_max_position_embeddings"] = v }
        if let v = lowFreqFactor { d["low_freq_factor"] = v }
        if let v = highFreqFactor { d["high_freq_factor"] = v }
        if let v = betaFast { d["beta_fast"] = v }
        if let v = betaSlow { d["beta_slow"] = v }
        if let v = mscale { d["mscale"] = v }
        if let v = mscaleAllDim { d["mscale_all_dim"] = v }
        if let v = attentionFactor { d["attention_factor"] = v }
        if let v = truncate { d["truncate"] = v }
        return d
    }
}

public struct LlamaConfig: Codable, Equatable, Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var tieWordEmbeddings: Bool
    public var initializerRange: Double
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]
    public var padTokenId: Int?

    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int,
                numAttentionHeads: Int, numKeyValueHeads: Int? = nil, headDim: Int? = nil,
                maxPositionEmbeddings: Int = 2048, rmsNormEps: Double = 1e-6, ropeTheta: Double = 10000,
                ropeScaling: RopeScaling? = nil, tieWordEmbeddings: Bool = false,
                initializerRange: Double = 0.02, bosTokenId: Int? = 1, eosTokenIds: [Int] = [2],
                padTokenId: Int? = nil) {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers; self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.headDim = headDim ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        self.maxPositionEmbeddings = maxPositionEmbeddings; self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta; self.ropeScaling = ropeScaling
        self.tieWordEmbeddings = tieWordEmbeddings; self.initializerRange = initializerRange
        self.bosTokenId = bosTokenId; self.eosTokenIds = eosTokenIds; self.padTokenId = padTokenId
    }

    // MARK: presets

    public static let presetNames = ["tiny", "small", "llama3-8b"]

    /// "tiny" (fits the byte tokenizer: 256 bytes + specials), "small", "llama3-8b" (the real 8B shape).
    public static func preset(_ name: String) throws -> LlamaConfig {
        switch name.lowercased() {
        case "tiny":
            return LlamaConfig(vocabSize: 264, hiddenSize: 64, intermediateSize: 176, numHiddenLayers: 2,
                               numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 8192,
                               rmsNormEps: 1e-5, ropeTheta: 500000, bosTokenId: 256, eosTokenIds: [257])
        case "small":
            return LlamaConfig(vocabSize: 8192, hiddenSize: 512, intermediateSize: 1408, numHiddenLayers: 8,
                               numAttentionHeads: 8, numKeyValueHeads: 4, maxPositionEmbeddings: 8192,
                               rmsNormEps: 1e-5, ropeTheta: 500000, bosTokenId: 1, eosTokenIds: [2])
        case "llama3-8b", "llama3_8b", "8b":
            return LlamaConfig(vocabSize: 128256, hiddenSize: 4096, intermediateSize: 14336, numHiddenLayers: 32,
                               numAttentionHeads: 32, numKeyValueHeads: 8, maxPositionEmbeddings: 8192,
                               rmsNormEps: 1e-5, ropeTheta: 500000, bosTokenId: 128000, eosTokenIds: [128001, 128009])
        default:
            throw LlamaError.config("unknown preset \"\(name)\" (presets: \(presetNames.joined(separator: ", ")))")
        }
    }

    // MARK: validation

    /// The model's weights in bytes when stored as `quant` says (embeddings and norms f32; NF4
    /// projections about 0.56 bytes a weight with their scales), or nil when the count overflows.
    /// `Memory.require` checks it before a model of this config is built or loaded.
    public func weightBytes(nf4: Bool = false, embeddingBytes: Int = 4) -> Int? {
        func mul(_ xs: Int...) -> Int? {
            var n = 1
            for x in xs { let (m, o) = n.multipliedReportingOverflow(by: max(x, 0)); if o { return nil }; n = m }
            return n
        }
        guard let emb = mul(vocabSize, hiddenSize), let q = mul(numAttentionHeads, headDim, hiddenSize),
              let kv = mul(numKeyValueHeads, headDim, hiddenSize), let mlp = mul(3, intermediateSize, hiddenSize) else { return nil }
        let (proj, o1) = (2 * q).addingReportingOverflow(2 * kv + mlp)
        guard !o1, let projAll = mul(proj, numHiddenLayers) else { return nil }
        let embAll = tieWordEmbeddings ? emb : 2 * emb
        let projBytes = nf4 ? projAll / 2 + projAll / 16 : projAll
        guard let e = mul(embAll, embeddingBytes), let p = mul(projBytes, nf4 ? 1 : 4) else { return nil }
        let (total, o2) = e.addingReportingOverflow(p)
        return o2 ? nil : total
    }

    /// Checks that the shape is consistent; every error names the field.
    public func validate() throws {
        func pos(_ v: Int, _ n: String) throws { if v <= 0 { throw LlamaError.config("\(n) must be > 0, got \(v)") } }
        try pos(vocabSize, "vocab_size"); try pos(hiddenSize, "hidden_size")
        try pos(intermediateSize, "intermediate_size"); try pos(numHiddenLayers, "num_hidden_layers")
        try pos(numAttentionHeads, "num_attention_heads"); try pos(numKeyValueHeads, "num_key_value_heads")
        try pos(headDim, "head_dim"); try pos(maxPositionEmbeddings, "max_position_embeddings")
        if numAttentionHeads % numKeyValueHeads != 0 {
            throw LlamaError.config("num_attention_heads (\(numAttentionHeads)) must be a multiple of num_key_value_heads (\(numKeyValueHeads))")
        }
        if headDim % 2 != 0 { throw LlamaError.config("head_dim must be even for RoPE, got \(headDim)") }
        if !(rmsNormEps > 0) { throw LlamaError.config("rms_norm_eps must be > 0, got \(rmsNormEps)") }
        if !(ropeTheta > 0) { throw LlamaError.config("rope_theta must be > 0, got \(ropeTheta)") }
        if !(initializerRange >= 0) { throw LlamaError.config("initializer_range must be >= 0, got \(initializerRange)") }
        try ropeScaling?.validate()
    }

    // MARK: JSON (HF config.json)

    /// Reads a config from a JSON dictionary with HF names. Unknown fields are ignored; missing
    /// required ones (the shape) are named in the error.
    public init(json d: [String: Any]) throws {
        func int(_ k: String) throws -> Int? {
            guard let v = d[k], !(v is NSNull) else { return nil }
            if let x = v as? Int { return x }
            // a whole number an Int holds: Int(x) of inf or of 1e300 traps where checked and is
            // undefined in this -Ounchecked module (llx fuzz, seed 301 case 208:
            // llama.config("tiny", hidden_size: float("inf")))
            if let x = v as? Double, let n = Int(exactly: x) { return n }
            throw LlamaError.config("\(k) must be an integer, got \(v)")
        }
        func req(_ k: String) throws -> Int {
            guard let v = try int(k) else { throw LlamaError.config("config.json is missing required field `\(k)`") }
            return v
        }
        func dbl(_ k: String) throws -> Double? {
            guard let v = d[k], !(v is NSNull) else { return nil }
            if let x = v as? Double { return x }
            if let x = v as? Int { return Double(x) }
            throw LlamaError.config("\(k) must be a number, got \(v)")
        }
        if let mt = d["model_type"] as? String, !["llama", "llama3"].contains(mt) {
            // Other decoder families are not this architecture; fail loudly instead of mis-loading.
            throw LlamaError.config("model_type \"\(mt)\" is not supported (only \"llama\")")
        }
        if (d["attention_bias"] as? Bool) == true { throw LlamaError.config("attention_bias: true is not supported") }
        if (d["mlp_bias"] as? Bool) == true { throw LlamaError.config("mlp_bias: true is not supported") }
        if let act = d["hidden_act"] as? String, act != "silu" {
            throw LlamaError.config("hidden_act \"\(act)\" is not supported (only \"silu\")")
        }
        let heads = try req("num_attention_heads")
        let hidden = try req("hidden_size")
        // transformers: `rope_scaling` (legacy) wins over `rope_parameters`; rope_theta inside
        // the dict wins over the top-level one; the default theta is 10000.
        var ropeDict: [String: Any]? = nil
        if let rs = d["rope_scaling"] as? [String: Any] { ropeDict = rs }
        else if let rp = d["rope_parameters"] as? [String: Any] { ropeDict = rp }
        else if let v = d["rope_scaling"], !(v is NSNull) { throw LlamaError.config("rope_scaling must be an object or null, got \(v)") }
        var theta = try dbl("rope_theta") ?? 10000
        if let rd = ropeDict, let t = rd["rope_theta"] {
            if let x = t as? Double { theta = x } else if let x = t as? Int { theta = Double(x) }
        }
        let scaling = try ropeDict.flatMap { try RopeScaling.parse($0) }
        var eos: [Int] = [2]
        if let v = d["eos_token_id"] {
            if v is NSNull { eos = [] }
            else if let x = v as? Int { eos = [x] }
            else if let xs = v as? [Int] { eos = xs }
            else { throw LlamaError.config("eos_token_id must be an integer or a list of integers, got \(v)") }
        }
        var bos: Int? = 1
        if let v = d["bos_token_id"] { bos = v is NSNull ? nil : try int("bos_token_id") }
        self.init(vocabSize: try req("vocab_size"), hiddenSize: hidden,
                  intermediateSize: try req("intermediate_size"), numHiddenLayers: try req("num_hidden_layers"),
                  numAttentionHeads: heads, numKeyValueHeads: try int("num_key_value_heads"),
                  headDim: try int("head_dim"), maxPositionEmbeddings: try int("max_position_embeddings") ?? 2048,
                  rmsNormEps: try dbl("rms_norm_eps") ?? 1e-6, ropeTheta: theta, ropeScaling: scaling,
                  tieWordEmbeddings: (d["tie_word_embeddings"] as? Bool) ?? false,
                  initializerRange: try dbl("initializer_range") ?? 0.02, bosTokenId: bos,
                  eosTokenIds: eos, padTokenId: try int("pad_token_id"))
        // transformers' standardize_rope_params: llama3/yarn default original_max_position_embeddings.
        if var s = ropeScaling, s.ropeType == .llama3 || s.ropeType == .yarn, s.originalMaxPositionEmbeddings == nil {
            s.originalMaxPositionEmbeddings = maxPositionEmbeddings
            ropeScaling = s
        }
        try validate()
    }

    /// Reads `config.json` (or a directory holding it).
    public static func load(path: String) throws -> LlamaConfig {
        var isDir: ObjCBool = false
        var file = path
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            file = (path as NSString).appendingPathComponent("config.json")
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw LlamaError.file("cannot read config file \(file)")
        }
        return try LlamaConfig(jsonData: data, source: file)
    }

    public init(jsonData: Data, source: String = "config.json") throws {
        let obj: Any
        do { obj = try JSONSerialization.jsonObject(with: jsonData) }
        catch { throw LlamaError.config("\(source) is not valid JSON: \(error.localizedDescription)") }
        guard let d = obj as? [String: Any] else { throw LlamaError.config("\(source) must hold a JSON object") }
        do { try self.init(json: d) }
        catch let LlamaError.config(msg) { throw LlamaError.config("\(source): \(msg)") }
    }

    /// The HF dictionary: transformers 5's `rope_parameters` and the legacy top-level
    /// `rope_theta` / `rope_scaling`, so that both old and new readers agree.
    public func jsonObject() -> [String: Any] {
        var rp: [String: Any] = ropeScaling?.jsonObject() ?? ["rope_type": "default"]
        rp["rope_theta"] = ropeTheta
        var d: [String: Any] = [
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "vocab_size": vocabSize, "hidden_size": hiddenSize, "intermediate_size": intermediateSize,
            "num_hidden_layers": numHiddenLayers, "num_attention_heads": numAttentionHeads,
            "num_key_value_heads": numKeyValueHeads, "head_dim": headDim,
            "max_position_embeddings": maxPositionEmbeddings, "rms_norm_eps": rmsNormEps,
            "rope_theta": ropeTheta, "rope_parameters": rp,
            "tie_word_embeddings": tieWordEmbeddings, "initializer_range": initializerRange,
            "hidden_act": "silu", "attention_bias": false, "mlp_bias": false, "attention_dropout": 0.0,
            "pad_token_id": padTokenId.map { $0 as Any } ?? NSNull(),
            "bos_token_id": bosTokenId.map { $0 as Any } ?? NSNull(),
            "torch_dtype": "float32", "use_cache": true,
        ]
        d["rope_scaling"] = ropeScaling.map { s -> Any in var r = s.jsonObject(); r["rope_theta"] = ropeTheta; return r } ?? NSNull()
        d["eos_token_id"] = eosTokenIds.count == 1 ? eosTokenIds[0] as Any : eosTokenIds as Any
        return d
    }

    public func jsonData() throws -> Data {
        try JSONSerialization.data(withJSONObject: jsonObject(), options: [.prettyPrinted, .sortedKeys])
    }

    // MARK: Codable (through the HF dictionary)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let v = try c.decode(JSONValue.self)
        guard let d = v.any as? [String: Any] else { throw LlamaError.config("config must be a JSON object") }
        try self.init(json: d)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(JSONValue(any: jsonObject()))
    }
}

/// A JSON value for bridging Codable and dictionaries.
struct JSONValue: Codable {
    let any: Any

    init(any: Any) { self.any = any }

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { any = NSNull() }
        else if let b = try? c.decode(Bool.self) { any = b }
        else if let i = try? c.decode(Int.self) { any = i }
        else if let x = try? c.decode(Double.self) { any = x }
        else if let s = try? c.decode(String.self) { any = s }
        else if let a = try? c.decode([JSONValue].self) { any = a.map { $0.any } }
        else if let o = try? c.decode([String: JSONValue].self) { any = o.mapValues { $0.any } }
        else { throw LlamaError.config("unreadable JSON value") }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch any {
        case is NSNull: try c.encodeNil()
        case let b as Bool: try c.encode(b)
        case let i as Int: try c.encode(i)
        case let x as Double: try c.encode(x)
        case let s as String: try c.encode(s)
        case let a as [Any]: try c.encode(a.map { JSONValue(any: $0) })
        case let o as [String: Any]: try c.encode(o.mapValues { JSONValue(any: $0) })
        default: try c.encode(String(describing: any))
        }
    }
}
