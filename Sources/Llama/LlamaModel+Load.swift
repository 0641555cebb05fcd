// Loading a Hugging Face model directory (config.json + *.safetensors, sharded or not,
// f32/f16/bf16) under strict verification: every expected tensor present with its shape, and
// no unexpected tensor. Tensors are read one at a time (and quantized one at a time).
import Foundation
import Tensor
import Quant
import Checkpoint
import NN

extension LlamaModel {
    /// The tensor names and shapes a checkpoint of this config must hold, in HF order.
    public static func expectedTensors(_ c: LlamaConfig) -> [(String, [Int])] {
        var out: [(String, [Int])] = [("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])]
        for l in 0..<c.numHiddenLayers {
            for p in LlamaLayer.projections {
                let (o, i) = LlamaLayer.projectionShape(p, c)
                out.append((LlamaLayer.modulePath(layer: l, p) + ".weight", [o, i]))
            }
            out.append(("model.layers.\(l).input_layernorm.weight", [c.hiddenSize]))
            out.append(("model.layers.\(l).post_attention_layernorm.weight", [c.hiddenSize]))
        }
        out.append(("model.norm.weight", [c.hiddenSize]))
        if !c.tieWordEmbeddings { out.append(("lm_head.weight", [c.vocabSize, c.hiddenSize])) }
        return out
    }

    /// Loads a Hugging Face model directory. `quant`: `.dense` (f32 weights) or `.nf4` (the seven
    /// projections of every layer quantized while loading, tensor by tensor, blocksize 64, as
    /// bitsandbytes' Linear4bit; embeddings, norms and lm_head stay f32).
    /// `embeddingsBF16` stores embed_tokens and lm_head in bf16 (frozen), read straight from the
    /// file's dtype: the memory of the QLoRA inference path at 8B (2 GB less than f32).
    public static func load(path: String, quant: QuantKind = .dense, doubleQuant: Bool = true,
                            embeddingsBF16: Bool = false) throws -> LlamaModel {
        let q = quant
        let config = try LlamaConfig.load(path: path)
        try config.validate()
        try Memory.require(config.weightBytes(nf4: quant == .nf4),
                           "llama.load: '\(path)' (vocab_size \(config.vocabSize), hidden_size \(config.hiddenSize), \(config.numHiddenLayers) layers)")
        let ckpt: SafetensorsCheckpoint
        do { ckpt = try SafetensorsCheckpoint.open(path) } catch { throw LlamaError.file("\(path): \(error)") }
        let expected = expectedTensors(config)
        let expectedNames = Set(expected.map { $0.0 })
        // transformers ignores saved rotary inv_freq buffers, and a tied lm_head copy.
        func ignorable(_ n: String) -> Bool {
            n.hasSuffix(".rotary_emb.inv_freq") || (config.tieWordEmbeddings && n == "lm_head.weight")
        }
        let unexpected = ckpt.names.filter { !expectedNames.contains($0) && !ignorable($0) }
        if !unexpected.isEmpty {
            throw LlamaError.unexpectedTensor("\(path): \(unexpected.prefix(5).joined(separator: ", "))\(unexpected.count > 5 ? " and \(unexpected.count - 5) more" : "") not in a Llama model of this config")
        }
        let missing = expected.map { $0.0 }.filter { !ckpt.contains($0) }
        if !missing.isEmpty {
            throw LlamaError.missingTensor("\(path): \(missing.prefix(5).joined(separator: ", "))\(missing.count > 5 ? " and \(missing.count - 5) more" : "")")
        }
        for (name, shape) in expected {
            guard let info = ckpt.info(name) else { throw LlamaError.missingTensor("\(path): \(name)") }
            guard info.dtype.isFloatingPoint else {
                throw LlamaError.shapeMismatch("\(name): dtype \(info.dtype.rawValue) is not a float type")
            }
            if info.shape != shape {
                throw LlamaError.shapeMismatch("\(name): checkpoint has \(info.shape), config.json needs \(shape)")
            }
        }
        func read(_ name: String) throws -> Tensor {
            do { return try ckpt.tensor(name).to(.f32).contiguous() } catch { throw LlamaError.file("\(path): \(name): \(error)") }
        }
        func param(_ name: String) throws -> Parameter { Parameter(name: name, value: try read(name), trainable: true) }
        func embedding(_ name: String) throws -> Parameter {
            guard embeddingsBF16 else { return try param(name) }
            let t: Tensor
            do { t = try ckpt.tensor(name).to(.bf16).contiguous() } catch { throw LlamaError.file("\(path): \(name): \(error)") }
            let p = Parameter(name: name, value: Tensor(zeros: [1]), trainable: false)   // (init would widen to f32)
            p.value = t
            return p
        }
        let embed = try embedding("model.embed_tokens.weight")
        var layers: [LlamaLayer] = []
        for l in 0..<config.numHiddenLayers {
            var lin: [String: Linear] = [:]
            for p in LlamaLayer.projections {
                let (o, i) = LlamaLayer.projectionShape(p, config)
                let mp = LlamaLayer.modulePath(layer: l, p)
                lin[p] = try makeLinear(name: mp, inFeatures: i, outFeatures: o, weight: try read(mp + ".weight"),
                                        quant: q, doubleQuant: doubleQuant)
            }
            layers.append(LlamaLayer(
                index: l, inputLayernorm: try param("model.layers.\(l).input_layernorm.weight"),
                qProj: lin["q_proj"]!, kProj: lin["k_proj"]!, vProj: lin["v_proj"]!, oProj: lin["o_proj"]!,
                postAttentionLayernorm: try param("model.layers.\(l).post_attention_layernorm.weight"),
                gateProj: lin["gate_proj"]!, upProj: lin["up_proj"]!, downProj: lin["down_proj"]!))
        }
        let norm = try param("model.norm.weight")
        let head = config.tieWordEmbeddings ? nil : try embedding("lm_head.weight")
        return LlamaModel(config: config, embedTokens: embed, layers: layers, norm: norm, lmHead: head)
    }

    /// Writes a Hugging Face model directory (config.json + model.safetensors, f32; bf16-stored
    /// weights stay bf16) that transformers and `load` read back.
    public func saveHF(to dir: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try SafetensorsFile.write(stateTensors(), metadata: ["format": "pt"],
                                      to: (dir as NSString).appendingPathComponent("model.safetensors"))
            try config.jsonData().write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("config.json")),
                                        options: .atomic)
        } catch let e as LlamaError { throw e } catch { throw LlamaError.file("saving \(dir): \(error)") }
    }

    /// A projection over a dense weight, or quantized to NF4 when asked.
    static func makeLinear(name: String, inFeatures: Int, outFeatures: Int, weight: Tensor,
                           quant: QuantKind, doubleQuant: Bool) throws -> Linear {
        do {
            if quant == .nf4 {
                return try Linear.nf4(name: name, inFeatures: inFeatures, outFeatures: outFeatures, weight: weight,
                                      blocksize: 64, doubleQuant: doubleQuant)
            }
            return try Linear(name: name, inFeatures: inFeatures, outFeatures: outFeatures, weight: weight, trainable: true)
        } catch { throw LlamaError.shapeMismatch("\(name): \(error)") }
    }

    /// A projection whose weight rows are produced by `fill(rows, dst)` (dst holds rows.count * in
    /// floats); with NF4 the f32 weight is never held whole.
    static func makeLinear(name: String, inFeatures: Int, outFeatures: Int, quant: QuantKind, doubleQuant: Bool,
                           fill: (Range<Int>, UnsafeMutablePointer<Float>) throws -> Void) throws -> Linear {
        do {
            if quant == .nf4 {
                return try Linear.nf4(name: name, inFeatures: inFeatures, outFeatures: outFeatures, blocksize: 64,
                                      doubleQuant: doubleQuant, fill: fill)
            }
            let w = Tensor(zeros: [outFeatures, inFeatures])
            try fill(0..<outFeatures, w.floatPointer)
            return try Linear(name: name, inFeatures: inFeatures, outFeatures: outFeatures, weight: w, trainable: true)
        } catch let e as LlamaError { throw e } catch { throw LlamaError.shapeMismatch("\(name): \(error)") }
    }
}
