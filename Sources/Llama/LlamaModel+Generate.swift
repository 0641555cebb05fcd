// Inference with a KV cache (prefill, then one token per decode step) and text generation with
// transformers' sampling semantics: greedy at temperature 0, else temperature -> top-k -> top-p
// (the order of generate's logits warpers), then a draw from a seeded generator.
import Foundation
import Tensor
import Quant
import NN

/// Keys (after RoPE) and values of every layer for the positions seen so far.
public final class KVCache {
    public let numLayers: Int
    public let rowWidth: Int                    // Hkv * D
    public private(set) var count: Int = 0      // cached positions
    public private(set) var capacity: Int
    var k: [FloatBuffer]                        // per layer (capacity, Hkv*D)
    var v: [FloatBuffer]

    public init(config c: LlamaConfig, capacity: Int) {
        numLayers = c.numHiddenLayers
        rowWidth = c.numKeyValueHeads * c.headDim
        self.capacity = max(1, capacity)
        k = (0..<numLayers).map { _ in FloatBuffer(max(1, capacity) * c.numKeyValueHeads * c.headDim) }
        v = (0..<numLayers).map { _ in FloatBuffer(max(1, capacity) * c.numKeyValueHeads * c.headDim) }
    }

    /// Forgets every position (keeps the memory).
    public func reset() { count = 0 }

    /// Grows the buffers (copying) to hold at least n positions.
    func reserve(_ n: Int) {
        if n <= capacity { return }
        let newCap = max(n, capacity * 2)
        for l in 0..<numLayers {
            let nk = FloatBuffer(newCap * rowWidth), nv = FloatBuffer(newCap * rowWidth)
            nk.p.update(from: k[l].p, count: count * rowWidth)
            nv.p.update(from: v[l].p, count: count * rowWidth)
            k[l] = nk; v[l] = nv
        }
        capacity = newCap
    }

    func advance(_ n: Int) { count += n }
}

extension LlamaModel {
    /// A cache for this model's shape.
    public func makeCache(capacity: Int) -> KVCache { KVCache(config: config, capacity: capacity) }

    /// Runs `ids` at positions cache.count..<cache.count+T, appending their keys/values to the
    /// cache. Returns logits (T, V), or (1, V) for the last position when `lastOnly`.
    public func forward(_ ids: [Int], cache: KVCache, lastOnly: Bool = true) throws -> Tensor {
        try checkLive()
        try validate(ids: ids)
        let c = config, T = ids.count, C = c.hiddenSize, V = c.vocabSize
        guard cache.numLayers == layers.count, cache.rowWidth == c.numKeyValueHeads * c.headDim else {
            throw LlamaError.argument("KV cache was made for another model shape")
        }
        let start = cache.count
        cache.reserve(start + T)
        let rope = ropeCache.tables(config: c, start: start, count: T)
        var cur = FloatBuffer(T * C), spare = FloatBuffer(T * C)
        try embed(ids, out: cur.p)
        let a = LayerActivations(config: c, T: T)
        for (l, L) in layers.enumerated() {
            try layerForward(L, x: cur.p, out: spare.p, a: a, T: T, rope: rope,
                             kv: KVSlot(k: cache.k[l].p, v: cache.v[l].p, start: start))
            swap(&cur, &spare)
        }
        cache.advance(T)
        let rows = lastOnly ? 1 : T
        let first = T - rows
        let xf = FloatBuffer(rows * C)
        Kernels.rmsNormForward(x: cur.p + first * C, weight: norm.value.floatPointer, out: xf.p, rstd: nil,
                               rows: rows, dim: C, eps: Float(c.rmsNormEps))
        let out = Tensor(zeros: [rows, V])
        headForward(xf.p, rows: rows, out: out.floatPointer)
        return out
    }

