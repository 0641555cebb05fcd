// Tensor: an n-dimensional array of one dtype over shared storage, with strides and an
// offset so that reshape, transpose and slicing can be views. Autograd state lives here too.
//
// Module map: Shape (broadcasting, axes), Factories (zeros/ones/full/arange/eye/rand/randn,
// Philox RNG), Views (reshape/permute/index/expand/cat), Elementwise, Reduce, Linalg (matmul),
// NN (softmax, cross-entropy, RMSNorm, SwiGLU, RoPE, embedding, attention), Autograd (tape,
// backward, customOp), Gradients (every backward rule), Description (PyTorch-style printing),
// Kernels/ (raw-pointer kernels the model calls directly), Bench (`llx bench`).
// Library entry points throw TensorError on bad input; `init(shape:floats:)` and
// `init(shape:ints:)` are for callers that already know the count matches (use `Tensor.from`).
import Foundation

/// Reference-counted, 64-byte aligned raw memory.
public final class Storage: @unchecked Sendable {
    public let bytes: UnsafeMutableRawPointer
    public let byteCount: Int

    public init(byteCount: Int) {
        self.byteCount = byteCount
        self.bytes = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
    }

    public init(zeroedByteCount byteCount: Int) {
        self.byteCount = byteCount
        self.bytes = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        self.bytes.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
    }

    deinit { bytes.deallocate() }
}

public enum TensorError: Error, CustomStringConvertible {
    case shape(String)
    case dtype(String)
    case index(String)
    case value(String)

    public var description: String {
        switch self {
        case .shape(let s), .dtype(let s), .index(let s), .value(let s): return s
        }
    }
}

public final class Tensor: @unchecked Sendable {
    public let storage: Storage
    public let dtype: DType
    public let shape: [Int]
    /// Strides in elements (not bytes).
    public let strides: [Int]
    /// Offset of element [0, 0, ...] in elements.
    public let offset: Int

