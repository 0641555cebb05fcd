// LlamaModel+Forward: the whole model forward without a cache: embeddings -> layers -> final
// norm (the trunk) over one sequence or several packed row after row, with per-sequence RoPE
// tables; and the logits over it.
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
        /// With `.layerInputs`, when they are small (`keptAttentionBytes`): each layer's attention
        /// output (T, Hq*D) and log-sum-exp (Hq, T) but the last's, so the recompute skips attention
        /// (selective checkpointing; the recomputed layer is bit-identical either way).
        var keptAttention: [(att: FloatBuffer, lse: FloatBuffer)]
        init(T: Int, segs: [Range<Int>], xs: [FloatBuffer], acts: [LayerActivations], lastActs: LayerActivations?,
             xf: FloatBuffer, rstdF: FloatBuffer, rope: RopeTables, keptAttention: [(att: FloatBuffer, lse: FloatBuffer)] = []) {
            self.T = T; self.segs = segs; self.xs = xs; self.acts = acts; self.lastActs = lastActs
            self.xf = xf; self.rstdF = rstdF; self.rope = rope; self.keptAttention = keptAttention
        }
    }

    enum Keep { case nothing, layerInputs, everything }

    /// Above this, gradient checkpointing keeps only the layer inputs; at or below it, also each
    /// layer's attention output and log-sum-exp, so the backward's recompute skips the attention
    /// kernel (its most expensive part at long context on small models).
    /// (A variable so that tests can run both paths.)
    nonisolated(unsafe) public static var keptAttentionBudget = 128 << 20

    /// The bytes checkpointing adds to keep every layer's attention output and log-sum-exp for
    /// T rows (all layers but the last, whose activations stay whole), or 0 when over the budget.
    public static func keptAttentionBytes(_ c: LlamaConfig, T: Int) -> Int {
        let (perRow, o1) = (c.numAttentionHeads * c.headDim + c.numAttentionHeads).multipliedReportingOverflow(by: 4 * max(0, c.numHiddenLayers - 1))
        let (n, o2) = perRow.multipliedReportingOverflow(by: T)
        return o1 || o2 || n > keptAttentionBudget ? 0 : n
    }

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
        trunkPasses += 1
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
        let keepAtt = keep == .layerInputs && LlamaModel.keptAttentionBytes(c, T: T) > 0
        var kept: [(att: FloatBuffer, lse: FloatBuffer)] = []
        for (l, L) in layers.enumerated() {
            let a = shared ?? LayerActivations(config: c, T: T)
            if keep != .nothing && a.packs == nil && BLAS.packsOperands { a.packs = LayerPacks(config: c, T: T) }
            let out = spare ?? FloatBuffer(T * C)
            try layerForward(L, x: cur.p, out: out.p, a: a, T: T, rope: rope, segs: segs)
            if keepAtt && l < layers.count - 1 {
                let att = FloatBuffer(a.att.count), lse = FloatBuffer(a.lse.count)
                att.p.update(from: a.att.p, count: a.att.count); lse.p.update(from: a.lse.p, count: a.lse.count)
                kept.append((att, lse))
            }
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
                     xf: xf, rstdF: rstdF, rope: rope, keptAttention: kept)
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

    /// Logits (T, vocab) for one sequence.
    public func logits(_ ids: [Int]) throws -> Tensor {
        try Memory.require(shape: [ids.count, config.vocabSize + 4 * config.hiddenSize], dtype: .f32, "logits of \(ids.count) tokens")
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
        try Memory.require(shape: [batch.count + 1, T, V], dtype: .f32, "logits of a batch of \(batch.count) x \(T) tokens")
        let out = Tensor(zeros: [batch.count, T, V])
        for (b, s) in batch.enumerated() {
            let l = try logits(s)
            (out.floatPointer + b * T * V).update(from: l.floatPointer, count: T * V)
        }
        return out
    }
}
