// Linear: y[T, out] = x[T, in] · Wᵀ (bias-free, as in Llama) + LoRA, over a dense f32 base
// weight or a frozen NF4 base. Forward and backward are paired functions over raw row-major
// pointers; the matrix work is BLAS sgemm with the weight read transposed in place.
//
// NF4 bases are never expanded whole: forward and the input gradient dequantize `tileRows`
// rows of W at a time into a shared scratch tile and run one sgemm per tile.
//
// Parameter names (`params`): the dense weight is "<name>.weight" (Hugging Face key, e.g.
// "model.layers.0.self_attn.q_proj.weight"); LoRA matrices use PEFT's adapter-file keys
// "base_model.model.<name>.lora_A.weight" / ".lora_B.weight" (see PEFT.swift). An NF4 base is
// not a Parameter (it has no f32 value); read it through `nf4`.
import Foundation
import Tensor
import NN

public final class Linear {
    /// Module path, e.g. "model.layers.0.self_attn.q_proj".
    public let name: String
    public let inFeatures: Int
    public let outFeatures: Int
    /// The dense base weight [out, in] (nil when the base is NF4). Frozen unless `trainable` is set.
    public private(set) var weight: Parameter?
    /// The NF4 base weight [out, in] (nil when dense); always frozen.
    public private(set) var nf4: NF4Tensor?
    /// The LoRA adapter, when added.
    public private(set) var lora: LoRA?
    /// Enables LoRA dropout in `forward` (training mode).
    public var training: Bool = false
    /// Rows of an NF4 weight dequantized per sgemm (0 = about 1M values per tile).
    public var tileRows: Int = 0
    /// Up to this many input rows, an NF4 forward multiplies straight from the codes (no tiles).
    public var gemvMaxRows: Int = 4

    /// A linear layer over a dense weight [outFeatures, inFeatures] (any float dtype; kept as f32).
    public init(name: String, inFeatures: Int, outFeatures: Int, weight: Tensor, trainable: Bool = false) throws {
        try Linear.check(name, inFeatures, outFeatures)
        guard weight.shape == [outFeatures, inFeatures] else {
            throw QuantError.shape("Linear \(name): weight shape \(weight.shape), expected [\(outFeatures), \(inFeatures)]")
        }
        guard weight.dtype.isFloatingPoint else {
            throw QuantError.shape("Linear \(name): weight dtype \(weight.dtype.rawValue) is not a float type")
        }
        self.name = name
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.weight = Parameter(name: name + ".weight", value: weight, trainable: trainable)
    }

    /// A linear layer over a frozen NF4 weight of shape [outFeatures, inFeatures].
    public init(name: String, inFeatures: Int, outFeatures: Int, nf4: NF4Tensor) throws {
        try Linear.check(name, inFeatures, outFeatures)
        guard nf4.shape == [outFeatures, inFeatures] else {
            throw QuantError.shape("Linear \(name): NF4 weight shape \(nf4.shape), expected [\(outFeatures), \(inFeatures)]")
        }
        self.name = name
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.nf4 = nf4
    }

    /// Quantizes a dense weight [out, in] to an NF4 base (the dense tensor can be dropped after).
    public static func nf4(name: String, inFeatures: Int, outFeatures: Int, weight: Tensor,
                           blocksize: Int = 64, doubleQuant: Bool = true) throws -> Linear {
        guard weight.shape == [outFeatures, inFeatures] else {
            throw QuantError.shape("Linear \(name): weight shape \(weight.shape), expected [\(outFeatures), \(inFeatures)]")
        }
        let q = try NF4Tensor.quantize(weight, blocksize: blocksize, doubleQuant: doubleQuant)
        return try Linear(name: name, inFeatures: inFeatures, outFeatures: outFeatures, nf4: q)
    }

    /// Builds an NF4 base from a generator that fills rows [r) of W ([r.count, in] floats) chunk by
    /// chunk, so the f32 weight never exists whole (see NF4Tensor.quantize(shape:fill:)).
    public static func nf4(name: String, inFeatures: Int, outFeatures: Int, blocksize: Int = 64, doubleQuant: Bool = true,
                           fill: (Range<Int>, UnsafeMutablePointer<Float>) throws -> Void) throws -> Linear {
        try check(name, inFeatures, outFeatures)
        let q = try NF4Tensor.quantize(shape: [outFeatures, inFeatures], blocksize: blocksize, doubleQuant: doubleQuant, fill: fill)
        return try Linear(name: name, inFeatures: inFeatures, outFeatures: outFeatures, nf4: q)
    }

