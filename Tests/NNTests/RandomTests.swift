// RandomTests: SplitMix64 is the reference generator (Vigna's splitmix64.c outputs), its
// helpers draw what the trainer, LoRA and the model init always drew, and the pool and the
// loss-label convention behave as documented.
import XCTest
import Tensor
import NN

final class RandomTests: XCTestCase {
    func testSplitMix64MatchesReference() {
        // splitmix64.c with x = 0: the first outputs.
        var g = SplitMix64(seed: 0)
        XCTAssertEqual(g.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(g.next(), 0x6E78_9E6A_A1B9_65F4)
        XCTAssertEqual(g.next(), 0x06C4_5D18_8009_454F)
        XCTAssertEqual(g.state, 3 &* SplitMix64.gamma)
    }

    func testHelpers() {
        var a = SplitMix64(seed: 7), b = SplitMix64(seed: 7)
        XCTAssertEqual(a.nextUnit(), Double(b.next() >> 11) * 0x1.0p-53)
        var c = SplitMix64(seed: 11)
        let p = c.permutation(50)
        XCTAssertEqual(p.sorted(), Array(0..<50))
        XCTAssertNotEqual(p, Array(0..<50))
        for _ in 0..<100 { XCTAssert((0..<7).contains(c.below(7))) }
        let u = SplitMix64.unit(123)
        XCTAssert(u >= 0 && u < 1)
        XCTAssertEqual(u, SplitMix64.unit(123))
    }

    func testNormalRowsDoNotDependOnChunking() {
        let whole = Tensor(zeros: [6, 5]), parts = Tensor(zeros: [6, 5])
        SplitMix64.fillNormalRows(whole.floatPointer, rows: 0..<6, cols: 5, std: 0.02, seed: 9)
        SplitMix64.fillNormalRows(parts.floatPointer, rows: 0..<2, cols: 5, std: 0.02, seed: 9)
        SplitMix64.fillNormalRows(parts.floatPointer + 10, rows: 2..<6, cols: 5, std: 0.02, seed: 9)
        XCTAssertEqual(whole.floats(), parts.floats())
        let v = whole.floats()
        XCTAssert(v.allSatisfy { abs($0) < 0.2 } && Set(v).count == v.count)
    }

    func testScratchPoolAndLabels() {
        let b = ScratchPool.take(100)
        XCTAssertGreaterThanOrEqual(b.capacity, 100)
        ScratchPool.give(b)
        XCTAssertEqual(NextTokenLabels.count(ids: [1, 2, 3]), 2)
        XCTAssertEqual(NextTokenLabels.count(ids: [1, 2, 3], labels: [-100, -100, 3]), 1)
        XCTAssertEqual(NextTokenLabels.count(ids: [1]), 0)
    }
}
