// PackedOperand: an input x [rows, cols] kept in the bf16 layout that the AVX512-BF16 kernel
// reads for op(B) of a product summing over its rows, the weight gradient dW = dYᵀ · x. The
// forward packs x row strip by row strip for its own products (x · Wᵀ) and, given one of these,
// writes it out in that layout as it goes (BLAS.sgemmSharedA); the backward's weight gradients
// then read it instead of packing x again (BLAS.sgemmSharedB). The numbers are the same either
// way: both packings round each value to bf16 the same way.
import CKernels

public final class PackedOperand {
    public let rows: Int, cols: Int
    /// Whether it holds x's packing: set by the forward that wrote it, cleared by one that did not.
    public internal(set) var filled = false
    private var storage: UnsafeMutableRawPointer?
    private var bytes = 0

    // Not inlined, so an instance is never promoted to the caller's stack (see FloatBuffer).
    @inline(never)
    public init(rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
    }

    /// The uint16 elements of the packing: rows rounded up to 32, cols to 16.
    static func elements(rows: Int, cols: Int) -> Int { (rows + 31) / 32 * 32 * ((cols + 15) / 16 * 16) }

    /// Its memory, taken on first use (from Recycled, as activation buffers).
    func buffer() -> UnsafeMutablePointer<UInt16> {
        if storage == nil {
            bytes = PackedOperand.elements(rows: rows, cols: cols) * 2
            storage = Recycled.take(bytes)
        }
        return storage!.bindMemory(to: UInt16.self, capacity: bytes / 2)
    }

    /// Marks it as not holding x (a forward that did not write it).
    public func invalidate() { filled = false }

    deinit { if let s = storage { Recycled.give(s, bytes) } }
}
