// The model's loss as one node of the autograd tape (Tensor.customOp), for one sequence or a
// batch. The forward runs once, keeping every layer's activations; the node's backward is the
// back half of forwardBackward (the chunked head loss with the incoming gradient as the loss
// scale, then trunkBackward) and accumulates straight into each trainable parameter's gradient,
// the one store the tape also fills (NN/Parameter.swift). So `backward` reaches the parameters
// through any expression of the loss (2 * l, l1 + l2, ...), and may run more than once.
import Foundation
import Tensor
import Quant
import NN

extension LlamaModel {
    /// Mean loss of one sequence as a 0-d tensor (the value of `loss(_:labels:)`), recorded on
    /// the autograd tape when a trainable f32 parameter can receive a gradient.
    public func lossTensor(_ ids: [Int], labels: [Int]? = nil) throws -> Tensor {
        try lossNode([(ids, labels)], batch: false)
    }

    /// Mean loss over every counted position of a batch (rows may differ in length; the value of
    /// `loss(batch:labels:)`), one node on the tape for the whole batch.
    public func lossTensor(batch: [[Int]], labels: [[Int]]? = nil) throws -> Tensor {
        if let lb = labels, lb.count != batch.count {
            throw LlamaError.argument("labels has \(lb.count) rows for a batch of \(batch.count)")
        }
        return try lossNode(batch.indices.map { (batch[$0], labels?[$0]) }, batch: true)
    }

    func lossNode(_ rows: [(ids: [Int], labels: [Int]?)], batch: Bool) throws -> Tensor {
        // Checks in the order loss() makes them, row by row: labels, then the model, then ids.
        for (i, r) in rows.enumerated() {
            _ = try shiftedTargets(ids: r.ids, labels: r.labels)
            if i == 0 { try checkLive() }
            try validate(ids: r.ids)
        }
        let params = parameters.filter { $0.trainable && $0.value.dtype == .f32 }
        let taped = Autograd.isEnabled && !params.isEmpty
        let b = try countedSequences(rows)
        var value = Float.nan
        var trunk: Trunk? = nil
        if b.tokens > 0 {
            let tr = try forwardTrunk(batch: b.seqs, keep: taped ? .everything : .nothing)
            let C = config.hiddenSize
            if !batch {
                let (sum, n) = try lmHeadLoss(xf: tr.xf.p, targets: b.targets, scale: 1, dxf: nil)
                value = Float(sum / Double(n))
            } else {
                // Each row's mean, weighted by its counted positions (as loss(batch:) adds them).
                var sum = 0.0
                for r in tr.segs {
                    let (s, n) = try lmHeadLoss(xf: tr.xf.p + r.lowerBound * C, targets: Array(b.targets[r]), scale: 1, dxf: nil)
                    sum += Double(Float(s / Double(n))) * Double(n)
                }
                value = Float(sum / Double(b.tokens))
            }
            trunk = tr
        }
        let out = Tensor(shape: [], floats: [value])
        guard taped else { return out }
        let inputs = params.map { $0.value }
        for t in inputs { t.requiresGrad = true }
        return try Tensor.customOp(name: "llama_loss", output: out, inputs: inputs) { [weak self] g in
            guard let self = self else { throw LlamaError.argument("llama_loss backward: the model no longer exists") }
            // every parameter of the node ends with a gradient, zero where none reaches it
            for p in params { _ = p.ensureGrad() }
            if let tr = trunk {
                let d = FloatBuffer(tr.T * self.config.hiddenSize)
                let scale = g.floats().first ?? 0
                _ = try self.lmHeadLoss(xf: tr.xf.p, targets: b.targets, scale: scale / Float(b.tokens), dxf: d.p)
                try self.trunkBackward(tr, seqs: b.seqs, dxf: d, release: false)
            }
            return inputs.map { _ in nil }   // already accumulated into each Parameter.grad
        }
    }
}
