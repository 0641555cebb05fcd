// Random: a small seeded generator (LlamaRandom) for weight initialisation and sampling, with
// normal deviates by Box-Muller. Same seed, same numbers, on every platform.
import Foundation
import Tensor

struct LlamaRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func nextDouble() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Fills p[0..<count] with normal(0, std) deviates.
    mutating func fillNormal(_ p: UnsafeMutablePointer<Float>, count: Int, std: Float) {
        var i = 0
        while i < count {
            let u1 = max(nextDouble(), 1e-300), u2 = nextDouble()
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
    static func fillNormalRows(_ dst: UnsafeMutablePointer<Float>, rows: Range<Int>, cols: Int, std: Float, seed: UInt64) {
        Parallel.forRanges(rows.count, grain: max(1, 65536 / max(1, cols))) { r in
            for i in r {
                var g = LlamaRandom(seed: seed ^ (UInt64(rows.lowerBound + i) &* 0xD1B5_4A32_D192_ED03))
                _ = g.next()
                g.fillNormal(dst + i * cols, count: cols, std: std)
            }
        }
    }
}
