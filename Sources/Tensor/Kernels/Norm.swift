// RMSNorm kernels (Hugging Face LlamaRMSNorm): y = x * rsqrt(mean(x^2) + eps) * weight, in f32.

extension Kernels {
    /// x, out: [rows, dim]; weight: [dim]; rstd (optional out): [rows] = 1/sqrt(mean(x^2)+eps).
    public static func rmsNormForward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                      out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>?,
                                      rows: Int, dim: Int, eps: Float) {
        if rows == 0 || dim == 0 { return }
        Parallel.forRanges(rows, grain: max(1, 16384 / dim)) { r in
            for row in r {
                let xr = x + row * dim, yr = out + row * dim
                let ms = Vec.sumSquares(xr, dim) / Float(dim)
                let rs = 1 / (ms + eps).squareRoot()
                rstd?[row] = rs
                var i = 0
                let rv = Vec.F16(repeating: rs)
                while i + 16 <= dim { Vec.store(Vec.load(xr + i) * rv * Vec.load(weight + i), yr + i); i += 16 }
                while i < dim { yr[i] = xr[i] * rs * weight[i]; i += 1 }
            }
        }
    }

    /// dout, x, dx: [rows, dim]; weight: [dim]; rstd: [rows] from the forward.
    /// dx is overwritten (with `accumulate`, the gradient is added to it: the residual stream's
    /// sum in the same pass); dweight (optional, [dim]) accumulates sum over rows of dout * x * rstd.
    public static func rmsNormBackward(dout: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                       weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                       dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?,
                                       rows: Int, dim: Int, accumulate: Bool = false) {
        if rows == 0 || dim == 0 { return }
        // dweight first (dx may alias dout).
        if let dw = dweight {
            Parallel.forRanges(dim, grain: 64) { c in
                let lo = c.lowerBound, n = c.count
                for row in 0..<rows {
                    let rs = rstd[row]
                    let g = dout + row * dim + lo, xr = x + row * dim + lo, w = dw + lo
                    var i = 0
                    let rv = Vec.F16(repeating: rs)
                    while i + 16 <= n { Vec.store(Vec.load(w + i) + Vec.load(g + i) * Vec.load(xr + i) * rv, w + i); i += 16 }
                    while i < n { w[i] += g[i] * xr[i] * rs; i += 1 }
                }
            }
        }
        Parallel.forRanges(rows, grain: max(1, 16384 / dim)) { r in
            for row in r {
                let g = dout + row * dim, xr = x + row * dim, d = dx + row * dim
                let rs = rstd[row]
                // c = sum(g * w * x) * rs^3 / dim
                var acc = Vec.F16(repeating: 0)
                var i = 0
                while i + 16 <= dim { acc += Vec.load(g + i) * Vec.load(weight + i) * Vec.load(xr + i); i += 16 }
                var s = acc.sum()
                while i < dim { s += g[i] * weight[i] * xr[i]; i += 1 }
                let c = s * rs * rs * rs / Float(dim)
                i = 0
                let rv = Vec.F16(repeating: rs), cv = Vec.F16(repeating: c)
                if accumulate {
                    // dx += the gradient (the residual stream's sum, in one pass)
                    while i + 16 <= dim {
                        let v = Vec.load(g + i) * Vec.load(weight + i) * rv - Vec.load(xr + i) * cv
                        Vec.store(Vec.load(d + i) + v, d + i); i += 16
                    }
                    while i < dim { let v = g[i] * weight[i] * rs - xr[i] * c; d[i] += v; i += 1 }
                    continue
                }
                while i + 16 <= dim {
                    Vec.store(Vec.load(g + i) * Vec.load(weight + i) * rv - Vec.load(xr + i) * cv, d + i); i += 16
                }
                while i < dim { d[i] = g[i] * weight[i] * rs - xr[i] * c; i += 1 }
            }
        }
    }

    /// y[i] += x[i] for n elements (the residual stream's adds), split across the pool.
    public static func addInPlace(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        Parallel.forRanges(n, grain: 16384) { r in Vec.axpy(1, x + r.lowerBound, y + r.lowerBound, r.count) }
    }
}
