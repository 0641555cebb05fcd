// RecycledTests: the blocks kept for reuse between training steps (Tensor's Recycled): while
// blocks are kept, a block given back is handed out again for a size of its class, what is
// kept plus what is in use never exceeds the peak in use, small blocks and blocks past the
// cap are not kept, the end of the keeping gives them all back, and a memory check that fails
// frees them before refusing; outside it nothing is kept.
import Foundation
import XCTest
import LLXSystem
import Tensor

final class RecycledTests: XCTestCase {
    override func setUp() { Recycled.trim() }
    override func tearDown() { Recycled.trim(); unsetenv("LLX_MEMORY_LIMIT") }

    func testAGivenBlockComesBackForASizeOfItsClass() {
        let mib = 1 << 20
        Recycled.keepingBlocks {
            // a step's working set: 1 MiB and 1.25 MiB in use at once, then given back
            let p = Recycled.take(mib), q = Recycled.take(mib + mib / 4)
            XCTAssertEqual(Int(bitPattern: p) % 64, 0, "64-byte aligned")
            Recycled.give(p, mib)
            Recycled.give(q, mib + mib / 4)
            XCTAssertEqual(Recycled.heldBytes, 2 * mib + mib / 4)
            // the next step gets them back, by class (1 MiB - 1000 bytes is in the 1 MiB class)
            XCTAssertEqual(Recycled.take(mib - 1000), p)
            XCTAssertEqual(Recycled.take(mib + mib / 4), q)
            XCTAssertEqual(Recycled.heldBytes, 0)
            // a step that needs more than the peak so far (1 MiB + 1 byte: the 1.125 MiB class)
            // frees what is kept rather than hold more than that new peak
            Recycled.give(p, mib)
            XCTAssertEqual(Recycled.heldBytes, mib)
            let r = Recycled.take(mib + 1)   // (malloc may hand out p's freed address again)
            XCTAssertEqual(Recycled.heldBytes, 0)
            Recycled.give(q, mib + mib / 4)
            Recycled.give(r, mib + 1)
            XCTAssertEqual(Recycled.heldBytes, 2 * mib + mib / 4 + mib / 8)
        }
        XCTAssertEqual(Recycled.heldBytes, 0, "the end of keeping gives every block back")
        // outside a training run nothing is kept
        Recycled.give(Recycled.take(mib), mib)
        XCTAssertEqual(Recycled.heldBytes, 0)
    }

    /// A run that finds few kept blocks (shapes that vary from step to step) stops keeping:
    /// after 512 takes with fewer found than not, blocks given back go to the system.
    func testARunThatFindsFewKeptBlocksStopsKeeping() {
        let bytes = 64 << 10
        Recycled.keepingBlocks {
            let first = (0..<300).map { _ in Recycled.take(bytes) }   // all new: 300 not found
            for b in first { Recycled.give(b, bytes) }
            XCTAssertEqual(Recycled.heldBytes, 300 * bytes)
            let again = (0..<300).map { _ in Recycled.take(bytes) }   // 300 found
            XCTAssertEqual(Recycled.heldBytes, 0)
            let more = (0..<300).map { _ in Recycled.take(bytes) }    // 300 more not found: 600 to 300
            for b in again + more { Recycled.give(b, bytes) }
            XCTAssertEqual(Recycled.heldBytes, 0, "keeping stopped")
            XCTAssertFalse(Recycled.keeping)
        }
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
