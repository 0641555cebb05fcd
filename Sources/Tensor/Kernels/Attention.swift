// Causal grouped-query attention, FlashAttention-style: scores are computed one
// [queryTile x keyTile] block at a time with sgemm and folded into an online softmax, so memory
// grows linearly with the sequence (never a T x T matrix). The backward recomputes each block
// from the saved log-sum-exp (FlashAttention-2).
//
// Layouts (row-major f32): q, out, dout, dq: [Tq, Hq, D]; k, v, dk, dv: [Tk, Hkv, D]; lse: [Hq, Tq].
// Query i sits at absolute position Tk - Tq + i and attends to keys 0...that position (so a
// KV-cache decode step is Tq = 1). Query head h reads key/value head h / (Hq / Hkv).
import Foundation

extension Kernels {
    /// Tile sizes (rows of queries, rows of keys) of the flash kernels; 128 x 128 measured best here.
    nonisolated(unsafe) public static var attentionQueryTile = 128
    nonisolated(unsafe) public static var attentionKeyTile = 128

    static func checkAttention(_ Tq: Int, _ Tk: Int, _ Hq: Int, _ Hkv: Int, _ D: Int) throws {
        guard Tq >= 0, Tk >= Tq else { throw TensorError.shape("attention: \(Tq) queries need at least as many keys, got \(Tk)") }
        guard Hq > 0, Hkv > 0, Hq % Hkv == 0 else {
            throw TensorError.shape("attention: query heads \(Hq) must be a positive multiple of key/value heads \(Hkv)")
        }
        guard D > 0 else { throw TensorError.shape("attention: head dim must be positive, got \(D)") }
    }

