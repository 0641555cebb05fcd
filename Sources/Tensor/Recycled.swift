// Recycled: large scratch blocks kept for reuse instead of being returned to the system.
// A training step allocates the same activation and gradient buffers every step; glibc serves
// blocks of that size with fresh mmaps, so each step page-faulted and zeroed every buffer anew
// and unmapped it after (about 3% of a tiny-model step under perf). While a training run lasts
// (`keeping`, set by Trainer.run), freed blocks of 64 KiB or more are kept here by size class
// (sizes rounded up to 8 classes per power of two, so batches of varying length share blocks),
// up to `capacityBytes` in all and so that kept plus in use stays within a quarter above the
// run's peak in use, and handed out again; the run gives them back when it ends. A run whose
// shapes vary from step to step finds few (after 512 takes, fewer found than not) and stops
// keeping.
// Outside training (evaluation, generation: one-off sizes) blocks go straight back to malloc.
// Contents of a block are undefined (LLX_POISON_RECYCLED=1 fills reused blocks with NaN, so a
// test run shows any reader that relied on fresh memory being zero).
import Foundation
import LLXSystem

public enum Recycled {
    /// Most bytes kept for reuse at once (blocks freed beyond it go back to the system);
    /// LLX_RECYCLE_MB sets it in MiB (0: nothing is kept).
    nonisolated(unsafe) public static var capacityBytes = (getenv("LLX_RECYCLE_MB").flatMap { Int(String(cString: $0)) } ?? 512) << 20
    /// Blocks under this size go straight to malloc/free.
    static let minBytes = 64 << 10
    /// Whether freed blocks are kept now (a training run sets it for its duration).
    nonisolated(unsafe) public static var keeping = false

    /// The size a request is served with: from 64 KiB up, rounded up to a multiple of an eighth
    /// of its power of two (at most 12.5% more).
    static func sizeClass(_ bytes: Int) -> Int {
        let n = max(1, bytes)
        if n < minBytes { return n }
        let step = 1 << (Int.bitWidth - 1 - n.leadingZeroBitCount - 3)
        return (n + step - 1) / step * step
    }

    /// Runs `body` with freed blocks kept for reuse (a training run), then gives back what is
    /// kept unless an enclosing call keeps them.
    public static func keepingBlocks<T>(_ body: () throws -> T) rethrows -> T {
        let was = keeping
        if !was { lock.lock(); peakLive = live; hits = 0; misses = 0; lock.unlock() }
        keeping = true
        defer {
            keeping = was
            if !was { trim() }
        }
        return try body()
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var held = 0
    /// Bytes of large blocks handed out and not given back, and its peak since keeping began:
    /// kept blocks are evicted (oldest first) so that kept + live stays within a quarter above
    /// that peak (a run holds little more than it would without keeping anything).
    nonisolated(unsafe) private static var live = 0
    nonisolated(unsafe) private static var peakLive = 0
    /// Kept blocks in the order they were given back (entries whose stamp no longer matches
    /// were taken again), for eviction.
    nonisolated(unsafe) private static var order: [(p: UnsafeMutableRawPointer, n: Int, stamp: Int)] = []
    nonisolated(unsafe) private static var head = 0
    nonisolated(unsafe) private static var stamps: [UnsafeMutableRawPointer: Int] = [:]
    nonisolated(unsafe) private static var nextStamp = 0
    /// Takes that found a kept block and that did not, since keeping began: where shapes vary
    /// from step to step (batches of different lengths) few are found, and after 512 takes with
    /// fewer found than not the run stops keeping (it would only hold more memory).
    nonisolated(unsafe) private static var hits = 0, misses = 0
    private static let poison = getenv("LLX_POISON_RECYCLED").map { String(cString: $0) } == "1"

    /// Frees the oldest kept blocks while more is kept than the cap allows or kept + live
    /// exceeds the peak of live by more than a quarter (under the lock).
    private static func evict() {
        while held > 0 && (held > capacityBytes || held + live > peakLive + peakLive / 4) && head < order.count {
            let e = order[head]
            head += 1
            guard stamps[e.p] == e.stamp else { continue }
            stamps[e.p] = nil
            if var l = free[e.n], let i = l.firstIndex(of: e.p) { l.remove(at: i); free[e.n] = l }
            held -= e.n
            e.p.deallocate()
        }
        if head > 1024 && 2 * head > order.count { order.removeFirst(head); head = 0 }
    }

    /// A 64-byte-aligned block of at least `bytes` bytes (contents undefined); give it back with `give`.
    public static func take(_ bytes: Int) -> UnsafeMutableRawPointer {
        let n = sizeClass(bytes)
        if n < minBytes { return UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64) }
        lock.lock()
        let p = free[n]?.popLast()
        if let p = p { held -= n; stamps[p] = nil; hits += 1 } else { misses += 1 }
        live += n
        if keeping {
            peakLive = max(peakLive, live)
            if hits + misses >= 512 && hits < misses { keeping = false; peakLive = 0 }
            evict()
        }
        lock.unlock()
        if let p = p {
            if poison { p.initializeMemory(as: Float.self, repeating: .nan, count: n / 4) }
            return p
        }
        return UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
    }

    /// Returns a block from `take(bytes)` (the same byte count).
    public static func give(_ p: UnsafeMutableRawPointer, _ bytes: Int) {
        let n = sizeClass(bytes)
        if n < minBytes { p.deallocate(); return }
        lock.lock()
        live -= n
        if keeping && n <= capacityBytes {
            if Memory.releaseKept == nil { Memory.releaseKept = { Recycled.trim() } }
            free[n, default: []].append(p)
            held += n
            nextStamp += 1
            stamps[p] = nextStamp
            order.append((p, n, nextStamp))
            evict()
            lock.unlock()
            return
        }
        lock.unlock()
        p.deallocate()
    }

    /// Frees every kept block (memory back to the system); returns the bytes freed. Training
    /// runs call it when they end, and a memory check that fails calls it before refusing.
    @discardableResult
    public static func trim() -> Int {
        lock.lock()
        let all = free.values.flatMap { $0 }, bytes = held
        free = [:]
        held = 0
        order = []
        head = 0
        stamps = [:]
        peakLive = live
        lock.unlock()
        for p in all { p.deallocate() }
        if !all.isEmpty { Memory.trimFreed() }
        return bytes
    }

    /// Bytes kept for reuse now.
    public static var heldBytes: Int { lock.lock(); defer { lock.unlock() }; return held }
}
