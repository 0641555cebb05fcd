// Neural-network ops on Tensors, differentiable: softmax / log-softmax over an axis, chunked
// cross-entropy, RMSNorm, SwiGLU, RoPE (HF rotate-half), embedding and causal GQA flash attention.
// Forward work runs in the raw kernels (Kernels/); the backward rules are in Gradients.swift.
import Foundation

/// How a loss over rows is reduced (torch's `reduction`): the mean over the counted rows, their
/// sum, or one loss per row.
public enum Reduction: String, Sendable {
    case mean, sum, none
}

extension Tensor {
    /// Moves `axis` last and returns a contiguous f32 copy plus the permutation used (nil if none).
    func axisLast(_ axis: Int) throws -> (Tensor, [Int]?) {
        let a = try Shape.axis(axis, rank: rank, "axis")
        if a == rank - 1 || rank == 0 { return (toF32(), nil) }
        var p = Array(0..<rank); p.remove(at: a); p.append(a)
        let v = Autograd.noGrad { (try? permute(p)) ?? self }
        return (v.contiguousF32Copy(), p)
    }

    static func inversePermutation(_ p: [Int]) -> [Int] {
        var inv = [Int](repeating: 0, count: p.count)
        for (i, d) in p.enumerated() { inv[d] = i }
        return inv
    }

    /// Row-wise softmax (log = false) or log-softmax over the last dim of a contiguous f32 tensor.
    static func softmaxRows(_ x: Tensor, log: Bool) -> Tensor {
        let n = x.shape.last ?? 1, rows = n == 0 ? 0 : x.count / n
        let out = empty(x.shape)
        let px = x.storage.bytes.assumingMemoryBound(to: Float.self) + x.offset
        let po = out.storage.bytes.assumingMemoryBound(to: Float.self)
        Parallel.forRanges(rows, grain: Swift.max(1, 16384 / Swift.max(1, n))) { r in
            for i in r {
                let src = px + i * n, dst = po + i * n
                let m = Vec.max(src, n)
                if m == -.infinity || m.isNaN {   // all -inf or NaN: torch gives NaN
                    dst.update(repeating: m.isNaN ? .nan : (log ? .nan : .nan), count: n); continue
                }
                dst.update(from: src, count: n)
                let s = Double(Vec.expShiftSum(dst, n, shift: m))
                if log {
                    let lse = m + Float(Foundation.log(s))
                    for j in 0..<n { dst[j] = src[j] - lse }
                } else {
                    Vec.scale(dst, Float(1 / s), n)
                }
            }
        }
        return out
    }

    /// softmax along `axis` (default last).
    public func softmax(axis: Int = -1) throws -> Tensor {
        let (x, p) = try axisLast(axis)
        var y = Tensor.softmaxRows(x, log: false)
        if let p = p { y = try Autograd.noGrad { try y.permute(Tensor.inversePermutation(p)).contiguousF32Copy() } }
        let ax = try Shape.axis(axis, rank: rank)
        return Tensor.record(y, .softmax(axis: ax), [self])
    }

    /// log(softmax) along `axis` (default last), computed stably.
    public func logSoftmax(axis: Int = -1) throws -> Tensor {
        let (x, p) = try axisLast(axis)
        var y = Tensor.softmaxRows(x, log: true)
        if let p = p { y = try Autograd.noGrad { try y.permute(Tensor.inversePermutation(p)).contiguousF32Copy() } }
        let ax = try Shape.axis(axis, rank: rank)
        return Tensor.record(y, .logSoftmax(axis: ax), [self])
    }

    /// Rows rows of ids from an integer (or integral float) tensor, validated against 0..<limit.
    static func idList(_ t: Tensor, _ what: String) throws -> [Int] {
        if t.dtype.isFloatingPoint {
            let f = t.floats()
            for v in f where v != v.rounded() || !(Swift.abs(v) < 9.0e15) { throw TensorError.value("\(what): \(v) is not an integer id") }
            return f.map { Int($0) }
        }
        return t.ints()
    }

