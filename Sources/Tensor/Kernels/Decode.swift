// Decode: Swift entry points of the C decode kernels (Sources/CKernels): the hot worker pool,
// matrix-vector products over f32 and bf16 weights, and single-query attention over a KV cache
// in f32 or bf16. Batch-1 decoding is bound by memory bandwidth: every weight is streamed once
// per token, on all threads, with workers that stay awake between the products of one step.
import CKernels

public enum HotPool {
    private struct Job { let body: (Int, Int) -> Void }

    /// Runs body(chunk, chunks) for every chunk in [0, chunks) on the caller's thread and up to
    /// nth - 1 hot workers, which claim chunks from a shared counter (a worker that is not
    /// scheduled never holds the caller up: it runs the chunks itself).
    public static func run(_ nth: Int = Parallel.threads, chunks: Int, _ body: (Int, Int) -> Void) {
        if chunks <= 0 { return }
        if nth <= 1 || chunks == 1 { for c in 0..<chunks { body(c, chunks) }; return }
        withoutActuallyEscaping(body) { b in
            var job = Job(body: b)
            withUnsafeMutablePointer(to: &job) { p in
                llx_pool_run({ ctx, c, n in
                    ctx!.assumingMemoryBound(to: Job.self).pointee.body(Int(c), Int(n))
                }, UnsafeMutableRawPointer(p), Int32(nth), Int32(chunks))
            }
        }
    }

    /// Chunks for a row-split job on nth threads: a few per thread, so one that starts late
    /// (or not at all) costs little.
    @inline(__always)
    public static func chunks(rows: Int, nth: Int) -> Int { nth <= 1 ? 1 : Swift.max(1, Swift.min(4 * nth, rows / 16)) }

    /// Rows [0, n) split into `parts` contiguous ranges, range starts multiples of `align`.
    @inline(__always)
    public static func split(_ n: Int, _ part: Int, _ parts: Int, align: Int = 4) -> Range<Int> {
        let per = ((n + parts - 1) / parts + align - 1) / align * align
        let lo = Swift.min(n, part * per), hi = Swift.min(n, lo + per)
        return lo..<hi
    }

    /// How long an idle worker spins before sleeping, in microseconds.
    public static func setSpin(microseconds: Int) { llx_pool_set_spin_us(Int32(clamping: microseconds)) }

    /// Whether the C kernels run their AVX-512 versions (chosen at run time from the CPU;
    /// LLX_KERNELS=generic forces the scalar ones).
    public static var avx512: Bool { llx_kernels_avx512() != 0 }

    /// Forces the scalar kernels (true) or restores the run-time choice (false): tests compare both.
    public static func forceGeneric(_ generic: Bool) { llx_kernels_force_generic(generic ? 1 : 0) }
}

public enum GEMV {
    /// y[t * ldy + j] = Σ_k W[j, k] · x[t * cols + k] for j < rows, t < nx; W row-major f32 [rows, cols].
    public static func f32(_ w: UnsafePointer<Float>, rows: Int, cols: Int, x: UnsafePointer<Float>, nx: Int = 1,
                           y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int = Parallel.threads) {
        let nth = workers(rows, cols, threads)
        HotPool.run(nth, chunks: HotPool.chunks(rows: rows, nth: nth)) { c, n in
            let r = HotPool.split(rows, c, n)
            if !r.isEmpty { llx_gemv_f32(w, cols, cols, x, cols, Int32(nx), y, ldy, r.lowerBound, r.upperBound) }
        }
    }

    /// The same with W stored as bf16 bits [rows, cols], widened in registers.
    public static func bf16(_ w: UnsafePointer<UInt16>, rows: Int, cols: Int, x: UnsafePointer<Float>, nx: Int = 1,
                            y: UnsafeMutablePointer<Float>, ldy: Int, threads: Int = Parallel.threads) {
        let nth = workers(rows, cols, threads)
        HotPool.run(nth, chunks: HotPool.chunks(rows: rows, nth: nth)) { c, n in
            let r = HotPool.split(rows, c, n)
            if !r.isEmpty { llx_gemv_bf16(w, cols, cols, x, cols, Int32(nx), y, ldy, r.lowerBound, r.upperBound) }
        }
    }

    /// Threads for a rows x cols product: one for tiny ones (the pool's hand-off costs more).
    @inline(__always)
    public static func workers(_ rows: Int, _ cols: Int, _ t: Int) -> Int { rows * cols < 16384 ? 1 : Swift.max(1, Swift.min(t, rows / 4)) }
}

extension Kernels {
    /// Attention of one query position (q, out: [Hq, D]) over Tk cached positions (k, v: [Tk, Hkv, D],
    /// f32 or bf16 bits when `bf16`), split over heads on the hot pool. scratch: at least
    /// `decodeAttentionScratch(Tk:D:)` floats.
    public static func attentionDecode(q: UnsafePointer<Float>, k: UnsafeRawPointer, v: UnsafeRawPointer, bf16: Bool,
                                       out: UnsafeMutablePointer<Float>, Tk: Int, Hq: Int, Hkv: Int, D: Int, scale: Float,
                                       scratch: UnsafeMutablePointer<Float>, threads: Int = Parallel.threads) throws {
        try checkAttention(1, Tk, Hq, Hkv, D)
        let nth = Swift.max(1, Swift.min(threads, Hq))
        let per = Tk + D
        // One chunk per query head; each uses the scratch of its head.
        HotPool.run(nth, chunks: Hq) { h, _ in
            llx_attn_decode(q, k, v, bf16 ? 1 : 0, out, Tk, Int32(Hq), Int32(Hkv), Int32(D), scale,
                            scratch + h * per, Int32(h), Int32(h + 1))
        }
    }

    /// Scratch floats `attentionDecode` needs for Tk positions and Hq query heads.
    public static func decodeAttentionScratch(Tk: Int, D: Int, Hq: Int) -> Int { Swift.max(1, Hq) * (Tk + D) }

    /// bf16 bits (round to nearest even) of n floats.
    public static func toBF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, _ n: Int) {
        llx_f32_to_bf16(src, dst, n)
    }

    /// Floats of n bf16 values.
    public static func fromBF16(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        llx_bf16_to_f32(src, dst, n)
    }
}
