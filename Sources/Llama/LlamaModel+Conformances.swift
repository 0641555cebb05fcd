// LlamaModel+Conformances: the model as NN's protocols, so that Train and Eval drive it
// without seeing Llama: `TrainableModel` (parameters and forwardBackward are the model's own,
// LlamaModel+Train.swift) and `EvalModel` (greedy generation and token log-probabilities).
import Foundation
import NN
import Quant

extension LlamaModel: TrainableModel {
    /// Each LoRA adapter's dropout mask seed and forward counter ("<module>.dropout_seed",
    /// "<module>.dropout_step"): what makes the masks of a resumed run those of an uninterrupted one.
    public var trainingRandomState: [String: UInt64] {
        var s: [String: UInt64] = [:]
        for layer in layers {
            for lin in layer.linears {
                guard let l = lin.lora else { continue }
                s[l.module + ".dropout_seed"] = l.dropoutSeed
                s[l.module + ".dropout_step"] = l.dropoutStep
            }
        }
        return s
    }

    /// LoRA dropout acts in training mode only (each Linear's `training`).
    public func setTrainingMode(_ on: Bool) {
        for layer in layers { for lin in layer.linears { lin.training = on } }
    }

    public func restoreTrainingRandomState(_ state: [String: UInt64]) throws {
        var adapters: [String: LoRA] = [:]
        for layer in layers { for lin in layer.linears { if let l = lin.lora { adapters[l.module] = l } } }
        for (key, v) in state {
            let (module, field): (String, String)
            if key.hasSuffix(".dropout_seed") { (module, field) = (String(key.dropLast(".dropout_seed".count)), "seed") }
            else if key.hasSuffix(".dropout_step") { (module, field) = (String(key.dropLast(".dropout_step".count)), "step") }
            else { throw LlamaError.argument("unknown training random state '\(key)'") }
            guard let l = adapters[module] else {
                throw LlamaError.argument("the training state has dropout state for '\(module)', which has no LoRA adapter in this model")
            }
            if field == "seed" { l.dropoutSeed = v } else { l.dropoutStep = v }
        }
    }
}

extension LlamaModel: EvalModel {
    /// Greedy continuation for the evaluators (stops at, and drops, an id in `stop`).
    public func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>) throws -> [Int] {
        try generate(prompt: prompt, maxTokens: maxTokens, stop: stop, cancel: nil)
    }

    /// The same, stopping between tokens once `cancel` is set (Ctrl-C in llx).
    public func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>, cancel: CancellationToken?) throws -> [Int] {
        try generate(prompt: prompt, maxTokens: maxTokens, temperature: 0, topP: 1, topK: 0, seed: 0, stop: stop, cancel: cancel)
    }

    /// log p(ids[i] | ids[..<i]) for i in 1..<ids.count, from one forward pass.
    public func logProbs(ids: [Int]) throws -> [Float] {
        guard ids.count >= 2 else { return [] }
        let l = try logits(ids)
        let V = config.vocabSize
        let p = l.floatPointer
        var out = [Float](repeating: 0, count: ids.count - 1)
        for i in 1..<ids.count {
            let row = p + (i - 1) * V
            var mx = -Float.infinity
            for j in 0..<V { mx = max(mx, row[j]) }
            var s = 0.0
            for j in 0..<V { s += exp(Double(row[j] - mx)) }
            out[i - 1] = Float(Double(row[ids[i]] - mx) - log(s))
        }
        return out
    }
}
