// Vec: small SIMD building blocks shared by the kernels: a vectorized exp (Cody-Waite range
// reduction + degree-6 polynomial, ~1 ulp), dot products, scaled adds and row maxima.

public enum Vec {
    public typealias F16 = SIMD16<Float>

    /// e^r on |r| <= ln2/2 and the rounded k of x = k ln2 + r (in the low mantissa bits of kb):
    /// Cody-Waite range reduction and a degree-6 polynomial, shared by `exp` and `expUpper`.
    @inline(__always)
    static func expReduced(_ x: F16) -> (y: F16, kb: F16) {
        // k = round(x / ln2) via the 1.5 * 2^23 magic constant: its low mantissa bits hold k.
        let magic = F16(repeating: 12582912)
        let kb = x * 1.442695040888963 + magic
        let k = kb - magic
        let r = (x - k * 0.693145751953125) - k * 1.428606765330187e-06
        var p: F16 = F16(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        return (p * (r * r) + r + 1, kb)
    }

    /// e^x lane-wise; x below -87.3 (including -inf) gives 0, above 88.7 gives +inf; NaN stays NaN.
    @inline(__always)
    public static func exp(_ x0: F16) -> F16 {
        let lo: F16 = F16(repeating: -87.33654), hi: F16 = F16(repeating: 88.72283)
        var x = x0
        x.replace(with: lo, where: x .< lo)
        x.replace(with: hi, where: x .> hi)
        var (y, kb) = expReduced(x)
        // y * 2^k, split in two steps so k = 128 and k = -126.. stay representable
        let ki = unsafeBitCast(kb, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let k1 = ki &>> 1, k2 = ki &- k1
        let s1 = unsafeBitCast((k1 &+ 127) &<< 23, to: F16.self)
        let s2 = unsafeBitCast((k2 &+ 127) &<< 23, to: F16.self)
        y = y * s1 * s2
        y.replace(with: 0, where: x0 .< lo)
        y.replace(with: .infinity, where: x0 .> hi)
        y.replace(with: x0, where: x0 .!= x0)
        return y
    }

    /// e^x for x <= ~88 where an underflow to ~1e-38 instead of 0 below -87.3 does not matter
    /// (softmax numerators x - max <= 0): fewer lane operations than `exp`. NaN stays NaN.
    @inline(__always)
    public static func expUpper(_ x0: F16) -> F16 {
        var x = x0
        let lo = F16(repeating: -87.33654)
        x.replace(with: lo, where: x .< lo)
        let (y, kb) = expReduced(x)
        let ki = unsafeBitCast(kb, to: SIMD16<Int32>.self) &- 0x4B40_0000
        return y * unsafeBitCast((ki &+ 127) &<< 23, to: F16.self)
    }

    /// Scalar e^x with the same accuracy as the SIMD version.
    @inline(__always)
    public static func exp(_ x: Float) -> Float {
        Foundation_expf(x)
    }

    /// p[i] = exp(p[i] - shift) for i < n; returns the sum of the results.
    @inline(__always)
    public static func expShiftSum(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
        var acc = F16(repeating: 0)
        var i = 0
        let s = F16(repeating: shift)
        while i + 16 <= n {
            let v = expUpper(load(p + i) - s)
            store(v, p + i)
            acc += v; i += 16
        }
        var sum = acc.sum()
        while i < n { let v = Foundation_expf(p[i] - shift); p[i] = v; sum += v; i += 1 }
        return sum
    }

    @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> F16 {
        UnsafeRawPointer(p).loadUnaligned(as: F16.self)
    }

    @inline(__always)
    public static func store(_ v: F16, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: F16.self)
    }

    /// Sum of a[i] * b[i].
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = F16(repeating: 0)
        var i = 0
        while i + 16 <= n { acc += load(a + i) * load(b + i); i += 16 }
        var s = acc.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// Sum of a[i]^2.
    @inline(__always)
    public static func sumSquares(_ a: UnsafePointer<Float>, _ n: Int) -> Float { dot(a, a, n) }

    /// Maximum of p[0..<n] (-inf for n = 0).
    @inline(__always)
    public static func max(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var m = F16(repeating: -.infinity)
        var i = 0
        while i + 16 <= n { let v = load(p + i); m.replace(with: v, where: v .> m); i += 16 }
        var s = m[0]
        for l in 1..<16 where m[l] > s { s = m[l] }
        while i < n { if p[i] > s { s = p[i] }; i += 1 }
        return s
    }

    /// m[i] = max(m[i], x[i]) for i < n.
    @inline(__always)
    public static func maxInto(_ m: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n {
            let a = load(m + i), b = load(x + i)
            store(a.replacing(with: b, where: b .> a), m + i); i += 16
        }
        while i < n { if x[i] > m[i] { m[i] = x[i] }; i += 1 }
    }

    /// Online-softmax step for n rows: mNew = max(m, tileMax); alpha = exp(m - mNew); m = mNew.
    @inline(__always)
    public static func updateMax(_ m: UnsafeMutablePointer<Float>, tileMax t: UnsafePointer<Float>,
                                 alpha: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n {
            let a = load(m + i), b = load(t + i)
            let mn = a.replacing(with: b, where: b .> a)
            store(exp(a - mn), alpha + i); store(mn, m + i); i += 16
        }
        while i < n { let mn = Swift.max(m[i], t[i]); alpha[i] = exp(m[i] - mn); m[i] = mn; i += 1 }
    }

    /// p[i] = exp(p[i] - m[i]); sum[i] += p[i] for i < n (p[i] - m[i] <= 0).
    @inline(__always)
    public static func expSubAccumulate(_ p: UnsafeMutablePointer<Float>, _ m: UnsafePointer<Float>,
                                        _ sum: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n {
            let e = expUpper(load(p + i) - load(m + i))
            store(e, p + i); store(load(sum + i) + e, sum + i); i += 16
        }
        while i < n { let e = Foundation_expf(p[i] - m[i]); p[i] = e; sum[i] += e; i += 1 }
    }

    /// The attention backward's row step over n keys: p = exp(scale * s - lse),
    /// dp = scale * p * (dp - delta).
    @inline(__always)
    public static func softmaxGradRow(p: UnsafeMutablePointer<Float>, dp: UnsafeMutablePointer<Float>, lse: Float,
                                      delta: Float, scale: Float, _ n: Int) {
        var i = 0
        let sv = F16(repeating: scale), lv = F16(repeating: lse), dv = F16(repeating: delta)
        while i + 16 <= n {
            let e = expUpper(load(p + i) * sv - lv)
            store(e, p + i); store(e * (load(dp + i) - dv) * sv, dp + i); i += 16
        }
        while i < n {
            let e = Foundation_expf(p[i] * scale - lse)
            p[i] = e; dp[i] = e * (dp[i] - delta) * scale; i += 1
        }
    }

    /// y[i] = a * x[i].
    @inline(__always)
    public static func scaled(_ x: UnsafePointer<Float>, _ a: Float, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        let av = F16(repeating: a)
        while i + 16 <= n { store(load(x + i) * av, y + i); i += 16 }
        while i < n { y[i] = a * x[i]; i += 1 }
    }

    /// y[i] += a * x[i].
    @inline(__always)
    public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        let av = F16(repeating: a)
        while i + 16 <= n { store(load(y + i) + av * load(x + i), y + i); i += 16 }
        while i < n { y[i] += a * x[i]; i += 1 }
    }

    /// p[i] *= a.
    @inline(__always)
    public static func scale(_ p: UnsafeMutablePointer<Float>, _ a: Float, _ n: Int) {
        var i = 0
        let av = F16(repeating: a)
        while i + 16 <= n { store(load(p + i) * av, p + i); i += 16 }
        while i < n { p[i] *= a; i += 1 }
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func Foundation_expf(_ x: Float) -> Float { Glibc.expf(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func Foundation_expf(_ x: Float) -> Float { Darwin.expf(x) }
#endif
