// LlamaModel: the Llama decoder's parameters (Hugging Face names and order), random
// initialisation as transformers does it, live RoPE settings, and the public entry points.
// The computation lives in LlamaLayer+Forward.swift (one layer, forward and backward),
// LlamaModel+Train.swift (whole model, loss, gradients) and LlamaModel+Generate.swift.
import Foundation
import Tensor
import Quant
import NN

/// One decoder layer: RMSNorm, grouped-query attention with RoPE, residual, RMSNorm, SwiGLU MLP, residual.
public final class LlamaLayer {
    public let index: Int
    public var inputLayernorm: Parameter            // (C)
    public var qProj: Linear                    // (Hq*D, C)
    public var kProj: Linear                    // (Hkv*D, C)
    public var vProj: Linear                    // (Hkv*D, C)
    public var oProj: Linear                    // (C, Hq*D)
    public var postAttentionLayernorm: Parameter    // (C)
    public var gateProj: Linear                 // (I, C)
    public var upProj: Linear                   // (I, C)
    public var downProj: Linear                 // (C, I)

    init(index: Int, inputLayernorm: Parameter, qProj: Linear, kProj: Linear, vProj: Linear, oProj: Linear,
         postAttentionLayernorm: Parameter, gateProj: Linear, upProj: Linear, downProj: Linear) {
        self.index = index
        self.inputLayernorm = inputLayernorm; self.qProj = qProj; self.kProj = kProj; self.vProj = vProj
        self.oProj = oProj; self.postAttentionLayernorm = postAttentionLayernorm
        self.gateProj = gateProj; self.upProj = upProj; self.downProj = downProj
    }

    /// The projections in Hugging Face order.
    public var linears: [Linear] { [qProj, kProj, vProj, oProj, gateProj, upProj, downProj] }

    /// Parameters in Hugging Face `named_parameters()` order.
    public var parameters: [Parameter] {
        linears.flatMap { $0.params } + [inputLayernorm, postAttentionLayernorm]
    }

    /// The HF module path of a projection, e.g. "model.layers.3.self_attn.q_proj".
    public static func modulePath(layer: Int, _ proj: String) -> String {
        let group = ["gate_proj", "up_proj", "down_proj"].contains(proj) ? "mlp" : "self_attn"
        return "model.layers.\(layer).\(group).\(proj)"
    }

    static let projections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    /// (out, in) of each projection.
    static func projectionShape(_ proj: String, _ c: LlamaConfig) -> (Int, Int) {
        let C = c.hiddenSize, qd = c.numAttentionHeads * c.headDim, kvd = c.numKeyValueHeads * c.headDim
        switch proj {
        case "q_proj": return (qd, C)
        case "k_proj", "v_proj": return (kvd, C)
        case "o_proj": return (C, qd)
        case "gate_proj", "up_proj": return (c.intermediateSize, C)
        default: return (C, c.intermediateSize)
        }
    }
}

public final class LlamaModel {
    /// The architecture. `ropeTheta` / `ropeScaling` may change on a live model (next call uses them);
    /// the shape fields must not change after construction (`reshape` errors name the field).
    public var config: LlamaConfig {
        didSet { shapeChanged = !config.sameShape(as: oldValue) || shapeChanged }
    }
    public var embedTokens: Parameter               // (V, C) model.embed_tokens.weight
    public var layers: [LlamaLayer]
    public var norm: Parameter                      // (C) model.norm.weight
    /// lm_head.weight (V, C); the same Parameter as `embedTokens` when tie_word_embeddings.
    public var lmHead: Parameter

    /// Live RoPE settings (`m.rope_theta = 200M`, `m.rope_scaling = ...`).
    public var ropeTheta: Double {
        get { config.ropeTheta }
        set { config.ropeTheta = newValue }
    }
    public var ropeScaling: RopeScaling? {
        get { config.ropeScaling }
        set { config.ropeScaling = newValue }
    }

    let ropeCache = RopeCache()
    private var shapeChanged = false
    /// Whole-sequence forward passes run so far (`forwardTrunk`: embedding, layers, final norm;
    /// generation's cached steps are not counted). Tests count the passes a call makes.
    public internal(set) var trunkPasses = 0

    /// Assembles a model from its parts (used by init and load).
    init(config: LlamaConfig, embedTokens: Parameter, layers: [LlamaLayer], norm: Parameter, lmHead: Parameter?) {
        self.config = config
        self.embedTokens = embedTokens
        self.layers = layers
        self.norm = norm
        self.lmHead = lmHead ?? embedTokens
    }

