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
}
