// BLAS: the one place llx calls OpenBLAS. Row-major sgemm with transposed operands
// read in place, thread control, and the name of the kernel core OpenBLAS chose.
import CBLAS

@_silgen_name("openblas_get_corename") private func _openblas_get_corename() -> UnsafeMutablePointer<CChar>?
@_silgen_name("openblas_get_num_threads") private func _openblas_get_num_threads() -> Int32
@_silgen_name("openblas_set_num_threads") private func _openblas_set_num_threads(_ n: Int32)
@_silgen_name("openblas_get_config") private func _openblas_get_config() -> UnsafeMutablePointer<CChar>?

public enum BLAS {
    /// The kernel core OpenBLAS selected at load time ("Prescott", "SkylakeX", "Cooperlake", ...).
    public static var coreName: String {
        guard let p = _openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    public static var config: String {
        guard let p = _openblas_get_config() else { return "unknown" }
        return String(cString: p)
    }

    public static var threads: Int {
        get { Int(_openblas_get_num_threads()) }
        set { _openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// C[m,n] = alpha * op(A) * op(B) + beta * C, all row-major.
    /// op(A) is [m,k] (A stored [k,m] when transA), op(B) is [k,n] (B stored [n,k] when transB).
    @inline(__always)
    public static func sgemm(transA: Bool = false, transB: Bool = false,
                             m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
