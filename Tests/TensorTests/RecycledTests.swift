// RecycledTests: the blocks kept for reuse between training steps (Tensor's Recycled): while
// blocks are kept, a block given back is handed out again for a size of its class, small
// blocks and blocks past the cap are not kept, the end of the keeping gives them all back, and a
// memory check that fails frees them before refusing; outside it nothing is kept.
import Foundation
import XCTest
import LLXSystem
import Tensor

final class RecycledTests: XCTestCase {
    override func setUp() { Recycled.trim() }
    override func tearDown() { Recycled.trim(); unsetenv("LLX_MEMORY_LIMIT") }

    func testAGivenBlockComesBackForASizeOfItsClass() {
        let bytes = 1 << 20
        Recycled.keepingBlocks {
            let p = Recycled.take(bytes)
            XCTAssertEqual(Int(bitPattern: p) % 64, 0, "64-byte aligned")
            Recycled.give(p, bytes)
            XCTAssertEqual(Recycled.heldBytes, bytes)
            let other = Recycled.take(bytes + bytes / 4)   // another class: a new block
            XCTAssertNotEqual(other, p)
            XCTAssertEqual(Recycled.take(bytes - 1000), p, "1 MiB - 1000 bytes is in the 1 MiB class")
            XCTAssertEqual(Recycled.heldBytes, 0)
            Recycled.give(p, bytes)
            Recycled.give(other, bytes + bytes / 4)
            XCTAssertEqual(Recycled.heldBytes, 2 * bytes + bytes / 4)
            // (1 MiB + 1 byte rounds up to the next eighth: 1.125 MiB)
            let next = Recycled.take(bytes + 1)
            XCTAssertNotEqual(next, p)
            Recycled.give(next, bytes + 1)
            XCTAssertEqual(Recycled.heldBytes, 2 * bytes + bytes / 4 + bytes + bytes / 8)
        }
        XCTAssertEqual(Recycled.heldBytes, 0, "the end of keeping gives every block back")
        // outside a training run nothing is kept
        Recycled.give(Recycled.take(bytes), bytes)
        XCTAssertEqual(Recycled.heldBytes, 0)
    }

    func testSmallBlocksAndBlocksPastTheCapAreNotKept() {
        Recycled.keepingBlocks {
            Recycled.give(Recycled.take(1024), 1024)
            XCTAssertEqual(Recycled.heldBytes, 0)
            let saved = Recycled.capacityBytes
            Recycled.capacityBytes = 3 << 20
            defer { Recycled.capacityBytes = saved }
            let blocks = (0..<4).map { _ in Recycled.take(1 << 20) }
            for b in blocks { Recycled.give(b, 1 << 20) }
            XCTAssertEqual(Recycled.heldBytes, 3 << 20, "the fourth block went back to the system")
        }
    }

    func testAFailingMemoryCheckFreesTheKeptBlocksFirst() throws {
        let bytes = 4 << 20
        try Recycled.keepingBlocks {
            Recycled.give(Recycled.take(bytes), bytes)
            XCTAssertEqual(Recycled.heldBytes, bytes)
            setenv("LLX_MEMORY_LIMIT", "1M", 1)
            XCTAssertThrowsError(try Memory.require(2 << 20, "a test block"))
            XCTAssertEqual(Recycled.heldBytes, 0)
        }
    }
}
