// The whole model for one sequence: embeddings -> layers -> final norm -> lm_head, as logits,
// as a loss, and as forward + backward with a chunked cross-entropy over the lm_head (never a
// full (T, V) table in training) and optional per-layer gradient checkpointing.
// Loss convention (Hugging Face): labels default to the inputs, are shifted inside, -100 is ignored.
import Foundation
import Tensor
import Quant

extension LlamaModel {
    /// The residual stream of one forward pass.
    final class Trunk {
        let T: Int
        var xs: [FloatBuffer]          // (T, C) layer inputs; xs[numLayers] = last layer output
        var acts: [LayerActivations]   // per layer when kept for the backward (empty otherwise)
        let xf: FloatBuffer            // (T, C) final norm output
        let rstdF: FloatBuffer         // (T)
        let rope: RopeTables
        init(T: Int, xs: [FloatBuffer], acts: [LayerActivations], xf: FloatBuffer, rstdF: FloatBuffer, rope: RopeTables) {
            self.T = T; self.xs = xs; self.acts = acts; self.xf = xf; self.rstdF = rstdF; self.rope = rope
        }
    }

    enum Keep { case nothing, layerInputs, everything }

    /// embeddings -> layers -> final norm for one sequence (no cache).
    func forwardTrunk(_ ids: [Int], keep: Keep) throws -> Trunk {
        try checkLive()
        try validate(ids: ids)
        let c = config, T = ids.count, C = c.hiddenSize
        let rope = ropeCache.tables(config: c, start: 0, count: T)
        // xs[0] (T, C) = embed_tokens[ids]
        var cur = FloatBuffer(T * C)
        try embed(ids, out: cur.p)
        var xs: [FloatBuffer] = keep == .nothing ? [] : [cur]
        var spare: FloatBuffer? = keep == .nothing ? FloatBuffer(T * C) : nil   // ping-pong when nothing is kept
        var acts: [LayerActivations] = []
        let shared = keep == .everything ? nil : LayerActivations(config: c, T: T)
        for L in layers {
            let a = shared ?? LayerActivations(config: c, T: T)
            let out = spare ?? FloatBuffer(T * C)
            try layerForward(L, x: cur.p, out: out.p, a: a, T: T, rope: rope)
            if keep == .nothing { spare = cur } else { xs.append(out) }
            if keep == .everything { acts.append(a) }
            cur = out
        }
        if keep == .nothing { xs = [cur] }
        // xf (T, C) = RMSNorm(x_L) * norm
        let xf = FloatBuffer(T * C), rstdF = FloatBuffer(T)
        Kernels.rmsNormForward(x: xs[xs.count - 1].p, weight: norm.value.floatPointer, out: xf.p, rstd: rstdF.p,
                               rows: T, dim: C, eps: Float(c.rmsNormEps))
        return Trunk(T: T, xs: xs, acts: acts, xf: xf, rstdF: rstdF, rope: rope)
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

    /// The number of positions that count in the loss (labels shifted, -100 ignored).
    public static func targetCount(ids: [Int], labels: [Int]? = nil) -> Int {
        let lab = labels ?? ids
        if lab.count < 2 { return 0 }
        return lab[1...].reduce(0) { $0 + ($1 == -100 ? 0 : 1) }
    }

    /// Chunked cross-entropy over the lm_head. Returns the summed loss and the counted rows.
    /// With `dxf`, also writes dL/dxf (T, C) for L = scale * sum(loss) and accumulates dW_lm_head.
    func lmHeadLoss(xf: UnsafePointer<Float>, targets: [Int], scale: Float, dxf: UnsafeMutablePointer<Float>?) throws -> (Double, Int) {
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
            let n = LlamaModel.targetCount(ids: ids, labels: labels?[b])
            let l = try loss(ids, labels: labels?[b])
            if n > 0 { sum += Double(l) * Double(n); total += n }
        }
        return total == 0 ? .nan : Float(sum / Double(total))
    }

    /// Forward and backward for one sequence: accumulates into Param.grad the gradients of
    /// lossScale * (mean loss). Returns the (unscaled) mean loss and the number of counted
    /// positions; when no position counts, returns (0, 0) and leaves the gradients alone.
    /// `checkpointing` keeps only each layer's input and recomputes the layer in the backward.
    @discardableResult
    public func forwardBackward(_ ids: [Int], labels: [Int]?, checkpointing: Bool = false,
                                lossScale: Float = 1) throws -> (loss: Float, tokens: Int) {
        let targets = try shiftedTargets(ids: ids, labels: labels)
        let n = targets.reduce(0) { $0 + ($1 == -100 ? 0 : 1) }
        if n == 0 { try validate(ids: ids); return (0, 0) }
        let tr = try forwardTrunk(ids, keep: checkpointing ? .layerInputs : .everything)
        let c = config, T = ids.count, C = c.hiddenSize
        // Head: dxf (T, C), dW_lm_head
        let d = FloatBuffer(T * C)
        let (sum, _) = try lmHeadLoss(xf: tr.xf.p, targets: targets, scale: lossScale / Float(n), dxf: d.p)
        // Final norm: d (T, C) = dL/dx_L
        let dxL = FloatBuffer(T * C)
        Kernels.rmsNormBackward(dout: d.p, x: tr.xs[layers.count].p, weight: norm.value.floatPointer, rstd: tr.rstdF.p,
                                dx: dxL.p, dweight: gradPointer(norm), rows: T, dim: C)
        // Layers in reverse: dxL becomes dL/dx_l in place
        let g = LayerGradScratch(config: c, T: T)
        let recompute = checkpointing ? LayerActivations(config: c, T: T) : nil
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let L = layers[l]
            let a: LayerActivations
            if let r = recompute {
                // Recompute with the dropout masks of the first forward (as torch's checkpoint
                // restores the RNG state): each active LoRA dropout advanced its step once there.
                for lin in L.linears { if lin.training, let lo = lin.lora, lo.dropout > 0 { lo.dropoutStep &-= 1 } }
                try layerForward(L, x: tr.xs[l].p, out: nil, a: r, T: T, rope: tr.rope)
                a = r
            } else {
                a = tr.acts[l]
            }
            try layerBackward(L, x: tr.xs[l].p, d: dxL.p, a: a, g: g, T: T, rope: tr.rope)
            if !checkpointing { tr.acts[l] = LayerActivations.empty }  // free as we go
        }
        // Embedding: dtable[ids] += dx_0
        try embedBackward(ids, d: dxL.p)
        return (Float(sum / Double(n)), n)
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
        let counts = batch.indices.map { LlamaModel.targetCount(ids: batch[$0], labels: labels?[$0]) }
        let total = counts.reduce(0, +)
        if total == 0 { return (0, 0) }
        var sum = 0.0
        for (b, ids) in batch.enumerated() where counts[b] > 0 {
            let (l, n) = try forwardBackward(ids, labels: labels?[b], checkpointing: checkpointing,
                                             lossScale: lossScale * Float(counts[b]) / Float(total))
            sum += Double(l) * Double(n)
        }
        return (Float(sum / Double(total)), total)
    }
}

extension LayerActivations {
    /// A zero-length placeholder used to release a layer's activations during the backward.
    static let empty = LayerActivations(config: LlamaConfig(vocabSize: 1, hiddenSize: 2, intermediateSize: 1, numHiddenLayers: 1,
                                                            numAttentionHeads: 1), T: 0)
}
