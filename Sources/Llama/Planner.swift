// Planner: the memory and time a run on a model will take, said before it starts, and a refusal
// (naming the run, the size and the memory available) when it would not fit, instead of the
// kernel killing the process halfway through an 80K-token prefill.
//
// Memory comes from the model's shapes:
//   weights (as stored: f32, bf16 or NF4 with its scales; LoRA adapters)
// + KV cache (2 x layers x kv_heads x head_dim x positions x the cache dtype's size)
// + the activations of one prefill chunk (`LayerActivations` of `prefillChunk` rows, the two
//   residual buffers, 64 rows of logits, the NF4 / bf16 dequantization tile), or for training
//   the layer inputs kept by checkpointing (or every layer's activations without it) plus one
//   layer's activations and gradient scratch over the whole sequence
// + a runtime constant (Swift runtime, OpenBLAS buffers, the interpreter) and a few bytes per
//   token of bookkeeping (ids, text, RoPE tables).
// The constants were fitted once to measured peak RSS (scripts/bench_context.sh, `llx bench
// memory8b`); `PlannerTests` checks the prediction against the measured peak of a run.
//
// Time comes from rates measured on this machine: a calibration per model shape (one layer of
// the model, so 8B calibrates in seconds) times a prefill chunk at context 0 and at a filled
// context (projection and attention FLOP rates) and a few decode steps (bytes streamed per
// second), cached in $XDG_CACHE_HOME/llx/calibration.json (or ~/.cache) under the CPU model,
// thread count and shape. The FLOP and byte counts of the planned run, divided by those rates,
// give its time.
import Foundation
import Tensor
import Quant
import NN

/// What a run will do: a prefill of `tokens` (logits for `logitRows` of them: all for perplexity,
/// one for a prompt) and `generate` decode steps, or training on sequences of `tokens`.
public struct PlanRequest: Sendable {
    public enum Kind: String, Sendable { case eval, generate, train }
    public var kind: Kind
    public var tokens: Int
    public var generate: Int = 0
    /// Positions whose logits are computed (nil: every position for eval, one otherwise).
    public var logitRows: Int? = nil
    public var checkpointing: Bool = true
    public var microBatch: Int = 1
    /// Optimizer steps x sequences per step (training time); 1 when unknown.
    public var sequences: Int = 1
    public init(kind: Kind, tokens: Int, generate: Int = 0) {
        self.kind = kind; self.tokens = tokens; self.generate = generate
    }
}

/// Rates of one model shape on this machine (see `Planner.calibrate`).
public struct PlanRates: Codable, Sendable {
    /// FLOP/s of the layers' projections at context 0 (a prefill chunk).
    public var projectionFlops: Double
    /// FLOP/s of causal attention (query-key pairs x 4 x heads x head_dim).
    public var attentionFlops: Double
    /// Bytes of the layers' weights and KV cache streamed per second by a decode step.
    public var decodeBytes: Double
    /// FLOP/s of the lm_head over a chunk's logit rows, and its bytes streamed per second by a
    /// decode step: the head is stored apart from the layers (bf16 beside NF4 projections on
    /// the 8B path) and runs at its own rate. Nil in a calibration cached before they were
    /// measured (such an entry is measured again).
    public var headFlops: Double?
    public var decodeHeadBytes: Double?
    public var measuredAt: String

    public init(projectionFlops: Double, attentionFlops: Double, decodeBytes: Double, headFlops: Double? = nil,
                decodeHeadBytes: Double? = nil, measuredAt: String) {
        self.projectionFlops = projectionFlops; self.attentionFlops = attentionFlops; self.decodeBytes = decodeBytes
        self.headFlops = headFlops; self.decodeHeadBytes = decodeHeadBytes; self.measuredAt = measuredAt
    }
}

/// The plan of one run: its memory by part, its expected time, and whether it fits.
public struct Plan: CustomStringConvertible, Sendable {
    public var request: PlanRequest
    public var weightBytes: Int
    public var kvCacheBytes: Int
    public var activationBytes: Int
    public var runtimeBytes: Int
    public var totalBytes: Int
    /// Bytes the run allocates beyond what the process already holds (the model's weights and
    /// the runtime, when the model is loaded): KV cache, activations, per-token bookkeeping.
    public var additionalBytes: Int
    /// MemAvailable now (capped by LLX_MEMORY_LIMIT), when known: what `additionalBytes` must fit in.
    public var availableBytes: Int?
    public var kvDType: DType
    public var prefillSeconds: Double?
    public var decodeSeconds: Double?
    public var trainSeconds: Double?
    /// Where the time comes from ("calibrated 2026-12-06T11:40Z", or nil when not timed).
    public var rateSource: String?

