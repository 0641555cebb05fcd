// LlamaModel+Loss: the next-token loss. Loss convention (Hugging Face): labels default to the
// inputs, are shifted inside, -100 is ignored. The cross-entropy over the lm_head is chunked
// (never a full (T, V) table), and can also write d(loss)/d(final hidden) for the backward.
import Foundation
import Tensor
import Quant
import NN

extension LlamaModel {
    /// Rows of logits computed at once by the chunked loss (about 16 MB of logits per chunk).
    func lossChunkRows(_ T: Int) -> Int { max(1, min(T, (1 << 22) / max(1, config.vocabSize))) }

    /// Shifted targets (T): targets[t] = labels[t+1], the last is ignored. Validates labels.
    func shiftedTargets(ids: [Int], labels: [Int]?) throws -> [Int] {
        let lab = labels ?? ids
        guard lab.count == ids.count else {
            throw LlamaError.argument("labels has \(lab.count) entries for \(ids.count) ids")
        }
        let V = config.vocabSize
        for (i, t) in lab.enumerated() where t != -100 && (t < 0 || t >= V) {
            throw LlamaError.tokenId("labels[\(i)] = \(t) is outside the vocabulary 0..<\(V) (and not -100)")
        }
        var tg = [Int](repeating: -100, count: ids.count)
        if ids.count > 1 { for t in 0..<(ids.count - 1) { tg[t] = lab[t + 1] } }
        return tg
    }

    /// Chunked cross-entropy over the lm_head. Returns the summed loss and the counted rows.
    /// With `dxf`, also writes dL/dxf (T, C) for L = scale * sum(loss) and accumulates dW_lm_head.
    func lmHeadLoss(xf: UnsafePointer<Float>, targets: [Int], scale: Float, dxf: UnsafeMutablePointer<Float>?) throws -> (Double, Int) {
        if lmHead.value.dtype != .f32 { return try lmHeadLossByVocabTiles(xf: xf, targets: targets, scale: scale, dxf: dxf) }
        let T = targets.count, C = config.hiddenSize, V = config.vocabSize
        let rows = lossChunkRows(T)
        let logits = FloatBuffer(rows * V)     // (rows, V), reused as dlogits
        let losses = FloatBuffer(rows)
        var sum = 0.0, count = 0
        if let d = dxf { d.update(repeating: 0, count: T * C) }
        try targets.withUnsafeBufferPointer { tp in
            var r0 = 0
            while r0 < T {
                let n = min(rows, T - r0)
                defer { r0 += n }
                if !tp[r0..<(r0 + n)].contains(where: { $0 != -100 }) { continue }
                // logits (n, V) = xf[r0..] · Wᵀ
                headForward(xf + r0 * C, rows: n, out: logits.p)
                // losses (n); dlogits (n, V) = (softmax - onehot) * scale, in place
                count += try Kernels.crossEntropyRows(logits: logits.p, targets: tp.baseAddress! + r0, losses: losses.p,
                                                      dlogits: dxf != nil ? logits.p : nil, dlogitsScale: scale,
                                                      n: n, vocab: V)
                for i in 0..<n { sum += Double(losses.p[i]) }
                if let d = dxf {
                    // dxf[r0..] (n, C) = dlogits · W; dW (V, C) += dlogitsᵀ · xf[r0..]
                    headBackward(dlogits: logits.p, x: xf + r0 * C, rows: n, dx: d + r0 * C)
                }
            }
        }
        return (sum, count)
    }

