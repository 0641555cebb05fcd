// ScratchPool: reusable f32 scratch buffers (NF4 tiles, LoRA intermediates) shared by every
// layer, so that scratch memory stays at a few buffers however many layers a model has.
import Foundation

/// Reusable f32 scratch buffers (NF4 tiles, LoRA intermediates), shared by all layers so that
/// memory stays at a few tiles however many layers exist.
public enum ScratchPool {
    public final class Buffer: @unchecked Sendable {
        public let pointer: UnsafeMutablePointer<Float>
        public let capacity: Int
        init(_ n: Int) {
            capacity = max(n, 1)
            pointer = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        }
        deinit { pointer.deallocate() }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Buffer] = []

    /// A buffer of at least n floats (contents undefined).
    public static func take(_ n: Int) -> Buffer {
        lock.lock(); defer { lock.unlock() }
        if let i = free.firstIndex(where: { $0.capacity >= n }) { return free.remove(at: i) }
        return Buffer(n)
    }

    /// Returns a buffer for reuse (the pool keeps at most 4, the largest).
    public static func give(_ b: Buffer) {
        lock.lock(); defer { lock.unlock() }
        free.append(b)
        if free.count > 4 {
            free.sort { $0.capacity > $1.capacity }
            free.removeLast(free.count - 4)
        }
    }
}
