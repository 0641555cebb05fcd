// LlamaModel+Assemble: a dense model built from named tensors handed over one at a time (what
// `merge` uses: each merged weight goes straight into the new model, no random model first).
import Foundation
import Tensor
import Quant
import NN

extension LlamaModel {
    /// A dense model of `config` whose tensors come from `tensor(name, shape)` in Hugging Face
    /// order, one call per tensor; each must be f32 of that shape and is used as is (not copied).
    /// Every tensor is trainable, as in a model from llama.init.
    public static func assemble(config: LlamaConfig, tensor: (String, [Int]) throws -> Tensor) throws -> LlamaModel {
        try config.validate()
        func get(_ name: String, _ shape: [Int]) throws -> Tensor {
            let t = try tensor(name, shape)
            guard t.shape == shape else { throw LlamaError.shapeMismatch("\(name): got \(t.shape), the config needs \(shape)") }
            return t.dtype == .f32 ? t.contiguous() : t.to(.f32).contiguous()
        }
        let C = config.hiddenSize
        let embed = Parameter(name: "model.embed_tokens.weight", value: try get("model.embed_tokens.weight", [config.vocabSize, C]), trainable: true)
        var layers: [LlamaLayer] = []
        for l in 0..<config.numHiddenLayers {
            var lin: [String: Linear] = [:]
            for p in LlamaLayer.projections {
                let (o, i) = LlamaLayer.projectionShape(p, config)
                let name = LlamaLayer.modulePath(layer: l, p)
                lin[p] = try makeLinear(name: name, inFeatures: i, outFeatures: o, weight: try get(name + ".weight", [o, i]), quant: .dense, doubleQuant: false)
            }
            let n1 = "model.layers.\(l).input_layernorm.weight", n2 = "model.layers.\(l).post_attention_layernorm.weight"
            layers.append(LlamaLayer(
                index: l, inputLayernorm: Parameter(name: n1, value: try get(n1, [C]), trainable: true),
                qProj: lin["q_proj"]!, kProj: lin["k_proj"]!, vProj: lin["v_proj"]!, oProj: lin["o_proj"]!,
                postAttentionLayernorm: Parameter(name: n2, value: try get(n2, [C]), trainable: true),
                gateProj: lin["gate_proj"]!, upProj: lin["up_proj"]!, downProj: lin["down_proj"]!))
        }
        let norm = Parameter(name: "model.norm.weight", value: try get("model.norm.weight", [C]), trainable: true)
        let head = config.tieWordEmbeddings ? nil
            : Parameter(name: "lm_head.weight", value: try get("lm_head.weight", [config.vocabSize, C]), trainable: true)
        return LlamaModel(config: config, embedTokens: embed, layers: layers, norm: norm, lmHead: head)
    }
}
