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

    func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llx-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    func testGarbledQuicktokAndJSONNameFileAndLine() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // quicktok binary: 3 records announced, the third truncated.
        let v = dir.appendingPathComponent("tiny.vocab")
        var bytes: [UInt8] = [3, 0, 0, 0]
        bytes += [1, 0, 0x61, 0, 0, 0, 0] + [1, 0, 0x62, 1, 0, 0, 0] + [2, 0, 0x61]
        try Data(bytes).write(to: v)
        XCTAssertThrowsError(try Tokenizers.load(path: v.path)) { e in
            XCTAssertTrue("\(e)".hasPrefix("\(v.path):3: "), "\(e)")
        }
        bytes = [3, 0, 0, 0] + [1, 0, 0x61, 0, 0, 0, 0] + [1, 0, 0x62, 1, 0, 0, 0] + [2, 0, 0x61, 0x62, 2, 0, 0, 0]
        try Data(bytes).write(to: v)
        let t = try Tokenizers.load(path: v.path)
        XCTAssertEqual(t.encode("abab a", bos: false), [2, 2, 0])   // " " has no token: dropped
        // tokenizer.json with a syntax error on line 3.
        let j = dir.appendingPathComponent("tokenizer.json")
        try "{\n  \"model\": {\n    \"vocab\": [1, 2,, 3]\n  }\n}\n".write(to: j, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Tokenizers.load(path: dir.path)) { e in
            XCTAssertTrue("\(e)".hasPrefix("\(j.path):3: "), "\(e)")
        }
        try "{\"model\": {\"type\": \"Unigram\"}, \"pre_tokenizer\": null}".write(to: j, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Tokenizers.load(path: j.path)) { e in
            XCTAssertTrue("\(e)".contains(j.path), "\(e)")
        }
        XCTAssertThrowsError(try Tokenizers.load(path: dir.appendingPathComponent("none").path))
        let empty = try tempDir()
        defer { try? FileManager.default.removeItem(at: empty) }
        XCTAssertThrowsError(try Tokenizers.load(path: empty.path)) { e in
            XCTAssertTrue("\(e)".contains(empty.path), "\(e)")
        }
    }

    func testLlama3MissingVocabularyTellsToRunSetup() throws {
        setenv("LLX_DATA", "/nonexistent-llx-data", 1)
        defer { unsetenv("LLX_DATA") }
        XCTAssertThrowsError(try Tokenizers.llama3()) { e in
            XCTAssertTrue("\(e)".contains("scripts/setup.sh"), "\(e)")
            XCTAssertTrue("\(e)".contains("/nonexistent-llx-data/llama3/llama3.vocab"), "\(e)")
        }
    }

    func testModelDirectoryWithTokenizerJSON() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/tokenizer/hf_trained.tokenizer.json")
        try FileManager.default.copyItem(at: src, to: dir.appendingPathComponent("tokenizer.json"))
        let t = try Tokenizers.load(path: dir.path + "/")
        XCTAssertEqual(t.decode(t.encode("Hello there, 'S world!\r\n", bos: true)), "<|begin_of_text|>Hello there, 'S world!\r\n")
    }

    func testPathologicalInputsStayFast() throws {
        let t: TextTokenizer
        do { t = try Tokenizers.llama3() } catch { throw XCTSkip("Llama-3 vocabulary not installed") }
        let start = Date()
        for s in [String(repeating: "a", count: 200_000), String(repeating: " ", count: 200_000) + "x",
                  String(repeating: "\u{4E2D}\u{6587}", count: 30_000), String(repeating: "!?", count: 50_000),
                  String(repeating: "7", count: 100_000), String(repeating: "\u{0301}", count: 50_000)] {
            let ids = t.encode(s, bos: false)
            XCTAssertEqual(t.decode(ids), s)
            XCTAssertLessThan(ids.count, s.utf8.count + 1)
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
    }

    func testConcurrentEncoding() throws {
        let t: TextTokenizer
        do { t = try Tokenizers.llama3() } catch { throw XCTSkip("Llama-3 vocabulary not installed") }
        let texts = (0..<8).map { "Thread \($0): the quick brown fox's 12345 jumps 🚀 over naïve dogs." }
        let expect = texts.map { t.encode($0, bos: false) }
        var ok = [Bool](repeating: false, count: 8)
        ok.withUnsafeMutableBufferPointer { okp in
            DispatchQueue.concurrentPerform(iterations: 8) { i in
                var good = true
                for _ in 0..<200 where t.encode(texts[i], bos: false) != expect[i] { good = false }
                okp[i] = good
            }
        }
        XCTAssertEqual(ok, [Bool](repeating: true, count: 8))
    }

    func testTokenizerJSONBOSFromPostProcessor() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/tokenizer/hf_trained.tokenizer.json")
        var j = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: src)) as? [String: Any])
        j["post_processor"] = ["type": "Sequence", "processors": [
            ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true],
            ["type": "TemplateProcessing", "single": [["SpecialToken": ["id": "<|eot_id|>", "type_id": 0]],
                                                      ["Sequence": ["id": "A", "type_id": 0]]]]]]
        let p = dir.appendingPathComponent("tokenizer.json")
        try JSONSerialization.data(withJSONObject: j).write(to: p)
        let t = try Tokenizers.load(path: p.path)
        XCTAssertEqual(t.bosID, t.tokenID("<|eot_id|>"))
        XCTAssertEqual(t.encode("x", bos: true).first, t.tokenID("<|eot_id|>"))
    }
}