    /// Mean (or sum, or per-row with reduction `.none`) cross-entropy of `logits` [..., V] against
    /// integer `targets` [...]; rows whose target is `ignoreIndex` do not count (HF/torch
    /// convention). The forward works `chunkRows` rows at a time and keeps no probability table;
    /// the backward builds d logits chunk by chunk.
    public static func crossEntropy(_ logits: Tensor, _ targets: Tensor, ignoreIndex: Int = -100,
                                    reduction: Reduction = .mean, chunkRows: Int = 1024) throws -> Tensor {
        guard logits.rank >= 1, let V = logits.shape.last else { throw TensorError.shape("cross_entropy: logits need a vocabulary dim") }
        let rows = logits.count / Swift.max(1, V)
        guard Array(logits.shape.dropLast()) == targets.shape || (targets.count == rows && targets.rank == 1) else {
            throw TensorError.shape("cross_entropy: targets shape \(targets.shape) does not match logits \(logits.shape) without the last dim")
        }
        let t = try idList(targets, "cross_entropy targets")
        for (i, v) in t.enumerated() where v != ignoreIndex && (v < 0 || v >= V) {
            throw TensorError.index("cross_entropy: target \(v) at row \(i) is outside 0..<\(V)")
        }
        let mapped = t.map { $0 == ignoreIndex ? Kernels.ignoreIndex : $0 }
        let z = logits.toF32()
        let pz = z.storage.bytes.assumingMemoryBound(to: Float.self) + z.offset
        var losses = [Float](repeating: 0, count: rows)
        let chunk = Swift.max(1, chunkRows)
        try mapped.withUnsafeBufferPointer { tp in
            try losses.withUnsafeMutableBufferPointer { lp in
                var r0 = 0
                while r0 < rows {
                    let nr = Swift.min(chunk, rows - r0)
                    try Kernels.crossEntropyRows(logits: pz + r0 * V, targets: tp.baseAddress! + r0, losses: lp.baseAddress! + r0,
                                                 dlogits: nil, n: nr, vocab: V)
                    r0 += nr
                }
            }
        }
        let counted = mapped.filter { $0 != Kernels.ignoreIndex }.count
        let out: Tensor
        switch reduction {
        case .none: out = Tensor(shape: Array(logits.shape.dropLast()), floats: losses)
        case .sum: out = .scalar(Float(losses.reduce(0.0) { $0 + Double($1) }))
        case .mean: out = .scalar(counted == 0 ? .nan : Float(losses.reduce(0.0) { $0 + Double($1) } / Double(counted)))
        }
        return record(out, .crossEntropy(targets: mapped, reduction: reduction, counted: counted, chunkRows: chunk), [logits])
    }

