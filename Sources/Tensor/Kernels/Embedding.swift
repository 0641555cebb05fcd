// Embedding kernels: row gather and its scatter-add backward.

extension Kernels {
    /// table: [vocab, dim]; ids: [n]; out: [n, dim]. Throws when an id is outside 0..<vocab.
    public static func embeddingForward(table: UnsafePointer<Float>, vocab: Int, ids: UnsafePointer<Int>, n: Int,
                                        out: UnsafeMutablePointer<Float>, dim: Int) throws {
        try checkIds(ids, n, vocab, "embedding")
        Parallel.forRanges(n, grain: max(1, 8192 / max(1, dim))) { r in
            for i in r { (out + i * dim).update(from: table + ids[i] * dim, count: dim) }
        }
    }

    /// dout: [n, dim]; dtable: [vocab, dim] accumulates dtable[ids[i]] += dout[i].
    public static func embeddingBackward(dout: UnsafePointer<Float>, ids: UnsafePointer<Int>, n: Int,
                                         dtable: UnsafeMutablePointer<Float>, vocab: Int, dim: Int) throws {
        try checkIds(ids, n, vocab, "embedding")
        // Split over columns so that repeated ids never race.
        Parallel.forRanges(dim, grain: max(16, 65536 / max(1, n))) { c in
            for i in 0..<n { Vec.axpy(1, dout + i * dim + c.lowerBound, dtable + ids[i] * dim + c.lowerBound, c.count) }
        }
    }

    static func checkIds(_ ids: UnsafePointer<Int>, _ n: Int, _ vocab: Int, _ what: String) throws {
        for i in 0..<n where ids[i] < 0 || ids[i] >= vocab {
            throw TensorError.index("\(what): id \(ids[i]) at position \(i) is outside 0..<\(vocab)")
        }
    }
}
