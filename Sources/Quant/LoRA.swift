// LoRA: a low-rank adapter on a Linear with PEFT's semantics (peft 0.21, tuners/lora/layer.py):
//   y = base(x) + scale · B(A(dropout(x))),   A [r, in], B [out, r]
//   scale = lora_alpha / r   (lora_alpha / sqrt(r) with use_rslora)
// Init as PEFT's reset_lora_parameters(init_lora_weights=True): A ~ kaiming_uniform_(a=sqrt(5)),
// i.e. U(-1/sqrt(in), 1/sqrt(in)); B = 0. Dropout (inverted, p = lora_dropout) acts on the LoRA
// input only and only while the layer is in training mode.
//
// Randomness is llx's own (not torch's): A's init comes from a generator seeded by (seed, module
// name), so one seed gives every layer a different A; dropout masks are a counter-based hash of
// (dropoutSeed, step, element), so backward regenerates the mask of the latest forward without
// storing it. Each training forward advances `dropoutStep`; set it back to recompute a forward
// (gradient checkpointing) with the same mask.
import Foundation
import Tensor
import NN

public final class LoRA {
    /// Module path of the wrapped Linear, e.g. "model.layers.0.self_attn.q_proj".
    public let module: String
    public let inFeatures: Int
    public let outFeatures: Int
    public let rank: Int
    public let alpha: Double
    public let dropout: Float
    public let useRSLoRA: Bool
    /// alpha / r, or alpha / sqrt(r) with rsLoRA (as float32).
    public let scale: Float
    /// lora_A [r, in], named "base_model.model.<module>.lora_A.weight".
    public let A: Parameter
    /// lora_B [out, r], named "base_model.model.<module>.lora_B.weight".
    public let B: Parameter
    public var dropoutSeed: UInt64
    /// Counter of training forwards (selects the dropout mask).
    public var dropoutStep: UInt64 = 0
    /// The step whose mask the next backward uses (that of the latest training forward).
    private var lastStep: UInt64 = 0

