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

    /// The uint16 elements of a packed op(B) of `rows` x `cols` (the layout llx_sbgemm_pack_b
    /// writes): rows rounded up to 32, cols to 16.
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

extension BLAS {
    /// One layer of `linearBackward`: its output gradient dy [rows, out], its f32 weight W
    /// [out, in], and its weight gradient [out, in] (accumulated into).
    public struct LinearGrad {
        public let dy: UnsafePointer<Float>, out: Int
        public let w: UnsafePointer<Float>, grad: UnsafeMutablePointer<Float>
        public init(dy: UnsafePointer<Float>, out: Int, w: UnsafePointer<Float>, grad: UnsafeMutablePointer<Float>) {
            self.dy = dy; self.out = out; self.w = w; self.grad = grad
        }
    }

    /// The backward of dense layers that read one input x [rows, in], which their forward packed
    /// (`packed`, filled by sgemmSharedA): dx (+)= Σ dy_i · W_i (the first overwrites it unless
    /// `accumulate`) and grad_i += dy_iᵀ · x. Each dy_i is packed once, by its input-gradient
    /// product, which also writes it transposed for its weight gradient; the weight gradients
    /// then read both operands packed, all in one parallel phase. The numbers are those of the
    /// plain products. False, with nothing done, where this does not apply (x not packed, or the
    /// products not pooled on AVX512-BF16): the caller runs the plain products.
    public static func linearBackward(_ layers: [LinearGrad], x: UnsafePointer<Float>, packed: PackedOperand,
                                      rows: Int, inFeatures: Int, dx: UnsafeMutablePointer<Float>,
                                      accumulate: Bool) -> Bool {
        guard packed.filled, packed.rows == rows, packed.cols == inFeatures, bf16OnDP, !layers.isEmpty,
              layers.allSatisfy({ pooledBF16(m: rows, n: inFeatures, k: $0.out)
                                  && pooledBF16(m: $0.out, n: inFeatures, k: rows) })
        else { return false }
        // dy_iᵀ: (out_i rounded up to 32) rows of ldt bf16
        let ldt = (rows + 31) / 32 * 32
        withPackScratch(layers.map { ($0.out + 31) / 32 * 32 * ldt }) { ats in
            var emitted: [Bool] = []
            for (i, L) in layers.enumerated() {
                emitted.append(product(transA: false, transB: false, m: rows, n: inFeatures, k: L.out, alpha: 1, a: L.dy,
                                       lda: L.out, b: L.w, ldb: inFeatures, beta: accumulate || i > 0 ? 1 : 0, c: dx,
                                       ldc: inFeatures, emitAT: ats[i]))
            }
            let bp = UnsafePointer(packed.buffer())
            let ready = layers.indices.filter { emitted[$0] }
            rowPartsPhase(ready.map { layers[$0].out }) { j, part, parts in
                let L = layers[ready[j]]
                llx_sbgemm_dp_tiles_prepacked(L.out, inFeatures, rows, UnsafePointer(ats[ready[j]]), ldt, bp, 1, 1, L.grad,
                                              inFeatures, part, parts)
            }
            // a product that did not write its transpose (the shared packing buffer was busy)
            for i in layers.indices where !emitted[i] {
                let L = layers[i]
                sgemmSharedB(transA: true, [SharedBProduct(a: L.dy, lda: L.out, m: L.out, c: L.grad, ldc: inFeatures)],
                             n: inFeatures, k: rows, b: x, ldb: inFeatures, beta: 1, packed: packed)
            }
        }
        return true
    }
}
