// Causal grouped-query attention for training with a bf16 compute dtype, on the AMX tile unit:
// the matrix products take operands rounded to bf16 and sum in f32 (llx_sbgemm), as torch's
// attention does under autocast bf16 (q, k, v, the probabilities P, dO and dS in bf16, f32
// accumulation); the softmax and its gradient run in f32. For the short sequences of small-model
// training the scores of one head are materialized ([T, T] f32 per worker, T <= attentionBF16MaxT)
// instead of FlashAttention's tiles: each product is then one call on whole matrices, and the
// tile unit does the work that TileGEMM's f32 kernels did. Work items are (sequence, head)
// pairs of a whole packed batch, each on one thread (single-threaded products), handed out
// dynamically.
//
// Layouts as Attention.swift: per sequence s (rows segments[s] of the packed batch) q, out, dout,
// dq: [T, Hq, D]; k, v, dk, dv: [T, Hkv, D]; lse: [Hq, T] at lse + Hq * segments[s].lowerBound.
// Query i attends to keys 0...i of its own sequence.
import CKernels
import Foundation

extension Kernels {
    /// Longest sequence the bf16 attention takes (its scratch is 2 T x T f32 per worker).
    nonisolated(unsafe) public static var attentionBF16MaxT = 1024
    /// Query rows per block: a block's products stop at its last row's keys (the causal mask).
    nonisolated(unsafe) public static var causalBlock = 64

    /// Whether attentionForwardBF16 / attentionBackwardBF16 run for sequences up to `longest`:
    /// products in bf16 (BLAS.bf16Compute) on the tile unit, head_dim at least 32.
    public static func attentionBF16Applies(longest: Int, D: Int) -> Bool {
        BLAS.bf16Compute && BLAS.bf16OnAMX && longest <= attentionBF16MaxT && D >= 32
    }

