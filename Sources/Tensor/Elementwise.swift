// Elementwise ops with NumPy broadcasting: arithmetic (+ - * / pow maximum minimum), comparisons
// (u8 results), and math functions. Floats compute in f32; integer tensors keep integer arithmetic
// for + - * maximum minimum neg abs. Operators throw TensorError on shapes that do not broadcast.
import Foundation

public enum BinaryOp: String, Sendable { case add, sub, mul, div, pow, maximum, minimum }
public enum UnaryOp: String, Sendable { case neg, exp, log, sqrt, rsqrt, tanh, sigmoid, silu, relu, abs, sin, cos, square }
public enum CompareOp: String, Sendable { case eq, ne, lt, le, gt, ge }

extension Tensor {
    // MARK: engines

    /// out = f(a, b) over the broadcast shape, reading f32 views through their strides.
    @inline(__always)
    static func mapF32(_ a: Tensor, _ b: Tensor, _ what: String, _ f: (Float, Float) -> Float) throws -> Tensor {
        let shape = try Shape.broadcast(a.shape, b.shape, what)
        let A = a.dtype == .f32 ? a : a.toF32(), B = b.dtype == .f32 ? b : b.toF32()
        let out = empty(shape)
        let o = out.storage.bytes.assumingMemoryBound(to: Float.self)
        let pa = A.storage.bytes.assumingMemoryBound(to: Float.self), pb = B.storage.bytes.assumingMemoryBound(to: Float.self)
        let n = out.count
        if n == 0 { return out }
        if A.isContiguous && B.isContiguous && A.shape == shape && B.shape == shape {
            let xa = pa + A.offset, xb = pb + B.offset
            Parallel.forRanges(n, grain: 65536) { r in for i in r { o[i] = f(xa[i], xb[i]) } }
            return out
        }
        if A.isContiguous && A.shape == shape && B.count == 1 {
            let xa = pa + A.offset, s = pb[B.offset]
            Parallel.forRanges(n, grain: 65536) { r in for i in r { o[i] = f(xa[i], s) } }
            return out
        }
        let sa = Shape.broadcastStrides(A.shape, A.strides, to: shape), sb = Shape.broadcastStrides(B.shape, B.strides, to: shape)
        let inner = shape.last ?? 1, ia = sa.last ?? 0, ib = sb.last ?? 0
        var j = 0
        Shape.forEachRow(shape, [sa, sb], bases: [A.offset, B.offset]) { off in
            var x = off[0], y = off[1]
            for _ in 0..<inner { o[j] = f(pa[x], pb[y]); x += ia; y += ib; j += 1 }
        }
        return out
    }

    /// out = f(a) for every element, f32.
    @inline(__always)
    static func mapF32(_ a: Tensor, _ f: (Float) -> Float) -> Tensor {
        let A = a.toF32()
        let out = empty(a.shape)
        let o = out.storage.bytes.assumingMemoryBound(to: Float.self), x = A.storage.bytes.assumingMemoryBound(to: Float.self) + A.offset
        Parallel.forRanges(out.count, grain: 32768) { r in for i in r { o[i] = f(x[i]) } }
        return out
    }

    /// Integer elementwise over the broadcast shape (values as Int).
    static func mapInt(_ a: Tensor, _ b: Tensor, _ what: String, dtype: DType, _ f: (Int, Int) -> Int) throws -> Tensor {
        let shape = try Shape.broadcast(a.shape, b.shape, what)
        let av = a.ints(), bv = b.ints()
        let ca = Shape.broadcastStrides(a.shape, Tensor.contiguousStrides(a.shape), to: shape)
        let cb = Shape.broadcastStrides(b.shape, Tensor.contiguousStrides(b.shape), to: shape)
        var out = [Int](); out.reserveCapacity(Shape.count(shape))
        let inner = shape.last ?? 1, ia = ca.last ?? 0, ib = cb.last ?? 0
        Shape.forEachRow(shape, [ca, cb], bases: [0, 0]) { off in
            var x = off[0], y = off[1]
            for _ in 0..<inner { out.append(f(av[x], bv[y])); x += ia; y += ib }
        }
        return Tensor(shape: shape, ints: out, dtype: dtype)
    }

