// Factories: tensors from values and shapes (zeros, ones, full, arange, eye, rand, randn), and
// llx's random generator: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011), keyed by the seed, counter = draw index; normals by Box-Muller. The same
// seed gives the same numbers on every run and machine.
import Foundation

/// Counter-based generator: block i of 4 x UInt32 is Philox4x32-10(key: seed, counter: i).
public final class RandomGenerator: @unchecked Sendable {
    public private(set) var seed: UInt64
    /// Next unused block index.
    public private(set) var counter: UInt64 = 0

    public init(seed: UInt64) { self.seed = seed }

    /// The generator used when no seed is given; `seed(n)` in llx re-seeds it.
    nonisolated(unsafe) public static var global = RandomGenerator(seed: 0)

    public func reseed(_ s: UInt64) { seed = s; counter = 0 }

    /// Philox4x32 with 10 rounds.
    @inline(__always)
    public static func philox(counter: UInt64, key: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: counter), c1 = UInt32(truncatingIfNeeded: counter >> 32)
        var c2: UInt32 = 0, c3: UInt32 = 0
        var k0 = UInt32(truncatingIfNeeded: key), k1 = UInt32(truncatingIfNeeded: key >> 32)
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0), p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let n0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0
            let n1 = UInt32(truncatingIfNeeded: p1)
            let n2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1
            let n3 = UInt32(truncatingIfNeeded: p0)
            c0 = n0; c1 = n1; c2 = n2; c3 = n3
            k0 = k0 &+ 0x9E37_79B9; k1 = k1 &+ 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    /// n floats from the next ceil(n/4) Philox blocks: block b (its four words) fills
    /// out[4b ..< 4b + k], k = min(4, n - 4b), through `body`; blocks run in parallel.
    private func blocks(_ n: Int, grain: Int,
                        _ body: (_ words: (UInt32, UInt32, UInt32, UInt32), _ out: UnsafeMutablePointer<Float>, _ k: Int) -> Void) -> [Float] {
        var out = [Float](repeating: 0, count: n)
        let base = counter
        counter &+= UInt64((n + 3) / 4)
        let s = seed
        out.withUnsafeMutableBufferPointer { o in
            guard let p = o.baseAddress else { return }
            Parallel.forRanges((n + 3) / 4, grain: grain) { r in
                for b in r { body(RandomGenerator.philox(counter: base &+ UInt64(b), key: s), p + b * 4, Swift.min(4, n - b * 4)) }
            }
        }
        return out
    }

    /// n uniform floats in [0, 1) (24-bit resolution), consuming ceil(n/4) blocks.
    public func uniform(_ n: Int) -> [Float] {
        blocks(n, grain: 4096) { x, p, k in
            let xs = [x.0, x.1, x.2, x.3]
            for j in 0..<k { p[j] = Float(xs[j] >> 8) * 0x1p-24 }
        }
    }

    /// n standard normal floats: each block's (u0,u1), (u2,u3) give two Box-Muller pairs.
    public func normal(_ n: Int) -> [Float] {
        blocks(n, grain: 2048) { x, p, k in
            // u1 in (0, 1] so the log is finite; u2 in [0, 1).
            for (j, (a, c)) in [(x.0, x.1), (x.2, x.3)].enumerated() {
                let u1 = (Double(a) + 1) / 4294967296.0, u2 = Double(c) / 4294967296.0
                let rad = (-2 * Foundation.log(u1)).squareRoot(), th = 2 * Double.pi * u2
                if 2 * j < k { p[2 * j] = Float(rad * Foundation.cos(th)) }
                if 2 * j + 1 < k { p[2 * j + 1] = Float(rad * Foundation.sin(th)) }
            }
        }
    }
}

extension Tensor {
    /// An uninitialized contiguous f32 tensor (internal: every element is written before use).
    static func empty(_ shape: [Int]) -> Tensor {
        Tensor(storage: Storage(byteCount: Shape.count(shape) * 4), dtype: .f32, shape: shape)
    }

