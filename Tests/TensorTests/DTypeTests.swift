// DTypeTests: f32 -> f16 / bf16 conversion (round to nearest even, subnormals, overflow,
// infinities) against torch's .half() / .bfloat16() bit patterns, and dtype round trips.
import Foundation
import XCTest
import Tensor

final class DTypeTests: XCTestCase {
    func testHalfConversionsMatchTorch() throws {
        let d = try Fixtures.json("halfs.json")
        let c = Case(d: d)
        let bits = c.ints("bits32"), f16 = c.ints("f16"), bf16 = c.ints("bf16")
        XCTAssertGreaterThan(bits.count, 200)
        for i in 0..<bits.count {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: bits[i]))
            XCTAssertEqual(Int(Half.f16Bits(x)), f16[i], "f16 of \(x)")
            XCTAssertEqual(Int(Half.softF16Bits(x)), f16[i], "soft f16 of \(x)")
            XCTAssertEqual(Int(Half.bf16Bits(x)), bf16[i], "bf16 of \(x)")
            // decoding is exact: re-encoding the decoded value gives the same bits
            XCTAssertEqual(Int(Half.f16Bits(Half.fromF16Bits(UInt16(f16[i])))), f16[i])
            XCTAssertEqual(Half.softFromF16Bits(UInt16(f16[i])).bitPattern, Half.fromF16Bits(UInt16(f16[i])).bitPattern)
        }
        XCTAssertTrue(Half.fromBF16Bits(Half.bf16Bits(.nan)).isNaN)
        XCTAssertTrue(Half.fromF16Bits(Half.f16Bits(.nan)).isNaN)
    }

    func testTensorDTypes() throws {
        let t = try Tensor.from([1.5, -2.25, 65504, 1e-8], shape: [4])
        XCTAssertEqual(t.to(.f16).floats(), [1.5, -2.25, 65504, Half.fromF16Bits(Half.f16Bits(1e-8))])
        XCTAssertEqual(t.to(.bf16).dtype, .bf16)
        XCTAssertEqual(t.to(.i32).ints(), [1, -2, 65504, 0])
        XCTAssertEqual(try Tensor.from([300, -1], shape: [2]).to(.u8).ints(), [255, 0])
        XCTAssertThrowsError(try Tensor.from([300], shape: [1]).cast(.u8))
        let h = t.to(.f16)
        XCTAssertEqual(try (h + h).dtype, .f16)   // f16 op f16 stays f16 (computed in f32)
        XCTAssertEqual(try h.sum().dtype, .f32)
    }
}
