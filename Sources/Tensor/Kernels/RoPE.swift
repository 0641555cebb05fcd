// Rotary position embedding kernels in the Hugging Face rotate-half convention:
// emb = cat(pos * inv_freq, pos * inv_freq); y = x * cos(emb) + rotate_half(x) * sin(emb),
// rotate_half(x) = cat(-x2, x1). Tables are scaled by `attentionScaling` as HF does.
import Foundation

extension Kernels {
    /// cos, sin: [T, headDim] with headDim = 2 * invFreq.count, row t for positions[t].
    public static func ropeTables(positions: [Int], invFreq: [Float], attentionScaling: Float = 1) -> (cos: [Float], sin: [Float]) {
        let half = invFreq.count, d = 2 * half, t = positions.count
        var c = [Float](repeating: 0, count: t * d), s = [Float](repeating: 0, count: t * d)
        c.withUnsafeMutableBufferPointer { cp in
            s.withUnsafeMutableBufferPointer { sp in
                let cb = cp.baseAddress!, sb = sp.baseAddress!
                positions.withUnsafeBufferPointer { pos in
                    Parallel.forRanges(t, grain: max(1, 4096 / max(1, d))) { r in
                        for i in r {
                            let p = Float(pos[i])
                            for j in 0..<half {
                                let f = Double(p * invFreq[j])     // HF forms the angle in f32
                                let cv = Float(Foundation.cos(f)) * attentionScaling
                                let sv = Float(Foundation.sin(f)) * attentionScaling
                                cb[i * d + j] = cv; cb[i * d + j + half] = cv
                                sb[i * d + j] = sv; sb[i * d + j + half] = sv
                            }
                        }
                    }
                }
            }
        }
        return (c, s)
    }

    /// Rotates x: [T, heads, headDim] in place with cos, sin: [T, headDim].
    /// inverse = true applies the transpose (rotation by -angle): the backward of the forward.
    public static func ropeApply(x: UnsafeMutablePointer<Float>, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>,
                                 T: Int, heads: Int, headDim: Int, inverse: Bool = false) {
        let half = headDim / 2
        if T == 0 || heads == 0 || half == 0 { return }
        Parallel.forRanges(T, grain: max(1, 8192 / max(1, heads * headDim))) { r in
            for t in r {
                let c = cos + t * headDim, s = sin + t * headDim
                for h in 0..<heads {
                    let p = x + (t * heads + h) * headDim
                    if !inverse {
                        // y1 = x1 c1 - x2 s1 ; y2 = x2 c2 + x1 s2
                        for j in 0..<half {
                            let a = p[j], b = p[j + half]
                            p[j] = a * c[j] - b * s[j]
                            p[j + half] = b * c[j + half] + a * s[j + half]
                        }
                    } else {
                        // transpose: x1 = y1 c1 + y2 s2 ; x2 = y2 c2 - y1 s1
                        for j in 0..<half {
                            let a = p[j], b = p[j + half]
                            p[j] = a * c[j] + b * s[j + half]
                            p[j + half] = b * c[j + half] - a * s[j]
                        }
                    }
                }
            }
        }
    }
}
