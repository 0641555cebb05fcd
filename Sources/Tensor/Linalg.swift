// Linalg: matmul with NumPy semantics (1-D operands promoted and squeezed, batch dims broadcast)
// through cblas_sgemm. A transposed operand (a view whose last two strides are swapped) is passed
// to sgemm as transA/transB with its leading dimension: no copy.

extension Tensor {
    /// How sgemm can read the last two dims of a f32 view: (transposed, leading dimension), or nil.
    func sgemmLayout() -> (Bool, Int)? {
        let r = rank, rows = shape[r - 2], cols = shape[r - 1]
        let sr = strides[r - 2], sc = strides[r - 1]
        if (sc == 1 || cols == 1) && sr >= Swift.max(1, cols) { return (false, sr) }
        if (sc == 1 || cols == 1) && rows == 1 { return (false, Swift.max(1, cols)) }
        if (sr == 1 || rows == 1) && sc >= Swift.max(1, rows) { return (true, sc) }
        if (sr == 1 || rows == 1) && cols == 1 { return (true, Swift.max(1, rows)) }
        return nil
    }

    /// Matrix product; for rank >= 2 operands the last two dims multiply and the rest broadcast.
    public static func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.rank >= 1 && b.rank >= 1 else {
            throw TensorError.shape("matmul: operands must have at least one dimension (got shapes \(a.shape) and \(b.shape))")
        }
        let a2 = a.rank == 1 ? try a.unsqueeze(0) : a
        let b2 = b.rank == 1 ? try b.unsqueeze(1) : b
        var out = try matmulCore(a2, b2)
        if a.rank == 1 { out = try out.squeeze(out.rank - 2) }
        if b.rank == 1 { out = try out.squeeze(out.rank - 1) }
        return out
    }

    public func matmul(_ b: Tensor) throws -> Tensor { try Tensor.matmul(self, b) }

    /// Batched product of rank >= 2 tensors.
    static func matmulCore(_ a0: Tensor, _ b0: Tensor) throws -> Tensor {
        let m = a0.shape[a0.rank - 2], k = a0.shape[a0.rank - 1]
        let k2 = b0.shape[b0.rank - 2], n = b0.shape[b0.rank - 1]
        guard k == k2 else {
            throw TensorError.shape("matmul: inner dimensions differ: \(a0.shape) @ \(b0.shape) (\(k) vs \(k2))")
        }
        let batch = try Shape.broadcast(Array(a0.shape.dropLast(2)), Array(b0.shape.dropLast(2)), "matmul batch")
        var a = a0.dtype == .f32 ? a0 : a0.toF32()
        var b = b0.dtype == .f32 ? b0 : b0.toF32()
        var la = a.sgemmLayout(), lb = b.sgemmLayout()
        if la == nil || a.strides.contains(where: { $0 < 0 }) { a = a.contiguousF32Copy(); la = a.sgemmLayout() }
        if lb == nil || b.strides.contains(where: { $0 < 0 }) { b = b.contiguousF32Copy(); lb = b.sgemmLayout() }
        guard let (ta, lda) = la, let (tb, ldb) = lb else { throw TensorError.shape("matmul: unsupported layout") }
        let outShape = batch + [m, n]
        try Memory.require(shape: outShape, dtype: .f32, "matmul: \(a0.shape) @ \(b0.shape)")
        let out = Tensor.empty(outShape)
        let po = out.storage.bytes.assumingMemoryBound(to: Float.self)
        let pa = a.storage.bytes.assumingMemoryBound(to: Float.self), pb = b.storage.bytes.assumingMemoryBound(to: Float.self)
        let sa = Shape.broadcastStrides(Array(a.shape.dropLast(2)), Array(a.strides.dropLast(2)), to: batch)
        let sb = Shape.broadcastStrides(Array(b.shape.dropLast(2)), Array(b.strides.dropLast(2)), to: batch)
        if m * n > 0 {
            if k == 0 {
                po.update(repeating: 0, count: out.count)
            } else {
                var bi = 0
                // Walk batch indices (a trailing 1 makes forEachRow visit every batch element).
                Shape.forEachRow(batch + [1], [sa + [0], sb + [0]], bases: [a.offset, b.offset]) { off in
                    BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: pa + off[0], lda: lda,
                               b: pb + off[1], ldb: ldb, c: po + bi * m * n, ldc: n)
                    bi += 1
                }
            }
        }
        return record(out, .matmul(a0, b0), [a0, b0])
    }
}