    static func resultDType(_ a: Tensor, _ b: Tensor) -> DType {
        if a.dtype == b.dtype && (a.dtype == .f16 || a.dtype == .bf16) { return a.dtype }
        return .f32
    }

    // MARK: binary

    /// Elementwise `op` with broadcasting; recorded for autograd.
    public func binary(_ op: BinaryOp, _ other: Tensor) throws -> Tensor {
        let a = self, b = other
        let what = op.rawValue
        if !a.dtype.isFloatingPoint && !b.dtype.isFloatingPoint && [.add, .sub, .mul, .maximum, .minimum].contains(op) {
            let dt: DType = a.dtype == b.dtype ? a.dtype : .i64
            switch op {
            case .add: return try Tensor.mapInt(a, b, what, dtype: dt) { $0 &+ $1 }
            case .sub: return try Tensor.mapInt(a, b, what, dtype: dt) { $0 &- $1 }
            case .mul: return try Tensor.mapInt(a, b, what, dtype: dt) { $0 &* $1 }
            case .maximum: return try Tensor.mapInt(a, b, what, dtype: dt) { Swift.max($0, $1) }
            default: return try Tensor.mapInt(a, b, what, dtype: dt) { Swift.min($0, $1) }
            }
        }
        var out: Tensor
        switch op {
        case .add: out = try Tensor.mapF32(a, b, what) { $0 + $1 }
        case .sub: out = try Tensor.mapF32(a, b, what) { $0 - $1 }
        case .mul: out = try Tensor.mapF32(a, b, what) { $0 * $1 }
        case .div: out = try Tensor.mapF32(a, b, what) { $0 / $1 }
        case .pow: out = try Tensor.mapF32(a, b, what) { Foundation.pow($0, $1) }
        case .maximum: out = try Tensor.mapF32(a, b, what) { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
        case .minimum: out = try Tensor.mapF32(a, b, what) { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }
        }
        let dt = Tensor.resultDType(a, b)
        if dt != .f32 { out = out.to(dt) }
        return Tensor.record(out, .binary(op), [a, b])
    }

    public func adding(_ o: Tensor) throws -> Tensor { try binary(.add, o) }
    public func subtracting(_ o: Tensor) throws -> Tensor { try binary(.sub, o) }
    public func multiplying(_ o: Tensor) throws -> Tensor { try binary(.mul, o) }
    public func dividing(_ o: Tensor) throws -> Tensor { try binary(.div, o) }
    public func pow(_ o: Tensor) throws -> Tensor { try binary(.pow, o) }
    public func pow(_ e: Float) throws -> Tensor { try binary(.pow, .scalar(e)) }
    public func maximum(_ o: Tensor) throws -> Tensor { try binary(.maximum, o) }
    public func minimum(_ o: Tensor) throws -> Tensor { try binary(.minimum, o) }

    /// A 0-d tensor for a number combined with this tensor (integer tensors keep integer numbers).
    func scalarLike(_ v: Double) -> Tensor {
        if !dtype.isFloatingPoint && v == v.rounded() && Swift.abs(v) < 9e15 { return Tensor(shape: [], ints: [Int(v)], dtype: dtype) }
        return .scalar(Float(v))
    }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.add, b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.sub, b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.mul, b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.binary(.div, b) }
    public static func + (a: Tensor, b: Double) throws -> Tensor { try a.binary(.add, a.scalarLike(b)) }
    public static func - (a: Tensor, b: Double) throws -> Tensor { try a.binary(.sub, a.scalarLike(b)) }
    public static func * (a: Tensor, b: Double) throws -> Tensor { try a.binary(.mul, a.scalarLike(b)) }
    public static func / (a: Tensor, b: Double) throws -> Tensor { try a.binary(.div, .scalar(Float(b))) }
    public static func + (a: Double, b: Tensor) throws -> Tensor { try b.scalarLike(a).binary(.add, b) }
    public static func - (a: Double, b: Tensor) throws -> Tensor { try b.scalarLike(a).binary(.sub, b) }
    public static func * (a: Double, b: Tensor) throws -> Tensor { try b.scalarLike(a).binary(.mul, b) }
    public static func / (a: Double, b: Tensor) throws -> Tensor { try Tensor.scalar(Float(a)).binary(.div, b) }
    public static prefix func - (a: Tensor) throws -> Tensor { try a.unary(.neg) }

