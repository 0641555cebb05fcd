// TensorOps: the tensor operations the bindings use, in one adapter (views, indexing,
// printing), so the bindings read the same whichever tensor API version is underneath.
import Foundation
import Lang
import Tensor

enum TensorOps {
    static func transpose(_ t: Tensor) -> Tensor {
        if t.shape.count < 2 { return t }
        return Tensor(storage: t.storage, dtype: t.dtype, shape: t.shape.reversed(), strides: t.strides.reversed(), offset: t.offset)
    }

    static func reshape(_ t: Tensor, _ newShape: [Int]) throws -> Tensor {
        var s = newShape
        let minus = s.indices.filter { s[$0] == -1 }
        guard minus.count <= 1, !s.contains(where: { $0 < -1 }) else {
            throw LangRuntimeError(.value, "reshape: invalid shape \(newShape) (at most one -1)")
        }
        if let m = minus.first {
            let known = s.enumerated().filter { $0.offset != m }.reduce(1) { $0 * $1.element }
            guard known > 0, t.count % known == 0 else { throw LangRuntimeError(.value, "reshape: cannot reshape \(t.shape) (\(t.count) elements) to \(newShape)") }
            s[m] = t.count / known
        }
        guard s.reduce(1, *) == t.count else {
            throw LangRuntimeError(.value, "reshape: cannot reshape \(t.shape) (\(t.count) elements) to \(newShape) (\(s.reduce(1, *)) elements)")
        }
        let c = t.contiguous()
        return Tensor(storage: c.storage, dtype: c.dtype, shape: s, strides: nil, offset: c.offset)
    }

    /// Basic indexing: ints remove a dimension, slices keep it (a view sharing storage).
    static func index(_ t: Tensor, _ items: [IndexItem]) throws -> Tensor {
        guard items.count <= t.shape.count else {
            throw LangRuntimeError(.index, "too many indices (\(items.count)) for a tensor of rank \(t.shape.count)")
        }
        var shape: [Int] = [], strides: [Int] = []
        var offset = t.offset
        for (d, item) in items.enumerated() {
            let n = t.shape[d]
            switch item {
            case .index(let v):
                guard let i = v.asInt else { throw LangRuntimeError(.type, "tensor index must be an int or a slice, got \(v.typeNameWithArticle)") }
                let j = i < 0 ? i + n : i
                guard j >= 0 && j < n else { throw LangRuntimeError(.index, "index \(i) out of range for axis \(d) of size \(n)") }
                offset += j * t.strides[d]
            case .slice(let a, let b, let c):
                let idx = Builtins.sliceIndices(start: a, stop: b, step: c, count: n)
                let step = c ?? 1
                if let first = idx.first { offset += first * t.strides[d] }
                shape.append(idx.count); strides.append(t.strides[d] * step)
            }
        }
        for d in items.count..<t.shape.count { shape.append(t.shape[d]); strides.append(t.strides[d]) }
        return Tensor(storage: t.storage, dtype: t.dtype, shape: shape, strides: strides, offset: offset)
    }

    static func setIndex(_ t: Tensor, _ items: [IndexItem], _ value: Tensor) throws {
        let view = try index(t, items)
        let src: [Float]
        if value.count == 1 { src = [Float](repeating: value.floats()[0], count: view.count) }
        else {
            guard value.shape == view.shape else { throw LangRuntimeError(.value, "cannot assign a tensor of shape \(value.shape) to a selection of shape \(view.shape)") }
            src = value.floats()
        }
        guard t.dtype == .f32 else { throw LangRuntimeError(.type, "element assignment needs an f32 tensor, got \(t.dtype.rawValue)") }
        let p = t.storage.bytes.assumingMemoryBound(to: Float.self)
        var k = 0
        view.forEachStorageIndex { i in p[i] = src[k]; k += 1 }
    }

    /// NumPy-like printing: `tensor([[1.0, 2.0], [3.0, 4.0]])`, long axes summarized with `...`.
    static func format(_ t: Tensor, threshold: Int = 1000, edge: Int = 3) -> String {
        let isFloat = t.dtype.isFloatingPoint
        let c = t.contiguous()
        let fl = isFloat ? c.floats() : []
        let ins = isFloat ? [] : c.ints()
        let summarize = t.count > threshold
        func num(_ i: Int) -> String {
            if !isFloat { return String(ins[i]) }
            let v = fl[i]
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            let a = abs(v)
            if a != 0 && (a >= 1e6 || a < 1e-4) { return String(format: "%.4e", Double(v)) }
            var s = String(format: "%.4f", Double(v))
            while s.hasSuffix("0") && !s.hasSuffix(".0") { s.removeLast() }
            return s
        }
        let strides = Tensor.contiguousStrides(t.shape)
        func render(_ dim: Int, _ off: Int, _ indent: String) -> String {
            if dim == t.shape.count { return num(off) }
            let n = t.shape[dim]
            var idx = Array(0..<n)
            var cut = false
            if summarize && n > 2 * edge { idx = Array(0..<edge) + Array(n - edge..<n); cut = true }
            var parts = idx.map { render(dim + 1, off + $0 * strides[dim], indent + " ") }
            if cut { parts.insert("...", at: edge) }
            let sep = dim == t.shape.count - 1 ? ", " : ",\n" + String(repeating: "\n", count: max(0, t.shape.count - dim - 2)) + indent + " "
            return "[" + parts.joined(separator: sep) + "]"
        }
        let body = t.shape.isEmpty ? (t.count == 1 ? num(0) : "") : render(0, 0, "       ")
        var extra = ""
        if t.dtype != .f32 { extra += ", dtype: \(t.dtype.rawValue)" }
        if t.requiresGrad { extra += ", requires_grad: true" }
        return "tensor(\(body)\(extra))"
    }
}
