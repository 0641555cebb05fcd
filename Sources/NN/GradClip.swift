// GradClip: the total gradient norm and torch.nn.utils.clip_grad_norm_ (norm type 2).
import Tensor

public enum GradClip {
    /// The total 2-norm of all gradients together (as torch.nn.utils.get_total_norm with
    /// norm_type 2), accumulated in double precision.
    public static func totalNorm(_ grads: [Tensor]) -> Double {
        var total = 0.0
        for g in grads {
            let c = g.dtype == .f32 && g.isContiguous ? g : g.contiguous().to(.f32)
            total += sumOfSquares(c.floatPointer, c.count)
        }
        return total.squareRoot()
    }

    /// The sum of x * x over n floats, in double precision: 8 lanes at a time into two vector
    /// sums (a sequential double sum waits on each add's latency; the training step runs this
    /// over every parameter's gradient while the other threads wait).
    static func sumOfSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        typealias F = SIMD8<Float>
        typealias D = SIMD8<Double>
        var s0 = D(), s1 = D()
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 16 <= n {
            let a = D(raw.loadUnaligned(fromByteOffset: 4 * i, as: F.self))
            let b = D(raw.loadUnaligned(fromByteOffset: 4 * (i + 8), as: F.self))
            s0 += a * a
            s1 += b * b
            i += 16
        }
        var s = (s0 + s1).sum()
        while i < n { let x = Double(p[i]); s += x * x; i += 1 }
        return s
    }

    /// torch.nn.utils.clip_grad_norm_(max_norm, norm_type 2): scales every gradient in place by
    /// min(1, maxNorm / (totalNorm + 1e-6)) and returns the total norm before clipping.
    /// A non-finite norm is returned without touching the gradients.
    @discardableResult
    public static func clipGradNorm(_ grads: [Tensor], maxNorm: Double) -> Double {
        let norm = totalNorm(grads)
        guard norm.isFinite else { return norm }
        let coef = Float(min(1.0, Double(Float(maxNorm) / (Float(norm) + 1e-6))))
        if coef >= 1 { return norm }
        for g in grads where g.dtype == .f32 && g.isContiguous {
            let p = g.floatPointer
            for i in 0..<g.count { p[i] *= coef }
        }
        return norm
    }
}
