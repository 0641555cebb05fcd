// TokenizerBasicTests: byte tokenizer, chat template text, error messages, and a few Llama-3
// encodings checked against ids quicktok produced.

import Foundation
import Tokenizer
import XCTest

final class TokenizerBasicTests: XCTestCase {
    func testByteTokenizer() {
        let t = Tokenizers.bytes()
        XCTAssertEqual(t.vocabSize, 264)
        XCTAssertEqual(t.bosID, 256)
        XCTAssertEqual(t.endTokenIDs, [257, 260])
        XCTAssertEqual(t.encode("hé", bos: true), [256, 104, 195, 169])
        XCTAssertEqual(t.encode("a<|eot_id|>", bos: false), [97] + Array("<|eot_id|>".utf8).map(Int.init))
        XCTAssertEqual(t.encode("a<|eot_id|>", bos: false, allowSpecial: true), [97, 260])
        XCTAssertEqual(t.decode([104, 195, 169, 260, 999, -1]), "hé<|eot_id|>")
        XCTAssertEqual(t.decode([0xE2, 0x82]), "\u{FFFD}")
        XCTAssertEqual(t.tokenID("<|start_header_id|>"), 258)
        let ids = t.chat([ChatMessage(role: "user", content: " hi \n")], generationPrompt: true)
        let expect = [256, 258] + Array("user".utf8).map(Int.init) + [259, 10, 10, 104, 105, 260, 258]
            + Array("assistant".utf8).map(Int.init) + [259, 10, 10]
        XCTAssertEqual(ids, expect)
    }

    func testChatTemplateText() {
        let m = [ChatMessage(role: "system", content: "\u{1C}Be brief.\t "),
                 ChatMessage(role: "user", content: "Hi")]
        XCTAssertEqual(ChatTemplate.llama3(m, generationPrompt: false),
                       "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                       + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>")
        XCTAssertEqual(ChatTemplate.llama3([], generationPrompt: true),
                       "<|start_header_id|>assistant<|end_header_id|>\n\n")
    }

    func testMissingFileErrors() {
        XCTAssertThrowsError(try Tokenizers.load(path: "/nonexistent/tokenizer.model")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/tokenizer.model"), "\(e)")
        }
    }

    func testGarbledTiktokenNamesLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llx-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = dir.appendingPathComponent("tokenizer.model").path
        try "YQ== 0\nYg== 1\nnot-base64!! 2\n".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Tokenizers.load(path: p)) { e in
            XCTAssertEqual("\(e)", "\(p):3: invalid base64 token")
        }
        try "YQ== 0\nYg== x\n".write(toFile: p, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Tokenizers.load(path: p)) { e in
            XCTAssertEqual("\(e)", "\(p):2: invalid rank")
        }
        try "YQ== 0\nYg== 1\nYWI= 2\n".write(toFile: p, atomically: true, encoding: .utf8)
        let t = try Tokenizers.load(path: dir.path)
        XCTAssertEqual(t.encode("abba", bos: false), [2, 1, 0])
        XCTAssertEqual(t.decode([2, 1, 0]), "abba")
    }

    func testLlama3Known() throws {
        let t: TextTokenizer
        do { t = try Tokenizers.llama3() } catch { throw XCTSkip("Llama-3 vocabulary not installed: \(error)") }
        XCTAssertEqual(t.vocabSize, 128_256)
        XCTAssertEqual(t.bosID, 128_000)
        XCTAssertEqual(t.endTokenIDs, [128_001, 128_009])
        XCTAssertEqual(t.tokenID("<|eot_id|>"), 128_009)
        XCTAssertEqual(t.tokenID("<|start_header_id|>"), 128_006)
        XCTAssertEqual(t.encode("Hello world 'S ſ 'ſ", bos: true), [128_000, 9906, 1917, 364, 50, 27006, 123, 364, 129, 123])
        XCTAssertEqual(t.encode("<|eot_id|>", bos: false, allowSpecial: true), [128_009])
        XCTAssertNotEqual(t.encode("<|eot_id|>", bos: false), [128_009])
    }
}
