// Random: SplitMix64, the one seeded generator of llx's libraries (weight init, LoRA init and
// dropout masks, the trainer's data order, synthetic data, evaluation draws). Same seed, same
// numbers on every platform; the whole state is one UInt64 (saved in training-state files).
// Each user seeds it its own way (e.g. Synth xors a constant into the seed), so the streams of
// the modules stay what they were when each had its own copy.
import Foundation
import Tensor

public struct SplitMix64: RandomNumberGenerator, Equatable, Sendable {
    /// The increment of the state per draw (the golden-ratio constant).
    public static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    /// The output function: a bijective mix of 64 bits.
    @inline(__always)
    public static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= SplitMix64.gamma
        return SplitMix64.mix(state)
    }

    /// Uniform in [0, 1) with 53 bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Stateless uniform float in [0, 1) from a key (counter-based: dropout masks).
    @inline(__always)
    public static func unit(_ key: UInt64) -> Float { Float(mix(key &+ gamma) >> 40) * 0x1.0p-24 }

    /// Uniform in [0, n) (n > 0), without modulo bias.
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        let bound = UInt64(n)
        let limit = UInt64.max - UInt64.max % bound
        while true {
            let x = next()
            if x < limit { return Int(x % bound) }
        }
    }

    /// A random permutation of 0..<n (Fisher-Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, below(i + 1)) }
        return p
    }

    /// Fills p[0..<count] with normal(0, std) deviates (Box-Muller, two per pair of draws).
    public mutating func fillNormal(_ p: UnsafeMutablePointer<Float>, count: Int, std: Float) {
        var i = 0
        while i < count {
            let u1 = max(nextUnit(), 1e-300), u2 = nextUnit()
            let r = (-2 * Foundation.log(u1)).squareRoot()
            let a = 2 * Double.pi * u2
            p[i] = Float(r * Foundation.cos(a)) * std
            if i + 1 < count { p[i + 1] = Float(r * Foundation.sin(a)) * std }
            i += 2
        }
    }

    /// Fills rows [rows) of a (?, cols) matrix with normal(0, std) deviates, each row from its
    /// own stream seeded by (seed, row): the values do not depend on how rows are chunked, and
    /// rows are generated in parallel. dst points at the first row of the range.
    public static func fillNormalRows(_ dst: UnsafeMutablePointer<Float>, rows: Range<Int>, cols: Int, std: Float, seed: UInt64) {
        Parallel.forRanges(rows.count, grain: max(1, 65536 / max(1, cols))) { r in
            for i in r {
                var g = SplitMix64(seed: seed ^ (UInt64(rows.lowerBound + i) &* 0xD1B5_4A32_D192_ED03))
                _ = g.next()
                g.fillNormal(dst + i * cols, count: cols, std: std)
            }
        }
    }
}
