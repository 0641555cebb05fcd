// TokenizerBenchTests: the text `llx bench tokenizer` measures (TokenizerBench.text, ~1 MB)
// round-trips through the Llama-3 tokenizer. The timing itself is `llx bench tokenizer` /
// scripts/bench_tokenizer.py.

import Foundation
import Tokenizer
import XCTest

final class TokenizerBenchTests: XCTestCase {
    func testBenchTextRoundTrips() throws {
        let tok = try llama3OrSkip()
        let text = TokenizerBench.text(bytes: 1 << 20)
        XCTAssertGreaterThanOrEqual(text.utf8.count, 1 << 20)
        XCTAssertEqual(tok.decode(tok.encode(text, bos: false)), text)
    }
}
