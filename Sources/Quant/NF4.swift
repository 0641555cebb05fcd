// NF4: 4-bit NormalFloat quantization, byte-identical to bitsandbytes 0.50.2 on CPU
// (functional.quantize_4bit / dequantize_4bit with quant_type "nf4", float32 input).
//
// Semantics (read from bitsandbytes' default/CPU backends):
// - The tensor is flattened; absmax is max|x| per block of `blocksize` values (last block may be
//   partial). Full blocks scale by x * (1 / max(absmax, 1e-38)); the partial last block by
//   x / max(absmax, 1e-38), and stores the clamped absmax. Scaled values are clamped to [-1, 1].
// - The code of a value is the number of midpoints (code[i] + code[i+1]) / 2 strictly below it
//   (torch.bucketize, right=False): nearest code, ties to the lower code.
// - Two codes a byte, the first element in the HIGH nibble; an odd count pads code 7 (0.0).
// - Double quantization (compress_statistics): offset = absmax.mean() (float32, torch's summation
//   order, see TorchSum.swift); absmax - offset is quantized 8-bit blockwise (256 per block) with
//   the dynamic map: absmax2 = max|v| per block, v / absmax2 rounded to the nearest code (ties to
//   the lower code, searched with code[0] = -1 as bitsandbytes' C kernel does; NaN -> 0).
//   Dequantized absmax = dynamic[q] * absmax2 + offset (with the unmodified dynamic map).
// - Dequantization: nf4[code] * absmax (float32) over FLATTENED blocks, as bitsandbytes' generic
//   and CUDA kernels do. (Its AVX-512 CPU kernel indexes absmax per row, which differs when the
//   last dimension is not a multiple of blocksize; never the case for Llama weights.)
import Tensor
import CKernels
import NN

public struct NF4Tensor: @unchecked Sendable {
    /// Packed codes, (count + 1) / 2 bytes, first element in the high nibble.
    public let codes: [UInt8]
    /// Per-block absmax (nil with double quantization).
    public let absmax: [Float]?
    /// 8-bit quantized (absmax - offset) per block (double quantization only).
    public let qabsmax: [UInt8]?
    /// Scale per 256 quantized absmax values (double quantization only).
    public let absmax2: [Float]?
    /// Mean of absmax subtracted before 8-bit quantization (0 without double quantization).
    public let offset: Float
    public let shape: [Int]
    public let blocksize: Int
    /// Block size of the second-level quantization of absmax (bitsandbytes uses 256).
    public static let blocksize2 = 256

    public var doubleQuant: Bool { qabsmax != nil }
    public var count: Int { shape.reduce(1, *) }
    public var blockCount: Int { (count + blocksize - 1) / blocksize }
    /// Bytes of codes and statistics held.
    public var byteCount: Int {
        codes.count + (absmax?.count ?? 0) * 4 + (qabsmax?.count ?? 0) + (absmax2?.count ?? 0) * 4
    }

    /// The 16 NF4 code values (bitsandbytes get_4bit_type("nf4")).
    public static let code: [Float] = NF4Tables.nf4Bits.map { Float(bitPattern: $0) }
    /// bitsandbytes' signed dynamic 8-bit map (create_dynamic_map()), used for absmax.
    public static let dynamicCode: [Float] = NF4Tables.dynamicBits.map { Float(bitPattern: $0) }
    public static let validBlocksizes: Set<Int> = [32, 64, 128, 256, 512, 1024, 2048, 4096]

    /// Decision thresholds: midpoints of adjacent codes, padded to 16 with +inf.
    static let bounds: [Float] = {
        var b = (0..<15).map { (code[$0] + code[$0 + 1]) / 2 }
        b.append(.infinity)
        return b
    }()

    /// Codes of each byte as a pair (high nibble, low nibble) of NF4 values.
    static let pairTable: [SIMD2<Float>] = (0..<256).map { SIMD2(code[$0 >> 4], code[$0 & 15]) }