    public var fits: Bool { availableBytes.map { additionalBytes <= $0 } ?? true }
    public var seconds: Double? {
        switch request.kind {
        case .train: return trainSeconds
        default:
            guard let p = prefillSeconds else { return nil }
            return p + (decodeSeconds ?? 0)
        }
    }

    public var description: String {
        var s = "plan: \(request.kind.rawValue) \(request.tokens) tokens"
        if request.generate > 0 { s += " + \(request.generate) generated" }
        s += ": peak memory ~\(Memory.format(totalBytes)) (weights \(Memory.format(weightBytes)), KV cache \(Memory.format(kvCacheBytes)) \(kvDType.rawValue), activations \(Memory.format(activationBytes)), runtime \(Memory.format(runtimeBytes)))"
        if let a = availableBytes { s += ", \(Memory.format(additionalBytes)) more than held now, \(Memory.format(a)) available" }
        if let t = seconds { s += ", about \(Planner.formatDuration(t))" }
        return s
    }
}

public enum Planner {
    /// Process constant: Swift runtime, libraries, OpenBLAS buffers, the interpreter.
    public static let runtimeBytes = 40 << 20
    /// Bookkeeping per prompt token (ids, text, RoPE tables, tokenizer intermediates).
    public static let bytesPerToken = 256

    // MARK: memory

    /// Bytes of one prefill chunk's activations (rows positions) plus the logit block and
    /// dequantization tile.
    static func chunkActivationBytes(_ c: LlamaConfig, rows: Int) -> Int {
        let C = c.hiddenSize, I = c.intermediateSize
        let qd = c.numAttentionHeads * c.headDim, kvd = c.numKeyValueHeads * c.headDim
        let perRow = 2 * C + 3 * C + 2 * qd + 2 * kvd + 3 * I + c.numAttentionHeads + 2
        let logits = min(rows, LlamaModel.logitRows) * (C + c.vocabSize)
        let tile = 1 << 20                      // NF4 / bf16 tile dequantized per sgemm (~1M values)
        return 4 * (rows * perRow + logits + tile)
    }

    /// Bytes of a training step on one sequence of T tokens (micro-batch rows together).
    static func trainActivationBytes(_ c: LlamaConfig, T: Int, checkpointing: Bool) -> Int {
        let C = c.hiddenSize, I = c.intermediateSize
        let qd = c.numAttentionHeads * c.headDim, kvd = c.numKeyValueHeads * c.headDim
        let layerRow = 3 * C + 2 * qd + 2 * kvd + 3 * I + c.numAttentionHeads + 2   // LayerActivations
        let gradRow = 2 * qd + 2 * kvd + 2 * C + 3 * I                                // LayerGradScratch
        let kept = checkpointing ? c.numHiddenLayers * T * C + T * layerRow + LlamaModel.keptAttentionBytes(c, T: T) / 4
                                 : c.numHiddenLayers * T * layerRow
        let loss = (1 << 22) + 4 * T * C                                             // logit chunk, d(xf), xf, residuals
        return 4 * (kept + T * gradRow + loss)
    }

    /// The plan of `request` on a model of config `c` whose weights take `weightBytes`, with
    /// a KV cache of `kvDType`. `loaded`: the model and runtime are already in memory (so only
    /// the rest must fit in what is available).
    public static func plan(config c: LlamaConfig, weightBytes: Int, kvDType: DType, request r: PlanRequest,
                            trainableBytes: Int = 0, loaded: Bool = true, rates: PlanRates? = nil,
                            decodeStream: (layers: Double, head: Double)? = nil) -> Plan {
        let T = max(0, r.tokens)
        var kv = 0, act = 0
        switch r.kind {
        case .eval, .generate:
            // sizes from user input: saturate instead of overflowing (such a plan never fits)
            let positions = Double(T) + Double(max(0, r.generate))
            kv = sat(2 * Double(c.numHiddenLayers * c.numKeyValueHeads * c.headDim * kvDType.size) * positions)
            act = chunkActivationBytes(c, rows: min(max(T, 1), LlamaModel.prefillChunk))
            if r.generate > 0 { act += 4 * (c.vocabSize + 16 * c.hiddenSize + 3 * c.intermediateSize) + sat(4 * Double(c.numAttentionHeads) * positions) }
        case .train:
            act = T > (1 << 40) / max(1, r.microBatch) ? sat(1e30) : trainActivationBytes(c, T: T * max(1, r.microBatch), checkpointing: r.checkpointing)
            act += 3 * trainableBytes                                                  // grads + AdamW moments
        }
        let perToken = sat(Double(bytesPerToken) * Double(T))
        let runtime = sat(Double(runtimeBytes) + Double(perToken))
        let total = sat(Double(weightBytes) + Double(kv) + Double(act) + Double(runtime))
        let additional = sat(Double(kv) + Double(act) + Double(perToken) + (loaded ? 0 : Double(weightBytes + runtimeBytes)))
        var p = Plan(request: r, weightBytes: weightBytes, kvCacheBytes: kv, activationBytes: act, runtimeBytes: runtime,
                     totalBytes: total, additionalBytes: additional, availableBytes: Memory.available(), kvDType: kvDType)
        if let rt = rates { estimateTime(&p, config: c, weightBytes: weightBytes, stream: decodeStream, rates: rt) }
        return p
    }

