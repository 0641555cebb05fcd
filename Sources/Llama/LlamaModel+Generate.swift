// Inference with a KV cache (prefill, then one token per decode step) and text generation with
// transformers' sampling semantics: greedy at temperature 0, else temperature -> top-k -> top-p
// (the order of generate's logits warpers), then a draw from a seeded generator.
import Foundation
import Tensor
import Quant
import NN

/// Keys (after RoPE) and values of every layer for the positions seen so far, in f32 or bf16
/// (`dtype`; bf16 halves the cache: keys and values are rounded to nearest even as they are
/// written, and attention widens them in registers).
public final class KVCache {
    public let numLayers: Int
    public let rowWidth: Int                    // Hkv * D
    public let dtype: DType                     // .f32 or .bf16
    public private(set) var count: Int = 0      // cached positions
    public private(set) var capacity: Int
    var k: [UnsafeMutableRawPointer]            // per layer (capacity, Hkv*D) elements of dtype
    var v: [UnsafeMutableRawPointer]
    /// Buffers of the one-token decode step, reused from token to token (DecodeScratch).
    var scratch: DecodeScratch?

    public init(config c: LlamaConfig, capacity: Int, dtype: DType = .f32) {
        numLayers = c.numHiddenLayers
        rowWidth = c.numKeyValueHeads * c.headDim
        self.dtype = dtype == .bf16 ? .bf16 : .f32
        self.capacity = max(1, capacity)
        let bytes = self.capacity * rowWidth * self.dtype.size
        k = (0..<numLayers).map { _ in UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64) }
        v = (0..<numLayers).map { _ in UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64) }
    }

    deinit {
        for p in k { p.deallocate() }
        for p in v { p.deallocate() }
    }

    /// Bytes held by the keys and values.
    public var byteCount: Int { 2 * numLayers * capacity * rowWidth * dtype.size }

    /// Forgets every position (keeps the memory).
    public func reset() { count = 0 }

    /// Forgets the positions from n on (n <= count): a shared prefix stays cached.
    public func truncate(to n: Int) { count = max(0, min(count, n)) }

    /// Grows the buffers (copying) to hold at least n positions.
    func reserve(_ n: Int) {
        if n <= capacity { return }
        let newCap = max(n, capacity * 2)
        let bytes = newCap * rowWidth * dtype.size, used = count * rowWidth * dtype.size
        for l in 0..<numLayers {
            let nk = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            let nv = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            nk.copyMemory(from: k[l], byteCount: used)
            nv.copyMemory(from: v[l], byteCount: used)
            k[l].deallocate(); v[l].deallocate()
            k[l] = nk; v[l] = nv
        }
        capacity = newCap
    }

    func advance(_ n: Int) { count += n }

    func slot(_ l: Int, decode: Bool = false) -> KVSlot {
        KVSlot(k: k[l], v: v[l], bf16: dtype == .bf16, start: count, scratch: decode ? scratch : nil)
    }
}

/// What one decode step (a single token) needs besides the weights, allocated once per cache:
/// the residual stream, one layer's activations, the final norm, the logits and the attention
/// scratch (grown with the cache).
final class DecodeScratch {
    let cur: FloatBuffer, spare: FloatBuffer, xf: FloatBuffer, logits: FloatBuffer
    let a: LayerActivations
    var att: FloatBuffer
    var attPositions: Int

    init(config c: LlamaConfig, positions: Int) {
        cur = FloatBuffer(c.hiddenSize); spare = FloatBuffer(c.hiddenSize); xf = FloatBuffer(c.hiddenSize)
        logits = FloatBuffer(c.vocabSize)
        a = LayerActivations(config: c, T: 1)
        attPositions = positions
        att = FloatBuffer(Kernels.decodeAttentionScratch(Tk: positions, D: c.headDim, Hq: c.numAttentionHeads))
    }

    /// Makes the attention scratch hold `positions` keys.
    func reserve(positions: Int, config c: LlamaConfig) {
        if positions <= attPositions { return }
        attPositions = max(positions, attPositions * 2)
        att = FloatBuffer(Kernels.decodeAttentionScratch(Tk: attPositions, D: c.headDim, Hq: c.numAttentionHeads))
    }
}