    /// out and lse of attentionForward, for every sequence of a packed batch, with bf16 products.
    public static func attentionForwardBF16(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                            out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                                            segments: [Range<Int>], Hq: Int, Hkv: Int, D: Int, scale: Float) throws {
        for r in segments { try checkAttention(r.count, r.count, Hq, Hkv, D) }
        let Tmax = segments.map(\.count).max() ?? 0
        if Tmax == 0 { return }
        let group = Hq / Hkv, ldq = Hq * D, ldk = Hkv * D
        let items = segments.count * Hq
        let W = Parallel.workerCount(items)
        let per = Tmax * Tmax
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: W * per)
        defer { scratch.deallocate() }
        Parallel.forDynamic(items) { w, item in
            let r = segments[item / Hq], h = item % Hq, kvh = h / group
            let s0 = r.lowerBound, T = r.count
            if T == 0 { return }
            let S = scratch + w * per
            let qh = q + s0 * ldq + h * D, kh = k + s0 * ldk + kvh * D, vh = v + s0 * ldk + kvh * D
            let lh = lse + Hq * s0 + h * T
            // by blocks of query rows [b0, b1), which see keys 0..<b1 only (the causal mask)
            var b0 = 0
            while b0 < T {
                let b1 = Swift.min(T, b0 + causalBlock)
                // S rows (b1 - b0, b1) = scale * Q Kᵀ
                llx_sbgemm(0, 1, b1 - b0, b1, D, scale, qh + b0 * ldq, ldq, kh, ldk, 0, S + b0 * T, T)
                // P = causal softmax of each row; lse = max + log(sum)
                for i in b0..<b1 {
                    let row = S + i * T, n = i + 1
                    let m = Vec.max(row, n)
                    let sum = Vec.expShiftSum(row, n, shift: m)
                    Vec.scale(row, 1 / sum, n)
                    if n < b1 { (row + n).update(repeating: 0, count: b1 - n) }
                    lh[i] = m + Foundation.log(sum)
                }
                // out rows (b1 - b0, D) = P V
                llx_sbgemm(0, 0, b1 - b0, D, b1, 1, S + b0 * T, T, vh, ldk, 0, out + (s0 + b0) * ldq + h * D, ldq)
                b0 = b1
            }
        }
    }

    /// dq, dk, dv of attentionBackward (overwritten), for every sequence of a packed batch, with
    /// bf16 products. out and lse are attentionForwardBF16's.
    public static func attentionBackwardBF16(dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                             v: UnsafePointer<Float>, out: UnsafePointer<Float>, lse: UnsafePointer<Float>,
                                             dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                             dv: UnsafeMutablePointer<Float>,
                                             segments: [Range<Int>], Hq: Int, Hkv: Int, D: Int, scale: Float) throws {
        for r in segments { try checkAttention(r.count, r.count, Hq, Hkv, D) }
        let Tmax = segments.map(\.count).max() ?? 0
        if Tmax == 0 { return }
        let group = Hq / Hkv, ldq = Hq * D, ldk = Hkv * D
        // items: (sequence, key/value head); dk and dv rows belong to one item, summed over its
        // group's query heads
        let items = segments.count * Hkv
        let W = Parallel.workerCount(items)
        let per = 2 * Tmax * Tmax + Tmax
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: W * per)
        defer { scratch.deallocate() }
        Parallel.forDynamic(items) { w, item in
            let r = segments[item / Hkv], kvh = item % Hkv
            let s0 = r.lowerBound, T = r.count
            if T == 0 { return }
            let S = scratch + w * per, dP = S + Tmax * Tmax, delta = dP + Tmax * Tmax
            let kh = k + s0 * ldk + kvh * D, vh = v + s0 * ldk + kvh * D
            let dkh = dk + s0 * ldk + kvh * D, dvh = dv + s0 * ldk + kvh * D
            for g in 0..<group {
                let h = kvh * group + g
                let qh = q + s0 * ldq + h * D, doh = dout + s0 * ldq + h * D, oh = out + s0 * ldq + h * D
                let lh = lse + Hq * s0 + h * T
                for i in 0..<T { delta[i] = Vec.dot(doh + i * ldq, oh + i * ldq, D) }
                // by blocks of query rows [b0, b1), which see keys 0..<b1 only
                var b0 = 0
                while b0 < T {
                    let b1 = Swift.min(T, b0 + causalBlock)
                    // S = Q Kᵀ (unscaled), dP = dO Vᵀ
                    llx_sbgemm(0, 1, b1 - b0, b1, D, 1, qh + b0 * ldq, ldq, kh, ldk, 0, S + b0 * T, T)
                    llx_sbgemm(0, 1, b1 - b0, b1, D, 1, doh + b0 * ldq, ldq, vh, ldk, 0, dP + b0 * T, T)
                    // P = exp(scale * S - lse), dS = scale * P * (dP - delta); keys after the query 0
                    for i in b0..<b1 {
                        let row = S + i * T, drow = dP + i * T, n = i + 1
                        Vec.softmaxGradRow(p: row, dp: drow, lse: lh[i], delta: delta[i], scale: scale, n)
                        if n < b1 {
                            (row + n).update(repeating: 0, count: b1 - n)
                            (drow + n).update(repeating: 0, count: b1 - n)
                        }
                    }
                    // dq rows (b1 - b0, D) = dS K
                    llx_sbgemm(0, 0, b1 - b0, D, b1, 1, dP + b0 * T, T, kh, ldk, 0, dq + (s0 + b0) * ldq + h * D, ldq)
                    b0 = b1
                }
                // dk, dv rows of keys [b0, b1) (+)= dSᵀ Q, Pᵀ dO over the queries b0..<T that see them
                let beta: Float = g == 0 ? 0 : 1
                b0 = 0
                while b0 < T {
                    let b1 = Swift.min(T, b0 + causalBlock)
                    llx_sbgemm(1, 0, b1 - b0, D, T - b0, 1, dP + b0 * T + b0, T, qh + b0 * ldq, ldq, beta, dkh + b0 * ldk, ldk)
                    llx_sbgemm(1, 0, b1 - b0, D, T - b0, 1, S + b0 * T + b0, T, doh + b0 * ldq, ldq, beta, dvh + b0 * ldk, ldk)
                    b0 = b1
                }
            }
        }
    }
}