    // MARK: unary

    /// Elementwise math function; recorded for autograd.
    public func unary(_ op: UnaryOp) throws -> Tensor {
        if !dtype.isFloatingPoint && (op == .neg || op == .abs || op == .square) {
            let v = ints()
            let r: [Int] = op == .neg ? v.map { 0 &- $0 } : (op == .abs ? v.map { $0 == Int.min ? $0 : Swift.abs($0) } : v.map { $0 &* $0 })
            return Tensor(shape: shape, ints: r, dtype: dtype)
        }
        var out: Tensor
        switch op {
        case .neg: out = Tensor.mapF32(self) { -$0 }
        case .exp: out = Tensor.mapF32(self) { Foundation.exp($0) }
        case .log: out = Tensor.mapF32(self) { Foundation.log($0) }
        case .sqrt: out = Tensor.mapF32(self) { $0.squareRoot() }
        case .rsqrt: out = Tensor.mapF32(self) { 1 / $0.squareRoot() }
        case .tanh: out = Tensor.mapF32(self) { Foundation.tanh($0) }
        case .sigmoid: out = Tensor.mapF32(self) { 1 / (1 + Foundation.exp(-$0)) }
        case .silu: out = Tensor.mapF32(self) { $0 / (1 + Foundation.exp(-$0)) }
        case .relu: out = Tensor.mapF32(self) { $0 > 0 ? $0 : ($0.isNaN ? $0 : 0) }
        case .abs: out = Tensor.mapF32(self) { Swift.abs($0) }
        case .sin: out = Tensor.mapF32(self) { Foundation.sin($0) }
        case .cos: out = Tensor.mapF32(self) { Foundation.cos($0) }
        case .square: out = Tensor.mapF32(self) { $0 * $0 }
        }
        if dtype == .f16 || dtype == .bf16 { out = out.to(dtype) }
        return Tensor.record(out, .unary(op), [self])
    }

    public func exp() throws -> Tensor { try unary(.exp) }
    public func log() throws -> Tensor { try unary(.log) }
    public func sqrt() throws -> Tensor { try unary(.sqrt) }
    public func rsqrt() throws -> Tensor { try unary(.rsqrt) }
    public func tanh() throws -> Tensor { try unary(.tanh) }
    public func sigmoid() throws -> Tensor { try unary(.sigmoid) }
    public func silu() throws -> Tensor { try unary(.silu) }
    public func relu() throws -> Tensor { try unary(.relu) }
    public func abs() throws -> Tensor { try unary(.abs) }
    public func sin() throws -> Tensor { try unary(.sin) }
    public func cos() throws -> Tensor { try unary(.cos) }
    public func square() throws -> Tensor { try unary(.square) }

    // MARK: comparisons

    /// Elementwise comparison with broadcasting: u8 tensor of 0/1 (not differentiable).
    public func compare(_ op: CompareOp, _ other: Tensor) throws -> Tensor {
        let f: (Float, Float) -> Float
        switch op {
        case .eq: f = { $0 == $1 ? 1 : 0 }
        case .ne: f = { $0 != $1 ? 1 : 0 }
        case .lt: f = { $0 < $1 ? 1 : 0 }
        case .le: f = { $0 <= $1 ? 1 : 0 }
        case .gt: f = { $0 > $1 ? 1 : 0 }
        case .ge: f = { $0 >= $1 ? 1 : 0 }
        }
        if !dtype.isFloatingPoint && !other.dtype.isFloatingPoint {
            let g: (Int, Int) -> Int
            switch op {
            case .eq: g = { $0 == $1 ? 1 : 0 }
            case .ne: g = { $0 != $1 ? 1 : 0 }
            case .lt: g = { $0 < $1 ? 1 : 0 }
            case .le: g = { $0 <= $1 ? 1 : 0 }
            case .gt: g = { $0 > $1 ? 1 : 0 }
            case .ge: g = { $0 >= $1 ? 1 : 0 }
            }
            return try Tensor.mapInt(self, other, op.rawValue, dtype: .u8, g)
        }
        return try Tensor.mapF32(self, other, op.rawValue, f).to(.u8)
    }
}