extension LlamaModel {
    /// A cache for this model's shape: keys and values in `dtype` (nil: `defaultCacheDType`).
    public func makeCache(capacity: Int, dtype: DType? = nil) -> KVCache {
        KVCache(config: config, capacity: capacity, dtype: dtype ?? defaultCacheDType)
    }

    /// The KV cache dtype by default: bf16 when the projections are stored in NF4 or bf16 (the
    /// cache then matches the weights' precision and takes half the memory), f32 otherwise.
    public var defaultCacheDType: DType {
        let lin = layers.first?.qProj
        return lin?.nf4 != nil || lin?.weight?.value.dtype == .bf16 ? .bf16 : .f32
    }

    /// Runs `ids` at positions cache.count..<cache.count+T, appending their keys/values to the
    /// cache. Returns logits (T, V), or (1, V) for the last position when `lastOnly`.
    public func forward(_ ids: [Int], cache: KVCache, lastOnly: Bool = true) throws -> Tensor {
        if ids.count == 1 {
            let p = try decodeStep(ids[0], cache: cache)
            let out = Tensor(zeros: [1, config.vocabSize])
            out.floatPointer.update(from: p, count: config.vocabSize)
            return out
        }
        try checkLive()
        try validate(ids: ids)
        let c = config, T = ids.count, C = c.hiddenSize, V = c.vocabSize
        try checkCache(cache)
        let start = cache.count
        cache.reserve(start + T)
        let rope = ropeCache.tables(config: c, start: start, count: T)
        var cur = FloatBuffer(T * C), spare = FloatBuffer(T * C)
        try embed(ids, out: cur.p)
        let a = LayerActivations(config: c, T: T)
        for (l, L) in layers.enumerated() {
            try layerForward(L, x: cur.p, out: spare.p, a: a, T: T, rope: rope, kv: cache.slot(l))
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

    /// Tokens per prefill chunk: activation memory is bounded by the chunk, not the prompt.
    nonisolated(unsafe) public static var prefillChunk = 512
    /// Positions whose logits are computed together during a streamed prefill.
    nonisolated(unsafe) public static var logitRows = 64

    /// Feeds `ids` into the cache in chunks of at most `chunk` tokens (default `prefillChunk`;
    /// chunks of near-equal size, so none is a stray token or two) and returns the logits of the
    /// last position (1, V). The cache, the activations of one chunk and its logits are all the
    /// memory it takes; the numbers are those of one pass over the whole prompt.
    public func prefill(_ ids: [Int], cache: KVCache, chunk: Int? = nil) throws -> Tensor {
        var last: Tensor?
        try prefill(ids, cache: cache, chunk: chunk, logitsFrom: ids.count - 1) { _, rows, p in
            let t = Tensor(zeros: [1, config.vocabSize])
            t.floatPointer.update(from: p + (rows - 1) * config.vocabSize, count: config.vocabSize)
            last = t
        }
        guard let l = last else { throw LlamaError.argument("prefill: empty prompt") }
        return l
    }

    /// Chunked prefill that hands over the logits of every position >= `logitsFrom`, chunk by
    /// chunk: body(first, rows, logits) with logits (rows, V) of positions first..<first+rows
    /// (relative to ids), valid during the call. Nothing of size [T, V] is ever held.
    public func prefill(_ ids: [Int], cache: KVCache, chunk: Int? = nil, logitsFrom: Int,
                        _ body: (Int, Int, UnsafePointer<Float>) throws -> Void) throws {
        try checkLive()
        try validate(ids: ids)
        try checkCache(cache)
        let c = config, T = ids.count, C = c.hiddenSize, V = c.vocabSize
        if T == 0 { return }
        let size = max(1, chunk ?? LlamaModel.prefillChunk)
        let pieces = (T + size - 1) / size
        let per = (T + pieces - 1) / pieces
        cache.reserve(cache.count + T)
        let maxRows = min(per, T)
        var cur = FloatBuffer(maxRows * C), spare = FloatBuffer(maxRows * C)
        let a = LayerActivations(config: c, T: maxRows)
        var xf: FloatBuffer?, logits: FloatBuffer?
        var s0 = 0
        while s0 < T {
            let n = min(per, T - s0)
            let start = cache.count
            let rope = ropeCache.tables(config: c, start: start, count: n)
            try embed(Array(ids[s0..<(s0 + n)]), out: cur.p)
            for (l, L) in layers.enumerated() {
                try layerForward(L, x: cur.p, out: spare.p, a: a, T: n, rope: rope, kv: cache.slot(l))
                swap(&cur, &spare)
            }
            cache.advance(n)
            // Logits in blocks of at most logitRows rows: [logitRows, V] is the largest logit buffer.
            var first = max(s0, logitsFrom)
            while first < s0 + n {
                let rows = min(s0 + n - first, LlamaModel.logitRows)
                if xf == nil { xf = FloatBuffer(min(maxRows, LlamaModel.logitRows) * C); logits = FloatBuffer(min(maxRows, LlamaModel.logitRows) * V) }
                Kernels.rmsNormForward(x: cur.p + (first - s0) * C, weight: norm.value.floatPointer, out: xf!.p, rstd: nil,
                                       rows: rows, dim: C, eps: Float(c.rmsNormEps))
                headForward(xf!.p, rows: rows, out: logits!.p)
                try body(first, rows, UnsafePointer(logits!.p))
                first += rows
            }
            s0 += n
        }
    }

    func checkCache(_ cache: KVCache) throws {
        guard cache.numLayers == layers.count, cache.rowWidth == config.numKeyValueHeads * config.headDim else {
            throw LlamaError.argument("KV cache was made for another model shape")
        }
    }

    /// One decode step: token `id` at position cache.count; returns its logits (V floats), valid
    /// until the next step on this cache. Reuses the cache's DecodeScratch: no allocation per token
    /// (the cache grows by doubling when full).
    public func decodeStep(_ id: Int, cache: KVCache) throws -> UnsafePointer<Float> {
        try checkLive()
        try validate(ids: [id])
        try checkCache(cache)
        let c = config, C = c.hiddenSize
        let start = cache.count
        cache.reserve(start + 1)
        let sc: DecodeScratch
        if let s = cache.scratch { sc = s } else { sc = DecodeScratch(config: c, positions: cache.capacity); cache.scratch = sc }
        sc.reserve(positions: start + 1, config: c)
        let rope = ropeCache.tables(config: c, start: start, count: 1)
        try embed([id], out: sc.cur.p)
        var x = sc.cur, y = sc.spare
        for (l, L) in layers.enumerated() {
            try layerForward(L, x: x.p, out: y.p, a: sc.a, T: 1, rope: rope, kv: cache.slot(l, decode: true))
            swap(&x, &y)
        }
        cache.advance(1)
        Kernels.rmsNormForward(x: x.p, weight: norm.value.floatPointer, out: sc.xf.p, rstd: nil,
                               rows: 1, dim: C, eps: Float(c.rmsNormEps))
        headForward(sc.xf.p, rows: 1, out: sc.logits.p)
        return UnsafePointer(sc.logits.p)
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
        let first = try prefill(prompt, cache: cache)
        var logits = UnsafePointer(first.floatPointer)
        let V = config.vocabSize
        var out: [Int] = []
        while true {
            let row = UnsafeBufferPointer(start: logits, count: V)
            let next = temperature == 0 ? Sampling.argmax(row)
                : Sampling.sample(Array(row), temperature: temperature, topK: topK, topP: topP, rng: &rng)
            if stop.contains(next) { break }
            out.append(next)
            if !onToken(next) || cancel?.isCancelled == true || out.count >= maxTokens { break }
            logits = try decodeStep(next, cache: cache)
        }
        withExtendedLifetime(first) {}
        return out
    }
}

/// Token selection as transformers' generate does it.
public enum Sampling {
    /// Index of the largest logit (the first one on ties, as torch.argmax).
    public static func argmax(_ x: [Float]) -> Int { x.withUnsafeBufferPointer { argmax($0) } }

    /// The same over a buffer (a decode step's logits).
    public static func argmax(_ x: UnsafeBufferPointer<Float>) -> Int {
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
