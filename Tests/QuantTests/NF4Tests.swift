// NF4Tests: NF4 quantization against bitsandbytes 0.50.2 fixtures (codes and statistics
// byte-identical, dequantized values equal), and torch's float32 summation order.
import XCTest
import Tensor
import Quant

final class NF4Tests: XCTestCase {
    func testCodeTablesMatchBitsandbytes() throws {
        let fx = try Fixture.load("nf4.json")
        XCTAssertEqual(NF4Tensor.code, fx.floats("nf4"))
        let dq = fx.dicts("cases").first { $0.bool("doubleQuant") }
        XCTAssertEqual(NF4Tensor.dynamicCode, dq?.floats("code2") ?? [])
    }

    func testQuantizeMatchesBitsandbytes() throws {
        let fx = try Fixture.load("nf4.json")
        let cases = fx.dicts("cases")
        XCTAssertGreaterThanOrEqual(cases.count, 16)
        for c in cases {
            let shape = (c["shape"] as? [Int]) ?? []
            let bs = c.int("blocksize"), dq = c.bool("doubleQuant")
            let what = "shape \(shape) blocksize \(bs) dq \(dq)"
            let x = Tensor(shape: shape, floats: c.floats("x"))
            let q = try NF4Tensor.quantize(x, blocksize: bs, doubleQuant: dq)
            assertSame(q.codes.map(Int.init), c.ints("codes"), "codes " + what)
            if dq {
                assertSame(q.qabsmax?.map(Int.init) ?? [], c.ints("qabsmax"), "qabsmax " + what)
                assertSame(q.absmax2 ?? [], c.floats("absmax2"), "absmax2 " + what)
                XCTAssertEqual(q.offset, Float(c.double("offset")), "offset " + what)
                XCTAssertNil(q.absmax)
            } else {
                assertSame(q.absmax ?? [], c.floats("absmax"), "absmax " + what)
            }
            let d = q.dequantize()
            XCTAssertEqual(d.shape, shape)
            assertSame(d.floats(), c.floats("dequant"), "dequant " + what)
            // Row ranges and unaligned element ranges agree with the whole.
            let all = c.floats("dequant"), n = all.count
            for (lo, hi) in [(0, n), (1, n), (3, min(n, 70)), (n / 2, n), (n - 1, n)] where lo < hi {
                var buf = [Float](repeating: .nan, count: hi - lo)
                buf.withUnsafeMutableBufferPointer { q.dequantize(elements: lo..<hi, into: $0.baseAddress!) }
                assertSame(buf, Array(all[lo..<hi]), "elements \(lo)..<\(hi) " + what)
            }
            if shape.count == 2 && shape[0] > 2 {
                let cols = shape[1]
                var buf = [Float](repeating: .nan, count: 2 * cols)
                buf.withUnsafeMutableBufferPointer { q.dequantizeRows(1..<3, into: $0.baseAddress!) }
                assertSame(buf, Array(all[cols..<(3 * cols)]), "rows " + what)
            }
            // Round trip through the stored fields.
            let r = try NF4Tensor(codes: q.codes, absmax: q.absmax, qabsmax: q.qabsmax, absmax2: q.absmax2,
                                  offset: q.offset, shape: q.shape, blocksize: q.blocksize)
            assertSame(r.dequantize().floats(), all, "round trip " + what)
        }
    }

    func testInvalidArgumentsThrow() {
        XCTAssertThrowsError(try NF4Tensor.quantize(Tensor(zeros: [4, 4]), blocksize: 48))
        XCTAssertThrowsError(try NF4Tensor.quantize(Tensor(zeros: [0, 4])))
        XCTAssertThrowsError(try NF4Tensor.quantize(Tensor(zeros: [4], dtype: .i64)))
        XCTAssertThrowsError(try NF4Tensor(codes: [1, 2], absmax: [1], qabsmax: nil, absmax2: nil, offset: 0, shape: [5], blocksize: 64))
    }

    func testDoubleQuantOffsetFollowsTorchSum() throws {
        // NF4Tensor's offset is torch's float32 mean of absmax; check the summation order directly
        // through a tensor whose absmax values are the fixture's vectors (x in a block of 64 is
        // [v, 0, 0, ...] so absmax = v).
        let fx = try Fixture.load("torch_sum.json")
        let threads = fx.int("threads")
        for c in fx.dicts("cases") {
            let n = c.int("n")
            var x = [Float](repeating: 0, count: n * 32)
            for i in 0..<n {
                let v = Float((i * 7919) % 10007) / Float(10007) * Float(0.5) + Float(0.01)
                x[i * 32] = v
            }
            let q = try x.withUnsafeBufferPointer {
                try NF4Tensor.quantize($0.baseAddress!, shape: [n * 32], blocksize: 32, doubleQuant: true, statisticsThreads: threads)
            }
            XCTAssertEqual(q.offset, Float(c.double("mean")), "mean of \(n)")
        }
    }
}