    /// Hugging Face LlamaRMSNorm over the last dim: x * rsqrt(mean(x^2) + eps) * weight.
    public static func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float = 1e-6) throws -> Tensor {
        guard let dim = x.shape.last, weight.shape == [dim] else {
            throw TensorError.shape("rms_norm: weight shape \(weight.shape) must be [\(x.shape.last ?? 0)] for input \(x.shape)")
        }
        let X = x.toF32(), W = weight.toF32()
        let rows = dim == 0 ? 0 : x.count / dim
        let out = empty(x.shape)
        var rstd = [Float](repeating: 0, count: rows)
        Kernels.rmsNormForward(x: X.floatPointer, weight: W.floatPointer, out: out.floatPointer, rstd: &rstd, rows: rows, dim: dim, eps: eps)
        return record(out, .rmsNorm(rstd: rstd), [x, weight])
    }

    /// silu(gate) * up.
    public static func swiglu(_ gate: Tensor, _ up: Tensor) throws -> Tensor {
        guard gate.shape == up.shape else { throw TensorError.shape("swiglu: gate \(gate.shape) and up \(up.shape) differ") }
        let G = gate.toF32(), U = up.toF32()
        let out = empty(gate.shape)
        Kernels.swigluForward(gate: G.floatPointer, up: U.floatPointer, out: out.floatPointer, n: out.count)
        return record(out, .swiglu, [gate, up])
    }

    /// Rotary embedding of x [T, heads, headDim] or [B, T, heads, headDim] at `positions` (T of them),
    /// HF rotate-half convention, any inverse-frequency vector (headDim / 2 values).
    public static func rope(_ x: Tensor, positions: [Int], invFreq: [Float], attentionScaling: Float = 1) throws -> Tensor {
        guard x.rank == 3 || x.rank == 4 else { throw TensorError.shape("rope: x must be [T, heads, headDim] or [B, T, heads, headDim], got \(x.shape)") }
        let T = x.shape[x.rank - 3], H = x.shape[x.rank - 2], D = x.shape[x.rank - 1]
        guard D == 2 * invFreq.count else { throw TensorError.shape("rope: head dim \(D) needs \(D / 2) inverse frequencies, got \(invFreq.count)") }
        guard positions.count == T else { throw TensorError.shape("rope: \(positions.count) positions for \(T) tokens") }
        let (c, s) = Kernels.ropeTables(positions: positions, invFreq: invFreq, attentionScaling: attentionScaling)
        let out = x.toF32().clone()
        let B = x.rank == 4 ? x.shape[0] : 1
        c.withUnsafeBufferPointer { cp in s.withUnsafeBufferPointer { sp in
            for b in 0..<B {
                Kernels.ropeApply(x: out.floatPointer + b * T * H * D, cos: cp.baseAddress!, sin: sp.baseAddress!, T: T, heads: H, headDim: D)
            }
        } }
        return record(out, .rope(cos: c, sin: s), [x])
    }

    /// Rows of `table` [V, D] at integer `ids` (any shape) -> [ids..., D].
    public static func embedding(_ table: Tensor, _ ids: Tensor) throws -> Tensor {
        guard table.rank == 2 else { throw TensorError.shape("embedding: table must be [vocab, dim], got \(table.shape)") }
        let V = table.shape[0], D = table.shape[1]
        let idv = try idList(ids, "embedding ids")
        let W = table.toF32()
        let out = empty(ids.shape + [D])
        try idv.withUnsafeBufferPointer { ip in
            try Kernels.embeddingForward(table: W.floatPointer, vocab: V, ids: ip.baseAddress!, n: idv.count, out: out.floatPointer, dim: D)
        }
        return record(out, .embedding(ids: idv), [table])
    }

    /// Causal grouped-query attention (FlashAttention-style tiles): q [Tq, Hq, D], k and v
    /// [Tk, Hkv, D] (or with a leading batch dim); query i sits at position Tk - Tq + i.
    /// scale defaults to 1/sqrt(D).
    public static func attention(_ q: Tensor, _ k: Tensor, _ v: Tensor, scale: Float? = nil) throws -> Tensor {
        guard (q.rank == 3 || q.rank == 4), k.rank == q.rank, v.shape == k.shape else {
            throw TensorError.shape("attention: q \(q.shape), k \(k.shape), v \(v.shape) must be [T, heads, D] (or [B, T, heads, D]) with k and v alike")
        }
        let r = q.rank
        let B = r == 4 ? q.shape[0] : 1
        guard r == 3 || k.shape[0] == B else { throw TensorError.shape("attention: batch \(B) vs \(k.shape[0])") }
        let Tq = q.shape[r - 3], Hq = q.shape[r - 2], D = q.shape[r - 1]
        let Tk = k.shape[r - 3], Hkv = k.shape[r - 2]
        guard k.shape[r - 1] == D else { throw TensorError.shape("attention: head dims differ: q \(D), k \(k.shape[r - 1])") }
        try Kernels.checkAttention(Tq, Tk, Hq, Hkv, D)
        let sc = scale ?? 1 / Float(D).squareRoot()
        let Q = q.toF32(), K = k.toF32(), Vv = v.toF32()
        let out = empty(q.shape)
        let lse = empty([B, Hq, Tq])
        for b in 0..<B {
            try Kernels.attentionForward(q: Q.floatPointer + b * Tq * Hq * D, k: K.floatPointer + b * Tk * Hkv * D,
                                         v: Vv.floatPointer + b * Tk * Hkv * D, out: out.floatPointer + b * Tq * Hq * D,
                                         lse: lse.floatPointer + b * Hq * Tq, Tq: Tq, Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, scale: sc)
        }
        return record(out, .attention(scale: sc, lse: lse), [q, k, v])
    }
}