    /// Random weights as transformers' `_init_weights`: normal(0, initializer_range) for the
    /// embedding and every linear weight, ones for the norms. Deterministic in `seed`.
    public convenience init(config: LlamaConfig, seed: UInt64) throws {
        try self.init(config: config, seed: seed, quant: .dense)
    }

    /// Random weights; `quant: .nf4` builds each projection directly in NF4 (weight by weight,
    /// never holding a whole f32 projection), so the llama3-8b shape fits in memory.
    /// `embeddingsBF16` stores embed_tokens / lm_head in bf16 (frozen; see storeEmbeddingsInBF16).
    public convenience init(config: LlamaConfig, seed: UInt64, quant: QuantKind, doubleQuant: Bool = true,
                            embeddingsBF16: Bool = false) throws {
        try config.validate()
        try Memory.require(config.weightBytes(nf4: quant == .nf4, embeddingBytes: embeddingsBF16 ? 2 : 4),
                           "llama.init: a model of this config (vocab_size \(config.vocabSize), hidden_size \(config.hiddenSize), \(config.numHiddenLayers) layers)")
        let q = quant
        var rng = SplitMix64(seed: seed)   // one stream seed per weight, rows seeded within it
        let std = Float(config.initializerRange)
        func normal(_ shape: [Int]) -> Tensor {
            let t = Tensor(zeros: shape)
            SplitMix64.fillNormalRows(t.floatPointer, rows: 0..<shape[0], cols: t.count / shape[0], std: std, seed: rng.next())
            return t
        }
        func embedding(_ name: String) -> Parameter {
            guard embeddingsBF16 else { return Parameter(name: name, value: normal([config.vocabSize, config.hiddenSize]), trainable: true) }
            // Row chunks straight into bf16: the f32 matrix never exists.
            let C = config.hiddenSize, V = config.vocabSize
            let t = Tensor(zeros: [V, C], dtype: .bf16)
            let dst = t.storage.bytes.assumingMemoryBound(to: UInt16.self)
            let chunk = FloatBuffer(1024 * C)
            let wseed = rng.next()
            var r0 = 0
            while r0 < V {
                let n = min(1024, V - r0)
                SplitMix64.fillNormalRows(chunk.p, rows: r0..<(r0 + n), cols: C, std: std, seed: wseed)
                for i in 0..<(n * C) { dst[r0 * C + i] = Half.bf16Bits(chunk.p[i]) }
                r0 += n
            }
            let p = Parameter(name: name, value: Tensor(zeros: [1]), trainable: false)
            p.value = t
            return p
        }
        func ones(_ n: Int) -> Tensor { Tensor(shape: [n], floats: [Float](repeating: 1, count: n)) }
        let C = config.hiddenSize
        let embed = embedding("model.embed_tokens.weight")
        var layers: [LlamaLayer] = []
        for l in 0..<config.numHiddenLayers {
            var lin: [String: Linear] = [:]
            for p in LlamaLayer.projections {
                let (o, i) = LlamaLayer.projectionShape(p, config)
                let wseed = rng.next()
                lin[p] = try LlamaModel.makeLinear(name: LlamaLayer.modulePath(layer: l, p), inFeatures: i, outFeatures: o,
                                                   quant: q, doubleQuant: doubleQuant) { rows, dst in
                    SplitMix64.fillNormalRows(dst, rows: rows, cols: i, std: std, seed: wseed)
                }
            }
            layers.append(LlamaLayer(
                index: l,
                inputLayernorm: Parameter(name: "model.layers.\(l).input_layernorm.weight", value: ones(C), trainable: true),
                qProj: lin["q_proj"]!, kProj: lin["k_proj"]!, vProj: lin["v_proj"]!, oProj: lin["o_proj"]!,
                postAttentionLayernorm: Parameter(name: "model.layers.\(l).post_attention_layernorm.weight", value: ones(C), trainable: true),
                gateProj: lin["gate_proj"]!, upProj: lin["up_proj"]!, downProj: lin["down_proj"]!))
        }
        let norm = Parameter(name: "model.norm.weight", value: ones(C), trainable: true)
        let head = config.tieWordEmbeddings ? nil : embedding("lm_head.weight")
        self.init(config: config, embedTokens: embed, layers: layers, norm: norm, lmHead: head)
    }

    /// Every parameter once, in Hugging Face `named_parameters()` order (lm_head only when untied).
    public var parameters: [Parameter] {
        var ps = [embedTokens]
        for l in layers { ps += l.parameters }
        ps.append(norm)
        if lmHead !== embedTokens { ps.append(lmHead) }
        return ps
    }

    /// The parameter with a Hugging Face name, if any.
    public func parameter(named name: String) -> Parameter? {
        if name == "lm_head.weight" { return lmHead }
        return parameters.first { $0.name == name }
    }

