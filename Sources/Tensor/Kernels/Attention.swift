// Causal grouped-query attention, FlashAttention-style: scores are computed one
// [query tile x key tile] block at a time and folded into an online softmax, so memory grows
// linearly with the sequence (never a T x T matrix). The backward recomputes each block from
// the saved log-sum-exp (FlashAttention-2).
//
// A query tile stacks the rows of every query head that shares a key/value head (row
// r * group + g is position i0 + r of head kvh * group + g), so each key/value tile is read
// once per group. Blocks are computed transposed, Sᵀ = K · Qᵀ (keys x stacked rows): the
// softmax then runs along contiguous rows of 16 lanes, and the causal mask of key c is a
// prefix of rows. The block products are TileGEMM's register-blocked kernels, not sgemm,
// whose operand packing costs more than the multiply at these sizes.
//
// Layouts (row-major f32): q, out, dout, dq: [Tq, Hq, D]; k, v, dk, dv: [Tk, Hkv, D]; lse: [Hq, Tq].
// Query i sits at absolute position Tk - Tq + i and attends to keys 0...that position (so a
// KV-cache decode step is Tq = 1). Query head h reads key/value head h / (Hq / Hkv).
import Foundation

extension Kernels {
    /// Forward tiles: query positions per tile (times the heads of a group, stacked) and keys per
    /// tile; and the backward's (per head). Measured here at T = 16384, D = 64, 8/2 heads.
    nonisolated(unsafe) public static var attentionQueryTile = 32
    nonisolated(unsafe) public static var attentionKeyTile = 64
    nonisolated(unsafe) public static var attentionBackwardQueryTile = 64
    nonisolated(unsafe) public static var attentionBackwardKeyTile = 128

    static func checkAttention(_ Tq: Int, _ Tk: Int, _ Hq: Int, _ Hkv: Int, _ D: Int) throws {
        guard Tq >= 0, Tk >= Tq else { throw TensorError.shape("attention: \(Tq) queries need at least as many keys, got \(Tk)") }
        guard Hq > 0, Hkv > 0, Hq % Hkv == 0 else {
            throw TensorError.shape("attention: query heads \(Hq) must be a positive multiple of key/value heads \(Hkv)")
        }
        guard D > 0 else { throw TensorError.shape("attention: head dim must be positive, got \(D)") }
    }

    @inline(__always) static func roundUp16(_ n: Int) -> Int { (n + 15) & ~15 }