    private static func check(_ name: String, _ i: Int, _ o: Int) throws {
        guard i > 0, o > 0 else {
            throw QuantError.shape("Linear \(name): inFeatures \(i) and outFeatures \(o) must be positive")
        }
    }

    /// All parameters: the dense base weight (if dense), then LoRA A and B (if added).
    public var params: [Parameter] {
        var p: [Parameter] = []
        if let w = weight { p.append(w) }
        if let l = lora { p.append(l.A); p.append(l.B) }
        return p
    }

    /// Bytes held by the base weight (f32 or NF4 codes + statistics).
    public var baseByteCount: Int { weight.map { $0.count * $0.value.dtype.size } ?? nf4?.byteCount ?? 0 }

    // MARK: LoRA

    /// Adds a LoRA adapter (PEFT semantics, see LoRA.swift). Throws if one is already present.
    @discardableResult
    public func addLoRA(rank: Int, alpha: Double, dropout: Float = 0, useRSLoRA: Bool = false, seed: UInt64 = 0) throws -> LoRA {
        if lora != nil { throw QuantError.value("Linear \(name): a LoRA adapter is already present") }
        let l = try LoRA(module: name, inFeatures: inFeatures, outFeatures: outFeatures, rank: rank, alpha: alpha,
                         dropout: dropout, useRSLoRA: useRSLoRA, seed: seed)
        lora = l
        return l
    }

    /// Removes the LoRA adapter (without merging).
    public func removeLoRA() { lora = nil }

    /// The dense weight W + scale · B·A ([out, in] f32), dequantizing an NF4 base.
    public func mergedWeight() -> Tensor {
        let w = denseWeight()
        if let l = lora { l.addDelta(into: w.floatPointer) }
        return w
    }

    /// The base weight as dense f32 [out, in] (a copy; dequantized when NF4).
    public func denseWeight() -> Tensor {
        if let q = nf4 { return q.dequantize() }
        let w = Tensor(zeros: [outFeatures, inFeatures])
        if let d = weight {
            let f = d.value.dtype == .f32 ? d.value : d.value.to(.f32)
            w.floatPointer.update(from: f.floatPointer, count: d.count)
        }
        return w
    }

    /// Folds the adapter into the base and removes it. A dense base stays dense; an NF4 base
    /// becomes dense f32 unless `requantize` is true (then it is re-quantized to NF4 with the same
    /// blocksize / double quantization, as PEFT's merge of a 4-bit layer does).
    public func merge(requantize: Bool = false) throws {
        guard lora != nil else { return }
        let merged = mergedWeight()
        if let q = nf4, requantize {
            nf4 = try NF4Tensor.quantize(merged, blocksize: q.blocksize, doubleQuant: q.doubleQuant)
        } else {
            let trainable = weight?.trainable ?? false
            weight = Parameter(name: name + ".weight", value: merged, trainable: trainable)
            nf4 = nil
        }
        lora = nil
    }

    // MARK: forward / backward

    private var effectiveTileRows: Int {
        let t = tileRows > 0 ? tileRows : max(16, (1 << 20) / inFeatures)
        return min(outFeatures, t)
    }

    /// out[rows, outFeatures] = x[rows, inFeatures] · Wᵀ (+ LoRA); out is overwritten.
    /// `packX`: a trainable dense weight's product also packs x there for the backward's weight
    /// gradient (BLAS.sgemmSharedA's `packInto`); otherwise it is marked empty.
    public func forward(_ x: UnsafePointer<Float>, rows: Int, out: UnsafeMutablePointer<Float>,
                        packX: PackedOperand? = nil) {
        packX?.invalidate()
        if rows <= 0 { return }
        if let px = packX, let w = weight, w.trainable, w.value.dtype == .f32, rows > gemvMaxRows {
            BLAS.sgemmSharedA(transB: true, m: rows, k: inFeatures, a: x, lda: inFeatures,
                              [BLAS.SharedAProduct(b: w.value.floatPointer, ldb: inFeatures, n: outFeatures, c: out,
                                                   ldc: outFeatures)], beta: 0, packInto: px)
        } else {
            baseForward(x, rows: rows, out: out)
        }
        if let l = lora { l.forward(x, rows: rows, out: out, training: training) }
    }

