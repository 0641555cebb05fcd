// NF4LinearTests: the NF4 base of Linear (tiled dequantization + sgemm) against the dense math on
// bitsandbytes-dequantized weights, chunked quantization, and an opt-in speed comparison.
import XCTest
import Foundation
import Tensor
import Quant
import NN

final class NF4LinearTests: XCTestCase {
    func testChunkedQuantizationIsIdentical() throws {
        var rng = SplitMix64(seed: 9)
        for (shape, bs, dq) in [([37, 50], 64, true), ([300, 96], 32, true), ([2100, 1100], 64, true), ([5, 64], 128, false)] {
            let n = shape[0] * shape[1]
            let x = (0..<n).map { _ in Float(rng.nextUnit() * 2 - 1) }
            let whole = try x.withUnsafeBufferPointer { try NF4Tensor.quantize($0.baseAddress!, shape: shape, blocksize: bs, doubleQuant: dq) }
            var calls = 0
            let chunked = try NF4Tensor.quantize(shape: shape, blocksize: bs, doubleQuant: dq) { rows, buf in
                calls += 1
                for (j, r) in rows.enumerated() { for c in 0..<shape[1] { buf[j * shape[1] + c] = x[r * shape[1] + c] } }
            }
            XCTAssertEqual(chunked.codes, whole.codes, "\(shape)")
            XCTAssertEqual(chunked.blockScales(), whole.blockScales(), "\(shape)")
            if n > 2_000_000 { XCTAssertGreaterThan(calls, 1) }
        }
        XCTAssertThrowsError(try NF4Tensor.quantize(shape: [4, 4], blocksize: 64) { _, _ in throw QuantError.value("generator failed") })
    }

    func testNF4ForwardEqualsDenseOnDequantizedWeight() throws {
        var rng = SplitMix64(seed: 4)
        let T = 9, i = 192, o = 70
        let w = Tensor(shape: [o, i], floats: (0..<(o * i)).map { _ in Float(rng.nextUnit() - 0.5) })
        let q = try Linear.nf4(name: "l", inFeatures: i, outFeatures: o, weight: w, blocksize: 64, doubleQuant: true)
        let d = try Linear(name: "l", inFeatures: i, outFeatures: o, weight: q.denseWeight())
        XCTAssertLessThan(q.baseByteCount * 7, o * i * 4)   // ~4.1 bits per value
        let x = (0..<(T * i)).map { _ in Float(rng.nextUnit() - 0.5) }
        let dy = (0..<(T * o)).map { _ in Float(rng.nextUnit() - 0.5) }
        var yd = [Float](repeating: 0, count: T * o), dxd = [Float](repeating: 0, count: T * i)
        d.forward(x, rows: T, out: &yd)
        d.backward(dy: dy, x: x, rows: T, dx: &dxd)
        for tile in [0, 1, 16, 64, 69] {
            q.tileRows = tile
            var y = [Float](repeating: .nan, count: T * o), dx = [Float](repeating: .nan, count: T * i)
            q.forward(x, rows: T, out: &y)
            q.backward(dy: dy, x: x, rows: T, dx: &dx)
            assertClose(y, yd, rel: 1e-6, "y tile \(tile)")
            assertClose(dx, dxd, rel: 1e-6, "dx tile \(tile)")
        }
        XCTAssertTrue(q.params.isEmpty)
        // Few rows take the direct (gemv) path; it agrees with the dense math.
        for rows in [1, 2, 4] {
            q.gemvMaxRows = 4
            var y = [Float](repeating: .nan, count: rows * o)
            q.forward(x, rows: rows, out: &y)
            assertClose(y, Array(yd[0..<(rows * o)]), rel: 1e-5, "gemv rows \(rows)")
            q.gemvMaxRows = 0
            var y2 = [Float](repeating: .nan, count: rows * o)
            q.forward(x, rows: rows, out: &y2)
            assertClose(y2, Array(yd[0..<(rows * o)]), rel: 1e-6, "tiled rows \(rows)")
        }
    }

    /// LLX_BENCH=1: NF4 forward vs dense sgemm at [256 x 4096] · [4096 x 4096]ᵀ.
    func testBenchNF4ForwardVsDense() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["LLX_BENCH"] != nil,
                          "a benchmark (NF4 forward vs dense sgemm timings, asserts nothing): set LLX_BENCH=1 to run it")
        let T = 256, n = 4096
        var rng = SplitMix64(seed: 1)
        let w = Tensor(shape: [n, n], floats: (0..<(n * n)).map { _ in Float(rng.nextUnit() - 0.5) * 0.05 })
        let x = (0..<(T * n)).map { _ in Float(rng.nextUnit() - 0.5) }
        let dense = try Linear(name: "d", inFeatures: n, outFeatures: n, weight: w)
        var t0 = Date()
        let q = try Linear.nf4(name: "q", inFeatures: n, outFeatures: n, weight: w, blocksize: 64, doubleQuant: true)
        let tq = Date().timeIntervalSince(t0)
        var y = [Float](repeating: 0, count: T * n)
        func best(_ l: Linear) -> Double {
            var b = Double.infinity
            for _ in 0..<4 { let s = Date(); l.forward(x, rows: T, out: &y); b = min(b, Date().timeIntervalSince(s)) }
            return b
        }
        let td = best(dense), tn = best(q)
        var y1 = [Float](repeating: 0, count: n)
        func best1(_ l: Linear) -> Double {
            var b = Double.infinity
            for _ in 0..<4 { let s = Date(); l.forward(x, rows: 1, out: &y1); b = min(b, Date().timeIntervalSince(s)) }
            return b
        }
        let d1 = best1(dense), g1 = best1(q)
        q.gemvMaxRows = 0
        let t1 = best1(q)
        print(String(format: "BENCH one row: dense %.2f ms, nf4 direct %.2f ms, nf4 tiled %.2f ms", d1 * 1e3, g1 * 1e3, t1 * 1e3))
        var dq = [Float](repeating: 0, count: n * n)
        t0 = Date()
        q.nf4?.dequantize(elements: 0..<(n * n), into: &dq)
        let tdeq = Date().timeIntervalSince(t0)
        print(String(format: "BENCH nf4 quantize 4096x4096: %.3fs; dequantize (1 thread): %.1f ms (%.2f ns/value); forward [256x4096]x[4096x4096]: dense %.1f ms, nf4 %.1f ms, ratio %.2f",
                     tq, tdeq * 1e3, tdeq * 1e9 / Double(n * n), td * 1e3, tn * 1e3, tn / td))
    }
}
