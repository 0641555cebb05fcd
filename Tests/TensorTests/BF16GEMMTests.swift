// BF16GEMMTests: matrix products with a bf16 compute dtype (BLAS.bf16Compute) against torch's
// definition (scripts/gen_bf16_gemm_fixtures.py: operands converted with .to(torch.bfloat16),
// summed exactly in float64), on the AMX tile unit where the CPU has it, on AVX512-BF16's
// vdpbf16ps where it has that, and on the path of CPUs with neither, with every transpose, edges in every dimension, alpha and beta, and the rounding
// itself (ties to even, carries, subnormals, the largest values).
import XCTest
import Tensor

/// Uniform values in [-1, 1) from a 64-bit LCG (the tests' own operands, the same on every run).
struct Uniform {
    var state: UInt64
    mutating func floats(_ count: Int) -> [Float] {
        (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Double(state >> 11) * 0x1.0p-53 * 2 - 1)
        }
    }
}

final class BF16GEMMTests: XCTestCase {
    /// Which kernel a bf16 product takes: the tile unit, AVX512-BF16's vdpbf16ps, or the operands
    /// rounded for the f32 sgemm.
    enum Path: String { case amx, dp, rounded }

    /// Runs body with bf16 products on `path` (bf16Compute set).
    func on<T>(_ path: Path, _ body: () throws -> T) rethrows -> T {
        let saved = (BLAS.bf16Compute, BLAS.bf16WithoutAMX, BLAS.bf16WithoutDP)
        (BLAS.bf16Compute, BLAS.bf16WithoutAMX, BLAS.bf16WithoutDP) = (true, path != .amx, path != .dp)
        defer { (BLAS.bf16Compute, BLAS.bf16WithoutAMX, BLAS.bf16WithoutDP) = saved }
        return try body()
    }

