// TensorMath: elementwise maps with NumPy broadcasting, reductions, softmax, matmul (BLAS) and
// a seeded generator, for the tensor commands. Gradients: see TensorMath.backward.
import Foundation
import Lang
import Tensor

enum TensorMath {
    struct RNG {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state = state &+ 0x9E3779B97F4A7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
        mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
        mutating func normal() -> Float {
            let u1 = max(Double(next() >> 11) / Double(1 << 53), 1e-300), u2 = Double(next() >> 11) / Double(1 << 53)
            return Float((-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2))
        }
    }

    static func broadcastShape(_ a: [Int], _ b: [Int], _ what: String) throws -> [Int] {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let x = i < n - a.count ? 1 : a[i - (n - a.count)]
            let y = i < n - b.count ? 1 : b[i - (n - b.count)]
            guard x == y || x == 1 || y == 1 else {
                throw LangRuntimeError(.value, "\(what): shapes \(a) and \(b) do not broadcast (axis \(i): \(x) vs \(y))")
            }
            out[i] = x == 1 ? y : x
        }
        return out
    }

    /// Row-major element offsets of `shape` broadcast to `target`.
    static func broadcastIndex(_ shape: [Int], to target: [Int]) -> [Int] {
        let n = target.count
        let s = [Int](repeating: 1, count: n - shape.count) + shape
        var strides = [Int](repeating: 0, count: n)
        var acc = 1
        for i in stride(from: n - 1, through: 0, by: -1) { strides[i] = s[i] == 1 ? 0 : acc; acc *= s[i] }
        let total = target.reduce(1, *)
        var out = [Int](repeating: 0, count: total)
        var idx = [Int](repeating: 0, count: n)
        var off = 0
        for k in 0..<total {
            out[k] = off
            var d = n - 1
            while d >= 0 {
                idx[d] += 1; off += strides[d]
                if idx[d] < target[d] { break }
                off -= strides[d] * idx[d]; idx[d] = 0; d -= 1
            }
        }
        return out
    }

    static func zip(_ a: Tensor, _ b: Tensor, _ what: String, _ f: (Float, Float) -> Float) throws -> Tensor {
        let shape = try broadcastShape(a.shape, b.shape, what)
        let x = a.floats(), y = b.floats()
        let ia = a.shape == shape ? nil : broadcastIndex(a.shape, to: shape)
        let ib = b.shape == shape ? nil : broadcastIndex(b.shape, to: shape)
        let n = shape.reduce(1, *)
        var out = [Float](repeating: 0, count: n)
        for k in 0..<n { out[k] = f(x[ia?[k] ?? k], y[ib?[k] ?? k]) }
        let floatOut = a.dtype.isFloatingPoint || b.dtype.isFloatingPoint || what == "/" || what == "**"
        let t = Tensor(shape: shape, floats: out)
        return floatOut ? t : t.to(a.dtype == .i64 || b.dtype == .i64 ? .i64 : a.dtype)
    }

    static func map(_ a: Tensor, _ f: (Float) -> Float) throws -> Tensor {
        Tensor(shape: a.shape, floats: a.floats().map(f))
    }

    enum Reduce { case sum, mean, max, min, argmax, argmin }

    static func reduce(_ a: Tensor, _ op: Reduce, axis: Int?, keepDim: Bool) throws -> Tensor {
        let x = a.floats()
        func combine(_ vals: [Float]) -> Float {
            switch op {
            case .sum: return vals.reduce(0, +)
            case .mean: return vals.isEmpty ? .nan : Float(vals.reduce(0.0) { $0 + Double($1) } / Double(vals.count))
            case .max: return vals.max() ?? -.infinity
            case .min: return vals.min() ?? .infinity
            case .argmax: return Float(vals.indices.max { vals[$0] < vals[$1] || (vals[$0] == vals[$1] && $0 > $1) } ?? 0)
            case .argmin: return Float(vals.indices.min { vals[$0] < vals[$1] || (vals[$0] == vals[$1] && $0 < $1) } ?? 0)
            }
        }
        let isArg = op == .argmax || op == .argmin
        guard let ax0 = axis else {
            if x.isEmpty && (op == .max || op == .min || isArg) { throw LangRuntimeError(.value, "\(op) of an empty tensor") }
            let v = op == .sum ? Float(x.reduce(0.0) { $0 + Double($1) }) : combine(x)
            let t = Tensor(shape: keepDim ? a.shape.map { _ in 1 } : [], floats: [v])
            return isArg ? t.to(.i64) : t
        }
        let r = a.shape.count
        let ax = ax0 < 0 ? ax0 + r : ax0
        guard ax >= 0 && ax < r else { throw LangRuntimeError(.value, "axis \(ax0) out of range for a tensor of rank \(r)") }
        let outer = a.shape[..<ax].reduce(1, *), n = a.shape[ax], inner = a.shape[(ax + 1)...].reduce(1, *)
        var out = [Float](repeating: 0, count: outer * inner)
        var buf = [Float](repeating: 0, count: n)
        for o in 0..<outer {
            for i in 0..<inner {
                for k in 0..<n { buf[k] = x[(o * n + k) * inner + i] }
                out[o * inner + i] = combine(buf)
            }
        }
        var shape = a.shape
        if keepDim { shape[ax] = 1 } else { shape.remove(at: ax) }
        let t = Tensor(shape: shape, floats: out)
        return isArg ? t.to(.i64) : t
    }

    static func softmax(_ a: Tensor, axis: Int) throws -> Tensor {
        let r = a.shape.count
        guard r > 0 else { return Tensor(shape: [], floats: [1]) }
        let ax = axis < 0 ? axis + r : axis
        guard ax >= 0 && ax < r else { throw LangRuntimeError(.value, "softmax: axis \(axis) out of range for rank \(r)") }
        var x = a.floats()
        let outer = a.shape[..<ax].reduce(1, *), n = a.shape[ax], inner = a.shape[(ax + 1)...].reduce(1, *)
        for o in 0..<outer {
            for i in 0..<inner {
                var m = -Float.infinity
                for k in 0..<n { m = max(m, x[(o * n + k) * inner + i]) }
                var s: Float = 0
                for k in 0..<n { let e = Foundation.exp(x[(o * n + k) * inner + i] - m); x[(o * n + k) * inner + i] = e; s += e }
                for k in 0..<n { x[(o * n + k) * inner + i] /= s }
            }
        }
        return Tensor(shape: a.shape, floats: x)
    }

    static func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.shape.count >= 1, b.shape.count >= 1 else { throw LangRuntimeError(.value, "matmul: needs tensors of rank >= 1, got shapes \(a.shape) and \(b.shape)") }
        var A = a.to(.f32).contiguous(), B = b.to(.f32).contiguous()
        let aVec = A.shape.count == 1, bVec = B.shape.count == 1
        if aVec { A = Tensor(storage: A.storage, dtype: .f32, shape: [1, A.shape[0]], offset: A.offset) }
        if bVec { B = Tensor(storage: B.storage, dtype: .f32, shape: [B.shape[0], 1], offset: B.offset) }
        let m = A.shape[A.shape.count - 2], k = A.shape[A.shape.count - 1]
        let k2 = B.shape[B.shape.count - 2], n = B.shape[B.shape.count - 1]
        guard k == k2 else { throw LangRuntimeError(.value, "matmul: shapes \(a.shape) and \(b.shape) do not match (inner sizes \(k) vs \(k2))") }
        let batch = try broadcastShape(Array(A.shape.dropLast(2)), Array(B.shape.dropLast(2)), "matmul batch")
        let nb = batch.reduce(1, *)
        let ia = broadcastIndex(Array(A.shape.dropLast(2)), to: batch), ib = broadcastIndex(Array(B.shape.dropLast(2)), to: batch)
        let out = Tensor(zeros: batch + [m, n])
        let pa = A.floatPointer, pb = B.floatPointer, pc = out.floatPointer
        for i in 0..<nb {
            BLAS.sgemm(m: m, n: n, k: k, a: pa + ia[i] * m * k, lda: k, b: pb + ib[i] * k * n, ldb: n, c: pc + i * m * n, ldc: n)
        }
        var shape = batch + [m, n]
        if bVec { shape.removeLast() }
        if aVec { shape.remove(at: shape.count - (bVec ? 1 : 2)) }
        return Tensor(storage: out.storage, dtype: .f32, shape: shape, offset: 0)
    }

    static func backward(_ t: Tensor) throws {
        throw LangRuntimeError(.value, "backward: this tensor has no recorded operations to differentiate (use loss(m, ids) or tensors with requires_grad)")
    }
}
