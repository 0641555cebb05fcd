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

    /// log p(ids[i] | ids[..<i]) for i in 1..<ids.count, streamed: chunked prefill into a KV
    /// cache, each block of logit rows reduced to its log-probabilities as it comes, so nothing of
    /// size [T, V] is ever held (memory: the cache plus one chunk).
    public func logProbs(ids: [Int]) throws -> [Float] {
        guard ids.count >= 2 else { return [] }
        let cache = makeCache(capacity: ids.count)
        var out = [Float](repeating: 0, count: ids.count - 1)
        try prefill(ids, cache: cache, logitsFrom: 0) { first, rows, p in
            for r in 0..<rows where first + r + 1 < ids.count {
                out[first + r] = LlamaModel.logSoftmax(p + r * config.vocabSize, count: config.vocabSize, at: ids[first + r + 1])
            }
        }
        return out
    }

    /// The prefix runs once into a cache; each continuation then runs from the prefix's cache
    /// (the cache is cut back to the prefix between them): MMLU's letters from one prompt.
    public func logProbs(prefix: [Int], continuations: [[Int]]) throws -> [[Float]] {
        guard !prefix.isEmpty else {
            return try continuations.map { c in c.isEmpty ? [] : Array(try logProbs(ids: c).suffix(c.count - 1)) }
        }
        let V = config.vocabSize
        let cache = makeCache(capacity: prefix.count + (continuations.map { $0.count }.max() ?? 0))
        let lastRow = try prefill(prefix, cache: cache)
        var out: [[Float]] = []
        for c in continuations {
            if c.isEmpty { out.append([]); continue }
            try validate(ids: c, what: "continuation")
            cache.truncate(to: prefix.count)
            var lp = [Float](repeating: 0, count: c.count)
            lp[0] = LlamaModel.logSoftmax(lastRow.floatPointer, count: V, at: c[0])
            if c.count > 1 {
                try prefill(Array(c.dropLast()), cache: cache, logitsFrom: 0) { first, rows, p in
                    for r in 0..<rows { lp[first + r + 1] = LlamaModel.logSoftmax(p + r * V, count: V, at: c[first + r + 1]) }
                }
            }
            out.append(lp)
        }
        return out
    }

    /// log softmax(row)[t], the sum in double.
    static func logSoftmax(_ row: UnsafePointer<Float>, count V: Int, at t: Int) -> Float {
        var mx = -Float.infinity
        for j in 0..<V { mx = max(mx, row[j]) }
        var s = 0.0
        for j in 0..<V { s += exp(Double(row[j] - mx)) }
        return Float(Double(row[t] - mx) - log(s))
    }
}