    /// Sets every parameter's gradient to zero.
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    /// Marks parameters trainable (true) or frozen by a predicate on their HF name.
    public func setTrainable(_ predicate: (String) -> Bool) {
        for p in parameters { p.trainable = predicate(p.name) }
    }

    /// The base model state as (HF name, tensor) pairs, as `save_pretrained` writes it (no
    /// lm_head when tied). NF4 projections are dequantized (a full f32 copy each); LoRA adapters
    /// are not included (they are in `parameters`, under PEFT names).
    public func stateTensors() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        forEachStateTensor { out.append(($0, $1)) }
        return out
    }

    /// Streams the base state one tensor at a time (so an NF4 model is dequantized tensor by tensor).
    public func forEachStateTensor(_ body: (String, Tensor) throws -> Void) rethrows {
        try body(embedTokens.name, embedTokens.value)
        for l in layers {
            for lin in l.linears { try body(lin.name + ".weight", lin.weight?.value ?? lin.denseWeight()) }
            try body(l.inputLayernorm.name, l.inputLayernorm.value)
            try body(l.postAttentionLayernorm.name, l.postAttentionLayernorm.value)
        }
        try body(norm.name, norm.value)
        if lmHead !== embedTokens { try body(lmHead.name, lmHead.value) }
    }

    /// Replaces every dense projection by an NF4 one (blocksize 64), layer by layer, and adds
    /// nothing else: the quantized bases are frozen. Existing LoRA adapters are dropped.
    public func quantizeProjections(doubleQuant: Bool = true) throws {
        for L in layers {
            func q(_ lin: Linear) throws -> Linear {
                if lin.nf4 != nil { return lin }
                return try LlamaModel.makeLinear(name: lin.name, inFeatures: lin.inFeatures, outFeatures: lin.outFeatures,
                                                 weight: lin.denseWeight(), quant: .nf4, doubleQuant: doubleQuant)
            }
            L.qProj = try q(L.qProj); L.kProj = try q(L.kProj); L.vProj = try q(L.vProj); L.oProj = try q(L.oProj)
            L.gateProj = try q(L.gateProj); L.upProj = try q(L.upProj); L.downProj = try q(L.downProj)
        }
    }

    /// Bytes held by the weights (NF4 bases at their packed size).
    public var weightBytes: Int {
        var n = (embedTokens.value.count * embedTokens.value.dtype.size)
        if lmHead !== embedTokens { n += lmHead.value.count * lmHead.value.dtype.size }
        n += norm.count * 4
        for l in layers {
            n += (l.inputLayernorm.count + l.postAttentionLayernorm.count) * 4
            for lin in l.linears { n += lin.baseByteCount + (lin.lora.map { ($0.A.count + $0.B.count) * 4 } ?? 0) }
        }
        return n
    }

    /// Total parameter count: base weights (NF4 ones too, tied ones once) plus LoRA adapters.
    public var parameterCount: Int {
        var n = embedTokens.count + norm.count + (lmHead !== embedTokens ? lmHead.count : 0)
        for l in layers {
            n += l.inputLayernorm.count + l.postAttentionLayernorm.count
            for lin in l.linears { n += lin.inFeatures * lin.outFeatures + (lin.lora.map { $0.A.count + $0.B.count } ?? 0) }
        }
        return n
    }

    /// Checks that the config still matches the weights (only RoPE fields may change live).
    func checkLive() throws {
        if shapeChanged {
            throw LlamaError.config("only rope_theta and rope_scaling can change on a live model; build a new model for other fields")
        }
        try config.validate()
        try checkStorage()
    }

    /// Checks token ids against the vocabulary; the error names the first bad id and its position.
    func validate(ids: [Int], what: String = "ids") throws {
        if ids.isEmpty { throw LlamaError.tokenId("\(what) is empty") }
        let V = config.vocabSize
        for (i, t) in ids.enumerated() where t < 0 || t >= V {
            throw LlamaError.tokenId("\(what)[\(i)] = \(t) is outside the vocabulary 0..<\(V)")
        }
    }
}

extension LlamaConfig {
    /// Same tensor shapes (everything except RoPE, eps, token ids and init range).
    func sameShape(as o: LlamaConfig) -> Bool {
        vocabSize == o.vocabSize && hiddenSize == o.hiddenSize && intermediateSize == o.intermediateSize &&
            numHiddenLayers == o.numHiddenLayers && numAttentionHeads == o.numAttentionHeads &&
            numKeyValueHeads == o.numKeyValueHeads && headDim == o.headDim && tieWordEmbeddings == o.tieWordEmbeddings
    }
}