    // Autograd state (see Autograd.swift).
    /// Set on leaves whose gradient is wanted; recorded op outputs carry it too.
    public var requiresGrad: Bool = false
    /// The accumulated gradient of a leaf after `backward`.
    public var grad: Tensor?
    /// The op that produced this tensor when it was recorded on the tape (nil for leaves).
    public internal(set) var gradNode: GradNode?

    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
        return s
    }

    public var isContiguous: Bool { strides == Tensor.contiguousStrides(shape) || count <= 1 }

    public init(storage: Storage, dtype: DType, shape: [Int], strides: [Int]? = nil, offset: Int = 0) {
        self.storage = storage
        self.dtype = dtype
        self.shape = shape
        self.strides = strides ?? Tensor.contiguousStrides(shape)
        self.offset = offset
    }

    /// A new contiguous tensor, zero-filled.
    public convenience init(zeros shape: [Int], dtype: DType = .f32) {
        let n = shape.reduce(1, *)
        self.init(storage: Storage(zeroedByteCount: n * dtype.size), dtype: dtype, shape: shape)
    }

    /// A new contiguous f32 tensor (or converted to `dtype`) from values in row-major order.
    public convenience init(shape: [Int], floats: [Float], dtype: DType = .f32) {
        precondition(floats.count == shape.reduce(1, *), "Tensor(shape:floats:): \(floats.count) values for shape \(shape)")
        self.init(zeros: shape, dtype: dtype)
        floats.withUnsafeBufferPointer { src in Tensor.store(src, into: storage.bytes, dtype: dtype) }
    }

    /// A new contiguous integer (or float) tensor from integer values.
    public convenience init(shape: [Int], ints: [Int], dtype: DType = .i64) {
        precondition(ints.count == shape.reduce(1, *), "Tensor(shape:ints:): \(ints.count) values for shape \(shape)")
        self.init(zeros: shape, dtype: dtype)
        let p = storage.bytes
        switch dtype {
        case .i64: for (i, v) in ints.enumerated() { p.storeBytes(of: Int64(v), toByteOffset: i * 8, as: Int64.self) }
        case .i32: for (i, v) in ints.enumerated() { p.storeBytes(of: Int32(truncatingIfNeeded: v), toByteOffset: i * 4, as: Int32.self) }
        case .u8: for (i, v) in ints.enumerated() { p.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: i, as: UInt8.self) }
        default:
            let f = ints.map { Float($0) }
            f.withUnsafeBufferPointer { src in Tensor.store(src, into: p, dtype: dtype) }
        }
    }

    /// A new contiguous tensor holding a copy of raw little-endian element bytes.
    public convenience init(shape: [Int], dtype: DType, rawBytes: UnsafeRawBufferPointer) throws {
        let n = shape.reduce(1, *)
        guard rawBytes.count == n * dtype.size else {
            throw TensorError.shape("\(rawBytes.count) bytes do not hold \(dtype.rawValue) shape \(shape) (\(n * dtype.size) bytes)")
        }
        self.init(zeros: shape, dtype: dtype)
        if n > 0 { storage.bytes.copyMemory(from: rawBytes.baseAddress!, byteCount: rawBytes.count) }
    }

    static func store(_ src: UnsafeBufferPointer<Float>, into p: UnsafeMutableRawPointer, dtype: DType) {
        switch dtype {
        case .f32: p.copyMemory(from: src.baseAddress!, byteCount: src.count * 4)
        case .f16: for i in 0..<src.count { p.storeBytes(of: Half.f16Bits(src[i]), toByteOffset: i * 2, as: UInt16.self) }
        case .bf16: for i in 0..<src.count { p.storeBytes(of: Half.bf16Bits(src[i]), toByteOffset: i * 2, as: UInt16.self) }
        case .i32: for i in 0..<src.count { p.storeBytes(of: Int32(clamping: saturatingInt(src[i])), toByteOffset: i * 4, as: Int32.self) }
        case .i64: for i in 0..<src.count { p.storeBytes(of: Int64(saturatingInt(src[i])), toByteOffset: i * 8, as: Int64.self) }
        case .u8: for i in 0..<src.count { p.storeBytes(of: UInt8(clamping: saturatingInt(src[i])), toByteOffset: i, as: UInt8.self) }
        }
    }

    /// Float -> Int truncating toward zero, saturating at the Int range; NaN gives 0
    /// (`cast(_:)` is the checked conversion that throws instead).
    @inline(__always)
    static func saturatingInt(_ x: Float) -> Int {
        if x.isNaN { return 0 }
        if x >= 9.2e18 { return Int.max }
        if x <= -9.2e18 { return Int.min }
        return Int(x)
    }

    /// Element at a linear storage index, as Float.
    @inline(__always)
    func loadFloat(_ i: Int) -> Float {
        let p = storage.bytes
        switch dtype {
        case .f32: return p.load(fromByteOffset: i * 4, as: Float.self)
        case .f16: return Half.fromF16Bits(p.load(fromByteOffset: i * 2, as: UInt16.self))
        case .bf16: return Half.fromBF16Bits(p.load(fromByteOffset: i * 2, as: UInt16.self))
        case .i32: return Float(p.load(fromByteOffset: i * 4, as: Int32.self))
        case .i64: return Float(p.load(fromByteOffset: i * 8, as: Int64.self))
        case .u8: return Float(p.load(fromByteOffset: i, as: UInt8.self))
        }
    }

    /// Storage indices of every element in row-major order.
    public func forEachStorageIndex(_ body: (Int) -> Void) {
        let n = count
        if n == 0 { return }
        if isContiguous { for i in 0..<n { body(offset + i) }; return }
        var idx = [Int](repeating: 0, count: rank)
        var pos = offset
        for _ in 0..<n {
            body(pos)
            var d = rank - 1
            while d >= 0 {
                idx[d] += 1; pos += strides[d]
                if idx[d] < shape[d] { break }
                pos -= strides[d] * shape[d]; idx[d] = 0; d -= 1
            }
        }
    }

    /// All elements in row-major order, converted to Float.
    public func floats() -> [Float] {
        if dtype == .f32 && isContiguous {
            return Array(UnsafeBufferPointer(start: storage.bytes.assumingMemoryBound(to: Float.self) + offset, count: count))
        }
        var out = [Float](); out.reserveCapacity(count)
        forEachStorageIndex { out.append(loadFloat($0)) }
        return out
    }

    /// All elements in row-major order as Int (floats truncate toward zero).
    public func ints() -> [Int] {
        var out = [Int](); out.reserveCapacity(count)
        let p = storage.bytes
        forEachStorageIndex { i in
            switch dtype {
            case .i64: out.append(Int(p.load(fromByteOffset: i * 8, as: Int64.self)))
            case .i32: out.append(Int(p.load(fromByteOffset: i * 4, as: Int32.self)))
            case .u8: out.append(Int(p.load(fromByteOffset: i, as: UInt8.self)))
            default: out.append(Tensor.saturatingInt(loadFloat(i)))
            }
        }
        return out
    }

    /// A contiguous tensor with the same values (self when already contiguous).
    public func contiguous() -> Tensor {
        if isContiguous && offset == 0 { return self }
        let out = Tensor(zeros: shape, dtype: dtype)
        let es = dtype.size
        var j = 0
        let src = storage.bytes, dst = out.storage.bytes
        forEachStorageIndex { i in dst.advanced(by: j * es).copyMemory(from: src.advanced(by: i * es), byteCount: es); j += 1 }
        return out
    }

    /// The elements as little-endian bytes in row-major order, in this tensor's dtype.
    public func rawBytes() -> [UInt8] {
        let c = contiguous()
        return Array(UnsafeRawBufferPointer(start: c.storage.bytes.advanced(by: c.offset * dtype.size), count: count * dtype.size))
    }

    /// Pointer to the first element of a contiguous f32 tensor (precondition: f32 and contiguous).
    public var floatPointer: UnsafeMutablePointer<Float> {
        precondition(dtype == .f32 && isContiguous, "floatPointer needs a contiguous f32 tensor")
        return storage.bytes.assumingMemoryBound(to: Float.self) + offset
    }

    /// Converts to another dtype (a copy; self when the dtype is already right).
    public func to(_ target: DType) -> Tensor {
        if target == dtype { return self }
        if target.isFloatingPoint || dtype.isFloatingPoint {
            return Tensor(shape: shape, floats: floats(), dtype: target)
        }
        return Tensor(shape: shape, ints: ints(), dtype: target)
    }
}
