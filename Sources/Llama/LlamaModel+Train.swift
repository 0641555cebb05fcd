// The whole model for one sequence: embeddings -> layers -> final norm -> lm_head, as logits,
// as a loss, and as forward + backward with a chunked cross-entropy over the lm_head (never a
// full (T, V) table in training) and optional per-layer gradient checkpointing.
// Loss convention (Hugging Face): labels default to the inputs, are shifted inside, -100 is ignored.
import Foundation
import Tensor
import Quant
import NN

extension LlamaModel {
    /// The residual stream of one forward pass over one sequence or a packed batch of them.
    final class Trunk {
        let T: Int                     // rows: the sequences' lengths added up
        let segs: [Range<Int>]         // the rows of each sequence
        var xs: [FloatBuffer]          // (T, C) layer inputs; xs[numLayers] = last layer output
        var acts: [LayerActivations]   // per layer when kept for the backward (empty otherwise)
        /// With `.layerInputs`: the buffer the layers ran through, still holding the last layer's
        /// activations (its backward needs no recompute); the backward reuses it for the others.
        let lastActs: LayerActivations?
        let xf: FloatBuffer            // (T, C) final norm output
        let rstdF: FloatBuffer         // (T)
        let rope: RopeTables
        init(T: Int, segs: [Range<Int>], xs: [FloatBuffer], acts: [LayerActivations], lastActs: LayerActivations?,
             xf: FloatBuffer, rstdF: FloatBuffer, rope: RopeTables) {
            self.T = T; self.segs = segs; self.xs = xs; self.acts = acts; self.lastActs = lastActs
            self.xf = xf; self.rstdF = rstdF; self.rope = rope
        }
    }

    enum Keep { case nothing, layerInputs, everything }

    /// embeddings -> layers -> final norm for one sequence (no cache).
    func forwardTrunk(_ ids: [Int], keep: Keep) throws -> Trunk {
        try forwardTrunk(batch: [ids], keep: keep)
    }

    /// embeddings -> layers -> final norm for sequences packed row after row: every projection
    /// multiplies all rows at once (bigger, faster GEMMs), attention and RoPE positions stay
    /// per sequence, so each sequence's numbers are those of running it alone.
    func forwardTrunk(batch seqs: [[Int]], keep: Keep) throws -> Trunk {
        try checkLive()
        for (b, ids) in seqs.enumerated() { try validate(ids: ids, what: seqs.count == 1 ? "ids" : "batch row \(b)") }
        let c = config, C = c.hiddenSize
        var segs: [Range<Int>] = [], T = 0
        for ids in seqs { segs.append(T..<(T + ids.count)); T += ids.count }
        let rope = packedRope(segs)
        // xs[0] (T, C) = embed_tokens[ids]
        var cur = FloatBuffer(T * C)
        try embed(seqs.count == 1 ? seqs[0] : Array(seqs.joined()), out: cur.p)
        var xs: [FloatBuffer] = keep == .nothing ? [] : [cur]
        var spare: FloatBuffer? = keep == .nothing ? FloatBuffer(T * C) : nil   // ping-pong when nothing is kept
        var acts: [LayerActivations] = []
        let shared = keep == .everything ? nil : LayerActivations(config: c, T: T)
        for L in layers {
            let a = shared ?? LayerActivations(config: c, T: T)
            let out = spare ?? FloatBuffer(T * C)
            try layerForward(L, x: cur.p, out: out.p, a: a, T: T, rope: rope, segs: segs)
            if keep == .nothing { spare = cur } else { xs.append(out) }
            if keep == .everything { acts.append(a) }
            cur = out
        }
        if keep == .nothing { xs = [cur] }
        // xf (T, C) = RMSNorm(x_L) * norm
        let xf = FloatBuffer(T * C), rstdF = FloatBuffer(T)
        Kernels.rmsNormForward(x: xs[xs.count - 1].p, weight: norm.value.floatPointer, out: xf.p, rstd: rstdF.p,
                               rows: T, dim: C, eps: Float(c.rmsNormEps))
        return Trunk(T: T, segs: segs, xs: xs, acts: acts, lastActs: keep == .layerInputs ? shared : nil,
                     xf: xf, rstdF: rstdF, rope: rope)
    }

    /// RoPE tables for packed sequences: each starts again at position 0 (and, for dynamic NTK,
    /// uses its own length).
    func packedRope(_ segs: [Range<Int>]) -> RopeTables {
        let c = config
        if segs.count == 1 { return ropeCache.tables(config: c, start: 0, count: segs[0].count) }
        var cs: [Float] = [], sn: [Float] = []
        let total = segs.last.map { $0.upperBound } ?? 0
        cs.reserveCapacity(total * c.headDim); sn.reserveCapacity(total * c.headDim)
        for r in segs {
            let t = ropeCache.tables(config: c, start: 0, count: r.count)
            cs += t.cos; sn += t.sin
        }
        return RopeTables(start: 0, count: total, cos: cs, sin: sn)
    }

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

    /// Logits (T, vocab) for one sequence.
    public func logits(_ ids: [Int]) throws -> Tensor {
        let tr = try forwardTrunk(ids, keep: .nothing)
        let T = ids.count, V = config.vocabSize
        let out = Tensor(zeros: [T, V])
        headForward(tr.xf.p, rows: T, out: out.floatPointer)
        return out
    }

