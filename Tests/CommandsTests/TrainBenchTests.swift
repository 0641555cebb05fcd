// TrainBenchTests: runs TrainBench (LoRA training tokens/s on the `small` preset) when
// LLX_TRAIN_BENCH is set, as scripts/bench_train.py does; otherwise a one-step smoke run of
// the benchmark path on short sequences.
import Foundation
import XCTest
import Commands

final class TrainBenchTests: XCTestCase {
    func testTrainBench() throws {
        var lines: [String] = []
        if ProcessInfo.processInfo.environment["LLX_TRAIN_BENCH"] != nil {
            TrainBench.run { print($0); lines.append($0) }
        } else {
            TrainBench.run(seq: 16, batch: 1, steps: 1) { lines.append($0) }
        }
        XCTAssertEqual(lines.filter { $0.contains("tokens/s") }.count, 2, lines.joined(separator: "\n"))
        XCTAssertFalse(lines.contains { $0.contains("error") }, lines.joined(separator: "\n"))
    }
}