    /// Checks a shape a user or a file gave before a tensor of it is allocated: no negative
    /// extent, at most 2^40 elements, and the bytes fit in the available memory (`Memory`).
    public static func validShape(_ shape: [Int], _ what: String, dtype: DType = .f32) throws -> [Int] {
        try Shape.check(shape, what)
        var n = 1
        for d in shape {
            let (m, o) = n.multipliedReportingOverflow(by: Swift.max(d, 1))
            guard !o, m <= (1 << 40) else { throw TensorError.shape("\(what): shape \(shape) is too large") }
            n = m
        }
        try Memory.require(shape: shape, dtype: dtype, what)
        return shape
    }

    /// A tensor of `shape` filled with `value` (f32 unless `dtype` says otherwise).
    public static func full(_ shape: [Int], _ value: Float, dtype: DType = .f32) -> Tensor {
        let n = Shape.count(shape)
        if dtype == .f32 {
            let t = empty(shape)
            t.storage.bytes.assumingMemoryBound(to: Float.self).update(repeating: value, count: n)
            return t
        }
        return Tensor(shape: shape, floats: [Float](repeating: value, count: n), dtype: dtype)
    }

    /// Checked factories (throw on negative or huge shapes).
    public static func zeros(_ shape: [Int], dtype: DType = .f32) throws -> Tensor {
        Tensor(zeros: try validShape(shape, "zeros", dtype: dtype), dtype: dtype)
    }
    public static func ones(_ shape: [Int], dtype: DType = .f32) throws -> Tensor {
        full(try validShape(shape, "ones", dtype: dtype), 1, dtype: dtype)
    }
    public static func filled(_ shape: [Int], _ value: Float, dtype: DType = .f32) throws -> Tensor {
        full(try validShape(shape, "full", dtype: dtype), value, dtype: dtype)
    }

    /// A 0-d tensor.
    public static func scalar(_ v: Float, dtype: DType = .f32) -> Tensor { full([], v, dtype: dtype) }

    /// Values in row-major order; throws when the count does not match the shape.
    public static func from(_ values: [Float], shape: [Int], dtype: DType = .f32) throws -> Tensor {
        _ = try validShape(shape, "tensor")
        guard values.count == Shape.count(shape) else {
            throw TensorError.shape("tensor: \(values.count) values do not fill shape \(shape)")
        }
        return Tensor(shape: shape, floats: values, dtype: dtype)
    }

    /// Integer values in row-major order.
    public static func from(ints values: [Int], shape: [Int], dtype: DType = .i64) throws -> Tensor {
        _ = try validShape(shape, "tensor")
        guard values.count == Shape.count(shape) else {
            throw TensorError.shape("tensor: \(values.count) values do not fill shape \(shape)")
        }
        return Tensor(shape: shape, ints: values, dtype: dtype)
    }

    /// start, start + step, ... below `end` (above, for negative steps). Integer arguments give i64
    /// unless `dtype` is given, as torch.arange does.
    public static func arange(_ start: Double, _ end: Double, step: Double = 1, dtype: DType? = nil) throws -> Tensor {
        guard step != 0, step.isFinite, start.isFinite, end.isFinite else {
            throw TensorError.value("arange: step must be finite and non-zero, bounds finite (got \(start), \(end), \(step))")
        }
        let nd = Swift.max(0, ((end - start) / step).rounded(.up))
        guard nd <= Double(1 << 34) else { throw TensorError.shape("arange: \(nd) elements is too many") }
        let n = Int(nd)
        try Memory.require(count: n, elementSize: 16, "arange: \(n) elements")
        let integral = start == start.rounded() && step == step.rounded()
        let dt = dtype ?? (integral ? .i64 : .f32)
        if dt.isFloatingPoint { return Tensor(shape: [n], floats: (0..<n).map { Float(start + Double($0) * step) }, dtype: dt) }
        return Tensor(shape: [n], ints: (0..<n).map { Int(start + Double($0) * step) }, dtype: dt)
    }

    /// The n x m identity (m = n by default).
    public static func eye(_ n: Int, _ m: Int? = nil, dtype: DType = .f32) throws -> Tensor {
        let m = m ?? n
        _ = try validShape([n, m], "eye", dtype: dtype)
        let t = try zeros([n, m])
        for i in 0..<Swift.min(n, m) { t.storage.bytes.assumingMemoryBound(to: Float.self)[i * m + i] = 1 }
        return t.to(dtype)
    }