    /// out = softmax(scale * q k^T + causal mask) v per head; lse (optional) = row log-sum-exp.
    public static func attentionForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>?,
                                        Tq: Int, Tk: Int, Hq: Int, Hkv: Int, D: Int, scale: Float) throws {
        try attentionForward(q: q, kv: .f32(k, v), out: out, lse: lse, Tq: Tq, Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
    }

    /// The same with keys and values stored as bf16 bits (a bf16 KV cache): each key/value tile is
    /// widened to f32 in the worker's scratch, so the numbers are those of an f32 cache holding
    /// the same rounded values.
    public static func attentionForward(q: UnsafePointer<Float>, kBF16: UnsafePointer<UInt16>, vBF16: UnsafePointer<UInt16>,
                                        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>? = nil,
                                        Tq: Int, Tk: Int, Hq: Int, Hkv: Int, D: Int, scale: Float) throws {
        try attentionForward(q: q, kv: .bf16(kBF16, vBF16), out: out, lse: lse, Tq: Tq, Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
    }

    enum KVSource {
        case f32(UnsafePointer<Float>, UnsafePointer<Float>)
        case bf16(UnsafePointer<UInt16>, UnsafePointer<UInt16>)
    }

    static func attentionForward(q: UnsafePointer<Float>, kv: KVSource,
                                 out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>?,
                                 Tq: Int, Tk: Int, Hq: Int, Hkv: Int, D: Int, scale: Float) throws {
        try checkAttention(Tq, Tk, Hq, Hkv, D)
        if Tq == 0 { return }
        let Bq = Swift.max(1, attentionQueryTile), Bk = Swift.max(1, attentionKeyTile)
        let group = Hq / Hkv, off = Tk - Tq, ldq = Hq * D, ldk = Hkv * D
        let nQT = (Tq + Bq - 1) / Bq, RP = roundUp16(Bq * group)
        let items = Hkv * nQT
        let W = Parallel.workerCount(items)
        // Per worker: QT [D, RP] scaled queries transposed, ST [Bk, RP] scores transposed,
        // O [RP, D], and per row: running max, running sum, rescale factor, tile max, tile sum.
        var isBF16 = false
        if case .bf16 = kv { isBF16 = true }
        let perKV = isBF16 ? 2 * Bk * D : 0
        let per = D * RP + Bk * RP + RP * D + 5 * RP + perKV
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: W * per)
        defer { scratch.deallocate() }
        // Costly tiles (late queries) first.
        Parallel.forDynamic(items) { w, item in
            let qt = nQT - 1 - item / Hkv, kvh = item % Hkv
            let QT = scratch + w * per, ST = QT + D * RP, O = ST + Bk * RP
            let M = O + RP * D, L = M + RP, A = L + RP, TM = A + RP, TS = TM + RP
            let KT = TS + RP, VT = KT + Bk * D   // bf16 only: the key / value tile in f32
            let i0 = qt * Bq, bq = Swift.min(Bq, Tq - i0)
            let rows = bq * group, rp = roundUp16(rows)
            for r in 0..<bq {
                let src = q + (i0 + r) * ldq + kvh * group * D
                for g in 0..<group {
                    let x = r * group + g, sp = src + g * D
                    for d in 0..<D { QT[d * RP + x] = sp[d] * scale }
                }
            }
            if rp > rows { for d in 0..<D { (QT + d * RP + rows).update(repeating: 0, count: rp - rows) } }
            M.update(repeating: -.infinity, count: rp)
            L.update(repeating: 0, count: rp)
            O.update(repeating: 0, count: rp * D)
            let nk = off + i0 + bq
            var j0 = 0
            while j0 < nk {
                let bk = Swift.min(Bk, nk - j0)
                let kp: UnsafePointer<Float>, vp: UnsafePointer<Float>, ld: Int
                switch kv {
                case let .f32(k, v):
                    kp = k + j0 * ldk + kvh * D; vp = v + j0 * ldk + kvh * D; ld = ldk
                case let .bf16(k, v):
                    for c in 0..<bk {
                        fromBF16(k + (j0 + c) * ldk + kvh * D, KT + c * D, D)
                        fromBF16(v + (j0 + c) * ldk + kvh * D, VT + c * D, D)
                    }
                    kp = UnsafePointer(KT); vp = UnsafePointer(VT); ld = D
                }
                // ST (bk, rp) = K[j0 ..< j0+bk] · QT; key j0+c is visible to rows first(c)... on.
                TileGEMM.gemm(m: bk, n: rp, k: D, a: kp, am: ld, ak: 1, b: QT, ldb: RP,
                              c: ST, ldc: RP, accumulate: false)
                @inline(__always) func first(_ c: Int) -> Int { Swift.min(rows, Swift.max(0, j0 + c - off - i0) * group) }
                TM.update(repeating: -.infinity, count: rp)
                for c in 0..<bk { let f = first(c); Vec.maxInto(TM + f, ST + c * RP + f, rows - f) }
                Vec.updateMax(M, tileMax: TM, alpha: A, rows)
                TS.update(repeating: 0, count: rp)
                for c in 0..<bk {
                    let f = first(c), row = ST + c * RP
                    if f > 0 { row.update(repeating: 0, count: f) }
                    Vec.expSubAccumulate(row + f, M + f, TS + f, rows - f)
                    if rp > rows { (row + rows).update(repeating: 0, count: rp - rows) }
                }
                for x in 0..<rows {
                    L[x] = L[x] * A[x] + TS[x]
                    if A[x] != 1 { Vec.scale(O + x * D, A[x], D) }
                }
                // O (rows, D) += P · V with P(x, c) = ST[c * RP + x]
                TileGEMM.gemm(m: rows, n: D, k: bk, a: ST, am: 1, ak: RP, b: vp, ldb: ld,
                              c: O, ldc: D, accumulate: true)
                j0 += bk
            }
            for r in 0..<bq {
                for g in 0..<group {
                    let x = r * group + g, h = kvh * group + g
                    Vec.scaled(O + x * D, 1 / L[x], into: out + (i0 + r) * ldq + h * D, D)
                    lse?[h * Tq + i0 + r] = M[x] + Foundation.log(L[x])
                }
            }
        }
    }

    /// Gradients of attentionForward: dq [Tq, Hq, D], dk and dv [Tk, Hkv, D] are overwritten.
    /// out and lse are the forward's results.
    public static func attentionBackward(dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                         v: UnsafePointer<Float>, out: UnsafePointer<Float>, lse: UnsafePointer<Float>,
                                         dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                         dv: UnsafeMutablePointer<Float>,
                                         Tq: Int, Tk: Int, Hq: Int, Hkv: Int, D: Int, scale: Float) throws {
        try checkAttention(Tq, Tk, Hq, Hkv, D)
        dq.update(repeating: 0, count: Tq * Hq * D)
        dk.update(repeating: 0, count: Tk * Hkv * D)
        dv.update(repeating: 0, count: Tk * Hkv * D)
        if Tq == 0 { return }
        let Bq = Swift.max(1, attentionBackwardQueryTile), Bk = Swift.max(1, attentionBackwardKeyTile)
        let group = Hq / Hkv, off = Tk - Tq
        let ldq = Hq * D, ldk = Hkv * D
        // delta[h, i] = sum_d dout * out
        let delta = UnsafeMutablePointer<Float>.allocate(capacity: Hq * Tq)
        defer { delta.deallocate() }
        Parallel.forRanges(Tq, grain: 64) { r in
            for i in r { for h in 0..<Hq { delta[h * Tq + i] = Vec.dot(dout + i * ldq + h * D, out + i * ldq + h * D, D) } }
        }
        let nKT = (Tk + Bk - 1) / Bk
        // Work units: (kv head, key tile), dk/dv rows are exclusive to a unit. dq rows are shared
        // between the key tiles of a kv head: either one worker owns a whole kv head, or each
        // worker accumulates dq privately and the copies are summed.
        let threads = Parallel.workerCount(Hkv * nKT)
        let byHead = threads == 1 || Hkv % threads == 0 || Hkv >= 4 * threads
        let units = byHead ? Hkv : Hkv * nKT
        let W = Parallel.workerCount(units)
        let BkP = roundUp16(Bk)
        // Per worker: Kt, Vt [D, BkP] (the key tile's keys and values transposed, zero-padded
        // columns), P and dS [Bq, BkP], dK and dV [Bk, D], and the query tile's q, dout and dq
        // rows made contiguous [Bq, D] (the kernels then read them from L1, not across rows of
        // all heads).
        let per = 2 * D * BkP + 2 * Bq * BkP + 2 * Bk * D + 3 * Bq * D
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: W * per)
        defer { scratch.deallocate() }
        let privateCount = byHead ? 0 : (W - 1) * Tq * Hq * D
        let privateDQ = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, privateCount))
        defer { privateDQ.deallocate() }
        if privateCount > 0 { privateDQ.update(repeating: 0, count: privateCount) }

        func keyTile(_ w: Int, _ kvh: Int, _ kt: Int, _ dqTarget: UnsafeMutablePointer<Float>) {
            let Kt = scratch + w * per, Vt = Kt + D * BkP, P = Vt + D * BkP, dS = P + Bq * BkP
            let dK = dS + Bq * BkP, dV = dK + Bk * D, Qc = dV + Bk * D, dOc = Qc + Bq * D, dQc = dOc + Bq * D
            let j0 = kt * Bk, bk = Swift.min(Bk, Tk - j0), bkP = roundUp16(bk)
            let kp = k + j0 * ldk + kvh * D, vp = v + j0 * ldk + kvh * D
            for c in 0..<bk {
                let kr = kp + c * ldk, vr = vp + c * ldk
                for d in 0..<D { Kt[d * BkP + c] = kr[d]; Vt[d * BkP + c] = vr[d] }
            }
            if bkP > bk {
                for d in 0..<D {
                    (Kt + d * BkP + bk).update(repeating: 0, count: bkP - bk)
                    (Vt + d * BkP + bk).update(repeating: 0, count: bkP - bk)
                }
            }
            dK.update(repeating: 0, count: bk * D)
            dV.update(repeating: 0, count: bk * D)
            let istart = Swift.max(0, j0 - off)   // the first query that sees a key of this tile
            for g in 0..<group {
                let h = kvh * group + g
                var i0 = istart
                while i0 < Tq {
                    let bq = Swift.min(Bq, Tq - i0)
                    for r in 0..<bq {
                        (Qc + r * D).update(from: q + (i0 + r) * ldq + h * D, count: D)
                        (dOc + r * D).update(from: dout + (i0 + r) * ldq + h * D, count: D)
                    }
                    // P = Q · Kᵀ (scores), dS = dO · Vᵀ (dP), both (bq, bkP)
                    TileGEMM.gemm(m: bq, n: bkP, k: D, a: Qc, am: D, ak: 1, b: Kt, ldb: BkP, c: P, ldc: BkP, accumulate: false)
                    TileGEMM.gemm(m: bq, n: bkP, k: D, a: dOc, am: D, ak: 1, b: Vt, ldb: BkP, c: dS, ldc: BkP, accumulate: false)
                    // P = exp(scale * S - lse); dS = scale * P * (dP - delta); keys after the query are 0
                    for r in 0..<bq {
                        let row = P + r * BkP, drow = dS + r * BkP
                        let valid = Swift.max(0, Swift.min(bk, off + i0 + r - j0 + 1))
                        Vec.softmaxGradRow(p: row, dp: drow, lse: lse[h * Tq + i0 + r], delta: delta[h * Tq + i0 + r],
                                           scale: scale, valid)
                        if valid < bk {
                            (row + valid).update(repeating: 0, count: bk - valid)
                            (drow + valid).update(repeating: 0, count: bk - valid)
                        }
                    }
                    // dV (bk, D) += Pᵀ · dO; dK (bk, D) += dSᵀ · Q; dq rows (bq, D) += dS · K
                    TileGEMM.gemm(m: bk, n: D, k: bq, a: P, am: 1, ak: BkP, b: dOc, ldb: D, c: dV, ldc: D, accumulate: true)
                    TileGEMM.gemm(m: bk, n: D, k: bq, a: dS, am: 1, ak: BkP, b: Qc, ldb: D, c: dK, ldc: D, accumulate: true)
                    TileGEMM.gemm(m: bq, n: D, k: bk, a: dS, am: BkP, ak: 1, b: kp, ldb: ldk, c: dQc, ldc: D, accumulate: false)
                    for r in 0..<bq { Vec.axpy(1, dQc + r * D, dqTarget + (i0 + r) * ldq + h * D, D) }
                    i0 += bq
                }
            }
            for r in 0..<bk {
                (dk + (j0 + r) * ldk + kvh * D).update(from: dK + r * D, count: D)
                (dv + (j0 + r) * ldk + kvh * D).update(from: dV + r * D, count: D)
            }
        }

        if byHead {
            Parallel.forDynamic(units) { w, kvh in
                for kt in stride(from: nKT - 1, through: 0, by: -1) { keyTile(w, kvh, kt, dq) }
            }
        } else {
            // Early key tiles cost the most (every later query sees them): hand them out first.
            Parallel.forDynamic(units) { w, item in
                let kt = item / Hkv, kvh = item % Hkv
                keyTile(w, kvh, kt, w == 0 ? dq : privateDQ + (w - 1) * Tq * Hq * D)
            }
        }
        if privateCount > 0 {
            let n = Tq * Hq * D
            Parallel.forRanges(n, grain: 65536) { r in
                for w in 0..<(W - 1) { Vec.axpy(1, privateDQ + w * n + r.lowerBound, dq + r.lowerBound, r.count) }
            }
        }
    }
}
