// DecodeKernelTests: the C decode kernels (Sources/CKernels through Tensor/Kernels/Decode.swift):
// matrix-vector products over f32 and bf16 weights against sums in double precision, the
// single-query attention against torch's attention (the kernels fixture) and against the flash
// kernel, the bf16 flash attention against the f32 one on the same rounded values, the pool.
import Foundation
import XCTest
import Tensor

final class DecodeKernelTests: XCTestCase {
    func randoms(_ n: Int, seed: UInt64) -> [Float] {
        var r = SplitMix(seed: seed)
        return (0..<n).map { _ in Float(r.uniform() * 2 - 1) }
    }

    func bf16(_ x: [Float]) -> [UInt16] { x.map { Half.bf16Bits($0) } }

    /// y[t, j] = Σ W[j, k] x[t, k] in double.
    func reference(_ w: [Float], rows: Int, cols: Int, _ x: [Float], nx: Int) -> [Float] {
        var y = [Float](repeating: 0, count: nx * rows)
        for t in 0..<nx {
            for j in 0..<rows {
                var s = 0.0
                for k in 0..<cols { s += Double(w[j * cols + k]) * Double(x[t * cols + k]) }
                y[t * rows + j] = Float(s)
            }
        }
        return y
    }

    func testGEMVMatchesDoubleSums() throws {
        // Shapes with row tails (not a multiple of 4 per thread) and column tails (not of 16).
        for (rows, cols) in [(1, 16), (7, 33), (70, 192), (130, 512), (9, 1408)] {
            let w = randoms(rows * cols, seed: UInt64(rows * 31 + cols))
            let wb = bf16(w), wr = wb.map { Half.fromBF16Bits($0) }
            for nx in [1, 2, 3] {
                let x = randoms(nx * cols, seed: UInt64(nx))
                var y = [Float](repeating: .nan, count: nx * rows)
                GEMV.f32(w, rows: rows, cols: cols, x: x, nx: nx, y: &y, ldy: rows)
                assertClose(y, reference(w, rows: rows, cols: cols, x, nx: nx), 2e-5 * Float(cols).squareRoot(), "f32 \(rows)x\(cols) nx \(nx)")
                var yb = [Float](repeating: .nan, count: nx * rows)
                GEMV.bf16(wb, rows: rows, cols: cols, x: x, nx: nx, y: &yb, ldy: rows)
                assertClose(yb, reference(wr, rows: rows, cols: cols, x, nx: nx), 2e-5 * Float(cols).squareRoot(), "bf16 \(rows)x\(cols) nx \(nx)")
                // One thread gives the same numbers: each row's sum never depends on the split.
                var y1 = [Float](repeating: .nan, count: nx * rows)
                GEMV.f32(w, rows: rows, cols: cols, x: x, nx: nx, y: &y1, ldy: rows, threads: 1)
                XCTAssertEqual(y1, y, "f32 one thread \(rows)x\(cols)")
            }
        }
    }

    func testBF16ConversionRoundsToNearestEven() {
        let x: [Float] = randoms(1000, seed: 3) + [1.00390625, 1.01171875, -0.0, .infinity, 3e38, 1e-40]
        var b = [UInt16](repeating: 0, count: x.count)
        Kernels.toBF16(x, &b, x.count)
        XCTAssertEqual(b, x.map { Half.bf16Bits($0) })
        var back = [Float](repeating: 0, count: x.count)
        Kernels.fromBF16(b, &back, x.count)
        XCTAssertEqual(back, b.map { Half.fromBF16Bits($0) })
    }

