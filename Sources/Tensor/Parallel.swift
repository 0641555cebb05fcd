// Parallel: splits loops across the compute threads (both cores on this machine).
import Foundation

public enum Parallel {
    /// Worker count for llx's own loops; `threads(n)` in the language sets it (and BLAS's).
    nonisolated(unsafe) public static var threads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Runs body(range) over [0, n) split into contiguous chunks, one or more per thread.
    /// Small problems (n * costPerItem below `grain`) run inline on the caller's thread.
    public static func forRanges(_ n: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = min(threads, n / max(1, grain))
        if workers <= 1 { if n > 0 { body(0..<n) }; return }
        // On the hot pool, a few chunks per thread claimed as they come: on a machine shared
        // with other processes a thread that gets its core late then holds back a quarter of
        // its share, not all of it.
        let parts = BLAS.onePool ? min(4 * workers, n / max(1, grain)) : workers
        let chunk = (n + parts - 1) / parts
        @inline(__always) func part(_ w: Int) {
            let lo = w * chunk, hi = min(n, lo + chunk)
            if lo < hi { body(lo..<hi) }
        }
        if BLAS.onePool { HotPool.run(workers, chunks: parts) { c, _ in part(c) } } else { run(workers) { part($0) } }
    }

    /// Runs body(i) for every i in [0, n), split across threads.
    public static func forEach(_ n: Int, grain: Int = 1, _ body: (Int) -> Void) {
        forRanges(n, grain: grain) { r in for i in r { body(i) } }
    }
}

extension Parallel {
    /// Worker count `forDynamic` uses for n items.
    public static func workerCount(_ n: Int) -> Int { Swift.max(1, Swift.min(threads, n)) }

    /// Runs body(worker, item) for every item in [0, n), handing items out one at a time to
    /// `workerCount(n)` workers (worker in 0..<workerCount(n)), so uneven items balance.
    public static func forDynamic(_ n: Int, _ body: (_ worker: Int, _ item: Int) -> Void) {
        let workers = workerCount(n)
        if workers <= 1 { for i in 0..<n { body(0, i) }; return }
        let counter = ItemCounter()
        run(workers) { w in
            while true {
                let i = counter.next()
                if i >= n { break }
                body(w, i)
            }
        }
    }
}

extension Parallel {
    /// body(w) for w in [0, workers), one chunk each, on llx's hot pool (the same threads as the
    /// GEMMs and decode kernels; see BLAS.onePool), or on libdispatch's with LLX_THREADING=openblas.
    @inline(__always)
    static func run(_ workers: Int, _ body: (Int) -> Void) {
        if BLAS.onePool {
            HotPool.run(workers, chunks: workers) { c, _ in body(c) }
        } else {
            DispatchQueue.concurrentPerform(iterations: workers, execute: body)
        }
    }
}

final class ItemCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.lock(); defer { lock.unlock() }; let v = value; value += 1; return v }
}
