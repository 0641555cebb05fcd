// BLAS: the one place llx calls OpenBLAS. Row-major sgemm with transposed operands
// read in place, thread control, and the name of the kernel core OpenBLAS chose.
import CBLAS
import CKernels
import Foundation

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

    /// Threads a GEMM runs on. With one pool (the default) OpenBLAS itself runs single-threaded
    /// and `sgemm` splits a product across llx's hot pool, so this is `Parallel.threads`; with
    /// LLX_THREADING=openblas it is OpenBLAS's own thread count.
    public static var threads: Int {
        get { onePool ? Parallel.threads : Int(_openblas_get_num_threads()) }
        set {
            if onePool { Parallel.threads = max(1, newValue) } else { _openblas_set_num_threads(Int32(max(1, newValue))) }
        }
    }

    /// Whether llx runs every parallel loop, GEMMs included, on its one hot pool (default), or
    /// leaves GEMM threading to OpenBLAS (LLX_THREADING=openblas, for comparison). OpenBLAS's
    /// workers and llx's own threads took turns on the two cores: between GEMMs the BLAS workers
    /// spun (sched_yield, ~15% of a tiny-model training step under perf) while llx's kernels
    /// waited for a core, and a training step ran only 1.1x faster on two threads than on one.
    public static let onePool: Bool = {
        let one = getenv("LLX_THREADING").map { String(cString: $0) } != "openblas"
        if one { _openblas_set_num_threads(1) }
        return one
    }()

    /// While set, `sgemm` multiplies in bf16: operands rounded to bf16 (nearest even), products
    /// summed in f32, as a bf16 compute dtype does (`train(compute_dtype: "bf16")`). On AMX
    /// (`bf16Available`) the tile unit does it; without AMX but with AVX512-BF16
    /// (`bf16DPAvailable`, e.g. AMD Zen 4) vdpbf16ps does (llx_sbgemm_dp); elsewhere the rounded
    /// operands go through the f32 sgemm (the same numbers up to the order of the sums, and no
    /// faster). Products with an inner dimension under 32 stay f32.
    nonisolated(unsafe) public static var bf16Compute = false

    /// Whether bf16 products run on the AMX tile unit here (AMX-BF16; LLX_AMX=0: no).
    public static let bf16Available: Bool = llx_sbgemm_available() != 0
    /// Set: bf16 products take the path of CPUs without AMX even here (for tests of both).
    nonisolated(unsafe) public static var bf16WithoutAMX = false
    /// Whether bf16 products go to the tile unit now.
    static var bf16OnAMX: Bool { bf16Available && !bf16WithoutAMX }

    /// Whether this CPU has AVX512-BF16 (CPUID.(7,1):EAX[5]) for bf16 products without AMX
    /// (LLX_AVX512BF16=0: no, and they round their operands for the f32 sgemm as before).
    public static let bf16DPAvailable: Bool = llx_sbgemm_dp_available() != 0
    /// Set: bf16 products without AMX take the rounded f32 path even where AVX512-BF16 is (for tests).
    nonisolated(unsafe) public static var bf16WithoutDP = false
    /// Whether bf16 products go to the AVX512-BF16 kernel now (not on the tile unit, and allowed).
    static var bf16OnDP: Bool { !bf16OnAMX && bf16DPAvailable && !bf16WithoutDP }

    /// Products below this many multiply-adds run on the calling thread.
    static let splitWork = 1 << 18

    /// Whether a bf16 product of this shape runs on the pool in phases (op(B) packed once by all
    /// threads, then row blocks of C): `sgemm`'s first path, and the shared-operand products'.
    static func pooledBF16(m: Int, n: Int, k: Int) -> Bool {
        bf16OnPool && k >= 32 && m * n * k >= splitWork && m >= 64 && (bf16OnAMX || bf16OnDP)
    }

    /// bf16 products with the pool and 2+ threads (the part of `pooledBF16` that is not shape).
    static var bf16OnPool: Bool { bf16Compute && onePool && Parallel.threads > 1 }

    /// Whether a forward's products may pack their input for the backward (PackedOperand): bf16
    /// products on the pool with AVX512-BF16.
    /// (LLX_PACK_REUSE=0: never, for comparisons.)
    public static var packsOperands: Bool { packReuse && bf16OnPool && bf16OnDP }
    static let packReuse = getenv("LLX_PACK_REUSE").map { String(cString: $0) } != "0"

    /// The parts a pooled bf16 product's 32-row blocks of C are split into: a few per thread.
    static func rowParts(_ m: Int) -> Int { min(4 * Parallel.threads, (m + 31) / 32) }

    /// C[m,n] = alpha * op(A) * op(B) + beta * C, all row-major.
    /// op(A) is [m,k] (A stored [k,m] when transA), op(B) is [k,n] (B stored [n,k] when transB).
    public static func sgemm(transA: Bool = false, transB: Bool = false,
                             m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = product(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                    beta: beta, c: c, ldc: ldc, emitAT: nil)
    }

    /// `sgemm`; with `emitAT`, where the product runs pooled on AVX512-BF16 (op(A) not
    /// transposed), A is also written there transposed (llx_sbgemm_dp_tiles' emit_t) and the
    /// result is true.
    static func product(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>,
                        lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>,
                        ldc: Int, emitAT: UnsafeMutablePointer<UInt16>?) -> Bool {
        if m == 0 || n == 0 { return false }
        let nth = Parallel.threads
        if pooledBF16(m: m, n: n, k: k), let buf = llx_sbgemm_shared(m, n, k) {
            // bf16 on AMX (or AVX512-BF16): op(B) packed once, by all threads, then 32-row blocks
            // of C each (a few parts per thread, claimed as they come, so a thread that starts
            // late on a shared machine holds back little)
            let parts = rowParts(m)
            let amx = bf16OnAMX
            HotPool.run(nth, chunks: parts) { part, parts in
                llx_sbgemm_pack(transA ? 1 : 0, transB ? 1 : 0, m, n, k, a, lda, b, ldb, buf, Int32(part), Int32(parts))
            }
            HotPool.run(nth, chunks: parts) { part, parts in
                if amx {
                    llx_sbgemm_tiles(transA ? 1 : 0, m, n, k, a, lda, buf, alpha, beta, c, ldc, Int32(part), Int32(parts))
                } else {
                    llx_sbgemm_dp_tiles(transA ? 1 : 0, m, n, k, a, lda, buf, alpha, beta, c, ldc, transA ? nil : emitAT,
                                        Int32(part), Int32(parts))
                }
            }
            llx_sbgemm_shared_done()
            return !amx && !transA && emitAT != nil
        }
        if onePool, nth > 1, k > 0, m * n * k >= splitWork, max(m, n) >= 32 {
            // Each chunk is an independent single-threaded product over a block of rows of C
            // (or of columns, when C is wide): op(A)'s rows or op(B)'s columns, in place.
            let byRows = m >= n
            let extent = byRows ? m : n
            let chunks = min(nth, extent / 16)
            HotPool.run(nth, chunks: chunks) { chunk, parts in
                let r = HotPool.split(extent, chunk, parts, align: 16)
                if r.isEmpty { return }
                let lo = r.lowerBound, len = r.count
                if byRows {
                    single(transA: transA, transB: transB, m: len, n: n, k: k, alpha: alpha,
                           a: transA ? a + lo : a + lo * lda, lda: lda, b: b, ldb: ldb,
                           beta: beta, c: c + lo * ldc, ldc: ldc)
                } else {
                    single(transA: transA, transB: transB, m: m, n: len, k: k, alpha: alpha, a: a, lda: lda,
                           b: transB ? b + lo * ldb : b + lo, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
                }
            }
            return false
        }
        single(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
               beta: beta, c: c, ldc: ldc)
        return false
    }

    /// One product of `sgemmSharedB`: C[m, n] = alpha * op(A) * B + beta * C.
    public struct SharedBProduct {
        public let a: UnsafePointer<Float>, lda: Int, m: Int
        public let c: UnsafeMutablePointer<Float>, ldc: Int
        public init(a: UnsafePointer<Float>, lda: Int, m: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
            self.a = a; self.lda = lda; self.m = m; self.c = c; self.ldc = ldc
        }
    }

    /// `sgemm` for several products that share B ([k, n], not transposed): C_i = alpha * op(A_i) *
    /// B + beta * C_i, each C_i exactly as its own `sgemm` would give it. Where the bf16 products
    /// run on the pool with AVX512-BF16, B is packed once for all of them and their row blocks
    /// share one parallel phase (the gradients of q, k and v's weights against the same input);
    /// elsewhere the products run one after another.
    /// `packed`: B already packed (a PackedOperand of B that the forward filled), used where
    /// these products run on the pool with AVX512-BF16, even for one product.
    public static func sgemmSharedB(transA: Bool, _ products: [SharedBProduct], n: Int, k: Int, alpha: Float = 1,
                                    b: UnsafePointer<Float>, ldb: Int, beta: Float, packed: PackedOperand? = nil) {
        let nth = Parallel.threads
        let prepacked = packed.flatMap { $0.filled && $0.rows == k && $0.cols == n ? $0 : nil }
        let pooled = (products.count > 1 || prepacked != nil) && bf16OnDP
            && products.allSatisfy { pooledBF16(m: $0.m, n: n, k: k) }
        if pooled, let pre = prepacked {
            multiplyPacked(transA: transA, products, n: n, k: k, alpha: alpha, bp: UnsafePointer(pre.buffer()), beta: beta)
            return
        }
        if pooled, let widest = products.max(by: { $0.m < $1.m }), let buf = llx_sbgemm_shared(widest.m, n, k) {
            let pack = rowParts(widest.m)
            HotPool.run(nth, chunks: pack) { part, parts in
                llx_sbgemm_pack(transA ? 1 : 0, 0, widest.m, n, k, widest.a, widest.lda, b, ldb, buf, Int32(part), Int32(parts))
            }
            multiplyPacked(transA: transA, products, n: n, k: k, alpha: alpha, bp: llx_sbgemm_packed_b(buf, widest.m, n, k),
                           beta: beta)
            llx_sbgemm_shared_done()
            return
        }
        for p in products {
            sgemm(transA: transA, m: p.m, n: n, k: k, alpha: alpha, a: p.a, lda: p.lda, b: b, ldb: ldb,
                  beta: beta, c: p.c, ldc: p.ldc)
        }
    }

    /// sgemmSharedB's products against B packed at bp, their row blocks in one parallel phase.
    private static func multiplyPacked(transA: Bool, _ products: [SharedBProduct], n: Int, k: Int, alpha: Float,
                                       bp: UnsafePointer<UInt16>, beta: Float) {
        rowPartsPhase(products.map(\.m)) { i, part, parts in
            let p = products[i]
            llx_sbgemm_dp_tiles_packed(transA ? 1 : 0, p.m, n, k, p.a, p.lda, bp, alpha, beta, p.c, p.ldc, part, parts)
        }
    }

    /// One parallel phase over several products' 32-row blocks of C (products[i] with ms[i]
    /// rows), each split in `rowParts` parts, all claimed from one phase: body(i, part, parts).
    static func rowPartsPhase(_ ms: [Int], _ body: (Int, Int32, Int32) -> Void) {
        let counts = ms.map { rowParts($0) }
        var first: [Int] = [], total = 0
        for c in counts { first.append(total); total += c }
        HotPool.run(Parallel.threads, chunks: total) { chunk, _ in
            var i = 0
            while i + 1 < ms.count && first[i + 1] <= chunk { i += 1 }
            body(i, Int32(chunk - first[i]), Int32(counts[i]))
        }
    }

    /// One product of `sgemmSharedA`: C[m, n] = alpha * A * op(B) + beta * C.
    public struct SharedAProduct {
        public let b: UnsafePointer<Float>, ldb: Int, n: Int
        public let c: UnsafeMutablePointer<Float>, ldc: Int
        public init(b: UnsafePointer<Float>, ldb: Int, n: Int, c: UnsafeMutablePointer<Float>, ldc: Int) {
            self.b = b; self.ldb = ldb; self.n = n; self.c = c; self.ldc = ldc
        }
    }

    /// `sgemm` for several products that share A ([m, k], not transposed): C_i = alpha * A *
    /// op(B_i) + beta * C_i, each C_i exactly as its own `sgemm` would give it. Where the bf16
    /// products run on the pool with AVX512-BF16, every 32-row strip of A is packed once for all
    /// of them (q, k and v's projections of one input); elsewhere they run one after another.
    /// `packInto` (a PackedOperand of A's shape): where the strips are packed here (the pooled
    /// AVX512-BF16 path, even for one product), A is also written there for sgemmSharedB's
    /// `packed`, and it is marked filled; elsewhere it is marked empty.
    public static func sgemmSharedA(transB: Bool, m: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                    _ products: [SharedAProduct], beta: Float, packInto: PackedOperand? = nil) {
        let nth = Parallel.threads
        let emit = packInto.flatMap { $0.rows == m && $0.cols == k ? $0 : nil }
        packInto?.filled = false
        let pooled = (products.count > 1 || emit != nil) && !products.isEmpty && bf16OnDP
            && products.allSatisfy { pooledBF16(m: m, n: $0.n, k: k) }
        guard pooled else {
            for p in products {
                sgemm(transB: transB, m: m, n: p.n, k: k, alpha: alpha, a: a, lda: lda, b: p.b, ldb: p.ldb,
                      beta: beta, c: p.c, ldc: p.ldc)
            }
            return
        }
        let emitTo = emit?.buffer()
        withPackScratch(products.map { PackedOperand.elements(rows: k, cols: $0.n) }) { scratch in
            let bps = scratch.map { Optional(UnsafePointer($0)) }
            let ns = products.map(\.n), cs: [UnsafeMutablePointer<Float>?] = products.map(\.c), ldcs = products.map(\.ldc)
            let parts = rowParts(m)
            HotPool.run(nth, chunks: parts) { part, parts in
                for (i, p) in products.enumerated() {
                    llx_sbgemm_pack_b(transB ? 1 : 0, p.n, k, p.b, p.ldb, scratch[i],
                                      Int32(part), Int32(parts))
                }
            }
            bps.withUnsafeBufferPointer { bp in
                ns.withUnsafeBufferPointer { np in
                    cs.withUnsafeBufferPointer { cp in
                        ldcs.withUnsafeBufferPointer { lp in
                            HotPool.run(nth, chunks: parts) { part, parts in
                                llx_sbgemm_dp_tiles_shared_a(0, m, k, a, lda, Int32(products.count), bp.baseAddress!,
                                                             np.baseAddress!, cp.baseAddress!, lp.baseAddress!, alpha, beta,
                                                             emitTo, Int32(part), Int32(parts))
                            }
                        }
                    }
                }
            }
        }
        emit?.filled = true
    }

    /// body with one piece of scratch memory per entry of `sizes` (uint16 elements), taken from
    /// Recycled as one block and given back after.
    static func withPackScratch(_ sizes: [Int], _ body: ([UnsafeMutablePointer<UInt16>]) -> Void) {
        let bytes = sizes.reduce(0, +) * 2
        let raw = Recycled.take(bytes)
        defer { Recycled.give(raw, bytes) }
        let base = raw.bindMemory(to: UInt16.self, capacity: bytes / 2)
        var pieces: [UnsafeMutablePointer<UInt16>] = [], off = 0
        for s in sizes { pieces.append(base + off); off += s }
        body(pieces)
    }

    /// The bf16 product without AMX or AVX512-BF16: the operands rounded to bf16 into copies, then an f32 sgemm
    /// (a product of two bf16 values is exact in f32, so only the order of the sums differs).
    @inline(never)
    static func roundedProduct(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>,
                               lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        // (uninitialized copies, filled by one vectorized pass each)
        let ra = transA ? (k, m) : (m, k), rb = transB ? (n, k) : (k, n)
        let ca = UnsafeMutablePointer<Float>.allocate(capacity: ra.0 * ra.1)
        let cb = UnsafeMutablePointer<Float>.allocate(capacity: rb.0 * rb.1)
        defer { ca.deallocate(); cb.deallocate() }
        llx_bf16_round_rows(a, lda, ra.0, ra.1, ca)
        llx_bf16_round_rows(b, ldb, rb.0, rb.1, cb)
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, ca, Int32(ra.1), cb, Int32(rb.1), beta, c, Int32(ldc))
    }

    @inline(__always)
    static func single(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                       b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if bf16Compute, k >= 32 {
            if bf16OnAMX {
                llx_sbgemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            } else if bf16OnDP {
                llx_sbgemm_dp(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            } else {
                roundedProduct(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                               b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            }
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