    /// A byte count computed in Double, capped well below Int.max (sums of such caps stay finite).
    static func sat(_ x: Double) -> Int { x >= 1e17 ? Int(1e17) : Int(max(0, x)) }

    /// The plan of `request` on a live model (its stored weights, its default KV cache dtype).
    public static func plan(model m: LlamaModel, request r: PlanRequest, rates: PlanRates? = nil) -> Plan {
        var trainable = 0
        for l in m.layers { for lin in l.linears { if let a = lin.lora { trainable += (a.A.count + a.B.count) * 4 } } }
        return plan(config: m.config, weightBytes: m.weightBytes, kvDType: m.defaultCacheDType, request: r,
                    trainableBytes: trainable, loaded: true, rates: rates, decodeStream: decodeStreamBytes(m))
    }

    /// Throws `MemoryError` naming `what` and the plan when the plan does not fit.
    public static func require(_ p: Plan, _ what: String) throws {
        guard let a = p.availableBytes, p.additionalBytes > a else { return }
        _ = a
        try Memory.require(p.additionalBytes, "\(what) (planned peak \(Memory.format(p.totalBytes)): weights \(Memory.format(p.weightBytes)) and runtime held, KV cache \(Memory.format(p.kvCacheBytes)) \(p.kvDType.rawValue) + activations \(Memory.format(p.activationBytes)) to allocate)")
    }

    // MARK: time

    /// FLOPs of the projections for one token (2 per weight) and of the lm_head for one logit row.
    static func projectionFlopsPerToken(_ c: LlamaConfig) -> (layers: Double, head: Double) {
        let C = Double(c.hiddenSize), I = Double(c.intermediateSize)
        let qd = Double(c.numAttentionHeads * c.headDim), kvd = Double(c.numKeyValueHeads * c.headDim)
        let perLayer = 2 * (C * qd * 2 + C * kvd * 2 + 3 * C * I)
        return (perLayer * Double(c.numHiddenLayers), 2 * C * Double(c.vocabSize))
    }

    /// FLOPs of causal attention for `n` queries at positions start..<start+n, over all layers.
    static func attentionFlops(_ c: LlamaConfig, start: Int, n: Int) -> Double {
        let pairs = Double(n) * Double(start) + Double(n) * Double(n + 1) / 2
        return pairs * 4 * Double(c.numAttentionHeads * c.headDim) * Double(c.numHiddenLayers)
    }

    /// Bytes a decode step streams: the layers' weights (not the embedding table, of which it
    /// reads one row) and the lm_head's.
    static func decodeStreamBytes(_ m: LlamaModel) -> (layers: Double, head: Double) {
        let head = m.lmHead.value.count * m.lmHead.value.dtype.size
        let embed = m.embedTokens.value.count * m.embedTokens.value.dtype.size
        let layers = m.weightBytes - embed - (m.lmHead === m.embedTokens ? 0 : head)
        return (Double(max(0, layers)), Double(head))
    }