    public init(codes: [UInt8], absmax: [Float]?, qabsmax: [UInt8]?, absmax2: [Float]?, offset: Float,
                shape: [Int], blocksize: Int) throws {
        let n = shape.reduce(1, *)
        guard NF4Tensor.validBlocksizes.contains(blocksize) else {
            throw QuantError.value("NF4: invalid blocksize \(blocksize) (valid: 32, 64, ..., 4096)")
        }
        guard shape.allSatisfy({ $0 >= 0 }), n > 0 else { throw QuantError.shape("NF4: invalid shape \(shape)") }
        guard codes.count == (n + 1) / 2 else {
            throw QuantError.shape("NF4: \(codes.count) code bytes for \(n) values (expected \((n + 1) / 2))")
        }
        let blocks = (n + blocksize - 1) / blocksize
        if let q = qabsmax {
            guard q.count == blocks, let a2 = absmax2, a2.count == (blocks + 255) / 256, absmax == nil else {
                throw QuantError.shape("NF4: double-quant statistics do not fit \(blocks) blocks")
            }
        } else {
            guard let a = absmax, a.count == blocks, absmax2 == nil else {
                throw QuantError.shape("NF4: absmax must hold \(blocks) values")
            }
        }
        self.codes = codes; self.absmax = absmax; self.qabsmax = qabsmax; self.absmax2 = absmax2
        self.offset = offset; self.shape = shape; self.blocksize = blocksize
    }

    /// Quantizes a float tensor (any float dtype; values are taken as float32).
    public static func quantize(_ t: Tensor, blocksize: Int = 64, doubleQuant: Bool = false) throws -> NF4Tensor {
        guard t.dtype.isFloatingPoint else { throw QuantError.value("NF4.quantize: dtype \(t.dtype.rawValue) is not a float type") }
        let c = (t.dtype == .f32 ? t : t.to(.f32)).contiguous()
        return try quantize(UnsafePointer(c.floatPointer), shape: t.shape, blocksize: blocksize, doubleQuant: doubleQuant)
    }

    /// Quantizes `shape.product` contiguous float32 values.
    /// - statisticsThreads: torch's thread count on the reference machine; only matters for the
    ///   double-quant offset when there are more than 32768 blocks (see TorchSum.swift).
    public static func quantize(_ x: UnsafePointer<Float>, shape: [Int], blocksize: Int = 64, doubleQuant: Bool = false,
                                statisticsThreads: Int = Parallel.threads) throws -> NF4Tensor {
        let n = try checkArguments(shape, blocksize)
        var codes = [UInt8](repeating: 0, count: (n + 1) / 2)
        var absmax = [Float](repeating: 0, count: (n + blocksize - 1) / blocksize)
        quantizeRange(x, 0..<n, total: n, blocksize: blocksize, codes: &codes, absmax: &absmax)
        return try finish(codes, absmax, shape, blocksize, doubleQuant, statisticsThreads)
    }

