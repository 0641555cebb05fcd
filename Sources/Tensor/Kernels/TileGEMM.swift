// TileGEMM: register-blocked matrix products for the small blocks of flash attention, where an
// sgemm call costs more in packing its operands than in multiplying them (a 128 x 128 x 64
// block is 2 MFLOP). C[m, n] (+)= A[m, k] · B[k, n] with B's rows contiguous (vectors along n)
// and A read through two strides, so that Aᵀ costs nothing: A(i, kk) = a[i * am + kk * ak].
// The inner kernel keeps a 4 x 64 block of C in 16 SIMD16 accumulators and issues 16 fused
// multiply-adds per 4 loads of B and 4 broadcasts of A.
import Foundation

enum TileGEMM {
    typealias F16 = SIMD16<Float>

    /// C (m x n, row stride ldc) = [C +] A · B, A(i, kk) at a[i*am + kk*ak], B row kk at b + kk*ldb.
    /// Not inlined: inlined five times into the attention backward, the caller grew past the
    /// size where Swift still inlines the SIMD loads and stores (each became a function call).
    @inline(never)
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, am: Int, ak: Int,
                     b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        if m <= 0 || n <= 0 { return }
        if k <= 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        // Column blocks outside, rows inside: a block's k x 64 slab of B stays in L1 while every
        // row block of A streams past it.
        let m4 = m & ~3
        var j = 0
        while j + 64 <= n {
            var i = 0
            while i < m4 {
                block4x64(k: k, a: a + i * am, am: am, ak: ak, b: b + j, ldb: ldb, c: c + i * ldc + j, ldc: ldc, accumulate: accumulate)
                i += 4
            }
            while i < m { row64(k: k, a: a + i * am, ak: ak, b: b + j, ldb: ldb, c: c + i * ldc + j, accumulate: accumulate); i += 1 }
            j += 64
        }
        if j + 32 <= n {   // head_dim 32 (small models): 4 x 32 blocks
            var i = 0
            while i < m4 {
                block4x32(k: k, a: a + i * am, am: am, ak: ak, b: b + j, ldb: ldb, c: c + i * ldc + j, ldc: ldc, accumulate: accumulate)
                i += 4
            }
            while i < m {
                row16(k: k, a: a + i * am, ak: ak, b: b + j, ldb: ldb, c: c + i * ldc + j, accumulate: accumulate)
                row16(k: k, a: a + i * am, ak: ak, b: b + j + 16, ldb: ldb, c: c + i * ldc + j + 16, accumulate: accumulate)
                i += 1
            }
            j += 32
        }
        while j + 16 <= n {
            for i in 0..<m { row16(k: k, a: a + i * am, ak: ak, b: b + j, ldb: ldb, c: c + i * ldc + j, accumulate: accumulate) }
            j += 16
        }
        if j < n { for i in 0..<m { rowTail(j, n, k, a + i * am, ak, b, ldb, c + i * ldc, accumulate) } }
    }

    @inline(__always) static func ld(_ p: UnsafePointer<Float>) -> F16 { UnsafeRawPointer(p).loadUnaligned(as: F16.self) }
    @inline(__always) static func put(_ v: F16, _ p: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
        UnsafeMutableRawPointer(p).storeBytes(of: accumulate ? ld(p) + v : v, as: F16.self)
    }

    /// C[4 x 64] (+)= A[4 x k] · B[k x 64].
    @inline(__always)
    static func block4x64(k: Int, a: UnsafePointer<Float>, am: Int, ak: Int, b: UnsafePointer<Float>, ldb: Int,
                          c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        var c00 = F16(), c01 = F16(), c02 = F16(), c03 = F16()
        var c10 = F16(), c11 = F16(), c12 = F16(), c13 = F16()
        var c20 = F16(), c21 = F16(), c22 = F16(), c23 = F16()
        var c30 = F16(), c31 = F16(), c32 = F16(), c33 = F16()
        var ap = a, bp = b
        for _ in 0..<k {
            let b0 = ld(bp), b1 = ld(bp + 16), b2 = ld(bp + 32), b3 = ld(bp + 48)
            let a0 = F16(repeating: ap[0]), a1 = F16(repeating: ap[am])
            let a2 = F16(repeating: ap[2 * am]), a3 = F16(repeating: ap[3 * am])
            c00.addProduct(a0, b0); c01.addProduct(a0, b1); c02.addProduct(a0, b2); c03.addProduct(a0, b3)
            c10.addProduct(a1, b0); c11.addProduct(a1, b1); c12.addProduct(a1, b2); c13.addProduct(a1, b3)
            c20.addProduct(a2, b0); c21.addProduct(a2, b1); c22.addProduct(a2, b2); c23.addProduct(a2, b3)
            c30.addProduct(a3, b0); c31.addProduct(a3, b1); c32.addProduct(a3, b2); c33.addProduct(a3, b3)
            ap += ak; bp += ldb
        }
        let r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc
        put(c00, c, accumulate); put(c01, c + 16, accumulate); put(c02, c + 32, accumulate); put(c03, c + 48, accumulate)
        put(c10, r1, accumulate); put(c11, r1 + 16, accumulate); put(c12, r1 + 32, accumulate); put(c13, r1 + 48, accumulate)
        put(c20, r2, accumulate); put(c21, r2 + 16, accumulate); put(c22, r2 + 32, accumulate); put(c23, r2 + 48, accumulate)
        put(c30, r3, accumulate); put(c31, r3 + 16, accumulate); put(c32, r3 + 32, accumulate); put(c33, r3 + 48, accumulate)
    }

    /// C[4 x 32] (+)= A[4 x k] · B[k x 32].
    @inline(__always)
    static func block4x32(k: Int, a: UnsafePointer<Float>, am: Int, ak: Int, b: UnsafePointer<Float>, ldb: Int,
                          c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        var c00 = F16(), c01 = F16(), c10 = F16(), c11 = F16()
        var c20 = F16(), c21 = F16(), c30 = F16(), c31 = F16()
        var ap = a, bp = b
        for _ in 0..<k {
            let b0 = ld(bp), b1 = ld(bp + 16)
            let a0 = F16(repeating: ap[0]), a1 = F16(repeating: ap[am])
            let a2 = F16(repeating: ap[2 * am]), a3 = F16(repeating: ap[3 * am])
            c00.addProduct(a0, b0); c01.addProduct(a0, b1)
            c10.addProduct(a1, b0); c11.addProduct(a1, b1)
            c20.addProduct(a2, b0); c21.addProduct(a2, b1)
            c30.addProduct(a3, b0); c31.addProduct(a3, b1)
            ap += ak; bp += ldb
        }
        let r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc
        put(c00, c, accumulate); put(c01, c + 16, accumulate)
        put(c10, r1, accumulate); put(c11, r1 + 16, accumulate)
        put(c20, r2, accumulate); put(c21, r2 + 16, accumulate)
        put(c30, r3, accumulate); put(c31, r3 + 16, accumulate)
    }

    /// C[1 x 64] (+)= A[1 x k] · B[k x 64].
    @inline(__always)
    static func row64(k: Int, a: UnsafePointer<Float>, ak: Int, b: UnsafePointer<Float>, ldb: Int,
                      c: UnsafeMutablePointer<Float>, accumulate: Bool) {
        var c0 = F16(), c1 = F16(), c2 = F16(), c3 = F16()
        var ap = a, bp = b
        for _ in 0..<k {
            let a0 = F16(repeating: ap[0])
            c0.addProduct(a0, ld(bp)); c1.addProduct(a0, ld(bp + 16)); c2.addProduct(a0, ld(bp + 32)); c3.addProduct(a0, ld(bp + 48))
            ap += ak; bp += ldb
        }
        put(c0, c, accumulate); put(c1, c + 16, accumulate); put(c2, c + 32, accumulate); put(c3, c + 48, accumulate)
    }

    /// C[1 x 16] (+)= A[1 x k] · B[k x 16].
    @inline(__always)
    static func row16(k: Int, a: UnsafePointer<Float>, ak: Int, b: UnsafePointer<Float>, ldb: Int,
                      c: UnsafeMutablePointer<Float>, accumulate: Bool) {
        var c0 = F16(), c1 = F16()
        var ap = a, bp = b, kk = 0
        while kk + 2 <= k {   // two chains, so the adds do not wait on each other
            c0.addProduct(F16(repeating: ap[0]), ld(bp)); c1.addProduct(F16(repeating: ap[ak]), ld(bp + ldb))
            ap += 2 * ak; bp += 2 * ldb; kk += 2
        }
        if kk < k { c0.addProduct(F16(repeating: ap[0]), ld(bp)) }
        put(c0 + c1, c, accumulate)
    }

    /// Columns j0..<n (fewer than 16) of one row, scalar.
    @inline(__always)
    static func rowTail(_ j0: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ ak: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                        _ c: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
        for j in j0..<n {
            var s: Float = 0
            for kk in 0..<k { s += a[kk * ak] * b[kk * ldb + j] }
            c[j] = accumulate ? c[j] + s : s
        }
    }
}
