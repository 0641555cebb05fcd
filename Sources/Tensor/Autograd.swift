// Autograd: reverse-mode differentiation over a tape of whole-tensor ops. An op's output carries a
// GradNode naming the op (Op, with what its backward needs) and its inputs; `backward` walks the
// nodes in reverse topological order and applies each rule (all rules are in Gradients.swift).
// Nothing is recorded while no input requires a gradient, or inside `Autograd.noGrad { }`.
import Foundation

public final class GradNode {
    public let op: Op
    public let inputs: [Tensor]
    init(op: Op, inputs: [Tensor]) { self.op = op; self.inputs = inputs }
    public var name: String { op.name }
}

public enum Autograd {
    nonisolated(unsafe) static var disabledDepth = 0

    /// Whether ops currently record the tape.
    public static var isEnabled: Bool { disabledDepth == 0 }

    /// Runs body without recording any op (like `torch.no_grad()`).
    public static func noGrad<R>(_ body: () throws -> R) rethrows -> R {
        disabledDepth += 1
        defer { disabledDepth -= 1 }
        return try body()
    }

    @inline(__always)
    static func needsGrad(_ inputs: [Tensor]) -> Bool {
        if disabledDepth > 0 { return false }
        for t in inputs where t.requiresGrad { return true }
        return false
    }
}

extension Tensor {
    /// Records `op` as the producer of `out` when one of `inputs` requires a gradient.
    @discardableResult
    static func record(_ out: Tensor, _ op: @autoclosure () -> Op, _ inputs: [Tensor]) -> Tensor {
        if Autograd.needsGrad(inputs) {
            out.gradNode = GradNode(op: op(), inputs: inputs)
            out.requiresGrad = true
        }
        return out
    }

    /// Is this a leaf of the graph (no recorded producer)?
    public var isLeaf: Bool { gradNode == nil }

    /// The same values, cut off from the graph.
    public func detach() -> Tensor {
        Tensor(storage: storage, dtype: dtype, shape: shape, strides: strides, offset: offset)
    }

    /// A differentiable op whose forward ran elsewhere (fused or hand-written code): `output`
    /// holds its result, `inputs` are the tensors it read, and `backward(gradOutput)` returns one
    /// gradient per input (nil where none), each shaped like its input. The output is recorded on
    /// the tape when an input requires a gradient, so that `backward` on anything computed from it
    /// calls the closure. A closure whose inputs are leaves may instead accumulate into their
    /// `.grad` itself and return nil for them: a model's loss does (Llama/LlamaModel+Autograd.swift),
    /// its hand-written backward adding into the parameters' gradients, the tape's own store.
    public static func customOp(name: String = "custom", output: Tensor, inputs: [Tensor],
                                backward: @escaping (_ gradOutput: Tensor) throws -> [Tensor?]) throws -> Tensor {
        let out = output.detach()
        record(out, .custom(name: name, backward: backward), inputs)
        return out
    }

    /// Backpropagates from this tensor. Without `gradient` the tensor must hold one element
    /// (d self / d self = 1). Gradients accumulate into `.grad` of every leaf that requires one.
    public func backward(_ gradient: Tensor? = nil) throws {
        guard requiresGrad else {
            throw TensorError.value("backward: the tensor does not require a gradient (no input had requires_grad set)")
        }
        let seed: Tensor
        if let g = gradient {
            guard g.shape == shape else { throw TensorError.shape("backward: gradient shape \(g.shape) differs from tensor shape \(shape)") }
            seed = g.toF32()
        } else {
            guard count == 1 else { throw TensorError.shape("backward: needs a gradient argument for non-scalar shape \(shape)") }
            seed = Tensor.full(shape, 1)
        }
        // Reverse topological order by iterative DFS.
        var order: [Tensor] = []
        var seen = Set<ObjectIdentifier>()
        var stack: [(Tensor, Int)] = [(self, 0)]
        seen.insert(ObjectIdentifier(self))
        while let (t, i) = stack.popLast() {
            if let node = t.gradNode, i < node.inputs.count {
                stack.append((t, i + 1))
                let c = node.inputs[i]
                if c.requiresGrad && !seen.contains(ObjectIdentifier(c)) {
                    seen.insert(ObjectIdentifier(c)); stack.append((c, 0))
                }
            } else {
                order.append(t)
            }
        }
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
        try Autograd.noGrad {
            for t in order.reversed() {
                let id = ObjectIdentifier(t)
                guard let g = grads.removeValue(forKey: id) else { continue }
                guard let node = t.gradNode else {
                    if t.requiresGrad { t.grad = try t.grad.map { try $0.adding(g) } ?? g.toF32().clone() }
                    continue
                }
                let ins = try node.op.backward(g, node.inputs, output: t)
                guard ins.count == node.inputs.count else {
                    throw TensorError.value("backward of \(node.name): \(ins.count) gradients for \(node.inputs.count) inputs")
                }
                for (x, gx) in zip(node.inputs, ins) {
                    guard let gx = gx, x.requiresGrad else { continue }
                    guard gx.shape == x.shape else {
                        throw TensorError.shape("backward of \(node.name): gradient shape \(gx.shape) for input shape \(x.shape)")
                    }
                    let k = ObjectIdentifier(x)
                    grads[k] = try grads[k].map { try $0.adding(gx) } ?? gx
                }
            }
        }
    }

    /// Sums a gradient computed for a broadcast shape back onto `target` (NumPy broadcasting rules).
    func sumTo(_ target: [Int]) throws -> Tensor {
        if shape == target { return self }
        var g = self
        while g.rank > target.count { g = try g.sum(axis: 0) }
        for i in 0..<target.count where target[i] == 1 && g.shape[i] != 1 { g = try g.sum(axis: i, keepDim: true) }
        guard g.shape == target else { throw TensorError.shape("gradient of shape \(shape) cannot be reduced to \(target)") }
        return g
    }
}
