// The model's loss as a differentiable Tensor op (Tensor.customOp): `lossTensor` returns a 0-d
// tensor; `backward` on anything computed from it runs forwardBackward with the incoming
// gradient as the loss scale and hands each trainable parameter tensor its gradient (into
// `Tensor.grad`, the autograd side; `Parameter.grad` is left as it was).
import Foundation
import Tensor
import Quant
import NN

extension LlamaModel {
    /// Mean loss as a 0-d tensor recorded on the autograd tape, its inputs being the value
    /// tensors of the trainable f32 parameters (marked requiresGrad).
    public func lossTensor(_ ids: [Int], labels: [Int]? = nil, checkpointing: Bool = false) throws -> Tensor {
        let value = try loss(ids, labels: labels)
        let params = parameters.filter { $0.trainable && $0.value.dtype == .f32 }
        let inputs = params.map { $0.value }
        for t in inputs { t.requiresGrad = true }
        let out = Tensor(shape: [], floats: [value])
        return try Tensor.customOp(name: "llama_loss", output: out, inputs: inputs) { [weak self] g in
            guard let self = self else { throw LlamaError.argument("llama_loss backward: the model no longer exists") }
            let scale = g.floats().first ?? 0
            let saved = params.map { $0.grad }
            for p in params { p.grad = nil }
            defer { for (p, s) in zip(params, saved) { p.grad = s } }
            try self.forwardBackward(ids, labels: labels, checkpointing: checkpointing, lossScale: scale)
            return params.map { p in p.grad ?? Tensor(zeros: p.shape) }
        }
    }
}