    static func estimateTime(_ p: inout Plan, config c: LlamaConfig, weightBytes: Int, stream: (layers: Double, head: Double)?,
                             rates r: PlanRates) {
        let q = p.request, T = Double(max(0, q.tokens))
        let (layerF, headF) = projectionFlopsPerToken(c)
        let rows = Double(q.logitRows ?? (q.kind == .eval ? q.tokens : 1))
        // without the model: an f32 head, untied (the embedding table is not streamed)
        let headB = 4 * Double(c.vocabSize * c.hiddenSize)
        let s = stream ?? (max(0, Double(weightBytes) - 2 * headB), headB)
        // a few logit rows stream the head once each (as decoding); a block of rows is a product
        let headSeconds = rows <= 4 ? rows * s.head / (r.decodeHeadBytes ?? r.decodeBytes)
                                    : rows * headF / (r.headFlops ?? r.projectionFlops)
        let projSeconds = T * layerF / r.projectionFlops + headSeconds
        let attnSeconds = attentionFlops(c, start: 0, n: q.tokens) / r.attentionFlops
        p.rateSource = "calibrated \(r.measuredAt)"
        switch q.kind {
        case .eval, .generate:
            p.prefillSeconds = projSeconds + attnSeconds
            if q.generate > 0 {
                let kvPerPos = Double(2 * c.numHiddenLayers * c.numKeyValueHeads * c.headDim * p.kvDType.size)
                let meanContext = T + Double(q.generate) / 2
                p.decodeSeconds = Double(q.generate) * ((s.layers + kvPerPos * meanContext) / r.decodeBytes
                                                        + s.head / (r.decodeHeadBytes ?? r.decodeBytes))
            }
        case .train:
            // forward + backward: about 3x the forward's FLOPs (4x with checkpointing's recompute)
            let factor = q.checkpointing ? 4.0 : 3.0
            p.trainSeconds = factor * (T * layerF / r.projectionFlops + T * headF / (r.headFlops ?? r.projectionFlops) + attnSeconds)
                * Double(max(1, q.sequences))
        }
    }

    static func formatDuration(_ s: Double) -> String {
        if s < 90 { return String(format: "%.0f s", s) }
        if s < 5400 { return String(format: "%.0f min", s / 60) }
        return String(format: "%.1f h", s / 3600)
    }

    // MARK: calibration

    nonisolated(unsafe) static var memo: [String: PlanRates] = [:]
    static let lock = NSLock()

    /// The cache key of a shape on this machine: CPU model, threads, layer shape, weight and
    /// cache storage (not the layer count or vocabulary: rates are per FLOP and per byte).
    static func key(_ m: LlamaModel) -> String {
        let c = m.config
        let lin = m.layers.first?.qProj
        let w = lin?.nf4 != nil ? "nf4" : (lin?.weight?.value.dtype.rawValue ?? "f32")
        return "\(cpuModel())|t\(Parallel.threads)|h\(c.hiddenSize)-i\(c.intermediateSize)-q\(c.numAttentionHeads)-kv\(c.numKeyValueHeads)-d\(c.headDim)|\(w)|kv-\(m.defaultCacheDType.rawValue)|head-\(m.lmHead.value.dtype.rawValue)"
    }

