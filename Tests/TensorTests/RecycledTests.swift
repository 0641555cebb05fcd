// RecycledTests: the blocks kept for reuse between training steps (Tensor's Recycled): a block
// given back is handed out again for the same size, small blocks and blocks past the cap are
// not kept, trim frees them all, and a memory check that fails frees them before refusing.
import Foundation
import XCTest
import LLXSystem
import Tensor

final class RecycledTests: XCTestCase {
    override func setUp() { Recycled.trim() }
    override func tearDown() { Recycled.trim(); unsetenv("LLX_MEMORY_LIMIT") }

    func testAGivenBlockComesBackForTheSameSize() {
        let bytes = 1 << 20
        let p = Recycled.take(bytes)
        XCTAssertEqual(Int(bitPattern: p) % 64, 0, "64-byte aligned")
        Recycled.give(p, bytes)
        XCTAssertEqual(Recycled.heldBytes, bytes)
        let other = Recycled.take(bytes + 4)   // another size: a new block
        XCTAssertNotEqual(other, p)
        XCTAssertEqual(Recycled.take(bytes), p)
        XCTAssertEqual(Recycled.heldBytes, 0)
        Recycled.give(p, bytes)
        Recycled.give(other, bytes + 4)
        XCTAssertEqual(Recycled.heldBytes, 2 * bytes + 4)
        XCTAssertEqual(Recycled.trim(), 2 * bytes + 4)
        XCTAssertEqual(Recycled.heldBytes, 0)
    }

    func testSmallBlocksAndBlocksPastTheCapAreNotKept() {
        let small = Recycled.take(1024)
        Recycled.give(small, 1024)
        XCTAssertEqual(Recycled.heldBytes, 0)
        let saved = Recycled.capacityBytes
        Recycled.capacityBytes = 3 << 20
        defer { Recycled.capacityBytes = saved }
        let blocks = (0..<4).map { _ in Recycled.take(1 << 20) }
        for b in blocks { Recycled.give(b, 1 << 20) }
        XCTAssertEqual(Recycled.heldBytes, 3 << 20, "the fourth block went back to the system")
    }

    func testAFailingMemoryCheckFreesTheKeptBlocksFirst() {
        let bytes = 4 << 20
        Recycled.give(Recycled.take(bytes), bytes)
        XCTAssertEqual(Recycled.heldBytes, bytes)
        setenv("LLX_MEMORY_LIMIT", "1M", 1)
        XCTAssertThrowsError(try Memory.require(2 << 20, "a test block"))
        XCTAssertEqual(Recycled.heldBytes, 0)
    }
}
