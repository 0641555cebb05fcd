// TokenizerParityTests: the Llama-3 tokenizer against quicktok/tiktoken ids on the fixture corpus,
// the hand-written pre-tokenizer against the `regex` module, character classes over all of
// Unicode against quicktok's table, the chat template against transformers, and
// tokenizer.json files against `tokenizers`.

import Foundation
import Tokenizer
import XCTest

let tokenizerFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures/tokenizer")

func loadFixture(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: tokenizerFixtures.appendingPathComponent(name))
    return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
}

func llama3OrSkip() throws -> TextTokenizer {
    do { return try Tokenizers.llama3() } catch {
        throw XCTSkip("Llama-3 vocabulary not installed (run scripts/setup.sh): \(error)")
    }
}

final class TokenizerParityTests: XCTestCase {
    func testLlama3CorpusParity() throws {
        let tok = try llama3OrSkip()
        // LLX_TOKENIZER_CORPUS: another corpus in the same format (e.g. a larger generated one).
        let fx: [String: Any]
        if let alt = ProcessInfo.processInfo.environment["LLX_TOKENIZER_CORPUS"], !alt.isEmpty {
            fx = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: alt))) as? [String: Any])
        } else {
            fx = try loadFixture("llama3_corpus.json")
        }
        let cases = try XCTUnwrap(fx["cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 200)
        var same = 0, roundTrip = 0, samePieces = 0, withPieces = 0
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String)
            let ids = try XCTUnwrap(c["ids"] as? [Int])
            let pieces = c["pieces"] as? [String]   // absent where the regex module knows newer Unicode
            let got = tok.encode(text, bos: false)
            if got == ids { same += 1 } else { XCTFail("ids differ for \(text.debugDescription.prefix(120))") }
            if tok.decode(got) == text { roundTrip += 1 } else { XCTFail("round trip fails for \(text.debugDescription.prefix(120))") }
            if let pieces {
                withPieces += 1
                if Pretokenizer.llama3(text) == pieces { samePieces += 1 } else { XCTFail("pieces differ for \(text.debugDescription.prefix(120)): \(Pretokenizer.llama3(text).prefix(20)) vs \(pieces.prefix(20))") }
            }
            XCTAssertEqual(tok.encode(text, bos: true), [128_000] + ids)
        }
        print("llama3 parity: ids \(same)/\(cases.count), round trip \(roundTrip)/\(cases.count), pieces \(samePieces)/\(withPieces)")
        for c in try XCTUnwrap(fx["special_cases"] as? [[String: Any]]) {
            let text = try XCTUnwrap(c["text"] as? String)
            XCTAssertEqual(tok.encode(text, bos: false, allowSpecial: true), c["ids"] as? [Int], text)
        }
        for c in try XCTUnwrap(fx["decode_cases"] as? [[String: Any]]) {
            let ids = try XCTUnwrap(c["ids"] as? [Int])
            XCTAssertEqual(tok.decode(ids), c["text"] as? String, "\(ids)")
        }
        XCTAssertEqual(tok.decode([9906, -5, 1 << 40, 128_256, 1917]), "Hello world")
    }

    func testTiktokenFileMatchesInstalledVocabulary() throws {
        // Meta's tokenizer.model format, written from the installed vocabulary: a 128,000-rank file
        // gets the Llama-3 special tokens; ids must match the corpus.
        _ = try llama3OrSkip()
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Tokenizers.llama3Directory + "/llama3.vocab")))
        func u32(_ o: Int) -> Int { Int(raw[o]) | Int(raw[o + 1]) << 8 | Int(raw[o + 2]) << 16 | Int(raw[o + 3]) << 24 }
        var lines = ""
        lines.reserveCapacity(2_000_000)
        var o = 4
        for _ in 0..<u32(0) {
            let n = Int(raw[o]) | Int(raw[o + 1]) << 8
            lines += Data(raw[(o + 2)..<(o + 2 + n)]).base64EncodedString() + " \(u32(o + 2 + n))\n"
            o += 6 + n
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llx-tiktoken-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try lines.write(to: dir.appendingPathComponent("tokenizer.model"), atomically: true, encoding: .utf8)
        let meta = try Tokenizers.load(path: dir.path)
        XCTAssertEqual(meta.vocabSize, 128_256)
        XCTAssertEqual(meta.bosID, 128_000)
        XCTAssertEqual(meta.endTokenIDs, [128_001, 128_009])
        XCTAssertEqual(meta.tokenID("<|start_header_id|>"), 128_006)
        XCTAssertEqual(meta.tokenID("<|end_header_id|>"), 128_007)
        XCTAssertEqual(meta.tokenID("<|reserved_special_token_250|>"), 128_255)
        let cases = try XCTUnwrap(try loadFixture("llama3_corpus.json")["cases"] as? [[String: Any]])
        var same = 0
        for c in cases where meta.encode(c["text"] as! String, bos: false) == c["ids"] as! [Int] { same += 1 }
        XCTAssertEqual(same, cases.count)
    }

    func testUnicodeClassesMatchQuicktok() throws {
        let fx = try loadFixture("unicode_classes.json")
        func set(_ key: String) throws -> [ClosedRange<UInt32>] {
            try XCTUnwrap(fx[key] as? [[Int]]).map { UInt32($0[0])...UInt32($0[1]) }
        }
        let L = try set("L"), N = try set("N"), S = try set("S")
        func inside(_ r: [ClosedRange<UInt32>], _ v: UInt32) -> Bool {
            var lo = 0, hi = r.count - 1
            while lo <= hi {
                let mid = (lo + hi) / 2
                if r[mid].upperBound < v { lo = mid + 1 } else if r[mid].lowerBound > v { hi = mid - 1 } else { return true }
            }
            return false
        }
        // Probe "!" + c + "a": letter -> 1 piece, number -> 3, space -> ["!", c+"a"], other -> ["!"+c, "a"].
        var bad: [String] = []
        var v: UInt32 = 0
        while v <= 0x10FFFF {
            defer { v += 1 }
            guard let s = Unicode.Scalar(v), v != 0x0A, v != 0x0D else { continue }
            let c = String(Character(s))
            let expect: [String]
            if inside(L, v) { expect = ["!" + c + "a"] } else if inside(N, v) { expect = ["!", c, "a"] } else if inside(S, v) {
                expect = ["!", c + "a"]
            } else { expect = ["!" + c, "a"] }
            let got = Pretokenizer.llama3("!" + String(s) + "a")
            if got != expect && bad.count < 20 { bad.append(String(format: "U+%04X", v)) }
        }
        XCTAssertEqual(bad, [], "scalars classified unlike quicktok")
    }

    func testChatTemplateStripsPythonWhitespace() throws {
        // Jinja's `trim` is Python's str.strip(): exactly the str.isspace() characters.
        let fx = try loadFixture("unicode_classes.json")
        let py = try XCTUnwrap(fx["pyspace"] as? [[Int]])
        var v: UInt32 = 0
        while v <= 0x3100 {
            defer { v += 1 }
            guard let s = Unicode.Scalar(v) else { continue }
            let isSpace = py.contains { Int(v) >= $0[0] && Int(v) <= $0[1] }
            let c = String(Character(s))
            let text = ChatTemplate.llama3([ChatMessage(role: "u", content: c + "x" + c)], generationPrompt: false)
            let stripped = text.contains("\n\nx<|eot_id|>")
            XCTAssertEqual(stripped, isSpace, String(format: "U+%04X", v))
        }
    }

    func testChatTemplateMatchesTransformers() throws {
        let fx = try loadFixture("chat.json")
        let tok = try? Tokenizers.llama3()
        let bytes = Tokenizers.bytes()
        for c in try XCTUnwrap(fx["chats"] as? [[String: Any]]) {
            let msgs = try XCTUnwrap(c["messages"] as? [[String: String]]).map {
                ChatMessage(role: $0["role"] ?? "", content: $0["content"] ?? "")
            }
            let gen = try XCTUnwrap(c["generation_prompt"] as? Bool)
            XCTAssertEqual(ChatTemplate.llama3(msgs, generationPrompt: gen), c["text"] as? String)
            XCTAssertEqual(bytes.chat(msgs, generationPrompt: gen), c["byte_ids"] as? [Int])
            if let tok { XCTAssertEqual(tok.chat(msgs, generationPrompt: gen), c["ids"] as? [Int], "\(msgs)") }
        }
    }

    func testTokenizerJSONMatchesHF() throws {
        let sub = try Tokenizers.load(path: tokenizerFixtures.appendingPathComponent("hf_subset.tokenizer.json").path)
        let tr = try Tokenizers.load(path: tokenizerFixtures.appendingPathComponent("hf_trained.tokenizer.json").path)
        let fx = try loadFixture("hf_ids.json")
        let cases = try XCTUnwrap(fx["cases"] as? [[String: Any]])
        var sameSub = 0, sameTr = 0
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String)
            // Hugging Face always matches added tokens in text: compare with allowSpecial.
            let a = sub.encode(text, bos: false, allowSpecial: true), b = tr.encode(text, bos: false, allowSpecial: true)
            if a == c["subset"] as? [Int] { sameSub += 1 } else { XCTFail("subset ids differ: \(text.debugDescription.prefix(100))") }
            if b == c["trained"] as? [Int] { sameTr += 1 } else { XCTFail("trained ids differ: \(text.debugDescription.prefix(100))") }
            XCTAssertEqual(sub.decode(a), text)
            XCTAssertEqual(tr.decode(b), text)
        }
        print("tokenizer.json parity: subset \(sameSub)/\(cases.count), trained \(sameTr)/\(cases.count)")
        for c in try XCTUnwrap(fx["special_cases"] as? [[String: Any]]) {
            let text = try XCTUnwrap(c["text"] as? String)
            XCTAssertEqual(sub.encode(text, bos: false, allowSpecial: true), c["subset"] as? [Int])
            XCTAssertEqual(tr.encode(text, bos: false, allowSpecial: true), c["trained"] as? [Int])
        }
        XCTAssertEqual(tr.bosID, 0)
    }
}
