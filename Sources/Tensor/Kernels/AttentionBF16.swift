// Causal grouped-query attention for training with a bf16 compute dtype, on the AMX tile unit
// (or, without AMX, with AVX512-BF16's vdpbf16ps: llx_sbgemm_dp_causal):
// the matrix products take operands rounded to bf16 and sum in f32 (llx_sbgemm), as torch's
// attention does under autocast bf16 (q, k, v, the probabilities P, dO and dS in bf16, f32
// accumulation); the softmax and its gradient run in f32. For the short sequences of small-model
// training the scores of one head are materialized ([T, T] f32 per worker, T <= attentionBF16MaxT)
// instead of FlashAttention's tiles: each product is then one call on whole matrices
// (llx_sbgemm_causal: 32-row blocks skip the keys after their last row), and the tile unit does
// the work that TileGEMM's f32 kernels did. Work items are (sequence, head)
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
    /// The products' causal granularity (llx_sbgemm_causal's 32-row blocks): row i's scores are
    /// computed up to key causalEnd(i) - 1, and zero past i.
    @inline(__always) static func causalEnd(_ i: Int, _ T: Int) -> Int { Swift.min(T, (i / 32 + 1) * 32) }

    /// Whether attentionForwardBF16 / attentionBackwardBF16 run for sequences up to `longest`:
    /// products in bf16 (BLAS.bf16Compute) on the tile unit, head_dim at least 32.
    public static func attentionBF16Applies(longest: Int, D: Int) -> Bool {
        BLAS.bf16Compute && (BLAS.bf16OnAMX || (BLAS.bf16OnDP && attentionBF16OnDP))
            && longest <= attentionBF16MaxT && D >= 32
    }

    /// Whether the bf16 attention also runs without AMX on AVX512-BF16 (llx_sbgemm_dp_causal).
    nonisolated(unsafe) public static var attentionBF16OnDP = getenv("LLX_ATTN_BF16_DP").map { String(cString: $0) } != "0"

    /// llx_sbgemm_causal on the tile unit, or its AVX512-BF16 twin (the same products) without it.
    @inline(__always)
    private static func causalProduct(_ causal: Int32, _ ta: Int32, _ tb: Int32, _ M: Int, _ N: Int, _ K: Int, _ alpha: Float,
                                      _ A: UnsafePointer<Float>, _ lda: Int, _ B: UnsafePointer<Float>, _ ldb: Int,
                                      _ beta: Float, _ C: UnsafeMutablePointer<Float>, _ ldc: Int) {
        if BLAS.bf16OnAMX {
            llx_sbgemm_causal(causal, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        } else {
            llx_sbgemm_dp_causal(causal, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        }
    }

    /// op(B) panels packed once for the heads of one key-value head (AVX512-BF16 only; on the
    /// tile unit each product packs its own): `pack` fills one, `product` multiplies by it.
    struct Panels {
        let onDP: Bool
        let base: UnsafeMutablePointer<UInt16>

        /// uint16 elements of a packed op(B) [K, N].
        static func elements(_ K: Int, _ N: Int) -> Int { PackedOperand.elements(rows: K, cols: N) }

        /// Packs op(B) [K, N] (B stored [N, K] when transB) into the panel at `at` (elements).
        func pack(_ at: Int, transB: Bool, K: Int, N: Int, _ B: UnsafePointer<Float>, _ ldb: Int) {
            if onDP { llx_sbgemm_pack_b(transB ? 1 : 0, N, K, B, ldb, base + at, 0, 1) }
        }

        /// causalProduct with op(B) the panel at `at` where it was packed, else from B itself.
        func product(_ at: Int, _ causal: Int32, _ ta: Int32, _ tb: Int32, _ M: Int, _ N: Int, _ K: Int, _ alpha: Float,
                     _ A: UnsafePointer<Float>, _ lda: Int, _ B: UnsafePointer<Float>, _ ldb: Int,
                     _ beta: Float, _ C: UnsafeMutablePointer<Float>, _ ldc: Int) {
            if onDP {
                llx_sbgemm_dp_causal_packed(causal, ta, M, N, K, alpha, A, lda, base + at, beta, C, ldc)
            } else {
                causalProduct(causal, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
            }
        }
    }

    /// Floats of scratch that hold `count` panels for sequences up to T tokens (head size D):
    /// each [T, D] or [D, T] either way round.
    static func panelFloats(_ count: Int, T: Int, D: Int) -> Int {
        (count * max(Panels.elements(D, T), Panels.elements(T, D)) + 1) / 2
    }

    /// The work of both passes after checking every sequence's shape: body(scratch, Tmax, s0,
    /// T, head) for each (sequence, head) item of the packed batch (`heads` items a sequence;
    /// empty sequences skipped), handed out dynamically, with `scratch(Tmax)` floats of its
    /// worker's own scratch (Tmax: the longest sequence).
    private static func forEachItem(segments: [Range<Int>], Hq: Int, Hkv: Int, D: Int, heads: Int,
                                    scratch perWorker: (Int) -> Int,
                                    _ body: (UnsafeMutablePointer<Float>, Int, Int, Int, Int) -> Void) throws {
        for r in segments { try checkAttention(r.count, r.count, Hq, Hkv, D) }
        let Tmax = segments.map(\.count).max() ?? 0
        if Tmax == 0 { return }
        let items = segments.count * heads
        let per = perWorker(Tmax)
        let bytes = Parallel.workerCount(items) * per * 4
        let scratch = Recycled.take(bytes).bindMemory(to: Float.self, capacity: bytes / 4)
        defer { Recycled.give(UnsafeMutableRawPointer(scratch), bytes) }
        Parallel.forDynamic(items) { w, item in
            let r = segments[item / heads]
            if r.isEmpty { return }
            body(scratch + w * per, Tmax, r.lowerBound, r.count, item % heads)
        }
    }

    /// out and lse of attentionForward, for every sequence of a packed batch, with bf16 products.
    public static func attentionForwardBF16(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                            out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                                            segments: [Range<Int>], Hq: Int, Hkv: Int, D: Int, scale: Float) throws {
        let ldq = Hq * D, ldk = Hkv * D
        let onDP = !BLAS.bf16OnAMX
        // items: (sequence, key/value head); its query heads share the packed Kᵀ and V
        try forEachItem(segments: segments, Hq: Hq, Hkv: Hkv, D: D, heads: Hkv,
                        scratch: { $0 * $0 + panelFloats(2, T: $0, D: D) }) { S, Tmax, s0, T, kvh in
            let group = Hq / Hkv   // (after forEachItem's checks)
            let kh = k + s0 * ldk + kvh * D, vh = v + s0 * ldk + kvh * D
            let panels = Panels(onDP: onDP, base: UnsafeMutableRawPointer(S + Tmax * Tmax).assumingMemoryBound(to: UInt16.self))
            let kT = 0, vP = Panels.elements(D, T)
            panels.pack(kT, transB: true, K: D, N: T, kh, ldk)
            panels.pack(vP, transB: false, K: T, N: D, vh, ldk)
            for g in 0..<group {
                let h = kvh * group + g
                let qh = q + s0 * ldq + h * D
                let lh = lse + Hq * s0 + h * T
                // S (T, T) = scale * Q Kᵀ, each 32-row block up to its last row's key (the causal mask)
                panels.product(kT, 1, 0, 1, T, T, D, scale, qh, ldq, kh, ldk, 0, S, T)
                // P = causal softmax of each row; lse = max + log(sum)
                for i in 0..<T {
                    let row = S + i * T, n = i + 1, end = causalEnd(i, T)
                    let m = Vec.max(row, n)
                    let sum = Vec.expShiftSum(row, n, shift: m)
                    Vec.scale(row, 1 / sum, n)
                    if n < end { (row + n).update(repeating: 0, count: end - n) }
                    lh[i] = m + Foundation.log(sum)
                }
                // out (T, D) = P V, each block summing over the keys it sees
                panels.product(vP, 2, 0, 0, T, D, T, 1, S, T, vh, ldk, 0, out + s0 * ldq + h * D, ldq)
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
        let ldq = Hq * D, ldk = Hkv * D
        // items: (sequence, key/value head); dk and dv rows belong to one item, summed over its
        // group's query heads
        let onDP = !BLAS.bf16OnAMX
        try forEachItem(segments: segments, Hq: Hq, Hkv: Hkv, D: D, heads: Hkv,
                        scratch: { 2 * $0 * $0 + $0 + panelFloats(3, T: $0, D: D) }) { S, Tmax, s0, T, kvh in
            let group = Hq / Hkv   // (after forEachItem's checks)
            let dP = S + Tmax * Tmax, delta = dP + Tmax * Tmax
            let kh = k + s0 * ldk + kvh * D, vh = v + s0 * ldk + kvh * D
            let dkh = dk + s0 * ldk + kvh * D, dvh = dv + s0 * ldk + kvh * D
            // Kᵀ, Vᵀ and K packed once for the group's query heads
            let panels = Panels(onDP: onDP, base: UnsafeMutableRawPointer(delta + Tmax).assumingMemoryBound(to: UInt16.self))
            let kT = 0, vT = Panels.elements(D, T), kP = 2 * Panels.elements(D, T)
            panels.pack(kT, transB: true, K: D, N: T, kh, ldk)
            panels.pack(vT, transB: true, K: D, N: T, vh, ldk)
            panels.pack(kP, transB: false, K: T, N: D, kh, ldk)
            for g in 0..<group {
                let h = kvh * group + g
                let qh = q + s0 * ldq + h * D, doh = dout + s0 * ldq + h * D, oh = out + s0 * ldq + h * D
                let lh = lse + Hq * s0 + h * T
                for i in 0..<T { delta[i] = Vec.dot(doh + i * ldq, oh + i * ldq, D) }
                // S = Q Kᵀ (unscaled), dP = dO Vᵀ, each 32-row block up to its last row's key
                panels.product(kT, 1, 0, 1, T, T, D, 1, qh, ldq, kh, ldk, 0, S, T)
                panels.product(vT, 1, 0, 1, T, T, D, 1, doh, ldq, vh, ldk, 0, dP, T)
                // P = exp(scale * S - lse), dS = scale * P * (dP - delta); keys after the query 0
                for i in 0..<T {
                    let row = S + i * T, drow = dP + i * T, n = i + 1, end = causalEnd(i, T)
                    Vec.softmaxGradRow(p: row, dp: drow, lse: lh[i], delta: delta[i], scale: scale, n)
                    if n < end {
                        (row + n).update(repeating: 0, count: end - n)
                        (drow + n).update(repeating: 0, count: end - n)
                    }
                }
                // dq (T, D) = dS K (each query block over the keys it sees); dk, dv (T, D) (+)=
                // dSᵀ Q, Pᵀ dO (each key block over the queries that see it)
                let beta: Float = g == 0 ? 0 : 1
                panels.product(kP, 2, 0, 0, T, D, T, 1, dP, T, kh, ldk, 0, dq + s0 * ldq + h * D, ldq)
                causalProduct(3, 1, 0, T, D, T, 1, dP, T, qh, ldq, beta, dkh, ldk)
                causalProduct(3, 1, 0, T, D, T, 1, S, T, doh, ldq, beta, dvh, ldk)
            }
        }
    }
}
