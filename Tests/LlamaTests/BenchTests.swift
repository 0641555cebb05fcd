// BenchTests: runs LlamaBench (speed on the small preset) and the llama3-8b NF4 memory check only
// when asked: LLX_BENCH=1 swift test -c release --filter LlamaTests.BenchTests
// (LLX_BENCH_8B=1 for the 8B memory run). Benchmarks are not unit tests; these just host them.
// Timings belong to `llx bench llama` / `llx bench memory8b`: the test process does not restart
// itself with the right OPENBLAS_CORETYPE as llx does, so its matrix products may run on
// OpenBLAS's SSE3 kernels (its memory figures hold either way).
import Foundation
import XCTest
import Llama

final class BenchTests: XCTestCase {
    func testBenchSmall() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["LLX_BENCH"] == "1", "set LLX_BENCH=1 to run")
        LlamaBench.run { print($0) }
    }

    func testMemory8B() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["LLX_BENCH_8B"] == "1", "set LLX_BENCH_8B=1 to run")
        LlamaBench.runMemory8B { print($0) }   // settings: LLX_8B_* (see LlamaBench.runMemory8B)
    }
}
