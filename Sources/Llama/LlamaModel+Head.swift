// The token embedding and the lm_head, stored either as f32 Params (trainable) or, to save
// memory on big frozen models, as bf16 tensors (then frozen): gathers convert rows on the fly and
// the lm_head products convert the weight in tiles of rows, never the whole matrix.
import Foundation
import Tensor
import Quant

extension LlamaModel {
    /// Values of a bf16 weight converted to f32 per tile (about 4 MB).
    nonisolated(unsafe) public static var bf16TileValues = 1 << 20

    /// Checks that a bf16-stored weight is not marked trainable.
    func checkStorage() throws {
        for p in [embedTokens, lmHead] where p.value.dtype != .f32 && p.trainable {
            throw LlamaError.argument("\(p.name) is stored in \(p.value.dtype.rawValue) and cannot be trained; load it in f32")
        }
    }

    /// out (n, C) = embed_tokens[ids]. Ids must be validated.
    func embed(_ ids: [Int], out: UnsafeMutablePointer<Float>) throws {
        let C = config.hiddenSize, V = config.vocabSize, n = ids.count
        let w = embedTokens.value
        if w.dtype == .f32 {
            try ids.withUnsafeBufferPointer { ip in
                try Kernels.embeddingForward(table: w.floatPointer, vocab: V, ids: ip.baseAddress!, n: n, out: out, dim: C)
            }
            return
        }
        let src = (w.storage.bytes + w.offset * 2).assumingMemoryBound(to: UInt16.self)
        for (i, t) in ids.enumerated() {
            let row = src + t * C, dst = out + i * C
            for j in 0..<C { dst[j] = Float(bitPattern: UInt32(row[j]) << 16) }
        }
    }

    /// dtable[ids] += d (n, C) when embed_tokens is trainable.
    func embedBackward(_ ids: [Int], d: UnsafePointer<Float>) throws {
        guard let dE = gradPointer(embedTokens), embedTokens.value.dtype == .f32 else { return }
        try ids.withUnsafeBufferPointer { ip in
            try Kernels.embeddingBackward(dout: d, ids: ip.baseAddress!, n: ids.count, dtable: dE,
                                          vocab: config.vocabSize, dim: config.hiddenSize)
        }
    }

    /// Calls body(v0, count, tile) over lm_head rows converted to f32 (bf16 storage), or once
    /// with the whole f32 matrix.
    func headTiles(_ body: (Int, Int, UnsafePointer<Float>) -> Void) {
        let w = lmHead.value, V = config.vocabSize, C = config.hiddenSize
        if w.dtype == .f32 { body(0, V, w.floatPointer); return }
        let src = (w.storage.bytes + w.offset * 2).assumingMemoryBound(to: UInt16.self)
        let tileRows = max(1, min(V, LlamaModel.bf16TileValues / C))
        let tile = FloatBuffer(tileRows * C)
        var v0 = 0
        while v0 < V {
            let n = min(tileRows, V - v0)
            let base = v0
            Parallel.forRanges(n, grain: max(1, 16384 / C)) { r in
                for i in r {
                    let s = src + (base + i) * C, d = tile.p + i * C
                    for j in 0..<C { d[j] = Float(bitPattern: UInt32(s[j]) << 16) }
                }
            }
            body(v0, n, tile.p)
            v0 += n
        }
    }

    /// logits (rows, V) = x (rows, C) · lm_headᵀ.
    func headForward(_ x: UnsafePointer<Float>, rows: Int, out: UnsafeMutablePointer<Float>) {
        let C = config.hiddenSize, V = config.vocabSize
        let w = lmHead.value
        if rows <= 4 {
            // Decoding: stream the lm_head once (bf16 rows widened in registers), on the hot pool.
            if w.dtype == .bf16 {
                let src = (w.storage.bytes + w.offset * 2).assumingMemoryBound(to: UInt16.self)
                GEMV.bf16(src, rows: V, cols: C, x: x, nx: rows, y: out, ldy: V)
            } else {
                GEMV.f32(w.floatPointer, rows: V, cols: C, x: x, nx: rows, y: out, ldy: V)
            }
            return
        }
        headTiles { v0, n, w in
            BLAS.sgemm(transB: true, m: rows, n: n, k: C, a: x, lda: C, b: w, ldb: C, c: out + v0, ldc: V)
        }
    }

    /// dx (rows, C) = dlogits (rows, V) · lm_head (overwritten); dW_lm_head (V, C) += dlogitsᵀ · x when trainable.
    func headBackward(dlogits: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int, dx: UnsafeMutablePointer<Float>) {
        let C = config.hiddenSize, V = config.vocabSize
        headTiles { v0, n, w in
            BLAS.sgemm(m: rows, n: C, k: n, a: dlogits + v0, lda: V, b: w, ldb: C,
                       beta: v0 > 0 ? 1 : 0, c: dx, ldc: C)
        }
        if lmHead.value.dtype == .f32, let dW = gradPointer(lmHead) {
            BLAS.sgemm(transA: true, m: V, n: C, k: rows, a: dlogits, lda: V, b: x, ldb: C, beta: 1, c: dW, ldc: C)
        }
    }

    /// Stores every dense projection (and, with `embeddings`, the embedding and the lm_head) in
    /// bf16, frozen: half the memory, and decoding streams half the bytes. NF4 projections stay
    /// NF4; LoRA stays f32.
    public func storeWeightsInBF16(embeddings: Bool = true) {
        for l in layers { for lin in l.linears { lin.storeInBF16() } }
        if embeddings { storeEmbeddingsInBF16() }
    }

    /// Stores the embedding and lm_head in bf16 (frozen) to halve their memory.
    public func storeEmbeddingsInBF16() {
        for p in [embedTokens, lmHead] where p.value.dtype == .f32 {
            p.value = p.value.to(.bf16)
            p.trainable = false
            p.grad = nil
        }
    }
}
