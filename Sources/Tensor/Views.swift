// Views: reshape, permute/transpose, squeeze/unsqueeze, expand and NumPy-style indexing
// (integers, negative indices, slices with steps including negative ones, new axes, ellipsis).
// They share storage with their base where strides allow it and copy only when they must.

/// One item of an index expression `t[...]`.
public enum TensorIndex: Sendable, Equatable {
    /// A single position (negative counts from the end); removes the dimension.
    case at(Int)
    /// start:end:step with Python defaults for nil parts; step may be negative, never zero.
    case slice(Int?, Int?, Int?)
    /// `:` (the whole dimension).
    case all
    /// `None` / `newaxis`: inserts a dimension of extent 1.
    case newAxis
    /// `...`: as many `:` as needed.
    case ellipsis
}

extension Tensor {
    func view(shape: [Int], strides: [Int], offset: Int) -> Tensor {
        Tensor(storage: storage, dtype: dtype, shape: shape, strides: strides, offset: offset)
    }

    /// The shape with one -1 inferred; throws when the element count differs.
    func resolveShape(_ newShape: [Int]) throws -> [Int] {
        var s = newShape
        let minus = s.indices.filter { s[$0] == -1 }
        guard minus.count <= 1, !s.contains(where: { $0 < -1 }) else {
            throw TensorError.shape("reshape: invalid shape \(newShape) (at most one -1, no other negatives)")
        }
        if let m = minus.first {
            var rest = s
            rest.remove(at: m)
            let known = try Shape.checkedCount(rest, "reshape")
            guard known > 0, count % known == 0 else {
                throw TensorError.shape("reshape: cannot reshape \(shape) (\(count) elements) to \(newShape)")
            }
            s[m] = count / known
        }
        // counted with overflow checks: a wrapped product must not pass for `count`
        let n = try Shape.checkedCount(s, "reshape")
        guard n == count else {
            throw TensorError.shape("reshape: cannot reshape \(shape) (\(count) elements) to \(newShape) (\(n) elements)")
        }
        return s
    }

    /// Same elements in a new shape (one extent may be -1); a view when the tensor is contiguous.
    public func reshape(_ newShape: [Int]) throws -> Tensor {
        let s = try resolveShape(newShape)
        if s == shape { return self }
        let base = isContiguous ? self : (dtype == .f32 ? toF32() : contiguous())
        let out = base.view(shape: s, strides: Tensor.contiguousStrides(s), offset: base.offset)
        return Tensor.record(out, .reshape(from: shape), [self])
    }

    /// All elements as one dimension.
    public func flatten() throws -> Tensor { try reshape([-1]) }

    /// Reorders the dimensions (a view).
    public func permute(_ dims: [Int]) throws -> Tensor {
        guard dims.count == rank else { throw TensorError.shape("permute: \(dims.count) dims given for a tensor of rank \(rank)") }
        let d = try dims.map { try Shape.axis($0, rank: rank, "permute dim") }
        guard Set(d).count == rank else { throw TensorError.shape("permute: \(dims) is not a permutation of 0..<\(rank)") }
        if d == Array(0..<rank) { return self }
        let out = view(shape: d.map { shape[$0] }, strides: d.map { strides[$0] }, offset: offset)
        return Tensor.record(out, .permute(d), [self])
    }

    /// Swaps two dimensions (a view).
    public func transpose(_ a: Int, _ b: Int) throws -> Tensor {
        var p = Array(0..<rank)
        let x = try Shape.axis(a, rank: rank, "transpose dim"), y = try Shape.axis(b, rank: rank, "transpose dim")
        p.swapAt(x, y)
        return try permute(p)
    }

    /// The transpose: dimensions reversed (rank 0 and 1 unchanged), as NumPy's `.T`.
    public var T: Tensor { rank < 2 ? self : ((try? permute(Array((0..<rank).reversed()))) ?? self) }

    /// Inserts a dimension of extent 1 at `axis` (-rank-1...rank).
    public func unsqueeze(_ axis: Int) throws -> Tensor {
        let a = try Shape.axis(axis, rank: rank + 1, "unsqueeze axis")
        var s = shape, st = strides
        s.insert(1, at: a); st.insert(a < rank ? strides[a] * shape[a] : 1, at: a)
        return Tensor.record(view(shape: s, strides: st, offset: offset), .reshape(from: shape), [self])
    }

    /// Removes dimensions of extent 1 (only `axis` when given; it must have extent 1).
    public func squeeze(_ axis: Int? = nil) throws -> Tensor {
        var keep = Array(0..<rank)
        if let ax = axis {
            let a = try Shape.axis(ax, rank: rank, "squeeze axis")
            guard shape[a] == 1 else { throw TensorError.shape("squeeze: dim \(ax) of shape \(shape) has extent \(shape[a]), not 1") }
            keep.remove(at: a)
        } else {
            keep = keep.filter { shape[$0] != 1 }
        }
        if keep.count == rank { return self }
        return Tensor.record(view(shape: keep.map { shape[$0] }, strides: keep.map { strides[$0] }, offset: offset),
                             .reshape(from: shape), [self])
    }

    /// A broadcast view of this tensor with shape `target` (NumPy rules; stride 0 on broadcast dims).
    public func expand(_ target: [Int]) throws -> Tensor {
        _ = try Shape.checkedCount(target, "expand")   // a view, but what reads it walks every element
        let b = try Shape.broadcast(shape, target, "expand", allocates: false)
        guard b == target else { throw TensorError.shape("expand: shape \(shape) cannot be broadcast to \(target)") }
        if target == shape { return self }
        let out = view(shape: target, strides: Shape.broadcastStrides(shape, strides, to: target), offset: offset)
        return Tensor.record(out, .expand(from: shape), [self])
    }