    public init(module: String, inFeatures: Int, outFeatures: Int, rank: Int, alpha: Double,
                dropout: Float = 0, useRSLoRA: Bool = false, seed: UInt64 = 0) throws {
        guard rank > 0 else { throw QuantError.value("LoRA \(module): rank \(rank) must be positive") }
        guard inFeatures > 0, outFeatures > 0 else { throw QuantError.shape("LoRA \(module): invalid features \(inFeatures) x \(outFeatures)") }
        guard alpha.isFinite else { throw QuantError.value("LoRA \(module): lora_alpha \(alpha) is not finite") }
        guard dropout >= 0, dropout < 1 else { throw QuantError.value("LoRA \(module): lora_dropout \(dropout) must be in [0, 1)") }
        try Memory.require(shape: [rank, inFeatures + outFeatures], dtype: .f32, "LoRA \(module) of rank \(rank)")
        self.module = module
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.useRSLoRA = useRSLoRA
        self.scale = Float(useRSLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank))
        let a = Tensor(zeros: [rank, inFeatures])
        var rng = SplitMix64(seed: seed ^ LoRA.fnv1a(module))
        let bound = 1 / Double(inFeatures).squareRoot()
        let pa = a.floatPointer
        for i in 0..<(rank * inFeatures) { pa[i] = Float((rng.nextUnit() * 2 - 1) * bound) }
        self.A = Parameter(name: PEFT.loraKey(module: module, matrix: .A), value: a, trainable: true)
        self.B = Parameter(name: PEFT.loraKey(module: module, matrix: .B), value: Tensor(zeros: [outFeatures, rank]), trainable: true)
        self.dropoutSeed = rng.next()
    }

    /// Replaces A [r, in] and B [out, r] (e.g. from a PEFT adapter file).
    public func load(A a: Tensor, B b: Tensor) throws {
        guard a.shape == [rank, inFeatures] else {
            throw QuantError.shape("LoRA \(module): lora_A shape \(a.shape), expected [\(rank), \(inFeatures)]")
        }
        guard b.shape == [outFeatures, rank] else {
            throw QuantError.shape("LoRA \(module): lora_B shape \(b.shape), expected [\(outFeatures), \(rank)]")
        }
        guard a.dtype.isFloatingPoint, b.dtype.isFloatingPoint else { throw QuantError.value("LoRA \(module): A and B must be float tensors") }
        A.value = a.to(.f32).contiguous()
        B.value = b.to(.f32).contiguous()
        A.grad = nil; B.grad = nil
    }

    /// w[out, in] += scale · B·A.
    public func addDelta(into w: UnsafeMutablePointer<Float>) {
        BLAS.sgemm(m: outFeatures, n: inFeatures, k: rank, alpha: scale,
                   a: B.value.floatPointer, lda: rank, b: A.value.floatPointer, ldb: inFeatures,
                   beta: 1, c: w, ldc: inFeatures)
    }

    // MARK: forward / backward (called by Linear)

    private func dropoutActive(_ training: Bool) -> Bool { training && dropout > 0 }

    /// h = dropout(x) with the mask of `step` (inverted scaling 1 / (1 - p)).
    private func applyDropout(_ x: UnsafePointer<Float>, rows: Int, step: UInt64, into h: UnsafeMutablePointer<Float>) {
        let n = rows * inFeatures
        let p = dropout, keepScale = 1 / (1 - dropout)
        let key = dropoutSeed &+ step &* 0x9E37_79B9_7F4A_7C15
        Parallel.forRanges(n, grain: 65536) { r in
            for i in r {
                let u = SplitMix64.unit(key ^ UInt64(i))
                h[i] = u < p ? 0 : x[i] * keepScale
            }
        }
    }

    func forward(_ x: UnsafePointer<Float>, rows: Int, out: UnsafeMutablePointer<Float>, training: Bool) {
        let u = ScratchPool.take(rows * rank)
        defer { ScratchPool.give(u) }
        if dropoutActive(training) {
            lastStep = dropoutStep
            dropoutStep &+= 1
            let h = ScratchPool.take(rows * inFeatures)
            defer { ScratchPool.give(h) }
            applyDropout(x, rows: rows, step: lastStep, into: h.pointer)
            project(UnsafePointer(h.pointer), rows: rows, u: u.pointer)
        } else {
            project(x, rows: rows, u: u.pointer)
        }
        // out += scale · u · Bᵀ
        BLAS.sgemm(transB: true, m: rows, n: outFeatures, k: rank, alpha: scale,
                   a: u.pointer, lda: rank, b: B.value.floatPointer, ldb: rank,
                   beta: 1, c: out, ldc: outFeatures)
    }

    /// u[rows, r] = h · Aᵀ
    private func project(_ h: UnsafePointer<Float>, rows: Int, u: UnsafeMutablePointer<Float>) {
        BLAS.sgemm(transB: true, m: rows, n: rank, k: inFeatures,
                   a: h, lda: inFeatures, b: A.value.floatPointer, ldb: inFeatures,
                   beta: 0, c: u, ldc: rank)
    }

    func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int, dx: UnsafeMutablePointer<Float>?, training: Bool) {
        let drop = dropoutActive(training)
        var hBuf: ScratchPool.Buffer? = nil
        var h = x
        if drop {
            let b = ScratchPool.take(rows * inFeatures)
            applyDropout(x, rows: rows, step: lastStep, into: b.pointer)
            h = UnsafePointer(b.pointer)
            hBuf = b
        }
        defer { if let b = hBuf { ScratchPool.give(b) } }
        let u = ScratchPool.take(rows * rank), du = ScratchPool.take(rows * rank)
        defer { ScratchPool.give(u); ScratchPool.give(du) }
        project(h, rows: rows, u: u.pointer)
        if B.trainable {
            // dB[out, r] += scale · dyᵀ · u
            BLAS.sgemm(transA: true, m: outFeatures, n: rank, k: rows, alpha: scale,
                       a: dy, lda: outFeatures, b: u.pointer, ldb: rank,
                       beta: 1, c: B.ensureGrad().floatPointer, ldc: rank)
        }
        // du[rows, r] = scale · dy · B
        BLAS.sgemm(m: rows, n: rank, k: outFeatures, alpha: scale,
                   a: dy, lda: outFeatures, b: B.value.floatPointer, ldb: rank,
                   beta: 0, c: du.pointer, ldc: rank)
        if A.trainable {
            // dA[r, in] += duᵀ · h
            BLAS.sgemm(transA: true, m: rank, n: inFeatures, k: rows,
                       a: du.pointer, lda: rank, b: h, ldb: inFeatures,
                       beta: 1, c: A.ensureGrad().floatPointer, ldc: inFeatures)
        }
        guard let dx = dx else { return }
        if !drop {
            // dx += du · A
            BLAS.sgemm(m: rows, n: inFeatures, k: rank,
                       a: du.pointer, lda: rank, b: A.value.floatPointer, ldb: inFeatures,
                       beta: 1, c: dx, ldc: inFeatures)
            return
        }
        // dx += (du · A) ⊙ mask / (1 - p): reuse the h buffer for du · A.
        guard let hb = hBuf else { return }
        let dh = hb.pointer
        BLAS.sgemm(m: rows, n: inFeatures, k: rank,
                   a: du.pointer, lda: rank, b: A.value.floatPointer, ldb: inFeatures,
                   beta: 0, c: dh, ldc: inFeatures)
        let n = rows * inFeatures
        let p = dropout, keepScale = 1 / (1 - dropout)
        let key = dropoutSeed &+ lastStep &* 0x9E37_79B9_7F4A_7C15
        Parallel.forRanges(n, grain: 65536) { r in
            for i in r where SplitMix64.unit(key ^ UInt64(i)) >= p { dx[i] += dh[i] * keepScale }
        }
    }

    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}
