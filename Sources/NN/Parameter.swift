// Parameter: a named, trainable-or-frozen f32 model parameter with its gradient. Names are
// Hugging Face / PEFT names (see Quant/Linear.swift for the rules).
//
// One gradient store: a parameter's gradient is its value tensor's `grad`, the slot the
// autograd tape accumulates into (Tensor/Autograd.swift). The hand-written backward passes
// (Quant's Linear and LoRA, Llama's layers) accumulate into the same tensor through
// `ensureGrad()`, so `p.grad`, `p.value.grad` and a language value's `.grad` are one object
// whichever path computed it.
import Tensor

/// A named parameter. `value` is a contiguous f32 tensor; `grad` (same shape) is created on
/// the first backward pass that reaches a trainable parameter, and accumulates until `zeroGrad()`.
public final class Parameter {
    public let name: String
    /// The values. Replacing the tensor keeps the gradient (it moves to the new tensor when
    /// the shapes agree and the new tensor has none).
    public var value: Tensor {
        didSet {
            guard value !== oldValue, value.grad == nil, let g = oldValue.grad, g.shape == value.shape else { return }
            value.grad = g
        }
    }
    public var trainable: Bool

    public init(name: String, value: Tensor, trainable: Bool) {
        self.name = name
        self.value = value.dtype == .f32 && value.isContiguous && value.offset == 0 ? value : value.to(.f32).contiguous()
        self.trainable = trainable
    }

    /// The gradient: the value tensor's `grad` (the one store the tape and the hand-written
    /// backward both fill).
    public var grad: Tensor? {
        get { value.grad }
        set { value.grad = newValue }
    }

    public var shape: [Int] { value.shape }
    public var count: Int { value.count }

    /// The gradient tensor, created zero-filled when missing. A gradient the tape left in
    /// another layout (not a contiguous f32 tensor of its own) is first copied into one, so
    /// that the hand-written backward can accumulate into it in place.
    public func ensureGrad() -> Tensor {
        if let g = grad, g.shape == value.shape {
            if g.dtype == .f32 && g.isContiguous && g.offset == 0 { return g }
            let c = g.toF32().clone()
            grad = c
            return c
        }
        let g = Tensor(zeros: value.shape)
        grad = g
        return g
    }

    /// Sets the gradient to zero (keeps the buffer).
    public func zeroGrad() {
        if grad != nil { let g = ensureGrad(); g.floatPointer.update(repeating: 0, count: g.count) }
    }
}