    /// Python's slice.indices: (start, step, length) of start:end:step over n elements.
    static func sliceBounds(_ start: Int?, _ end: Int?, _ step: Int?, _ n: Int, dim: Int) throws -> (Int, Int, Int) {
        let st = Swift.max(step ?? 1, -Int.max)
        guard st != 0 else { throw TensorError.index("slice step cannot be zero (dim \(dim))") }
        let lower = st > 0 ? 0 : -1, upper = st > 0 ? n : n - 1
        func clampIdx(_ v: Int?, _ dflt: Int) -> Int {
            guard let v = v else { return dflt }
            return v < 0 ? (v < -n ? lower : Swift.max(v + n, lower)) : Swift.min(v, upper)
        }
        let a = clampIdx(start, st > 0 ? lower : upper), b = clampIdx(end, st > 0 ? upper : lower)
        let len = st > 0 ? (b > a ? (b - a - 1) / st + 1 : 0) : (a > b ? (a - b - 1) / (-st) + 1 : 0)
        return (a, st, len)
    }

    /// NumPy-style indexing; a view (no copy). Throws on out-of-range positions or too many indices.
    public func index(_ items: [TensorIndex]) throws -> Tensor {
        let (s, st, off) = try indexGeometry(items)
        let out = view(shape: s, strides: st, offset: off)
        return Tensor.record(out, .index(items, from: shape), [self])
    }

    public subscript(_ items: TensorIndex...) -> Tensor {
        get throws { try index(items) }
    }

    func indexGeometry(_ items: [TensorIndex]) throws -> ([Int], [Int], Int) {
        let consuming = items.filter { if case .newAxis = $0 { return false }; if case .ellipsis = $0 { return false }; return true }.count
        let ellipses = items.filter { $0 == .ellipsis }.count
        guard ellipses <= 1 else { throw TensorError.index("index: at most one ellipsis (...)") }
        guard consuming <= rank else {
            throw TensorError.index("index: \(consuming) indices for a tensor of rank \(rank) (shape \(shape))")
        }
        var expanded: [TensorIndex] = []
        for it in items {
            if it == .ellipsis { expanded += Array(repeating: .all, count: rank - consuming) } else { expanded.append(it) }
        }
        if ellipses == 0 { expanded += Array(repeating: .all, count: rank - consuming) }
        var s: [Int] = [], st: [Int] = [], off = offset
        var d = 0
        for it in expanded {
            switch it {
            case .newAxis: s.append(1); st.append(0)
            case .ellipsis: break
            case .all: s.append(shape[d]); st.append(strides[d]); d += 1
            case .at(let i):
                let j = i < 0 ? (i >= -shape[d] ? i + shape[d] : -1) : i
                guard j >= 0 && j < shape[d] else {
                    throw TensorError.index("index \(i) is out of range for dim \(d) of extent \(shape[d]) (shape \(shape))")
                }
                off += j * strides[d]; d += 1
            case .slice(let a, let b, let c):
                let (start, step, len) = try Tensor.sliceBounds(a, b, c, shape[d], dim: d)
                if len > 0 { off += start * strides[d] }
                s.append(len); st.append(strides[d] * step); d += 1
            }
        }
        return (s, st, off)
    }

    /// Copies `src` (broadcast to this view's shape) into this f32 view's elements.
    func assign(from src: Tensor) throws {
        guard dtype == .f32 else { throw TensorError.dtype("assign: destination must be f32, got \(dtype.rawValue)") }
        let S = src.dtype == .f32 ? src : src.toF32()
        let sb = try Shape.broadcast(S.shape, shape, "assign")
        guard sb == shape else { throw TensorError.shape("assign: \(src.shape) does not broadcast to \(shape)") }
        let ss = Shape.broadcastStrides(S.shape, S.strides, to: shape)
        let d = storage.bytes.assumingMemoryBound(to: Float.self), p = S.storage.bytes.assumingMemoryBound(to: Float.self)
        let inner = shape.last ?? 1, id = strides.last ?? 1, isrc = ss.last ?? 0
        Shape.forEachRow(shape, [strides, ss], bases: [offset, S.offset]) { o in
            var x = o[0], y = o[1]
            for _ in 0..<inner { d[x] = p[y]; x += id; y += isrc }
        }
    }

    /// Writes `value` into the region `items` selects (in place; not recorded by autograd).
    public func setIndex(_ items: [TensorIndex], _ value: Tensor) throws {
        guard gradNode == nil && !requiresGrad else {
            throw TensorError.value("index assignment on a tensor that requires grad is not supported")
        }
        let (s, st, off) = try indexGeometry(items)
        try view(shape: s, strides: st, offset: off).assign(from: value)
    }

    /// Concatenation along an existing axis (differentiable).
    public static func cat(_ parts: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let first = parts.first else { throw TensorError.shape("cat: no tensors") }
        let a = try Shape.axis(axis, rank: first.rank, "cat axis")
        var total = 0
        for p in parts {
            guard p.rank == first.rank, (0..<first.rank).allSatisfy({ $0 == a || p.shape[$0] == first.shape[$0] }) else {
                throw TensorError.shape("cat: shape \(p.shape) does not match \(first.shape) outside axis \(axis)")
            }
            total += p.shape[a]
        }
        var s = first.shape; s[a] = total
        let out = try Tensor.zeros(s)
        var start = 0
        var items = [TensorIndex](repeating: .all, count: first.rank)
        for p in parts {
            items[a] = .slice(start, start + p.shape[a], 1)
            let (vs, vst, voff) = try out.indexGeometry(items)
            try out.view(shape: vs, strides: vst, offset: voff).assign(from: p)
            start += p.shape[a]
        }
        return record(out, .cat(axis: a, sizes: parts.map { $0.shape[a] }), parts)
    }
}