    /// Uniform [0, 1) values; `seed` gives a fresh generator, else the global one advances.
    public static func rand(_ shape: [Int], seed: UInt64? = nil, dtype: DType = .f32) throws -> Tensor {
        let s = try validShape(shape, "rand", dtype: dtype)
        try Memory.require(count: Shape.count(s), elementSize: 4 + dtype.size, "rand: shape \(s)")
        let g = seed.map { RandomGenerator(seed: $0) } ?? RandomGenerator.global
        return Tensor(shape: s, floats: g.uniform(Shape.count(s)), dtype: dtype)
    }

    /// Standard normal values; `seed` gives a fresh generator, else the global one advances.
    public static func randn(_ shape: [Int], seed: UInt64? = nil, dtype: DType = .f32) throws -> Tensor {
        let s = try validShape(shape, "randn", dtype: dtype)
        try Memory.require(count: Shape.count(s), elementSize: 4 + dtype.size, "randn: shape \(s)")
        let g = seed.map { RandomGenerator(seed: $0) } ?? RandomGenerator.global
        return Tensor(shape: s, floats: g.normal(Shape.count(s)), dtype: dtype)
    }

    /// A contiguous f32 tensor with these values (self when already contiguous f32).
    public func toF32() -> Tensor {
        if dtype == .f32 && isContiguous { return self }
        if dtype == .f32 { return contiguousF32Copy() }
        return Tensor(shape: shape, floats: floats())
    }

    /// A contiguous f32 copy of any view; storage of another dtype is converted through
    /// `floats()` (which follows the strides) instead of being read as f32.
    func contiguousF32Copy() -> Tensor {
        if dtype != .f32 { return Tensor(shape: shape, floats: floats()) }
        let out = Tensor.empty(shape)
        let dst = out.storage.bytes.assumingMemoryBound(to: Float.self)
        let src = storage.bytes.assumingMemoryBound(to: Float.self)
        var j = 0
        let inner = shape.last ?? 1, st = strides.last ?? 1
        Shape.forEachRow(shape, [strides], bases: [offset]) { o in
            var s = o[0]
            for _ in 0..<inner { dst[j] = src[s]; s += st; j += 1 }
        }
        return out
    }

    /// A copy with its own contiguous storage (same dtype).
    public func clone() -> Tensor {
        if dtype == .f32 {
            if isContiguous {
                let out = Tensor.empty(shape)
                out.storage.bytes.copyMemory(from: storage.bytes + offset * 4, byteCount: count * 4)
                return out
            }
            return contiguousF32Copy()
        }
        let c = contiguous()
        if c !== self { return c }
        let out = Tensor(zeros: shape, dtype: dtype)
        out.storage.bytes.copyMemory(from: storage.bytes + offset * dtype.size, byteCount: count * dtype.size)
        return out
    }

    /// Checked dtype conversion: throws when a float value (NaN, infinity, out of range) cannot be an integer.
    public func cast(_ target: DType) throws -> Tensor {
        if target == dtype { return self }
        if !target.isFloatingPoint && dtype.isFloatingPoint {
            let lim: Float = target == .u8 ? 256 : (target == .i32 ? 2147483648 : 9.2e18)
            let lo: Float = target == .u8 ? 0 : -lim
            for v in floats() where !(v >= lo && v < lim) {
                throw TensorError.value("cannot convert \(v) to \(target.rawValue)")
            }
        }
        return to(target)
    }

    /// The single value of a one-element tensor.
    public func item() throws -> Float {
        guard count == 1 else { throw TensorError.shape("item: tensor of shape \(shape) has \(count) elements, not 1") }
        return loadFloat(offset)
    }

    /// The single value as Double (integers exactly up to 2^53).
    public func itemDouble() throws -> Double {
        guard count == 1 else { throw TensorError.shape("item: tensor of shape \(shape) has \(count) elements, not 1") }
        if dtype.isFloatingPoint { return Double(loadFloat(offset)) }
        return Double(ints()[0])
    }
}
