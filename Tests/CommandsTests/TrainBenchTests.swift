// TrainBenchTests: the path `llx bench train` measures (TrainBench: LoRA training on the
// `small` preset, checkpointing on and off) runs one step on short sequences and reports both
// lines without an error. The timings themselves are `llx bench train` / scripts/bench_train.py.
import Foundation
import XCTest
import Commands

final class TrainBenchTests: XCTestCase {
    func testTrainBenchPathRuns() throws {
        var lines: [String] = []
        TrainBench.run(seq: 16, batch: 1, steps: 1) { lines.append($0) }
        XCTAssertEqual(lines.filter { $0.contains("tokens/s") }.count, 2, lines.joined(separator: "\n"))
        XCTAssertFalse(lines.contains { $0.contains("error") }, lines.joined(separator: "\n"))
    }
}