    /// `forward` of several layers that read the same input x (q, k and v; gate and up), into
    /// outs[i] for layers[i]: the same values as calling `forward` on each; dense weights share
    /// one packing of x (BLAS.sgemmSharedA).
    /// `packX`: as `forward`'s, when every layer's weight is dense and trainable.
    public static func forward(_ layers: [Linear], _ x: UnsafePointer<Float>, rows: Int, outs: [UnsafeMutablePointer<Float>],
                               packX: PackedOperand? = nil) {
        precondition(layers.count == outs.count && layers.allSatisfy { $0.inFeatures == layers[0].inFeatures },
                     "Linear.forward: one output per layer, all of the same input width")
        packX?.invalidate()
        if rows <= 0 || layers.isEmpty { return }
        let trainable = layers.allSatisfy { $0.weight?.trainable == true }
        var products: [BLAS.SharedAProduct] = []
        for (L, out) in zip(layers, outs) {
            if let w = L.weight, w.value.dtype == .f32, rows > L.gemvMaxRows {
                products.append(BLAS.SharedAProduct(b: w.value.floatPointer, ldb: L.inFeatures, n: L.outFeatures,
                                                    c: out, ldc: L.outFeatures))
            } else {
                L.baseForward(x, rows: rows, out: out)
            }
        }
        BLAS.sgemmSharedA(transB: true, m: rows, k: layers[0].inFeatures, a: x, lda: layers[0].inFeatures, products, beta: 0,
                          packInto: trainable && products.count == layers.count ? packX : nil)
        for (L, out) in zip(layers, outs) {
            if let l = L.lora { l.forward(x, rows: rows, out: out, training: L.training) }
        }
    }