    func run(_ c: Case, path: Path) -> [Float] {
        let m = c.int("m"), n = c.int("n"), k = c.int("k")
        let ta = (c.d["trans_a"] as? Bool) ?? false, tb = (c.d["trans_b"] as? Bool) ?? false
        let a = c.floats("a"), b = c.floats("b")
        var out = c.floats("c")
        on(path) { a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: c.float("alpha"),
                               a: pa.baseAddress!, lda: ta ? m : k, b: pb.baseAddress!, ldb: tb ? k : n,
                               beta: c.float("beta"), c: pc.baseAddress!, ldc: n)
                }
            }
        } }
        return out
    }

    func check(path: Path) throws {
        let cases = try XCTUnwrap(Fixtures.json("bf16_gemm.json")["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 8)
        for (i, d) in cases.enumerated() {
            let c = Case(d: d)
            let got = run(c, path: path), want = c.floats("out"), bound = c.floats("bound")
            XCTAssertEqual(got.count, want.count)
            let k = Float(c.int("k"))
            for j in 0..<min(got.count, want.count) {
                // an f32 sum of k exact products: within k ulps of the sum of magnitudes
                let tol = bound[j] * k * Float.ulpOfOne + Float.leastNormalMagnitude
                if !(abs(got[j] - want[j]) <= tol) {
                    XCTFail("case \(i) (\(c.int("m"))x\(c.int("n"))x\(c.int("k")), \(path.rawValue)) element \(j): \(got[j]) against torch's \(want[j])")
                    break
                }
            }
        }
    }

    func testTheTileUnitMultipliesAsTorchDefinesBF16() throws {
        guard BLAS.bf16Available else {
            throw XCTSkip("this CPU has no AMX-BF16 (or LLX_AMX=0): the path of CPUs without it is tested below")
        }
        try check(path: .amx)
    }

    func testWithoutTheTileUnitTheProductIsTheSame() throws {
        try check(path: .rounded)
    }

    func testTheAVX512BF16KernelMultipliesAsTorchDefinesBF16() throws {
        guard BLAS.bf16DPAvailable else { throw XCTSkip("this CPU has no AVX512-BF16 (or LLX_AVX512BF16=0)") }
        try check(path: .dp)
    }

    func testTheFlagOffLeavesF32Products() throws {
        // the rounding case: with the flag off, op(A) times the identity is op(A) itself
        let cases = try XCTUnwrap(Fixtures.json("bf16_gemm.json")["cases"] as? [[String: Any]])
        let c = Case(d: cases[7])
        let m = c.int("m"), n = c.int("n"), k = c.int("k")
        let a = c.floats("a"), b = c.floats("b")
        var out = [Float](repeating: 0, count: m * n)
        XCTAssertFalse(BLAS.bf16Compute)
        BLAS.sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &out, ldc: n)
        XCTAssertEqual(out, a)
        XCTAssertNotEqual(out, c.floats("out"), "the rounding case must tell bf16 from f32")
    }
    /// The AVX512-BF16 kernel against an exact (float64) sum of the bf16-rounded operands and
    /// against the tile unit (where there is one), single-threaded and pooled: m, n and k off
    /// the kernel's multiples (k odd, k under the 32 of a packed block), every transpose, leading
    /// dimensions wider than the matrices, alpha and beta; operands with subnormals, ties and
    /// infinities round as the other paths do (a product with an infinity is inf or nan there too).
    func testTheAVX512BF16KernelAgainstTheExactSumOnOddShapes() throws {
        guard BLAS.bf16DPAvailable else { throw XCTSkip("this CPU has no AVX512-BF16 (or LLX_AVX512BF16=0)") }
        var gen = Uniform(state: 11)
        func rand(_ count: Int) -> [Float] { gen.floats(count) }
        func bf(_ x: Float) -> Double { Double(Half.fromBF16Bits(Half.bf16Bits(x))) }
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        let shapes = [(1, 1, 33), (5, 7, 35), (17, 33, 32), (31, 47, 63), (33, 16, 97), (64, 50, 129), (130, 70, 45),
                      (200, 96, 160), (70, 129, 255)]
        var checked = 0
        for (m, n, k) in shapes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                for (alpha, beta): (Float, Float) in [(1, 0), (1, 1), (0.75, 0.5), (-2, 0)] {
                    let lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2
                    var a = rand((ta ? k : m) * lda), b = rand((tb ? n : k) * ldb)
                    // a few values that round specially (ties, carries, subnormals) in op(A)
                    let specials: [Float] = [1 + 0x1p-8, 1 + 3 * 0x1p-8, 2 - 0x1p-9, 1e-40, -2.5e-39, 0x1p-126]
                    for (i, v) in specials.enumerated() where i < k { a[ta ? i * lda : i] = v }
                    let c0 = rand(m * ldc)
                    for threads in [1, 2] {
                        Parallel.threads = threads
                        var got = c0
                        on(.dp) {
                            BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                                       beta: beta, c: &got, ldc: ldc)
                        }
                        var amx = c0
                        if BLAS.bf16Available {
                            on(.amx) {
                                BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                                           ldb: ldb, beta: beta, c: &amx, ldc: ldc)
                            }
                        }
                        var worst = 0.0, worstAMX = 0.0
                        for i in 0..<m {
                            for j in 0..<ldc {
                                if j >= n { XCTAssertEqual(got[i * ldc + j], c0[i * ldc + j]); continue }
                                var s = 0.0, mag = 0.0
                                for p in 0..<k {
                                    let x = bf(ta ? a[p * lda + i] : a[i * lda + p]) * bf(tb ? b[j * ldb + p] : b[p * ldb + j])
                                    s += x; mag += abs(x)
                                }
                                let want = Double(alpha) * s + Double(beta) * Double(c0[i * ldc + j])
                                // f32 sums of k exact products (products of bf16 subnormals may be flushed)
                                let tol = 2 * (abs(Double(alpha)) * mag + abs(Double(beta * c0[i * ldc + j]))) * Double(k + 2)
                                    * Double(Float.ulpOfOne) + 1e-30
                                worst = max(worst, abs(Double(got[i * ldc + j]) - want) / tol)
                                if BLAS.bf16Available {
                                    worstAMX = max(worstAMX, abs(Double(got[i * ldc + j]) - Double(amx[i * ldc + j])) / tol)
                                }
                            }
                        }
                        XCTAssertLessThanOrEqual(worst, 1, "\(m)x\(n)x\(k) transA \(ta) transB \(tb) alpha \(alpha) beta \(beta) threads \(threads)")
                        XCTAssertLessThanOrEqual(worstAMX, 1, "against AMX: \(m)x\(n)x\(k) transA \(ta) transB \(tb) alpha \(alpha) beta \(beta)")
                        checked += 1
                    }
                }
            }
        }
        XCTAssertEqual(checked, shapes.count * 4 * 4 * 2)
        // an infinity in op(A) gives inf (or nan against a zero) as in the f32 product of the rounded operands
        let k = 40
        var a = rand(2 * k), b = rand(k * 3)
        a[3] = .infinity
        b[3 * 3 + 1] = 0
        var got = [Float](repeating: 0, count: 6), want = got
        on(.dp) { BLAS.sgemm(m: 2, n: 3, k: k, a: a, lda: k, b: b, ldb: 3, c: &got, ldc: 3) }
        on(.rounded) { BLAS.sgemm(m: 2, n: 3, k: k, a: a, lda: k, b: b, ldb: 3, c: &want, ldc: 3) }
        for i in 0..<6 {
            XCTAssertEqual(got[i].isNaN, want[i].isNaN, "element \(i): \(got[i]) against \(want[i])")
            XCTAssertEqual(got[i].isInfinite, want[i].isInfinite, "element \(i): \(got[i]) against \(want[i])")
        }
    }

    /// Products large enough for the thread pool (operands packed once by all threads, then row
    /// blocks of C each): the same numbers as the path without AMX, with every transpose.
    func testPooledProductsMatchThePathWithoutAMX() throws {
        guard BLAS.bf16Available else { throw XCTSkip("this CPU has no AMX-BF16 (or LLX_AMX=0)") }
        try pooled(.amx)
    }

    /// The same on AVX512-BF16 (op(B) packed once by all threads, row blocks of C each).
    func testPooledAVX512BF16ProductsMatchThePathWithoutIt() throws {
        guard BLAS.bf16DPAvailable else { throw XCTSkip("this CPU has no AVX512-BF16 (or LLX_AVX512BF16=0)") }
        try pooled(.dp)
    }

    /// Every bf16 path this CPU has (the rounded one always).
    var bf16Paths: [Path] {
        var paths: [Path] = [.rounded]
        if BLAS.bf16DPAvailable { paths.append(.dp) }
        if BLAS.bf16Available { paths.append(.amx) }
        return paths
    }

    /// Heap copies of arrays (pointers a product list can hold past any closure); free them after.
    func heapCopies(_ xs: [[Float]]) -> [UnsafeMutablePointer<Float>] {
        xs.map { x in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: x.count)
            p.initialize(from: x, count: x.count)
            return p
        }
    }

    /// Products sharing B (the weight gradients of q, k and v against one input: B packed once
    /// for all of them) give each product exactly what its own sgemm gives, on every path, with
    /// and without op(A) transposed, alpha and beta, a leading dimension wider than the rows, and
    /// a product too small for the pool among them.
    func testProductsSharingBAreEachTheirOwnProduct() throws {
        let saved = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = saved }
        var gen = Uniform(state: 11)
        func rand(_ count: Int) -> [Float] { gen.floats(count) }
        let n = 96, k = 300
        let b = rand(k * n)
        for path in bf16Paths {
            for ms in [[64, 96, 130], [130, 40]] {
                for ta in [false, true] {
                    for (alpha, beta): (Float, Float) in [(1, 1), (0.5, 0)] {
                        // op(A_i) [m, k]: A stored [k, lda] with lda = m + 3 when transposed, [m, k + 5] when not
                        let ldas = ms.map { ta ? $0 + 3 : k + 5 }
                        let as_ = zip(ms, ldas).map { m, lda in rand(ta ? k * lda : m * lda) }
                        let c0 = ms.map { rand($0 * n) }
                        var alone = c0, shared = c0
                        on(path) {
                            for i in ms.indices {
                                BLAS.sgemm(transA: ta, m: ms[i], n: n, k: k, alpha: alpha, a: as_[i], lda: ldas[i],
                                           b: b, ldb: n, beta: beta, c: &alone[i], ldc: n)
                            }
                            let pa = heapCopies(as_), pc = heapCopies(shared)
                            defer { (pa + pc).forEach { $0.deallocate() } }
                            let products = ms.indices.map {
                                BLAS.SharedBProduct(a: pa[$0], lda: ldas[$0], m: ms[$0], c: pc[$0], ldc: n)
                            }
                            BLAS.sgemmSharedB(transA: ta, products, n: n, k: k, alpha: alpha, b: b, ldb: n, beta: beta)
                            for i in ms.indices { shared[i] = Array(UnsafeBufferPointer(start: pc[i], count: ms[i] * n)) }
                        }
                        for i in ms.indices {
                            XCTAssertEqual(shared[i], alone[i], "\(path.rawValue): product \(i) of \(ms), transA \(ta), alpha \(alpha), beta \(beta)")
                            XCTAssertNotEqual(shared[i], c0[i])
                        }
                    }
                }
            }
        }
    }

    /// Products sharing A (q, k and v's projections of one input: each 32-row strip of A packed
    /// once for all of them) give each product exactly what its own sgemm gives, on every path,
    /// with and without op(B) transposed, ragged widths, alpha and beta, a wider leading
    /// dimension, and a product too small for the pool among them.
    func testProductsSharingAAreEachTheirOwnProduct() throws {
        let saved = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = saved }
        var gen = Uniform(state: 13)
        func rand(_ count: Int) -> [Float] { gen.floats(count) }
        let m = 203, k = 136, lda = k + 7
        let a = rand(m * lda)
        for path in bf16Paths {
            for ns in [[128, 64, 72], [100, 5]] {
                for tb in [false, true] {
                    for (alpha, beta): (Float, Float) in [(1, 0), (0.5, 1)] {
                        // op(B_i) [k, n]: B stored [n, k + 2] when transposed, [k, n + 1] when not
                        let ldbs = ns.map { tb ? k + 2 : $0 + 1 }
                        let bs = zip(ns, ldbs).map { n, ldb in rand(tb ? n * ldb : k * ldb) }
                        let c0 = ns.map { rand(m * $0) }
                        var alone = c0, shared = c0
                        on(path) {
                            for i in ns.indices {
                                BLAS.sgemm(transB: tb, m: m, n: ns[i], k: k, alpha: alpha, a: a, lda: lda,
                                           b: bs[i], ldb: ldbs[i], beta: beta, c: &alone[i], ldc: ns[i])
                            }
                            let pb = heapCopies(bs), pc = heapCopies(shared)
                            defer { (pb + pc).forEach { $0.deallocate() } }
                            let products = ns.indices.map {
                                BLAS.SharedAProduct(b: pb[$0], ldb: ldbs[$0], n: ns[$0], c: pc[$0], ldc: ns[$0])
                            }
                            a.withUnsafeBufferPointer { pa in
                                BLAS.sgemmSharedA(transB: tb, m: m, k: k, alpha: alpha, a: pa.baseAddress!, lda: lda,
                                                  products, beta: beta)
                            }
                            for i in ns.indices { shared[i] = Array(UnsafeBufferPointer(start: pc[i], count: m * ns[i])) }
                        }
                        for i in ns.indices {
                            XCTAssertEqual(shared[i], alone[i], "\(path.rawValue): product \(i) of \(ns), transB \(tb), alpha \(alpha), beta \(beta)")
                            XCTAssertNotEqual(shared[i], c0[i])
                        }
                    }
                }
            }
        }
    }

    /// An input packed by its forward's products (sgemmSharedA's packInto, one product or
    /// several) serves the weight gradients (sgemmSharedB's packed) with exactly the numbers of
    /// packing it again: on AVX512-BF16 the packing is filled and used, elsewhere it stays empty
    /// and the products are the plain ones. An odd row count checks the zero row past the end,
    /// over a packing first filled from other values.
    func testAnInputPackedByTheForwardServesTheWeightGradients() throws {
        let saved = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = saved }
        var gen = Uniform(state: 17)
        func rand(_ count: Int) -> [Float] { gen.floats(count) }
        let m = 203, k = 136, lda = k + 7
        let packed = PackedOperand(rows: m, cols: k)
        for path in bf16Paths {
            for outs in [[96], [128, 64, 72]] {
                // the forward: out_i [m, n_i] = x · W_iᵀ, packing x; a first forward of other values
                let ws = outs.map { rand($0 * k) }
                for x in [rand(m * lda).map { $0 * 1e4 }, rand(m * lda)] {
                    var ys = outs.map { [Float](repeating: 0, count: m * $0) }
                    on(path) {
                        let pw = heapCopies(ws), py = heapCopies(ys)
                        defer { (pw + py).forEach { $0.deallocate() } }
                        let products = outs.indices.map {
                            BLAS.SharedAProduct(b: pw[$0], ldb: k, n: outs[$0], c: py[$0], ldc: outs[$0])
                        }
                        x.withUnsafeBufferPointer { px in
                            BLAS.sgemmSharedA(transB: true, m: m, k: k, a: px.baseAddress!, lda: lda, products, beta: 0,
                                              packInto: packed)
                        }
                        for i in outs.indices { ys[i] = Array(UnsafeBufferPointer(start: py[i], count: m * outs[i])) }
                    }
                    XCTAssertEqual(packed.filled, path == .dp && BLAS.bf16DPAvailable, "\(path.rawValue), \(outs)")
                    for i in outs.indices {
                        var alone = [Float](repeating: 0, count: m * outs[i])
                        on(path) {
                            BLAS.sgemm(transB: true, m: m, n: outs[i], k: k, a: x, lda: lda, b: ws[i], ldb: k,
                                       beta: 0, c: &alone, ldc: outs[i])
                        }
                        XCTAssertEqual(ys[i], alone, "\(path.rawValue): forward \(i) of \(outs)")
                    }
                }
                // the backward: dW_i [n_i, k] += dy_iᵀ · x with x's packing, against packing x again
                let x = rand(m * lda)
                on(path) {
                    x.withUnsafeBufferPointer { px in
                        let w0 = heapCopies([ws[0]]), y0 = heapCopies([[Float](repeating: 0, count: m * outs[0])])
                        defer { (w0 + y0).forEach { $0.deallocate() } }
                        BLAS.sgemmSharedA(transB: true, m: m, k: k, a: px.baseAddress!, lda: lda,
                                          [BLAS.SharedAProduct(b: w0[0], ldb: k, n: outs[0], c: y0[0], ldc: outs[0])],
                                          beta: 0, packInto: packed)
                    }
                }
                let dys = outs.map { rand(m * $0) }
                let g0 = outs.map { rand($0 * k) }
                var alone = g0, viaPack = g0
                on(path) {
                    for i in outs.indices {
                        BLAS.sgemm(transA: true, m: outs[i], n: k, k: m, a: dys[i], lda: outs[i], b: x, ldb: lda,
                                   beta: 1, c: &alone[i], ldc: k)
                    }
                    let pd = heapCopies(dys), pg = heapCopies(viaPack)
                    defer { (pd + pg).forEach { $0.deallocate() } }
                    let products = outs.indices.map {
                        BLAS.SharedBProduct(a: pd[$0], lda: outs[$0], m: outs[$0], c: pg[$0], ldc: k)
                    }
                    // where x's packing is filled, B itself is not read: zeros in its place give x's products
                    let b = packed.filled ? [Float](repeating: 0, count: x.count) : x
                    b.withUnsafeBufferPointer { pb in
                        BLAS.sgemmSharedB(transA: true, products, n: k, k: m, b: pb.baseAddress!, ldb: lda, beta: 1,
                                          packed: packed)
                    }
                    for i in outs.indices { viaPack[i] = Array(UnsafeBufferPointer(start: pg[i], count: outs[i] * k)) }
                }
                for i in outs.indices {
                    XCTAssertEqual(viaPack[i], alone[i], "\(path.rawValue): weight gradient \(i) of \(outs)")
                    XCTAssertNotEqual(viaPack[i], g0[i])
                }
            }
        }
    }

    /// The backward of layers sharing an input packed by their forward (BLAS.linearBackward: each
    /// dy packed once, for its input gradient and, transposed, its weight gradient) gives exactly
    /// the plain products' dx and weight gradients, overwriting dx or adding to it; where x is not
    /// packed (no AVX512-BF16) it does nothing and says so.
    func testTheLinearBackwardFromPackedOperandsIsThePlainProducts() throws {
        let saved = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = saved }
        var gen = Uniform(state: 19)
        func rand(_ count: Int) -> [Float] { gen.floats(count) }
        let m = 203, k = 136
        let x = rand(m * k)
        let packed = PackedOperand(rows: m, cols: k)
        for path in bf16Paths {
            for outs in [[96], [128, 64, 72]] {
                for accumulate in [false, true] {
                    let ws = outs.map { rand($0 * k) }, dys = outs.map { rand(m * $0) }
                    let g0 = outs.map { rand($0 * k) }, dx0 = rand(m * k)
                    var plainG = g0, plainDx = dx0
                    var fastG = g0, fastDx = dx0
                    var applied = false
                    on(path) {
                        for i in outs.indices {
                            BLAS.sgemm(m: m, n: k, k: outs[i], a: dys[i], lda: outs[i], b: ws[i], ldb: k,
                                       beta: accumulate || i > 0 ? 1 : 0, c: &plainDx, ldc: k)
                            BLAS.sgemm(transA: true, m: outs[i], n: k, k: m, a: dys[i], lda: outs[i], b: x, ldb: k,
                                       beta: 1, c: &plainG[i], ldc: k)
                        }
                        let pw = heapCopies(ws), pd = heapCopies(dys), pg = heapCopies(fastG), px = heapCopies([x])
                        let pdx = heapCopies([fastDx]), py = heapCopies([[Float](repeating: 0, count: m * outs[0])])
                        defer { (pw + pd + pg + px + pdx + py).forEach { $0.deallocate() } }
                        // the forward that packs x
                        BLAS.sgemmSharedA(transB: true, m: m, k: k, a: px[0], lda: k,
                                          [BLAS.SharedAProduct(b: pw[0], ldb: k, n: outs[0], c: py[0], ldc: outs[0])],
                                          beta: 0, packInto: packed)
                        applied = BLAS.linearBackward(outs.indices.map {
                            BLAS.LinearGrad(dy: pd[$0], out: outs[$0], w: pw[$0], grad: pg[$0])
                        }, x: px[0], packed: packed, rows: m, inFeatures: k, dx: pdx[0], accumulate: accumulate)
                        for i in outs.indices { fastG[i] = Array(UnsafeBufferPointer(start: pg[i], count: outs[i] * k)) }
                        fastDx = Array(UnsafeBufferPointer(start: pdx[0], count: m * k))
                    }
                    let what = "\(path.rawValue), \(outs), accumulate \(accumulate)"
                    XCTAssertEqual(applied, path == .dp && BLAS.bf16DPAvailable, what)
                    guard applied else { continue }
                    XCTAssertEqual(fastDx, plainDx, "dx: " + what)
                    for i in outs.indices { XCTAssertEqual(fastG[i], plainG[i], "weight gradient \(i): " + what) }
                }
            }
        }
    }

    func pooled(_ fast: Path) throws {
        let saved = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = saved }
        var gen = Uniform(state: 7)
        func rand(_ count: Int) -> [Float] { gen.floats(count) }
        let m = 200, n = 96, k = 160
        // alpha 1 with beta 0 or 1 stores the tiles straight into C (starting from C with beta 1)
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
          for (alpha, beta): (Float, Float) in [(0.75, 0.5), (1, 0), (1, 1)] {
            let a = rand(m * k), b = rand(k * n), c0 = rand(m * n)
            func product(_ path: Path) -> [Float] {
                var out = c0
                on(path) {
                    BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: ta ? m : k, b: b,
                               ldb: tb ? k : n, beta: beta, c: &out, ldc: n)
                }
                return out
            }
            let amx = product(fast), plain = product(.rounded)
            var worst: Float = 0
            for i in 0..<m {
                for j in 0..<n {
                    var mag: Float = 0
                    for p in 0..<k { mag += abs((ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j])) }
                    let tol = 2 * (alpha * mag + beta * abs(c0[i * n + j])) * Float(k) * Float.ulpOfOne
                    worst = max(worst, abs(amx[i * n + j] - plain[i * n + j]) / tol)
                }
            }
            XCTAssertLessThanOrEqual(worst, 1, "\(fast.rawValue): transA \(ta) transB \(tb) alpha \(alpha) beta \(beta): worst difference \(worst) of the allowed")
            // and bf16 it is: the f32 product differs by far more
            var f32 = c0
            BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: ta ? m : k, b: b,
                       ldb: tb ? k : n, beta: beta, c: &f32, ldc: n)
            XCTAssertGreaterThan(maxAbsDiff(f32, amx), 1e-3)
          }
        }
    }
}
