// DataTests: reading JSONL / JSON array data, dataset operations, and the conversation
// loss mask against transformers' apply_chat_template(return_assistant_tokens_mask=True)
// (Fixtures/train/chat_mask.json, made by scripts/gen_train_fixtures.py).
import Foundation
import XCTest
import Tokenizer
import Train

/// The fixture's tokenizer: UTF-8 bytes are ids 0..255, the Llama-3 specials 256... and the
/// Llama-3 instruct template rendered as Meta's Jinja template does (content | trim).
func byteLlama3Tokenizer() -> TrainTokenizer {
    let bos = 256, startHeader = 258, endHeader = 259, eot = 260
    func bytes(_ s: String) -> [Int] { s.utf8.map { Int($0) } }
    return TrainTokenizer(
        encode: { [bos] + bytes($0) },
        chat: { messages, generationPrompt in
            var ids = [bos]
            for m in messages {
                ids += [startHeader] + bytes(m.role) + [endHeader] + bytes("\n\n")
                ids += bytes(m.content.trimmingCharacters(in: .whitespacesAndNewlines)) + [eot]
            }
            if generationPrompt { ids += [startHeader] + bytes("assistant") + [endHeader] + bytes("\n\n") }
            return ids
        })
}

func tempFile(_ name: String, _ text: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llx-train-tests-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

final class DataTests: XCTestCase {
    func testConversationMaskMatchesTransformers() throws {
        let convs = try XCTUnwrap(loadJSON("chat_mask.json")["conversations"] as? [[String: Any]])
        XCTAssertEqual(convs.count, 3)
        // the same ids and masks through this test's template and through Tokenizer's byte tokenizer
        for tok in [byteLlama3Tokenizer(), TrainTokenizer(Tokenizers.bytes())] {
            for c in convs {
                let msgs = (c["messages"] as! [[String: String]]).map { ChatMessage(role: $0["role"]!, content: $0["content"]!) }
                let ex = try Examples.conversation(msgs, tokenizer: tok)
                XCTAssertEqual(ex.ids, c["input_ids"] as! [Int])
                XCTAssertEqual(try tok.chat(msgs, true), c["with_generation_prompt"] as! [Int])
                XCTAssertEqual(ex.labels, c["labels"] as! [Int])
            }
        }
    }

    func testConversationMaskWithLlama3Vocabulary() throws {
        // With the real vocabulary (when installed), the labelled tokens decode to exactly
        // the assistant replies (trimmed), each followed by <|eot_id|>.
        guard let tok = try? Tokenizers.llama3() else { throw XCTSkip("Llama-3 vocabulary not installed") }
        let msgs = [ChatMessage(role: "system", content: "You are terse."), ChatMessage(role: "user", content: "Capital of France?"),
                    ChatMessage(role: "assistant", content: " Paris.\n"), ChatMessage(role: "user", content: "And Italy?"),
                    ChatMessage(role: "assistant", content: "Rome.")]
        let ex = try Examples.conversation(msgs, tokenizer: TrainTokenizer(tok))
        XCTAssertEqual(ex.ids, tok.chat(msgs, generationPrompt: false))
        XCTAssertEqual(ex.ids.first, 128000)
        let eot = try XCTUnwrap(tok.tokenID("<|eot_id|>"))
        let labelled = ex.labels.filter { $0 != ignoreIndex }
        XCTAssertEqual(labelled.filter { $0 == eot }.count, 2)
        XCTAssertEqual(tok.decode(labelled), "Paris.<|eot_id|>Rome.<|eot_id|>")
    }

    func testJSONLAndArrayFilesAndErrors() throws {
        let jl = try tempFile("a.jsonl", """
        {"text": "hello world"}

        {"conversations": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
        """)
        let ds = try TrainDataset.jsonl(jl)
        XCTAssertEqual(ds.count, 3)
        XCTAssertEqual(ds.records[0], .text("hello world"))
        XCTAssertEqual(ds.records[2], .conversation([ChatMessage(role: "user", content: "q"), ChatMessage(role: "assistant", content: "a")]))

        let arr = try tempFile("b.json", "[\n  {\"text\": \"x\"},\n  {\"text\": \"y\"}\n]\n")
        XCTAssertEqual(try TrainDataset.jsonl(arr).records, [.text("x"), .text("y")])

        let bad = try tempFile("bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": 3}\n")
        XCTAssertThrowsError(try TrainDataset.jsonl(bad)) { e in
            XCTAssertTrue("\(e)".contains("bad.jsonl:2:"), "\(e)")
        }
        let broken = try tempFile("broken.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": \"no end\n")
        XCTAssertThrowsError(try TrainDataset.jsonl(broken)) { e in
            XCTAssertTrue("\(e)".contains("broken.jsonl:3:"), "\(e)")
        }
        let badArr = try tempFile("bad.json", "[\n {\"text\": \"x\"},\n\n {\"other\": 1}\n]")
        XCTAssertThrowsError(try TrainDataset.jsonl(badArr)) { e in
            XCTAssertTrue("\(e)".contains("bad.json:4:"), "\(e)")
        }
        XCTAssertThrowsError(try TrainDataset.jsonl("/nonexistent/x.jsonl")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/x.jsonl"), "\(e)")
        }
    }

    func testDatasetOperations() throws {
        let a = TrainDataset(records: (0..<10).map { .text("a\($0)") }, source: "a")
        let b = TrainDataset(records: [.text("b")], source: "b")
        XCTAssertEqual(try a.take(3).records, [.text("a0"), .text("a1"), .text("a2")])
        XCTAssertEqual(try a.take(30).count, 10)
        XCTAssertEqual((a + b).count, 11)
        XCTAssertEqual((a + b).records.last, .text("b"))
        let s1 = a.shuffled(seed: 7), s2 = a.shuffled(seed: 7), s3 = a.shuffled(seed: 8)
        XCTAssertEqual(s1, s2)
        XCTAssertNotEqual(s1.records, s3.records)
        XCTAssertNotEqual(s1.records, a.records)
        XCTAssertEqual(Set(s1.records.map { "\($0)" }), Set(a.records.map { "\($0)" }))
    }

    func testMaxLenDropsConversationsAndTruncatesText() throws {
        let tok = byteLlama3Tokenizer()
        let long = TrainRecord.conversation([ChatMessage(role: "user", content: String(repeating: "x", count: 50)),
                                             ChatMessage(role: "assistant", content: "y")])
        let short = TrainRecord.conversation([ChatMessage(role: "user", content: "x"), ChatMessage(role: "assistant", content: "y")])
        let text = TrainRecord.text(String(repeating: "z", count: 100))
        let p = try Examples.prepare(TrainDataset(records: [long, short, text]), tokenizer: tok, maxLen: 40)
        XCTAssertEqual(p.droppedTooLong, 1)
        XCTAssertEqual(p.truncated, 1)
        XCTAssertEqual(p.examples.count, 2)
        XCTAssertEqual(p.examples[1].ids.count, 40)
        XCTAssertEqual(p.examples[1].labels, p.examples[1].ids)
        XCTAssertEqual(p.examples[0].lossTokens, 2) // "y" and <|eot_id|>
    }
}
