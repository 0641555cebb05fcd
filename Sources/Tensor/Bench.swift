// TensorBench: `llx bench`. sgemm GFLOP/s at n = 512, 1024, 2048, and causal GQA flash attention
// forward + backward at T = 16384, D = 64, 8 query / 2 key-value heads: tokens/s and the peak
// resident memory it adds (VmHWM from /proc/self/status). scripts/bench_tensor.py times PyTorch
// on the same shapes.
import Foundation

public enum TensorBench {
    /// Peak resident set size in bytes (VmHWM), or nil where /proc is unavailable.
    public static func peakRSS() -> Int? { procStatus("VmHWM:") }
    /// Current resident set size in bytes (VmRSS).
    public static func currentRSS() -> Int? { procStatus("VmRSS:") }

    static func procStatus(_ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }

    /// Resets VmHWM to the current RSS (Linux: writing 5 to clear_refs); false where not allowed.
    @discardableResult
    static func resetPeakRSS() -> Bool {
        guard let fh = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? fh.close() }
        do { try fh.write(contentsOf: Data("5".utf8)); return true } catch { return false }
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// CPU seconds (user + system) this process has used: on a busy machine it shows the work
    /// done independent of how much of the machine the process got.
    public static func cpuSeconds() -> Double {
        var u = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &u)
        #else
        getrusage(RUSAGE_SELF, &u)
        #endif
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }

    static func fill(_ p: UnsafeMutablePointer<Float>, _ n: Int, seed: UInt64) {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        for i in 0..<n {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            p[i] = Float(Int64(bitPattern: s >> 40) - (1 << 23)) / Float(1 << 23)
        }
    }

    /// Best-of-`reps` sgemm GFLOP/s for square n x n matrices (wall clock), and the rate per CPU
    /// second times the thread count (what the threads achieve while they run; on a machine shared
    /// with other work the wall figure drops, this one much less).
    public static func sgemm(n: Int, reps: Int = 10) -> (wall: Double, cpuRate: Double) {
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n * n), b = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        fill(a, n * n, seed: 1); fill(b, n * n, seed: 2)
        BLAS.sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: c, ldc: n)   // warm up
        var best = Double.infinity, bestCPU = Double.infinity
        let reps = n >= 2048 ? max(2, reps / 3) : reps
        for _ in 0..<reps {
            let c0 = cpuSeconds(), t0 = now()
            BLAS.sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: c, ldc: n)
            best = min(best, now() - t0); bestCPU = min(bestCPU, cpuSeconds() - c0)
        }
        let flop = 2 * Double(n) * Double(n) * Double(n)
        return (flop / best / 1e9, flop / max(bestCPU, 1e-6) / 1e9 * Double(max(1, BLAS.threads)))
    }

    public static func sgemmGFLOPS(n: Int, reps: Int = 10) -> Double { sgemm(n: n, reps: reps).wall }

    public struct AttentionResult {
        public var forwardSeconds: Double, backwardSeconds: Double
        /// CPU seconds of forward and backward (all threads).
        public var forwardCPU: Double, backwardCPU: Double
        public var tokensPerSecond: Double
        /// Peak RSS increase over the whole run (inputs, outputs, gradients and kernel scratch), bytes.
        public var peakIncrease: Int
        /// Bytes of the tensors themselves (q, k, v, out, lse, dout, dq, dk, dv).
        public var tensorBytes: Int
    }

    /// Causal GQA attention forward + backward at the given shape.
    public static func attention(T: Int, D: Int, Hq: Int, Hkv: Int) throws -> AttentionResult {
        resetPeakRSS()
        let base = peakRSS() ?? 0
        let nq = T * Hq * D, nk = T * Hkv * D
        let bufs = [nq, nk, nk, nq, Hq * T, nq, nq, nk, nk]
        let ptrs = bufs.map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
        defer { for p in ptrs { p.deallocate() } }
        for (i, p) in ptrs.enumerated() { if i == 5 || i < 3 { fill(p, bufs[i], seed: UInt64(i + 3)) } else { p.update(repeating: 0, count: bufs[i]) } }
        let (q, k, v, out, lse, dout, dq, dk, dv) = (ptrs[0], ptrs[1], ptrs[2], ptrs[3], ptrs[4], ptrs[5], ptrs[6], ptrs[7], ptrs[8])
        let scale = 1 / Float(D).squareRoot()
        let c0 = cpuSeconds(), t0 = now()
        try Kernels.attentionForward(q: q, k: k, v: v, out: out, lse: lse, Tq: T, Tk: T, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
        let c1 = cpuSeconds(), t1 = now()
        try Kernels.attentionBackward(dout: dout, q: q, k: k, v: v, out: out, lse: lse, dq: dq, dk: dk, dv: dv,
                                      Tq: T, Tk: T, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
        let c2 = cpuSeconds(), t2 = now()
        let peak = peakRSS() ?? 0
        return AttentionResult(forwardSeconds: t1 - t0, backwardSeconds: t2 - t1, forwardCPU: c1 - c0, backwardCPU: c2 - c1, tokensPerSecond: Double(T) / (t2 - t0),
                               peakIncrease: peak - base, tensorBytes: bufs.reduce(0, +) * 4)
    }

    public static func run(_ log: (String) -> Void) {
        log("llx bench: OpenBLAS core \(BLAS.coreName), \(BLAS.threads) BLAS threads, \(Parallel.threads) llx threads (\(CPU.modelName))")
        // Attention first, so its peak-memory figure is not masked by the large sgemm buffers.
        // LLX_BENCH_T overrides the sequence length (quick runs); LLX_BENCH_SKIP_SGEMM=1 skips sgemm.
        let env = ProcessInfo.processInfo.environment
        let T = env["LLX_BENCH_T"].flatMap { Int($0) }.map { Swift.max(1, $0) } ?? 16384
        let (D, Hq, Hkv) = (64, 8, 2)
        do {
            let r = try attention(T: T, D: D, Hq: Hq, Hkv: Hkv)
            let mb = { (b: Int) in String(format: "%.1f MB", Double(b) / 1e6) }
            log(String(format: "attention fwd+bwd T=%d D=%d heads %d/%d: fwd %.2f s, bwd %.2f s, %.0f tokens/s (CPU time fwd %.2f s, bwd %.2f s)",
                       T, D, Hq, Hkv, r.forwardSeconds, r.backwardSeconds, r.tokensPerSecond, r.forwardCPU, r.backwardCPU))
            log("attention peak RSS increase \(mb(r.peakIncrease)) (tensors \(mb(r.tensorBytes)), working memory \(mb(max(0, r.peakIncrease - r.tensorBytes))))")
        } catch {
            log("attention: \(error)")
        }
        if env["LLX_BENCH_SKIP_SGEMM"] == "1" { return }
        for n in [512, 1024, 2048] {
            let r = sgemm(n: n)
            log(String(format: "sgemm n=%d: %.1f GFLOP/s (best of runs; from CPU time, %d threads: %.1f GFLOP/s)", n, r.wall, BLAS.threads, r.cpuRate))
        }
    }
}
