// TorchSum: float32 sum and mean of a contiguous vector in exactly the order PyTorch's CPU
// kernel adds (aten/src/ATen/native/cpu/SumKernel.cpp: `cascade_sum`), so that the offset of
// NF4 double quantization (`absmax.mean()` in bitsandbytes) matches bit for bit.
//
// The order: the vector is split into min(threads, ceil(n / 32768)) equal chunks (torch's
// parallel_reduce, GRAIN_SIZE 32768), whose sums are added left to right. Within a chunk of
// n >= 8 elements, 8-lane vectors (the AVX2 kernel torch dispatches here) are summed by a
// 4-way interleaved, 4-level cascade; then the scalar tail, then the 8 lanes, are added in order.
// Shorter chunks use the same cascade on scalars.

enum TorchSum {
    static let lanes = 8
    static let grain = 32768

    /// torch.sum(x) for float32 x on a machine where torch runs `threads` threads.
    static func sum(_ x: UnsafePointer<Float>, count n: Int, threads: Int = 1) -> Float {
        if n <= 0 { return 0 }
        let chunks = max(1, min(threads, (n + grain - 1) / grain))
        if chunks == 1 { return 0 + chunkSum(x, n) }
        let size = (n + chunks - 1) / chunks
        var total: Float = 0
        var first = true
        var lo = 0
        while lo < n {
            let part: Float = 0 + chunkSum(x + lo, min(size, n - lo))
            total = first ? part : total + part
            first = false
            lo += size
        }
        return total
    }

    /// torch.mean(x) = sum / n in float32.
    static func mean(_ x: UnsafePointer<Float>, count n: Int, threads: Int = 1) -> Float {
        sum(x, count: n, threads: threads) / Float(n)
    }

    private static func chunkSum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        if n >= lanes {
            let vecCount = n / lanes
            let raw = UnsafeRawPointer(x)
            let v: SIMD8<Float> = rowSum(vecCount) { i in raw.loadUnaligned(fromByteOffset: i * lanes * 4, as: SIMD8<Float>.self) }
            var acc: Float = 0
            for k in (vecCount * lanes)..<n { acc += x[k] }
            for k in 0..<lanes { acc += v[k] }
            return acc
        }
        return rowSum(n) { x[$0] }
    }

    /// Four interleaved partial sums (element i goes to sum i % 4), then the tail, then combine.
    private static func rowSum<V: TorchSummable>(_ size: Int, _ load: (Int) -> V) -> V {
        let ilp = 4
        let rows = size / ilp
        var partial = multiRowSum(rows) { i, k in load(i * ilp + k) }
        for i in (rows * ilp)..<max(rows * ilp, size) { partial.0 += load(i) }
        return ((partial.0 + partial.1) + partial.2) + partial.3
    }

    private static func ceilLog2(_ x: Int) -> Int {
        if x <= 2 { return 1 }
        return Int.bitWidth - (x - 1).leadingZeroBitCount
    }

    /// The 4-level cascade over `size` rows of 4 values each.
    private static func multiRowSum<V: TorchSummable>(_ size: Int, _ load: (Int, Int) -> V) -> (V, V, V, V) {
        let levels = 4
        let power = max(4, ceilLog2(size) / levels)
        let step = 1 << power
        let mask = step - 1
        var acc = [[V]](repeating: [V](repeating: .zero, count: 4), count: levels)
        var i = 0
        while i + step <= size {
            for _ in 0..<step {
                for k in 0..<4 { acc[0][k] += load(i, k) }
                i += 1
            }
            for j in 1..<levels {
                for k in 0..<4 { acc[j][k] += acc[j - 1][k]; acc[j - 1][k] = .zero }
                if (i & (mask << (j * power))) != 0 { break }
            }
        }
        while i < size {
            for k in 0..<4 { acc[0][k] += load(i, k) }
            i += 1
        }
        for j in 1..<levels { for k in 0..<4 { acc[0][k] += acc[j][k] } }
        return (acc[0][0], acc[0][1], acc[0][2], acc[0][3])
    }
}

/// Values the cascade adds: float32 scalars and 8-lane vectors (lane-wise).
protocol TorchSummable {
    static var zero: Self { get }
    static func + (a: Self, b: Self) -> Self
}

extension TorchSummable {
    static func += (a: inout Self, b: Self) { a = a + b }
}

extension Float: TorchSummable {}
extension SIMD8: TorchSummable where Scalar == Float {}