    /// Quantizes a tensor of `shape` produced chunk by chunk: `fill(rows, buffer)` writes rows
    /// [rows) of the tensor viewed as [shape[0], rest] into buffer. Only one chunk (about 4 MB)
    /// of float32 values exists at a time; the result is identical to quantizing the whole.
    public static func quantize(shape: [Int], blocksize: Int = 64, doubleQuant: Bool = false,
                                statisticsThreads: Int = Parallel.threads,
                                fill: (Range<Int>, UnsafeMutablePointer<Float>) throws -> Void) throws -> NF4Tensor {
        let n = try checkArguments(shape, blocksize)
        let rows = shape.first ?? 1
        let cols = shape.count <= 1 ? 1 : n / rows
        // Chunks hold whole rows and whole blocks: a multiple of blocksize / gcd(cols, blocksize) rows.
        var a = cols, b = blocksize
        while b != 0 { (a, b) = (b, a % b) }
        let unit = blocksize / a
        let chunkRows = max(unit, ((1 << 20) / max(cols, 1)) / unit * unit)
        var codes = [UInt8](repeating: 0, count: (n + 1) / 2)
        var absmax = [Float](repeating: 0, count: (n + blocksize - 1) / blocksize)
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: min(rows, chunkRows) * cols)
        defer { buf.deallocate() }
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + chunkRows)
            try fill(r0..<r1, buf)
            quantizeRange(buf, (r0 * cols)..<(r1 * cols), total: n, blocksize: blocksize, codes: &codes, absmax: &absmax)
            r0 = r1
        }
        return try finish(codes, absmax, shape, blocksize, doubleQuant, statisticsThreads)
    }

    private static func checkArguments(_ shape: [Int], _ blocksize: Int) throws -> Int {
        guard validBlocksizes.contains(blocksize) else {
            throw QuantError.value("NF4.quantize: invalid blocksize \(blocksize) (valid: 32, 64, ..., 4096)")
        }
        let n = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 >= 0 }), n > 0 else { throw QuantError.shape("NF4.quantize: empty or invalid shape \(shape)") }
        return n
    }

    private static func finish(_ codes: [UInt8], _ absmax: [Float], _ shape: [Int], _ blocksize: Int,
                               _ doubleQuant: Bool, _ threads: Int) throws -> NF4Tensor {
        if !doubleQuant {
            return try NF4Tensor(codes: codes, absmax: absmax, qabsmax: nil, absmax2: nil, offset: 0, shape: shape, blocksize: blocksize)
        }
        let (q, a2, off) = quantizeStatistics(absmax, threads: threads)
        return try NF4Tensor(codes: codes, absmax: nil, qabsmax: q, absmax2: a2, offset: off, shape: shape, blocksize: blocksize)
    }

    /// Quantizes elements [range) (range.lowerBound a multiple of blocksize), read from x[0...].
    private static func quantizeRange(_ x: UnsafePointer<Float>, _ range: Range<Int>, total n: Int, blocksize: Int,
                                      codes: inout [UInt8], absmax: inout [Float]) {
        let b0 = range.lowerBound / blocksize
        let nb = (range.count + blocksize - 1) / blocksize
        codes.withUnsafeMutableBufferPointer { cb in
            absmax.withUnsafeMutableBufferPointer { ab in
                let cp = cb.baseAddress!, ap = ab.baseAddress!
                let bv = SIMD16<Float>(bounds)
                Parallel.forRanges(nb, grain: max(1, 16384 / blocksize)) { r in
                    for k in r {
                        let lo = k * blocksize, len = min(blocksize, range.count - lo)
                        let g = range.lowerBound + lo
                        quantizeBlock(x + lo, len: len, full: len == blocksize, bounds: bv,
                                      codes: cp + g / 2, absmax: ap + b0 + k)
                    }
                }
            }
        }
    }

    /// Number of thresholds strictly below s (branch-free; NaN -> 0).
    @inline(__always)
    static func nf4Index(_ s: Float, _ b: SIMD16<Float>) -> UInt8 {
        let below = b .< SIMD16<Float>(repeating: s)
        return UInt8(truncatingIfNeeded: SIMD16<Int32>(repeating: 0).replacing(with: 1, where: below).wrappedSum())
    }

    /// One block of `len` values at x (its first element has an even index).
    private static func quantizeBlock(_ x: UnsafePointer<Float>, len: Int, full: Bool,
                                      bounds: SIMD16<Float>, codes: UnsafeMutablePointer<UInt8>,
                                      absmax: UnsafeMutablePointer<Float>) {
        var am: Float = 0
        var nan = false
        for i in 0..<len {
            let a = abs(x[i])
            if a > am { am = a } else if a.isNaN { nan = true }
        }
        if nan { am = .nan }
        let tiny = Float(1e-38)
        let clamped = am.isNaN ? am : max(am, tiny)
        absmax.pointee = full ? am : clamped
        let inv: Float = 1 / clamped
        @inline(__always) func scaled(_ v: Float) -> Float {
            let s = full ? v * inv : v / clamped
            return s.isNaN ? s : min(max(s, -1), 1)
        }
        var i = 0
        while i + 1 < len {
            let h = nf4Index(scaled(x[i]), bounds), l = nf4Index(scaled(x[i + 1]), bounds)
            codes[i >> 1] = (h << 4) | l
            i += 2
        }
        if i < len { codes[i >> 1] = (nf4Index(scaled(x[i]), bounds) << 4) | 7 }
    }

    /// Double quantization of absmax: (qabsmax, absmax2, offset).
    static func quantizeStatistics(_ absmax: [Float], threads: Int) -> ([UInt8], [Float], Float) {
        let nb = absmax.count
        let offset = absmax.withUnsafeBufferPointer { TorchSum.mean($0.baseAddress!, count: nb, threads: threads) }
        let v = absmax.map { $0 - offset }
        let (q, a2) = quantizeBlockwise8(v, blocksize: blocksize2)
        return (q, a2, offset)
    }

    /// bitsandbytes' CPU 8-bit blockwise quantization with the dynamic map (0.50: quantize_cpu_impl):
    /// absmax = max(0, |v|) per block; a zero block gets code 0; otherwise v * (1 / absmax) is
    /// clamped to [-1, 1], mapped to one of 65536 bins, uint16((v + 1) * 0.5 * 65535 + 0.5), and
    /// each bin to the code nearest its value -1 + 2i / 65535 (ties to the lower code).
    static func quantizeBlockwise8(_ v: [Float], blocksize: Int) -> ([UInt8], [Float]) {
        let n = v.count
        let blocks = (n + blocksize - 1) / blocksize
        var q = [UInt8](repeating: 0, count: n)
        var am = [Float](repeating: 0, count: blocks)
        let lut = dynamicLUT
        for b in 0..<blocks {
            let lo = b * blocksize, hi = min(n, lo + blocksize)
            var m: Float = 0
            for i in lo..<hi { m = Swift.max(m, abs(v[i])) }
            am[b] = m
            if m == 0 { continue }
            let inv: Float = 1 / m
            for i in lo..<hi {
                var s = v[i] * inv
                s = Swift.min(Swift.max(s, -1), 1)
                let t: Float = (s + 1) * 0.5
                let u: Float = t * 65535
                // a NaN (non-finite weights make absmax and the offset NaN) takes bin 0: Int(NaN)
                // traps where checked and is undefined in this -Ounchecked module (llx fuzz
                // under AddressSanitizer, seed 302 files 2772 and 3911: a safetensors weight
                // mutated to inf, loaded with quant: "nf4")
                let bin = u.isNaN ? 0 : Int(u + 0.5)
                q[i] = lut[Swift.min(Swift.max(bin, 0), 65535)]
            }
        }
        return (q, am)
    }

    /// Bin -> dynamic code index (count of code midpoints below the bin's value).
    static let dynamicLUT: [UInt8] = {
        let c = dynamicCode
        let mids = (0..<255).map { Float(0.5) * (c[$0] + c[$0 + 1]) }
        var lut = [UInt8](repeating: 0, count: 65536)
        var k = 0
        for i in 0..<65536 {
            let val: Float = -1 + (2 * Float(i)) / Float(65535)
            while k < 255 && mids[k] < val { k += 1 }
            lut[i] = UInt8(k)
        }
        return lut
    }()

    /// The float32 absmax of block b (dequantized from the 8-bit statistics when double-quantized).
    @inline(__always)
    public func blockScale(_ b: Int) -> Float {
        if let q = qabsmax, let a2 = absmax2 {
            return NF4Tensor.dynamicCode[Int(q[b])] * a2[b / NF4Tensor.blocksize2] + offset
        }
        return absmax![b]
    }

    /// All block scales (absmax as bitsandbytes dequantizes it).
    public func blockScales() -> [Float] { (0..<blockCount).map { blockScale($0) } }

    /// Dequantized flattened elements [range.lowerBound, range.upperBound) written to `out`.
    public func dequantize(elements range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let lo0 = max(0, range.lowerBound), hi0 = min(count, range.upperBound)
        if lo0 >= hi0 { return }
        codes.withUnsafeBufferPointer { cb in
            NF4Tensor.pairTable.withUnsafeBufferPointer { tb in
                NF4Tensor.code.withUnsafeBufferPointer { kb in
                    let cp = cb.baseAddress!, table = tb.baseAddress!, code = kb.baseAddress!
                    var e = lo0
                    while e < hi0 {
                        let b = e / blocksize
                        let end = min(hi0, (b + 1) * blocksize)
                        let s = blockScale(b)
                        var i = e
                        var o = out + (e - lo0)
                        if i & 1 == 1 { o.pointee = code[Int(cp[i >> 1] & 15)] * s; o += 1; i += 1 }
                        let pairs = (end - i) >> 1
                        let src = cp + (i >> 1)
                        let raw = UnsafeMutableRawPointer(o)
                        let sv = SIMD2<Float>(repeating: s)
                        for j in 0..<pairs {
                            raw.storeBytes(of: table[Int(src[j])] * sv, toByteOffset: j * 8, as: SIMD2<Float>.self)
                        }
                        i += pairs * 2
                        if i < end { out[i - lo0] = code[Int(cp[i >> 1] >> 4)] * s; i += 1 }
                        e = end
                    }
                }
            }
        }
    }

    /// y[t, j] = Σ_k W[j, k] · x[t, k] for output rows j in `range`, t < rows, reading the codes
    /// directly (no dequantized copy): the small-batch (decoding) path of Linear. Needs a 2-D
    /// shape whose row length is a multiple of blocksize. y has row stride ldy.
    func gemvRows(_ range: Range<Int>, x: UnsafePointer<Float>, rows: Int, y: UnsafeMutablePointer<Float>, ldy: Int) {
        let cols = shape[1]
        let perRow = cols / blocksize
        codes.withUnsafeBufferPointer { cb in
            NF4Tensor.pairTable.withUnsafeBufferPointer { tb in
                let cp = cb.baseAddress!, table = tb.baseAddress!
                let xr = UnsafeRawPointer(x)
                for j in range {
                    for t in 0..<rows { y[t * ldy + j] = 0 }
                    for bb in 0..<perRow {
                        let b = j * perRow + bb
                        let s = blockScale(b)
                        let src = cp + b * (blocksize / 2)
                        let k0 = bb * blocksize
                        for t in 0..<rows {
                            var a0 = SIMD2<Float>(), a1 = SIMD2<Float>(), a2 = SIMD2<Float>(), a3 = SIMD2<Float>()
                            let xo = (t * cols + k0) * 4
                            var q = 0
                            while q < blocksize / 2 {
                                a0 += table[Int(src[q])] * xr.loadUnaligned(fromByteOffset: xo + q * 8, as: SIMD2<Float>.self)
                                a1 += table[Int(src[q + 1])] * xr.loadUnaligned(fromByteOffset: xo + q * 8 + 8, as: SIMD2<Float>.self)
                                a2 += table[Int(src[q + 2])] * xr.loadUnaligned(fromByteOffset: xo + q * 8 + 16, as: SIMD2<Float>.self)
                                a3 += table[Int(src[q + 3])] * xr.loadUnaligned(fromByteOffset: xo + q * 8 + 24, as: SIMD2<Float>.self)
                                q += 4
                            }
                            let acc = (a0 + a1) + (a2 + a3)
                            y[t * ldy + j] += s * (acc.x + acc.y)
                        }
                    }
                }
            }
        }
    }

    /// Rows [r) of the tensor viewed as [shape[0], count / shape[0]], dequantized into `out`.
    public func dequantizeRows(_ r: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let rows = shape.first ?? 1
        let cols = rows > 0 ? count / rows : 0
        dequantize(elements: (r.lowerBound * cols)..<(r.upperBound * cols), into: out)
    }

    /// The whole tensor as a float32 tensor of `shape`.
    public func dequantize() -> Tensor {
        let t = Tensor(zeros: shape)
        let p = t.floatPointer
        let n = count
        Parallel.forRanges((n + 16383) / 16384) { r in
            dequantize(elements: (r.lowerBound * 16384)..<min(n, r.upperBound * 16384), into: p + r.lowerBound * 16384)
        }
        return t
    }
}

