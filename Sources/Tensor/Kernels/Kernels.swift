// Kernels: the namespace of llx's raw-pointer compute kernels (row-major, contiguous f32).
// Each kernel lives in its own file (Norm, RoPE, Activation, CrossEntropy, Embedding, Attention);
// forward and backward come in pairs with symmetric names, and every buffer's shape is documented.
// Callers validate shapes; kernels that read ids validate them and throw `TensorError`.

public enum Kernels {
    /// Runs body with OpenBLAS limited to one thread (kernels that call sgemm from several of
    /// their own threads use it), restoring the previous setting afterwards.
    @inline(__always)
    static func withSingleThreadedBLAS<R>(_ body: () throws -> R) rethrows -> R {
        let saved = BLAS.threads
        if saved == 1 { return try body() }
        BLAS.threads = 1
        defer { BLAS.threads = saved }
        return try body()
    }
}