    /// Backward of `forward` for the same x. dy is [rows, outFeatures].
    /// - dx: when given, receives dL/dx [rows, inFeatures]; it is OVERWRITTEN unless
    ///   `accumulate` is true, in which case the gradient is added to what dx holds.
    /// - Gradients of trainable parameters (dense weight, LoRA A and B) are ACCUMULATED into
    ///   `Parameter.grad`. LoRA dropout reuses the mask of the latest training forward.
    /// `packedX`: x as the forward packed it (`forward`'s packX), for the weight gradient.
    public func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
                         dx: UnsafeMutablePointer<Float>?, accumulate: Bool = false, packedX: PackedOperand? = nil) {
        if rows <= 0 { return }
        if let px = packedX, let dx = dx, let w = weight, w.trainable, w.value.dtype == .f32,
           BLAS.linearBackward([BLAS.LinearGrad(dy: dy, out: outFeatures, w: w.value.floatPointer,
                                                grad: w.ensureGrad().floatPointer)],
                               x: x, packed: px, rows: rows, inFeatures: inFeatures, dx: dx, accumulate: accumulate) {
            if let l = lora { l.backward(dy: dy, x: x, rows: rows, dx: dx, training: training) }
            return
        }
        if let w = weight, w.trainable, w.value.dtype == .f32 {
            let g = w.ensureGrad()
            // dW[out, in] += dyᵀ[out, rows] · x[rows, in]
            // (with x's packing where the forward filled it; else the plain product)
            BLAS.sgemmSharedB(transA: true, [BLAS.SharedBProduct(a: dy, lda: outFeatures, m: outFeatures,
                                                                  c: g.floatPointer, ldc: inFeatures)],
                              n: inFeatures, k: rows, b: x, ldb: inFeatures, beta: 1, packed: packedX)
        }
        if let dx = dx { baseInputGrad(dy: dy, rows: rows, dx: dx, accumulate: accumulate) }
        if let l = lora { l.backward(dy: dy, x: x, rows: rows, dx: dx, training: training) }
    }

    /// `backward` of several layers that read the same input x (q, k and v; gate and up) with
    /// their own dy (dys[i] for layers[i]): dx gets the layers' input gradients summed in order
    /// (the first overwrites it unless `accumulate`), the same values as calling `backward` on
    /// each in turn; the trainable dense weights' gradients share one packing of x
    /// (BLAS.sgemmSharedB).
    public static func backward(_ layers: [Linear], dys: [UnsafePointer<Float>], x: UnsafePointer<Float>, rows: Int,
                                dx: UnsafeMutablePointer<Float>?, accumulate: Bool = false, packedX: PackedOperand? = nil) {
        precondition(layers.count == dys.count && layers.allSatisfy { $0.inFeatures == layers[0].inFeatures },
                     "Linear.backward: one dy per layer, all of the same input width")
        if rows <= 0 || layers.isEmpty { return }
        // (without LoRA: its input gradient joins dx between the layers' own)
        if let px = packedX, let dx = dx,
           layers.allSatisfy({ $0.weight?.trainable == true && $0.weight?.value.dtype == .f32 && $0.lora == nil }),
           BLAS.linearBackward(zip(layers, dys).map { L, dy in
                                   BLAS.LinearGrad(dy: dy, out: L.outFeatures, w: L.weight!.value.floatPointer,
                                                   grad: L.weight!.ensureGrad().floatPointer)
                               }, x: x, packed: px, rows: rows, inFeatures: layers[0].inFeatures, dx: dx,
                               accumulate: accumulate) {
            return
        }
        var products: [BLAS.SharedBProduct] = []
        for (L, dy) in zip(layers, dys) {
            guard let w = L.weight, w.trainable, w.value.dtype == .f32 else { continue }
            // dW[out, in] += dyᵀ[out, rows] · x[rows, in]
            products.append(BLAS.SharedBProduct(a: dy, lda: L.outFeatures, m: L.outFeatures,
                                                c: w.ensureGrad().floatPointer, ldc: L.inFeatures))
        }
        BLAS.sgemmSharedB(transA: true, products, n: layers[0].inFeatures, k: rows, b: x, ldb: layers[0].inFeatures, beta: 1,
                          packed: packedX)
        for (i, (L, dy)) in zip(layers, dys).enumerated() {
            if let dx = dx { L.baseInputGrad(dy: dy, rows: rows, dx: dx, accumulate: accumulate || i > 0) }
            if let l = L.lora { l.backward(dy: dy, x: x, rows: rows, dx: dx, training: L.training) }
        }
    }

    /// Stores a dense base weight in bf16 (frozen, half the memory and bandwidth); an NF4 base
    /// is left as it is. Decoding reads the bf16 rows directly; larger products convert tiles.
    public func storeInBF16() {
        guard let w = weight, w.value.dtype != .bf16 else { return }
        w.value = w.value.to(.bf16)
        w.trainable = false
        w.grad = nil
    }

    /// The bf16 bits of a bf16-stored dense base.
    private func bf16Bits(_ w: Parameter) -> UnsafePointer<UInt16> {
        UnsafePointer((w.value.storage.bytes + w.value.offset * 2).assumingMemoryBound(to: UInt16.self))
    }

    private func baseForward(_ x: UnsafePointer<Float>, rows: Int, out: UnsafeMutablePointer<Float>) {
        if let w = weight, rows <= gemvMaxRows {
            // Decoding: stream each weight row once, on the hot pool.
            if w.value.dtype == .bf16 {
                GEMV.bf16(bf16Bits(w), rows: outFeatures, cols: inFeatures, x: x, nx: rows, y: out, ldy: outFeatures)
            } else {
                GEMV.f32(w.value.floatPointer, rows: outFeatures, cols: inFeatures, x: x, nx: rows, y: out, ldy: outFeatures)
            }
            return
        }
        if let w = weight, w.value.dtype == .bf16 {
            forEachBF16Tile(bf16Bits(w)) { r0, n, tile in
                BLAS.sgemm(transB: true, m: rows, n: n, k: inFeatures, a: x, lda: inFeatures, b: tile, ldb: inFeatures,
                           beta: 0, c: out + r0, ldc: outFeatures)
            }
            return
        }
        if let w = weight {
            BLAS.sgemm(transB: true, m: rows, n: outFeatures, k: inFeatures,
                       a: x, lda: inFeatures, b: w.value.floatPointer, ldb: inFeatures,
                       beta: 0, c: out, ldc: outFeatures)
            return
        }
        guard let q = nf4 else { return }
        if rows <= gemvMaxRows && q.gemvReady {
            // Few rows (decoding): codes looked up in registers, never dequantized to memory.
            q.gemv(x: x, nx: rows, y: out, ldy: outFeatures)
            return
        }
        if rows <= gemvMaxRows && inFeatures % q.blocksize == 0 {
            Parallel.forRanges(outFeatures, grain: max(1, 65536 / inFeatures)) { r in
                q.gemvRows(r, x: x, rows: rows, y: out, ldy: outFeatures)
            }
            return
        }
        forEachTile(q) { r0, n, tile in
            // out[:, r0..<r0+n] = x · tileᵀ
            BLAS.sgemm(transB: true, m: rows, n: n, k: inFeatures,
                       a: x, lda: inFeatures, b: tile, ldb: inFeatures,
                       beta: 0, c: out + r0, ldc: outFeatures)
        }
    }

    private func baseInputGrad(dy: UnsafePointer<Float>, rows: Int, dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        if let w = weight, w.value.dtype == .bf16 {
            forEachBF16Tile(bf16Bits(w)) { r0, n, tile in
                BLAS.sgemm(m: rows, n: inFeatures, k: n, a: dy + r0, lda: outFeatures, b: tile, ldb: inFeatures,
                           beta: (accumulate || r0 > 0) ? 1 : 0, c: dx, ldc: inFeatures)
            }
            return
        }
        if let w = weight {
            // dx[rows, in] (+)= dy[rows, out] · W[out, in]
            BLAS.sgemm(m: rows, n: inFeatures, k: outFeatures,
                       a: dy, lda: outFeatures, b: w.value.floatPointer, ldb: inFeatures,
                       beta: accumulate ? 1 : 0, c: dx, ldc: inFeatures)
            return
        }
        guard let q = nf4 else { return }
        forEachTile(q) { r0, n, tile in
            // dx (+)= dy[:, r0..<r0+n] · tile[n, in]
            BLAS.sgemm(m: rows, n: inFeatures, k: n,
                       a: dy + r0, lda: outFeatures, b: tile, ldb: inFeatures,
                       beta: (accumulate || r0 > 0) ? 1 : 0, c: dx, ldc: inFeatures)
        }
    }

    /// Converts a bf16 W to f32 tile by tile and hands each tile to `body`.
    private func forEachBF16Tile(_ src: UnsafePointer<UInt16>, _ body: (Int, Int, UnsafePointer<Float>) -> Void) {
        let cols = inFeatures
        forEachTile(fill: { rows, dst in Kernels.fromBF16(src + rows.lowerBound * cols, dst, rows.count * cols) }, body)
    }

    /// Dequantizes W tile by tile and hands each tile to `body`.
    private func forEachTile(_ q: NF4Tensor, _ body: (Int, Int, UnsafePointer<Float>) -> Void) {
        forEachTile(fill: { rows, dst in q.dequantizeRows(rows, into: dst) }, body)
    }

    /// Fills an f32 tile of W's rows at a time (`fill(rows, destination)`, rows split across
    /// threads) and hands each tile to `body(first row, row count, tile)`.
    private func forEachTile(fill: (Range<Int>, UnsafeMutablePointer<Float>) -> Void,
                             _ body: (Int, Int, UnsafePointer<Float>) -> Void) {
        let tr = effectiveTileRows
        let cols = inFeatures
        let tile = ScratchPool.take(tr * cols)
        defer { ScratchPool.give(tile) }
        var r0 = 0
        while r0 < outFeatures {
            let n = min(tr, outFeatures - r0)
            let base = r0
            Parallel.forRanges(n, grain: max(1, 16384 / cols)) { r in
                fill((base + r.lowerBound)..<(base + r.upperBound), tile.pointer + r.lowerBound * cols)
            }
            body(r0, n, UnsafePointer(tile.pointer))
            r0 += n
        }
    }
}