    /// Continues `prompt` by up to `maxTokens` tokens. Greedy when temperature is 0; otherwise
    /// samples after temperature, top-k (0 = off) and top-p (1 = off) with a generator seeded by
    /// `seed` (random when nil). Stops before a token in `stop` (not returned), or after a token
    /// (returned) when `onToken` returns false or `cancel` is set. Returns the new tokens.
    public func generate(prompt: [Int], maxTokens: Int, temperature: Float = 0, topP: Float = 1, topK: Int = 0,
                         seed: UInt64? = nil, stop: Set<Int> = [], cancel: CancellationToken? = nil,
                         onToken: (Int) -> Bool = { _ in true }) throws -> [Int] {
        try validate(ids: prompt, what: "prompt")
        guard temperature >= 0, temperature.isFinite else { throw LlamaError.argument("temperature must be >= 0, got \(temperature)") }
        guard topP > 0, topP <= 1 else { throw LlamaError.argument("top_p must be in (0, 1], got \(topP)") }
        guard topK >= 0 else { throw LlamaError.argument("top_k must be >= 0, got \(topK)") }
        if maxTokens <= 0 { return [] }
        let c = config
        let (capacity, o) = prompt.count.addingReportingOverflow(maxTokens)
        try Memory.require(count: o ? Int.max : Memory.elementCount([2 * c.numHiddenLayers, c.numKeyValueHeads * c.headDim, capacity]) ?? Int.max,
                           elementSize: 4, "generate: a KV cache for \(prompt.count) + \(maxTokens) tokens")
        var rng = SplitMix64(seed: seed ?? UInt64.random(in: 0...UInt64.max))
        let cache = makeCache(capacity: prompt.count + maxTokens)
        var logits = try forward(prompt, cache: cache, lastOnly: true)
        var out: [Int] = []
        while true {
            let row = Array(UnsafeBufferPointer(start: logits.floatPointer, count: config.vocabSize))
            let next = temperature == 0 ? Sampling.argmax(row)
                : Sampling.sample(row, temperature: temperature, topK: topK, topP: topP, rng: &rng)
            if stop.contains(next) { break }
            out.append(next)
            if !onToken(next) || cancel?.isCancelled == true || out.count >= maxTokens { break }
            logits = try forward([next], cache: cache, lastOnly: true)
        }
        return out
    }
}

/// Token selection as transformers' generate does it.
public enum Sampling {
    /// Index of the largest logit (the first one on ties, as torch.argmax).
    public static func argmax(_ x: [Float]) -> Int {
        var best = 0
        for i in 1..<max(1, x.count) where x[i] > x[best] || (x[best].isNaN && !x[i].isNaN) { best = i }
        return best
    }

    /// Probabilities after TemperatureLogitsWarper, TopKLogitsWarper (topK > 0) and
    /// TopPLogitsWarper (topP < 1), in that order; removed tokens get probability 0.
    public static func probabilities(_ logits: [Float], temperature: Float, topK: Int, topP: Float) -> [Float] {
        let n = logits.count
        if n == 0 { return [] }
        var s = temperature > 0 && temperature != 1 ? logits.map { $0 / temperature } : logits
        if topK > 0 && topK < n {
            // Keep logits >= the k-th largest (ties with it are kept).
            let kth = s.sorted(by: >)[topK - 1]
            for i in 0..<n where s[i] < kth { s[i] = -.infinity }
        }
        if topP < 1 {
            // Sort ascending (stable), drop the low tail whose cumulative mass is <= 1 - top_p;
            // the most likely token always stays.
            let order = (0..<n).sorted { s[$0] < s[$1] || (s[$0] == s[$1] && $0 < $1) }
            let p = softmax(order.map { s[$0] })
            var cum: Float = 0
            for (j, i) in order.enumerated() {
                cum += p[j]
                if cum <= 1 - topP && j < n - 1 { s[i] = -.infinity }
            }
        }
        return softmax(s)
    }

    /// Draws one token from the warped distribution.
    public static func sample<G: RandomNumberGenerator>(_ logits: [Float], temperature: Float, topK: Int, topP: Float,
                                                        rng: inout G) -> Int {
        let p = probabilities(logits, temperature: temperature, topK: topK, topP: topP)
        let u = Float(Double(rng.next() >> 11) * (1.0 / 9_007_199_254_740_992.0))
        var acc: Float = 0
        var last = 0
        for (i, q) in p.enumerated() where q > 0 {
            acc += q
            last = i
            if u < acc { return i }
        }
        return last
    }

    static func softmax(_ x: [Float]) -> [Float] {
        let m = x.max() ?? 0
        if m == -.infinity { return x.map { _ in 1 / Float(x.count) } }
        var e = x.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        for i in e.indices { e[i] /= s }
        return e
    }
}
