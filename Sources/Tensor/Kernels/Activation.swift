// SwiGLU kernels: out = silu(gate) * up, silu(g) = g * sigmoid(g).
import Foundation

extension Kernels {
    @inline(__always)
    static func sigmoid(_ g: Vec.F16) -> Vec.F16 { 1 / (1 + Vec.exp(-g)) }

    /// gate, up, out: [n] (out may alias gate or up).
    public static func swigluForward(gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                     out: UnsafeMutablePointer<Float>, n: Int) {
        Parallel.forRanges(n, grain: 32768) { r in
            var i = r.lowerBound
            while i + 16 <= r.upperBound {
                let g = Vec.load(gate + i)
                Vec.store(g * sigmoid(g) * Vec.load(up + i), out + i); i += 16
            }
            while i < r.upperBound { let g = gate[i]; out[i] = g / (1 + Foundation.exp(-g)) * up[i]; i += 1 }
        }
    }

    /// dout, gate, up: [n]; writes dgate, dup: [n] (either may alias dout).
    public static func swigluBackward(dout: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                      dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, n: Int) {
        Parallel.forRanges(n, grain: 32768) { r in
            var i = r.lowerBound
            while i + 16 <= r.upperBound {
                let g = Vec.load(gate + i), u = Vec.load(up + i), d = Vec.load(dout + i)
                let s = sigmoid(g)
                let dg = d * u * s * (1 + g * (1 - s))
                let du = d * g * s
                Vec.store(dg, dgate + i); Vec.store(du, dup + i); i += 16
            }
            while i < r.upperBound {
                let g = gate[i], u = up[i], d = dout[i]
                let s = 1 / (1 + Foundation.exp(-g))
                dgate[i] = d * u * s * (1 + g * (1 - s)); dup[i] = d * g * s; i += 1
            }
        }
    }
}
