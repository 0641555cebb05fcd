// LlamaModel+Train: forward + backward of the loss for training (one sequence, a batch, or
// sequences of any lengths packed into one pass), with optional per-layer gradient
// checkpointing; gradients accumulate in each trainable Parameter.grad.
import Foundation
import Tensor
import Quant
import NN

extension LlamaModel {
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
        let b = try countedSequences(sequences)
        if b.tokens == 0 { return (0, 0) }
        let tr = try forwardTrunk(batch: b.seqs, keep: checkpointing ? .layerInputs : .everything)
        // Head: dxf (T, C), dW_lm_head
        let d = FloatBuffer(tr.T * config.hiddenSize)
        let (sum, _) = try lmHeadLoss(xf: tr.xf.p, targets: b.targets, scale: lossScale / Float(b.tokens), dxf: d.p)
        try trunkBackward(tr, seqs: b.seqs, dxf: d, release: true)
        return (Float(sum / Double(b.tokens)), b.tokens)
    }

    /// The sequences that have a position to count, with their shifted targets packed row after
    /// row and the number of counted positions (labels nil = the sequence's ids).
    func countedSequences(_ sequences: [(ids: [Int], labels: [Int]?)]) throws -> (seqs: [[Int]], targets: [Int], tokens: Int) {
        var seqs: [[Int]] = [], targets: [Int] = []
        for (ids, labels) in sequences {
            let tg = try shiftedTargets(ids: ids, labels: labels)
            if !tg.contains(where: { $0 != -100 }) { continue }
            seqs.append(ids); targets += tg
        }
        return (seqs, targets, targets.reduce(0) { $0 + ($1 == -100 ? 0 : 1) })
    }

    /// The backward of a trunk (`forwardTrunk` over `seqs` with `.layerInputs` or `.everything`)
    /// from d (T, C) = dL/d(xf): the final norm, the layers in reverse (each recomputed from its
    /// input when only the layer inputs were kept), the embedding. Gradients accumulate in each
    /// trainable Parameter.grad. `release` frees each layer's activations once used (a trunk
    /// that will not be backpropagated again); without it the trunk stays whole.
    func trunkBackward(_ tr: Trunk, seqs: [[Int]], dxf d: FloatBuffer, release: Bool) throws {
        let c = config, T = tr.T, C = c.hiddenSize
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
                    try layerForward(L, x: tr.xs[l].p, out: nil, a: r, T: T, rope: tr.rope, segs: tr.segs,
                                     attention: l < tr.keptAttention.count ? tr.keptAttention[l] : nil)
                }
                a = r
            } else {
                a = tr.acts[l]
            }
            try layerBackward(L, x: tr.xs[l].p, d: dxL.p, a: a, g: g, T: T, rope: tr.rope, segs: tr.segs)
            if release && tr.lastActs == nil { tr.acts[l] = LayerActivations.empty }  // free as we go
        }
        // Embedding: dtable[ids] += dx_0
        try embedBackward(seqs.count == 1 ? seqs[0] : Array(seqs.joined()), d: dxL.p)
    }
}

extension LayerActivations {
    /// A zero-length placeholder used to release a layer's activations during the backward.
    static let empty = LayerActivations(config: LlamaConfig(vocabSize: 1, hiddenSize: 2, intermediateSize: 1, numHiddenLayers: 1,
                                                            numAttentionHeads: 1), T: 0)
}