    static func cpuModel() -> String {
        guard let s = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "cpu" }
        for line in s.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "cpu"
        }
        return "cpu"
    }

    static var cachePath: String {
        let env = ProcessInfo.processInfo.environment
        if let p = env["LLX_CALIBRATION"] { return p }
        let base = env["XDG_CACHE_HOME"] ?? ((env["HOME"] ?? NSTemporaryDirectory()) + "/.cache")
        return base + "/llx/calibration.json"
    }

    static func readCache() -> [String: PlanRates] {
        guard let d = FileManager.default.contents(atPath: cachePath),
              let m = try? JSONDecoder().decode([String: PlanRates].self, from: d) else { return [:] }
        // entries from before the head was timed apart are measured again
        return m.filter { $0.value.headFlops != nil && $0.value.decodeHeadBytes != nil }
    }

    static func writeCache(_ k: String, _ r: PlanRates) {
        var m = readCache()
        m[k] = r
        let path = cachePath
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let d = try? enc.encode(m) { try? d.write(to: URL(fileURLWithPath: path), options: .atomic) }
    }

    /// The rates of `m`'s shape on this machine: from this session, the calibration file, or
    /// measured now on one layer of the model (a chunk of `rows` tokens at context 0 and at
    /// `context`, then `steps` decode steps) when `measure` is set; nil otherwise.
    public static func rates(for m: LlamaModel, measure: Bool = true, rows: Int = 128, context: Int = 2048, steps: Int = 8) throws -> PlanRates? {
        let k = key(m)
        lock.lock()
        if let r = memo[k] { lock.unlock(); return r }
        lock.unlock()
        if let r = readCache()[k] { lock.lock(); memo[k] = r; lock.unlock(); return r }
        guard measure else { return nil }
        let r = try calibrate(m, rows: rows, context: context, steps: steps)
        lock.lock(); memo[k] = r; lock.unlock()
        writeCache(k, r)
        return r
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Measures the rates on a one-layer model sharing `m`'s first layer, embedding and head.
    public static func calibrate(_ m: LlamaModel, rows: Int = 128, context: Int = 2048, steps: Int = 8) throws -> PlanRates {
        guard let layer = m.layers.first else { throw LlamaError.argument("plan: the model has no layers") }
        var c1 = m.config
        c1.numHiddenLayers = 1
        let one = LlamaModel(config: c1, embedTokens: m.embedTokens, layers: [layer], norm: m.norm,
                             lmHead: m.lmHead === m.embedTokens ? nil : m.lmHead)
        var rng = SplitMix64(seed: 7)
        let ids = (0..<rows).map { _ in Int(rng.next() % UInt64(c1.vocabSize)) }
        // the head alone for one row (as a decode step or a prompt's last logits: streamed once)
        let x = [Float](repeating: 0.01, count: c1.hiddenSize)
        var logits = [Float](repeating: 0, count: c1.vocabSize)
        var headStep = 0.0
        x.withUnsafeBufferPointer { xp in
            logits.withUnsafeMutableBufferPointer { lp in
                one.headForward(xp.baseAddress!, rows: 1, out: lp.baseAddress!)
                let t0 = now()
                for _ in 0..<max(1, steps) { one.headForward(xp.baseAddress!, rows: 1, out: lp.baseAddress!) }
                headStep = (now() - t0) / Double(max(1, steps))
            }
        }
        // context 0, the last row's logits (the layer, as a prompt's prefill), then every row's
        // (the difference is the head over rows - 1 rows, as perplexity's)
        let cache = one.makeCache(capacity: context + rows + steps + 1)
        var best0 = Double.infinity, bestAll = Double.infinity
        for _ in 0..<2 {
            cache.reset()
            var t0 = now()
            try one.prefill(ids, cache: cache, chunk: rows, logitsFrom: rows - 1) { _, _, _ in }
            best0 = min(best0, now() - t0)
            cache.reset()
            t0 = now()
            try one.prefill(ids, cache: cache, chunk: rows, logitsFrom: 0) { _, _, _ in }
            bestAll = min(bestAll, now() - t0)
        }
        let (layerF, headF) = projectionFlopsPerToken(c1)
        let attn0 = attentionFlops(c1, start: 0, n: rows)
        let projFlops = Double(rows) * layerF
        let headRate = Double(rows - 1) * headF / max(bestAll - best0, bestAll * 0.05)
        // at a filled context (the cache's contents do not change the time: zeros)
        cache.reset()
        let bytes = context * cache.rowWidth * cache.dtype.size
        cache.k[0].initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        cache.v[0].initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        cache.advance(context)
        var best1 = Double.infinity
        for _ in 0..<2 {
            cache.truncate(to: context)
            let t0 = now()
            try one.prefill(ids, cache: cache, chunk: rows, logitsFrom: rows - 1) { _, _, _ in }
            best1 = min(best1, now() - t0)
        }
        let attn1 = attentionFlops(c1, start: context, n: rows)
        // projections take best0 minus their small attention share; the extra time at context is attention
        // on a busy machine the context run can come out no slower than the context-0 one (noise):
        // attention is then bounded by the projections' rate (it never ran faster here), not free
        let projBound = projFlops / max(best0 - headStep, best0 * 0.5)
        let attnRate = min(max(attn1 - attn0, 1) / max(best1 - best0, 1e-4), projBound)
        let projRate = projFlops / max(best0 - attn0 / attnRate - headStep, best0 * 0.5)
        // decode: one layer's weights and the KV cache at `context`, and the head, streamed per
        // step (not the embedding table: one row of it is read); the head timed alone too
        cache.truncate(to: context)
        _ = try one.decodeStep(ids[0], cache: cache)
        let t0 = now()
        for i in 0..<steps { _ = try one.decodeStep(ids[i % rows], cache: cache) }
        let perStep = (now() - t0) / Double(max(1, steps))
        let stream = decodeStreamBytes(one)
        let kvBytes = Double(2 * (context + steps) * cache.rowWidth * cache.dtype.size)
        let stamp = ISO8601DateFormatter().string(from: Date())
        return PlanRates(projectionFlops: projRate, attentionFlops: attnRate,
                         decodeBytes: (stream.layers + kvBytes) / max(perStep - headStep, perStep * 0.05),
                         headFlops: headRate, decodeHeadBytes: stream.head / max(headStep, 1e-6), measuredAt: stamp)
    }
}
