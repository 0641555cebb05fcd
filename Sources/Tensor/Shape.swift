// Shape: validation and arithmetic on shapes: NumPy broadcasting, axis normalization,
// element counts, and the strided row walk that elementwise ops and copies share.

public enum Shape {
    /// Number of elements (1 for a 0-d shape).
    @inline(__always)
    public static func count(_ s: [Int]) -> Int { s.reduce(1, *) }

    /// The element count of a shape a user gave (a reshape or expand target), refused when an
    /// extent is negative or the shape is too large to ever exist: the product of its extents
    /// (a 0 counted as 1, as Factories.validShape does) over 2^40 or past Int. This module is
    /// built -Ounchecked, so `count` wraps instead of trapping: `arange(24).reshape([2 ** 62 + 3,
    /// 4, 2])` wrapped to 24 elements and was accepted, a view whose walks read far outside
    /// its storage (llx fuzz under AddressSanitizer, seed 301 case 422, where the debug build
    /// trapped on the overflow).
    public static func checkedCount(_ s: [Int], _ what: String) throws -> Int {
        try check(s, what)
        var bound = 1
        for d in s {
            let (m, o) = bound.multipliedReportingOverflow(by: Swift.max(d, 1))
            guard !o, m <= (1 << 40) else { throw TensorError.shape("\(what): shape \(s) is too large") }
            bound = m
        }
        return s.contains(0) ? 0 : bound
    }

    /// Checks every extent is non-negative.
    public static func check(_ s: [Int], _ what: String) throws {
        for (i, d) in s.enumerated() where d < 0 {
            throw TensorError.shape("\(what): negative extent \(d) at dim \(i) of shape \(s)")
        }
    }

    /// NumPy broadcasting of two shapes (aligned on the right; extents must match or be 1).
    /// Also checks that a tensor of the result's shape fits in memory (`Memory`), since the
    /// caller allocates one next; views (`expand`) use `broadcast(_:_:_:allocates: false)`.
    public static func broadcast(_ a: [Int], _ b: [Int], _ what: String = "broadcast", allocates: Bool = true) throws -> [Int] {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else {
                throw TensorError.shape("\(what): shapes \(a) and \(b) do not broadcast (dim \(i): \(da) vs \(db))")
            }
        }
        // The result of a broadcast op is allocated next: [100000, 1] + [1, 100000] is 40 GB.
        if allocates && out != a && out != b {
            let n = Memory.elementCount(out)
            try Memory.require(n.map { $0.multipliedReportingOverflow(by: 4) }.flatMap { $0.overflow ? nil : $0.partialValue },
                               "\(what): a result of shape \(out) from \(a) and \(b)")
        }
        return out
    }

    /// An axis in -rank..<rank as 0..<rank.
    public static func axis(_ axis: Int, rank: Int, _ what: String = "axis") throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0 && a < max(rank, 1) else {
            throw TensorError.index("\(what) \(axis) is out of range for a tensor of rank \(rank)")
        }
        return a
    }

    /// Strides that read a tensor of shape `shape` with `strides` as if broadcast to `target`.
    public static func broadcastStrides(_ shape: [Int], _ strides: [Int], to target: [Int]) -> [Int] {
        let off = target.count - shape.count
        var s = [Int](repeating: 0, count: target.count)
        for i in 0..<shape.count where shape[i] != 1 { s[i + off] = strides[i] }
        return s
    }

    /// Walks all rows (the last dimension) of `shape`; body gets the starting element offset of each
    /// operand (one per strides array, starting from the given bases). For rank 0 there is one row of length 1.
    @inline(__always)
    static func forEachRow(_ shape: [Int], _ strides: [[Int]], bases: [Int], _ body: (_ offsets: UnsafeMutablePointer<Int>) -> Void) {
        let r = shape.count
        let n = Shape.count(shape)
        if n == 0 { return }
        let ops = strides.count
        let offs = UnsafeMutablePointer<Int>.allocate(capacity: max(ops, 1))
        defer { offs.deallocate() }
        for j in 0..<ops { offs[j] = bases[j] }
        if r <= 1 { body(offs); return }
        let rows = n / shape[r - 1]
        var idx = [Int](repeating: 0, count: r - 1)
        for _ in 0..<rows {
            body(offs)
            var d = r - 2
            while d >= 0 {
                idx[d] += 1
                for j in 0..<ops { offs[j] += strides[j][d] }
                if idx[d] < shape[d] { break }
                for j in 0..<ops { offs[j] -= strides[j][d] * shape[d] }
                idx[d] = 0; d -= 1
            }
        }
    }
}
