// Reductions over one axis or over everything: sum, mean, max, min (values) and argmax/argmin
// (i64 positions, first occurrence). Without an axis the result is 0-d. NaN propagates in max/min.

public enum ReduceOp: String, Sendable { case sum, mean, max, min }

extension Tensor {
    /// (outer, n, inner) of a reduction over `axis` (nil: everything as one row).
    func reduceGeometry(_ axis: Int?) throws -> (Int, Int, Int, Int?) {
        guard let ax = axis else { return (1, count, 1, nil) }
        let a = try Shape.axis(ax, rank: rank, "axis")
        if rank == 0 { return (1, 1, 1, nil) }
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        return (outer, shape[a], inner, a)
    }

    func reducedShape(_ a: Int?, keepDim: Bool) -> [Int] {
        guard let a = a else { return keepDim ? [Int](repeating: 1, count: rank) : [] }
        var s = shape
        if keepDim { s[a] = 1 } else { s.remove(at: a) }
        return s
    }

    /// Sum, mean, max or min over `axis` (all elements when nil), optionally keeping the axis as 1.
    public func reduce(_ op: ReduceOp, axis: Int? = nil, keepDim: Bool = false) throws -> Tensor {
        let (outer, n, inner, a) = try reduceGeometry(axis)
        if (op == .max || op == .min) && n == 0 {
            throw TensorError.shape("\(op.rawValue): cannot reduce an empty dimension (shape \(shape))")
        }
        let x = toF32()
        let px = x.storage.bytes.assumingMemoryBound(to: Float.self) + x.offset
        let outShape = reducedShape(a, keepDim: keepDim)
        // an empty axis reduced away can leave a huge result: sum(full([0, 2^40, 1], 1), axis: 0)
        _ = try Tensor.validShape(outShape, "\(op.rawValue) over axis \(a.map(String.init) ?? "all") of shape \(shape)")
        let out = Tensor.empty(outShape)
        let po = out.storage.bytes.assumingMemoryBound(to: Float.self)
        var indices: [Int32] = []
        // an empty result has nothing to compute, however many rows of nothing it has:
        // sum(randn([2^40, 0, 0]), axis: 1) looped 2^40 times over empty rows
        if outer * inner == 0 {
            return Tensor.record(out, .reduce(op, axis: a, keepDim: keepDim, shape: shape, indices: indices), [self])
        }
        switch op {
        case .sum, .mean:
            let scale: Float = op == .mean ? 1 / Float(n) : 1
            Parallel.forRanges(outer, grain: Swift.max(1, 65536 / Swift.max(1, n * inner))) { r in
                for o in r {
                    let dst = po + o * inner
                    if inner == 1 {
                        // pairwise-ish: SIMD lanes then Double for the tail sum keeps long rows accurate
                        var acc = 0.0
                        var k = 0
                        let row = px + o * n
                        while k < n { let m = Swift.min(4096, n - k); acc += Double(Vec.dot(row + k, ones4096, m)); k += m }
                        dst[0] = Float(acc) * scale
                    } else {
                        dst.update(repeating: 0, count: inner)
                        for k in 0..<n { Vec.axpy(1, px + (o * n + k) * inner, dst, inner) }
                        if scale != 1 { Vec.scale(dst, scale, inner) }
                    }
                }
            }
        case .max, .min:
            indices = [Int32](repeating: 0, count: outer * inner)
            let isMax = op == .max
            indices.withUnsafeMutableBufferPointer { ib in
                let ip = ib.baseAddress!
                for o in 0..<outer {
                    for i in 0..<inner {
                        let base = px + o * n * inner + i
                        let bi = Tensor.extremeIndex(base, n: n, stride: inner, max: isMax)
                        po[o * inner + i] = base[bi * inner]; ip[o * inner + i] = Int32(bi)
                    }
                }
            }
        }
        return Tensor.record(out, .reduce(op, axis: a, keepDim: keepDim, shape: shape, indices: indices), [self])
    }

    public func sum(axis: Int? = nil, keepDim: Bool = false) throws -> Tensor { try reduce(.sum, axis: axis, keepDim: keepDim) }
    public func mean(axis: Int? = nil, keepDim: Bool = false) throws -> Tensor { try reduce(.mean, axis: axis, keepDim: keepDim) }
    public func max(axis: Int? = nil, keepDim: Bool = false) throws -> Tensor { try reduce(.max, axis: axis, keepDim: keepDim) }
    public func min(axis: Int? = nil, keepDim: Bool = false) throws -> Tensor { try reduce(.min, axis: axis, keepDim: keepDim) }

    /// Position of the largest value along `axis` (of the flattened tensor when nil), i64.
    public func argmax(axis: Int? = nil, keepDim: Bool = false) throws -> Tensor { try argExtreme(axis, keepDim, max: true) }
    /// Position of the smallest value along `axis` (of the flattened tensor when nil), i64.
    public func argmin(axis: Int? = nil, keepDim: Bool = false) throws -> Tensor { try argExtreme(axis, keepDim, max: false) }

    func argExtreme(_ axis: Int?, _ keepDim: Bool, max: Bool) throws -> Tensor {
        let (outer, n, inner, a) = try reduceGeometry(axis)
        let x = toF32()
        let px = x.storage.bytes.assumingMemoryBound(to: Float.self) + x.offset
        guard n > 0 else { throw TensorError.shape("argmax/argmin: cannot reduce an empty dimension (shape \(shape))") }
        var out = [Int](repeating: 0, count: outer * inner)
        for o in 0..<(inner == 0 ? 0 : outer) {
            for i in 0..<inner { out[o * inner + i] = Tensor.extremeIndex(px + o * n * inner + i, n: n, stride: inner, max: max) }
        }
        return Tensor(shape: reducedShape(a, keepDim: keepDim), ints: out, dtype: .i64)
    }

    /// Index of the largest (or smallest) of n values p[k * stride], the first on ties; a NaN
    /// wins at once (as torch's max/argmax propagate NaN).
    static func extremeIndex(_ p: UnsafePointer<Float>, n: Int, stride: Int, max: Bool) -> Int {
        var best = p[0], bi = 0
        if best.isNaN { return 0 }
        for k in 1..<n {
            let v = p[k * stride]
            if v.isNaN { return k }
            if max ? v > best : v < best { best = v; bi = k }
        }
        return bi
    }
}

/// 4096 ones: `Vec.dot(row, ones4096, n)` is a SIMD row sum.
let ones4096: UnsafeMutablePointer<Float> = {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: 4096)
    p.update(repeating: 1, count: 4096)
    return p
}()
