// TokenizerBenchTests: runs TokenizerBench (encode speed on ~1 MB) and checks its text round-trips;
// scripts/bench_tokenizer.py runs this test and times quicktok on the same text for the ratio.

import Foundation
import Tokenizer
import XCTest

final class TokenizerBenchTests: XCTestCase {
    func testBench() throws {
        let tok = try llama3OrSkip()
        let text = TokenizerBench.text(bytes: 1 << 20)
        XCTAssertGreaterThanOrEqual(text.utf8.count, 1 << 20)
        XCTAssertEqual(tok.decode(tok.encode(text, bos: false)), text)
        var lines: [String] = []
        TokenizerBench.run { lines.append($0); print($0) }
        XCTAssertTrue(lines.contains { $0.contains("MB/s") }, "\(lines)")
    }
}