    /// Logits (B, T, vocab) for a batch of equal-length sequences.
    public func logits(batch: [[Int]]) throws -> Tensor {
        guard let T = batch.first?.count else { throw LlamaError.argument("logits: empty batch") }
        for (b, s) in batch.enumerated() where s.count != T {
            throw LlamaError.argument("logits: batch row \(b) has \(s.count) ids, row 0 has \(T)")
        }
        let V = config.vocabSize
        let out = Tensor(zeros: [batch.count, T, V])
        for (b, s) in batch.enumerated() {
            let l = try logits(s)
            (out.floatPointer + b * T * V).update(from: l.floatPointer, count: T * V)
        }
        return out
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

    /// Forward and backward for one sequence: accumulates into Parameter.grad the gradients of
    /// lossScale * (mean loss). Returns the (unscaled) mean loss and the number of counted
    /// positions; when no position counts, returns (0, 0) and leaves the gradients alone.
    /// `checkpointing` keeps only each layer's input and recomputes the layer in the backward.
    @discardableResult
    public func forwardBackward(_ ids: [Int], labels: [Int]?, checkpointing: Bool = false,
                                lossScale: Float = 1) throws -> (loss: Float, tokens: Int) {
        try validate(ids: ids)
        return try forwardBackward(sequences: [(ids, labels)], checkpointing: checkpointing, lossScale: lossScale)
    }

    /// Forward and backward over a batch: the loss is the mean over all counted positions of the
    /// batch (as a padded HF batch with -100 labels gives); gradients of lossScale * that mean
    /// accumulate. Returns the mean loss and the total counted positions.
    @discardableResult
    public func forwardBackward(batch: [[Int]], labels: [[Int]]? = nil, checkpointing: Bool = false,
                                lossScale: Float = 1) throws -> (loss: Float, tokens: Int) {
        if let lb = labels, lb.count != batch.count {
            throw LlamaError.argument("labels has \(lb.count) rows for a batch of \(batch.count)")
        }
        return try forwardBackward(sequences: batch.indices.map { (batch[$0], labels?[$0]) },
                                   checkpointing: checkpointing, lossScale: lossScale)
    }

    /// Forward and backward over sequences of any lengths, each with its own labels (nil = its
    /// ids), packed into one pass: projections run over all rows at once, attention per
    /// sequence. The loss is the mean over every counted position; gradients of
    /// lossScale * that mean accumulate. Sequences with nothing to count are left out.
    @discardableResult
    public func forwardBackward(sequences: [(ids: [Int], labels: [Int]?)], checkpointing: Bool = false,
                                lossScale: Float = 1) throws -> (loss: Float, tokens: Int) {
        var seqs: [[Int]] = [], targets: [Int] = []
        for (ids, labels) in sequences {
            let tg = try shiftedTargets(ids: ids, labels: labels)
            if !tg.contains(where: { $0 != -100 }) { continue }
            seqs.append(ids); targets += tg
        }
        let n = targets.reduce(0) { $0 + ($1 == -100 ? 0 : 1) }
        if n == 0 { return (0, 0) }
        let tr = try forwardTrunk(batch: seqs, keep: checkpointing ? .layerInputs : .everything)
        let c = config, T = tr.T, C = c.hiddenSize
        // Head: dxf (T, C), dW_lm_head
        let d = FloatBuffer(T * C)
        let (sum, _) = try lmHeadLoss(xf: tr.xf.p, targets: targets, scale: lossScale / Float(n), dxf: d.p)
        // Final norm: d (T, C) = dL/dx_L
        let dxL = FloatBuffer(T * C)
        Kernels.rmsNormBackward(dout: d.p, x: tr.xs[layers.count].p, weight: norm.value.floatPointer, rstd: tr.rstdF.p,
                                dx: dxL.p, dweight: gradPointer(norm), rows: T, dim: C)
        // Layers in reverse: dxL becomes dL/dx_l in place
        let g = LayerGradScratch(config: c, T: T)
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let L = layers[l]
            let a: LayerActivations
            if let r = tr.lastActs {
                if l < layers.count - 1 {
                    // Recompute with the dropout masks of the first forward (as torch's checkpoint
                    // restores the RNG state): each active LoRA dropout advanced its step once there.
                    for lin in L.linears { if lin.training, let lo = lin.lora, lo.dropout > 0 { lo.dropoutStep &-= 1 } }
                    try layerForward(L, x: tr.xs[l].p, out: nil, a: r, T: T, rope: tr.rope, segs: tr.segs)
                }
                a = r
            } else {
                a = tr.acts[l]
            }
            try layerBackward(L, x: tr.xs[l].p, d: dxL.p, a: a, g: g, T: T, rope: tr.rope, segs: tr.segs)
            if !checkpointing { tr.acts[l] = LayerActivations.empty }  // free as we go
        }
        // Embedding: dtable[ids] += dx_0
        try embedBackward(seqs.count == 1 ? seqs[0] : Array(seqs.joined()), d: dxL.p)
        return (Float(sum / Double(n)), n)
    }
}

extension LayerActivations {
    /// A zero-length placeholder used to release a layer's activations during the backward.
    static let empty = LayerActivations(config: LlamaConfig(vocabSize: 1, hiddenSize: 2, intermediateSize: 1, numHiddenLayers: 1,
                                                            numAttentionHeads: 1), T: 0)
}