    /// out = softmax(scale * q k^T + causal mask) v per head; lse (optional) = row log-sum-exp.
    public static func attentionForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                        out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>?,
                                        Tq: Int, Tk: Int, Hq: Int, Hkv: Int, D: Int, scale: Float) throws {
        try checkAttention(Tq, Tk, Hq, Hkv, D)
        if Tq == 0 { return }
        let Bq = attentionQueryTile, Bk = attentionKeyTile
        let nQT = (Tq + Bq - 1) / Bq, group = Hq / Hkv, off = Tk - Tq
        let ldq = Hq * D, ldk = Hkv * D
        let items = Hq * nQT
        let W = Parallel.workerCount(items)
        // Per worker scratch: S [Bq, Bk], O [Bq, D], m [Bq], l [Bq].
        let per = Bq * Bk + Bq * D + 2 * Bq
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: W * per)
        defer { scratch.deallocate() }
        withSingleThreadedBLAS {
            // Costly tiles (late queries) first.
            Parallel.forDynamic(items) { w, item in
                let qt = nQT - 1 - item / Hq, h = item % Hq
                let S = scratch + w * per, O = S + Bq * Bk, M = O + Bq * D, L = M + Bq
                let i0 = qt * Bq, bq = min(Bq, Tq - i0)
                let kvh = h / group
                let qp = q + i0 * ldq + h * D
                let kp = k + kvh * D, vp = v + kvh * D
                let nk = off + i0 + bq
                M.update(repeating: -.infinity, count: bq)
                L.update(repeating: 0, count: bq)
                O.update(repeating: 0, count: bq * D)
                var j0 = 0
                while j0 < nk {
                    let bk = min(Bk, nk - j0)
                    BLAS.sgemm(transB: true, m: bq, n: bk, k: D, alpha: scale, a: qp, lda: ldq,
                               b: kp + j0 * ldk, ldb: ldk, c: S, ldc: Bk)
                    for r in 0..<bq {
                        let row = S + r * Bk
                        let pos = off + i0 + r
                        let valid = min(bk, pos - j0 + 1)   // keys j0..<j0+valid are visible
                        if valid <= 0 { (row).update(repeating: 0, count: bk); continue }
                        if valid < bk { (row + valid).update(repeating: 0, count: bk - valid) }
                        let mNew = Swift.max(M[r], Vec.max(row, valid))
                        let alpha = Vec.exp(M[r] - mNew)
                        let sum = Vec.expShiftSum(row, valid, shift: mNew)
                        L[r] = L[r] * alpha + sum
                        if alpha != 1 { Vec.scale(O + r * D, alpha, D) }
                        M[r] = mNew
                    }
                    BLAS.sgemm(m: bq, n: D, k: bk, a: S, lda: Bk, b: vp + j0 * ldk, ldb: ldk, beta: 1, c: O, ldc: D)
                    j0 += bk
                }
                for r in 0..<bq {
                    let dst = out + (i0 + r) * ldq + h * D
                    let inv = 1 / L[r]
                    for d in 0..<D { dst[d] = O[r * D + d] * inv }
                    lse?[h * Tq + i0 + r] = M[r] + Foundation.log(L[r])
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
        let Bq = attentionQueryTile, Bk = attentionKeyTile
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
        let per = 2 * Bq * Bk + 2 * Bk * D
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: W * per)
        defer { scratch.deallocate() }
        let privateCount = byHead ? 0 : (W - 1) * Tq * Hq * D
        let privateDQ = UnsafeMutablePointer<Float>.allocate(capacity: max(1, privateCount))
        defer { privateDQ.deallocate() }
        if privateCount > 0 { privateDQ.update(repeating: 0, count: privateCount) }

        func keyTile(_ w: Int, _ kvh: Int, _ kt: Int, _ dqTarget: UnsafeMutablePointer<Float>) {
            let P = scratch + w * per, dS = P + Bq * Bk, dK = dS + Bq * Bk, dV = dK + Bk * D
            let j0 = kt * Bk, bk = min(Bk, Tk - j0)
            let kp = k + j0 * ldk + kvh * D, vp = v + j0 * ldk + kvh * D
            dK.update(repeating: 0, count: bk * D)
            dV.update(repeating: 0, count: bk * D)
            let istart = max(0, j0 - off)
            for g in 0..<group {
                let h = kvh * group + g
                var i0 = istart
                while i0 < Tq {
                    let bq = min(Bq, Tq - i0)
                    let qp = q + i0 * ldq + h * D, dop = dout + i0 * ldq + h * D
                    BLAS.sgemm(transB: true, m: bq, n: bk, k: D, alpha: scale, a: qp, lda: ldq, b: kp, ldb: ldk, c: P, ldc: Bk)
                    BLAS.sgemm(transB: true, m: bq, n: bk, k: D, a: dop, lda: ldq, b: vp, ldb: ldk, c: dS, ldc: Bk)
                    for r in 0..<bq {
                        let row = P + r * Bk, drow = dS + r * Bk
                        let pos = off + i0 + r
                        let valid = min(bk, pos - j0 + 1)
                        let l = lse[h * Tq + i0 + r], dl = delta[h * Tq + i0 + r]
                        if valid <= 0 {
                            row.update(repeating: 0, count: bk); drow.update(repeating: 0, count: bk); continue
                        }
                        var c = 0
                        let lv = Vec.F16(repeating: l), dv16 = Vec.F16(repeating: dl)
                        while c + 16 <= valid {
                            let p = Vec.expUpper(Vec.load(row + c) - lv)
                            Vec.store(p, row + c)
                            Vec.store(p * (Vec.load(drow + c) - dv16), drow + c)
                            c += 16
                        }
                        while c < valid {
                            let p = Foundation.exp(row[c] - l)
                            row[c] = p; drow[c] = p * (drow[c] - dl); c += 1
                        }
                        if valid < bk {
                            (row + valid).update(repeating: 0, count: bk - valid)
                            (drow + valid).update(repeating: 0, count: bk - valid)
                        }
                    }
                    BLAS.sgemm(transA: true, m: bk, n: D, k: bq, a: P, lda: Bk, b: dop, ldb: ldq, beta: 1, c: dV, ldc: D)
                    BLAS.sgemm(m: bq, n: D, k: bk, alpha: scale, a: dS, lda: Bk, b: kp, ldb: ldk, beta: 1,
                               c: dqTarget + i0 * ldq + h * D, ldc: ldq)
                    BLAS.sgemm(transA: true, m: bk, n: D, k: bq, alpha: scale, a: dS, lda: Bk, b: qp, ldb: ldq, beta: 1, c: dK, ldc: D)
                    i0 += bq
                }
            }
            for r in 0..<bk {
                (dk + (j0 + r) * ldk + kvh * D).update(from: dK + r * D, count: D)
                (dv + (j0 + r) * ldk + kvh * D).update(from: dV + r * D, count: D)
            }
        }

        withSingleThreadedBLAS {
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
        }
        if privateCount > 0 {
            let n = Tq * Hq * D
            Parallel.forRanges(n, grain: 65536) { r in
                for w in 0..<(W - 1) { Vec.axpy(1, privateDQ + w * n + r.lowerBound, dq + r.lowerBound, r.count) }
            }
        }
    }
}