extension NF4Tensor {
    /// Whether `gemv` can multiply this weight: 2-D, rows a whole number of blocks.
    public var gemvReady: Bool { shape.count == 2 && shape[1] % blocksize == 0 && blocksize % 32 == 0 }

    /// y[t * ldy + j] = Σ_k W[j, k] · x[t * cols + k] for every row j, t < nx, straight from the
    /// codes: each byte's two nibbles are looked up in registers (the C kernel llx_gemv_nf4),
    /// rows split over the hot pool. Needs `gemvReady`.
    public func gemv(x: UnsafePointer<Float>, nx: Int, y: UnsafeMutablePointer<Float>, ldy: Int,
                     threads: Int = Parallel.threads) {
        let rows = shape[0], cols = shape[1]
        let xs = ScratchPool.take(nx * cols)
        defer { ScratchPool.give(xs) }
        for t in 0..<nx { llx_nf4_split(x + t * cols, cols, xs.pointer + t * cols) }
        let nth = GEMV.workers(rows, cols / 4, threads)
        codes.withUnsafeBufferPointer { cb in
            (absmax ?? []).withUnsafeBufferPointer { ab in
                (qabsmax ?? []).withUnsafeBufferPointer { qb in
                    (absmax2 ?? []).withUnsafeBufferPointer { a2b in
                        NF4Tensor.dynamicCode.withUnsafeBufferPointer { db in
                            NF4Tensor.code.withUnsafeBufferPointer { tb in
                                var w = llx_nf4(codes: cb.baseAddress, absmax: absmax == nil ? nil : ab.baseAddress,
                                                qabsmax: qabsmax == nil ? nil : qb.baseAddress,
                                                absmax2: absmax2 == nil ? nil : a2b.baseAddress,
                                                dyn: db.baseAddress, table: tb.baseAddress, offset: offset,
                                                blocksize: blocksize)
                                let xp = UnsafePointer(xs.pointer)
                                withUnsafePointer(to: &w) { wp in
                                    HotPool.run(nth, chunks: HotPool.chunks(rows: rows, nth: nth)) { c, n in
                                        let r = HotPool.split(rows, c, n)
                                        if !r.isEmpty { llx_gemv_nf4(wp, cols, xp, Int32(nx), y, ldy, r.lowerBound, r.upperBound) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