    /// The same for an lm_head stored in bf16 (frozen): vocabulary tiles outside, rows inside,
    /// so that each pass converts the head to f32 once for up to 8192 rows, instead of once per
    /// small chunk of rows. Pass 1 keeps a running max and sum per row (log-sum-exp) and picks
    /// the target logits; with `dxf`, pass 2 recomputes each tile's logits and adds
    /// scale * (softmax - onehot) · W into dxf.
    func lmHeadLossByVocabTiles(xf: UnsafePointer<Float>, targets: [Int], scale: Float,
                                dxf: UnsafeMutablePointer<Float>?) throws -> (Double, Int) {
        let T = targets.count, C = config.hiddenSize, V = config.vocabSize
        for (i, t) in targets.enumerated() where t != -100 && (t < 0 || t >= V) {
            throw LlamaError.tokenId("target \(t) at row \(i) is outside the vocabulary 0..<\(V)")
        }
        if let d = dxf { d.update(repeating: 0, count: T * C) }
        let tileV = max(1, min(V, LlamaModel.bf16TileValues / C))
        let R = min(T, 8192)
        let logits = FloatBuffer(R * tileV)
        let mx = FloatBuffer(R), tl = FloatBuffer(R)
        var sums = [Double](repeating: 0, count: R)
        var sum = 0.0, count = 0
        var r0 = 0
        while r0 < T {
            let n = min(R, T - r0)
            defer { r0 += n }
            let tg = Array(targets[r0..<(r0 + n)])
            if !tg.contains(where: { $0 != -100 }) { continue }
            let x = xf + r0 * C
            mx.p.update(repeating: -.infinity, count: n)
            for i in 0..<n { sums[i] = 0 }
            // pass 1: log-sum-exp and target logit per row
            headTiles { v0, nv, w in
                BLAS.sgemm(transB: true, m: n, n: nv, k: C, a: x, lda: C, b: w, ldb: C, c: logits.p, ldc: nv)
                sums.withUnsafeMutableBufferPointer { sp in
                    Parallel.forRanges(n, grain: 8) { r in
                        for i in r where tg[i] != -100 {
                            let z = logits.p + i * nv
                            if tg[i] >= v0 && tg[i] < v0 + nv { tl.p[i] = z[tg[i] - v0] }
                            let m = max(mx.p[i], Vec.max(z, nv))
                            let s = Double(Vec.expShiftSum(z, nv, shift: m))
                            sp[i] = sp[i] * (mx.p[i] == -.infinity ? 0 : Foundation.exp(Double(mx.p[i] - m))) + s
                            mx.p[i] = m
                        }
                    }
                }
            }
            var lse = [Float](repeating: 0, count: n)
            for i in 0..<n where tg[i] != -100 {
                lse[i] = mx.p[i] + Float(Foundation.log(sums[i]))
                sum += Double(lse[i] - tl.p[i]); count += 1
            }
            guard let d = dxf else { continue }
            // pass 2: dx (n, C) += scale * (softmax - onehot) · W, tile by tile
            headTiles { v0, nv, w in
                BLAS.sgemm(transB: true, m: n, n: nv, k: C, a: x, lda: C, b: w, ldb: C, c: logits.p, ldc: nv)
                Parallel.forRanges(n, grain: 8) { r in
                    for i in r {
                        let z = logits.p + i * nv
                        if tg[i] == -100 { z.update(repeating: 0, count: nv); continue }
                        _ = Vec.expShiftSum(z, nv, shift: lse[i])
                        Vec.scale(z, scale, nv)
                        if tg[i] >= v0 && tg[i] < v0 + nv { z[tg[i] - v0] -= scale }
                    }
                }
                BLAS.sgemm(m: n, n: C, k: nv, a: logits.p, lda: nv, b: w, ldb: C, beta: 1, c: d + r0 * C, ldc: C)
            }
        }
        return (sum, count)
    }

    /// Mean next-token cross-entropy (Hugging Face convention: labels default to ids, shifted
    /// inside, -100 ignored). NaN when no position counts, as torch's mean over nothing.
    public func loss(_ ids: [Int], labels: [Int]? = nil) throws -> Float {
        let targets = try shiftedTargets(ids: ids, labels: labels)
        let tr = try forwardTrunk(ids, keep: .nothing)
        let (sum, n) = try lmHeadLoss(xf: tr.xf.p, targets: targets, scale: 1, dxf: nil)
        return n == 0 ? .nan : Float(sum / Double(n))
    }

    /// Mean loss over all counted positions of a batch (rows may differ in length).
    public func loss(batch: [[Int]], labels: [[Int]]? = nil) throws -> Float {
        if let lb = labels, lb.count != batch.count {
            throw LlamaError.argument("labels has \(lb.count) rows for a batch of \(batch.count)")
        }
        var sum = 0.0, total = 0
        for (b, ids) in batch.enumerated() {
            let n = NextTokenLabels.count(ids: ids, labels: labels?[b])
            let l = try loss(ids, labels: labels?[b])
            if n > 0 { sum += Double(l) * Double(n); total += n }
        }
        return total == 0 ? .nan : Float(sum / Double(total))
    }
}
