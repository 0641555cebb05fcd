// TensorMath: the tensor operations the commands use, on the Tensor module's API (so every
// differentiable op is recorded for `backward`): broadcasting arithmetic, comparisons,
// reductions, softmax, matmul; `%` and `//` (not differentiable) are computed directly.
import Foundation
import Lang
import Tensor

enum TensorMath {
    static func zip(_ a: Tensor, _ b: Tensor, _ op: String) throws -> Tensor {
        switch op {
        case "+": return try a.binary(.add, b)
        case "-": return try a.binary(.sub, b)
        case "*": return try a.binary(.mul, b)
        case "/": return try a.binary(.div, b)
        case "**": return try a.binary(.pow, b)
        case "max": return try a.binary(.maximum, b)
        case "min": return try a.binary(.minimum, b)
        case "==": return try a.compare(.eq, b)
        case "!=": return try a.compare(.ne, b)
        case "<": return try a.compare(.lt, b)
        case "<=": return try a.compare(.le, b)
        case ">": return try a.compare(.gt, b)
        case ">=": return try a.compare(.ge, b)
        case "%", "//":
            // via the broadcasting of a differentiable op, then computed without a gradient
            let shapeProbe = try Autograd.noGrad { try a.detach().binary(.add, b.detach()) }
            let x = try a.detach().expand(shapeProbe.shape).floats(), y = try b.detach().expand(shapeProbe.shape).floats()
            let f: [Float] = op == "%"
                ? Swift.zip(x, y).map { p, q in let r = fmodf(p, q); return r != 0 && ((r < 0) != (q < 0)) ? r + q : r }
                : Swift.zip(x, y).map { ($0 / $1).rounded(.down) }
            let t = Tensor(shape: shapeProbe.shape, floats: f)
            return a.dtype.isFloatingPoint || b.dtype.isFloatingPoint ? t : t.to(.i64)
        default:
            throw LangRuntimeError(.type, "operator '\(op)' is not defined on tensors")
        }
    }

    static func unary(_ a: Tensor, _ name: String) throws -> Tensor {
        let x = a.dtype.isFloatingPoint ? a : a.toF32()
        switch name {
        case "exp": return try x.unary(.exp)
        case "log": return try x.unary(.log)
        case "sqrt": return try x.unary(.sqrt)
        case "tanh": return try x.unary(.tanh)
        case "silu": return try x.unary(.silu)
        case "sigmoid": return try x.unary(.sigmoid)
        case "relu": return try x.unary(.relu)
        // integers wrap as torch's do: abs and negation of the most negative value give it back
        // (Swift's trap ended the process: fuzz seed 303 case 211267)
        case "abs": return a.dtype.isFloatingPoint ? try x.unary(.abs) : Tensor(shape: a.shape, ints: a.ints().map { $0 < 0 ? 0 &- $0 : $0 }, dtype: a.dtype)
        case "neg": return a.dtype.isFloatingPoint ? try x.unary(.neg) : Tensor(shape: a.shape, ints: a.ints().map { 0 &- $0 }, dtype: a.dtype)
        default: throw LangRuntimeError(.name, "unknown function \(name)")
        }
    }

    enum Reduce { case sum, mean, max, min, argmax, argmin }

    static func reduce(_ a: Tensor, _ op: Reduce, axis: Int?, keepDim: Bool) throws -> Tensor {
        switch op {
        case .sum: return try a.reduce(.sum, axis: axis, keepDim: keepDim)
        case .mean: return try (a.dtype.isFloatingPoint ? a : a.toF32()).reduce(.mean, axis: axis, keepDim: keepDim)
        case .max: return try a.reduce(.max, axis: axis, keepDim: keepDim)
        case .min: return try a.reduce(.min, axis: axis, keepDim: keepDim)
        case .argmax: return try a.argmax(axis: axis, keepDim: keepDim)
        case .argmin: return try a.argmin(axis: axis, keepDim: keepDim)
        }
    }

    static func softmax(_ a: Tensor, axis: Int) throws -> Tensor {
        try (a.dtype.isFloatingPoint ? a : a.toF32()).softmax(axis: axis)
    }

    static func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        try Tensor.matmul(a.dtype.isFloatingPoint ? a : a.toF32(), b.dtype.isFloatingPoint ? b : b.toF32())
    }

    static func backward(_ t: Tensor) throws { try t.backward() }
}

enum TensorOps {
    static func transpose(_ t: Tensor) -> Tensor { t.T }

    static func reshape(_ t: Tensor, _ newShape: [Int]) throws -> Tensor { try t.reshape(newShape) }

    static func indices(_ items: [IndexItem]) throws -> [TensorIndex] {
        try items.map { item in
            switch item {
            case .index(.null): return .newAxis
            case .index(let v):
                guard let i = v.asInt, !v.isBoolValue else { throw LangRuntimeError(.type, "tensor index must be an int or a slice, got \(v.typeNameWithArticle)") }
                return .at(i)
            case .slice(nil, nil, nil): return .all
            case .slice(let a, let b, let c): return .slice(a, b, c)
            }
        }
    }

    static func index(_ t: Tensor, _ items: [IndexItem]) throws -> Tensor { try t.index(try indices(items)) }

    static func setIndex(_ t: Tensor, _ items: [IndexItem], _ value: Tensor) throws {
        try t.setIndex(try indices(items), value)
    }

    static func format(_ t: Tensor) -> String { t.format() }
}

extension Value {
    var isBoolValue: Bool { if case .bool = self { return true }; return false }
}
