// Parameter: a named, trainable-or-frozen f32 model parameter with its gradient. Names are
// Hugging Face / PEFT names (see Quant/Linear.swift for the rules).
import Tensor

/// A named parameter. `value` is a contiguous f32 tensor; `grad` (same shape) is created on
/// the first backward pass that reaches a trainable parameter, and accumulates until `zeroGrad()`.
public final class Parameter {
    public let name: String
    public var value: Tensor
    public var grad: Tensor?
    public var trainable: Bool

    public init(name: String, value: Tensor, trainable: Bool) {
        self.name = name
        self.value = value.dtype == .f32 && value.isContiguous && value.offset == 0 ? value : value.to(.f32).contiguous()
        self.trainable = trainable
    }

    public var shape: [Int] { value.shape }
    public var count: Int { value.count }

    /// The gradient tensor, created zero-filled when missing.
    public func ensureGrad() -> Tensor {
        if let g = grad, g.shape == value.shape { return g }
        let g = Tensor(zeros: value.shape)
        grad = g
        return g
    }

    /// Sets the gradient to zero (keeps the buffer).
    public func zeroGrad() {
        if let g = grad { g.floatPointer.update(repeating: 0, count: g.count) }
    }
}