    func testHotPoolRunsEveryChunkOnce() {
        for (nth, chunks) in [(1, 3), (2, 1), (2, 8), (3, 100), (5, 7)] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: chunks)
            hits.initialize(repeating: 0, count: chunks)
            HotPool.run(nth, chunks: chunks) { c, n in XCTAssertEqual(n, chunks); hits[c] += 1 }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: hits, count: chunks)), [Int](repeating: 1, count: chunks), "\(nth) threads, \(chunks) chunks")
            hits.deallocate()
        }
        // A nested call runs inline instead of waiting on itself.
        let inner = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        inner.initialize(repeating: 0, count: 4)
        HotPool.run(2, chunks: 4) { c, _ in HotPool.run(2, chunks: 3) { _, _ in inner[c] += 1 } }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: inner, count: 4)), [3, 3, 3, 3])
        inner.deallocate()
        XCTAssertEqual(HotPool.split(10, 0, 2), 0..<8)
        XCTAssertEqual(HotPool.split(10, 1, 2), 8..<10)
    }

    /// Each query row of torch's cached-attention fixture is one decode step over the keys it sees.
    func testDecodeAttentionMatchesTorch() throws {
        let all = (try? Fixtures.json("kernels.json")) ?? [:]
        guard let d = all["attention_cache"] as? [String: Any] else { throw XCTSkip("missing fixture attention_cache") }
        let c = Case(d: d)
        let Tq = c.int("Tq"), Tk = c.int("Tk"), Hq = c.int("Hq"), Hkv = c.int("Hkv"), D = c.int("D")
        let q = c.floats("q"), k = c.floats("k"), v = c.floats("v"), ref = c.floats("out")
        var scratch = [Float](repeating: 0, count: Kernels.decodeAttentionScratch(Tk: Tk, D: D, Hq: Hq))
        for i in 0..<Tq {
            let seen = Tk - Tq + i + 1
            var out = [Float](repeating: .nan, count: Hq * D)
            let qi = Array(q[(i * Hq * D)..<((i + 1) * Hq * D)])
            try k.withUnsafeBytes { kb in
                try v.withUnsafeBytes { vb in
                    try Kernels.attentionDecode(q: qi, k: kb.baseAddress!, v: vb.baseAddress!, bf16: false, out: &out,
                                                Tk: seen, Hq: Hq, Hkv: Hkv, D: D, scale: c.float("scale"), scratch: &scratch)
                }
            }
            assertClose(out, Array(ref[(i * Hq * D)..<((i + 1) * Hq * D)]), 1e-5, "decode row \(i)")
        }
    }

    /// Single-query attention over f32 and bf16 caches, and the bf16 flash kernel, at a length
    /// spanning many key tiles, against the f32 flash kernel on the same (rounded) values.
    func testDecodeAndBF16AttentionMatchFlash() throws {
        let Tk = 700, Hq = 8, Hkv = 2, D = 64, Tq = 37
        let scale = 1 / Float(D).squareRoot()
        let q = randoms(Tq * Hq * D, seed: 11).map { $0 * 3 }
        let kb = bf16(randoms(Tk * Hkv * D, seed: 12).map { $0 * 3 }), vb = bf16(randoms(Tk * Hkv * D, seed: 13))
        let k = kb.map { Half.fromBF16Bits($0) }, v = vb.map { Half.fromBF16Bits($0) }
        var flash = [Float](repeating: .nan, count: Tq * Hq * D)
        try Kernels.attentionForward(q: q, k: k, v: v, out: &flash, lse: nil, Tq: Tq, Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
        var flashB = [Float](repeating: .nan, count: Tq * Hq * D)
        try Kernels.attentionForward(q: q, kBF16: kb, vBF16: vb, out: &flashB, Tq: Tq, Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
        XCTAssertEqual(flashB, flash, "bf16 flash = f32 flash on the rounded values")
        var scratch = [Float](repeating: 0, count: Kernels.decodeAttentionScratch(Tk: Tk, D: D, Hq: Hq))
        let i = Tq - 1
        let qi = Array(q[(i * Hq * D)...])
        for useBF16 in [false, true] {
            var out = [Float](repeating: .nan, count: Hq * D)
            if useBF16 {
                try kb.withUnsafeBytes { kp in try vb.withUnsafeBytes { vp in
                    try Kernels.attentionDecode(q: qi, k: kp.baseAddress!, v: vp.baseAddress!, bf16: true, out: &out,
                                                Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, scale: scale, scratch: &scratch) } }
            } else {
                try k.withUnsafeBytes { kp in try v.withUnsafeBytes { vp in
                    try Kernels.attentionDecode(q: qi, k: kp.baseAddress!, v: vp.baseAddress!, bf16: false, out: &out,
                                                Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, scale: scale, scratch: &scratch) } }
            }
            assertClose(out, Array(flash[(i * Hq * D)...]), 2e-6, "decode bf16 \(useBF16)")
        }
        var o = [Float](repeating: 0, count: 16)
        XCTAssertThrowsError(try Kernels.attentionDecode(q: o, k: UnsafeRawPointer(bitPattern: 64)!, v: UnsafeRawPointer(bitPattern: 64)!,
                                                         bf16: false, out: &o, Tk: 1, Hq: 3, Hkv: 2, D: 2, scale: 1, scratch: &scratch))
    }
}
