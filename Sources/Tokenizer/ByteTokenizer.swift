// ByteTokenizer: the byte-level tokenizer for tiny models. Ids 0...255 are the UTF-8 bytes,
// 256...263 special tokens named like Llama-3's; the chat template is the Llama-3 one.

import Foundation

final class ByteTokenizer: TextTokenizer {
    static let specialNames: [String] = [
        "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
        "<|eot_id|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
        "<|reserved_special_token_2|>",
    ]

    let vocabSize = 264
    let bosID: Int? = 256
    let endTokenIDs: Set<Int> = [257, 260]
    private let specials = SpecialTokens(specialNames.enumerated().map { ($0.element, 256 + $0.offset) })

    func encode(_ text: String, bos: Bool) -> [Int] { encode(text, bos: bos, allowSpecial: false) }

    func encode(_ text: String, bos: Bool, allowSpecial: Bool) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count + 1)
        if bos { out.append(256) }
        if !allowSpecial {
            for b in text.utf8 { out.append(Int(b)) }
            return out
        }
        var s = text
        s.withUTF8 { buf in
            specials.split(buf, text: { a, b in
                for i in a..<b { out.append(Int(buf[i])) }
            }, special: { out.append($0) })
        }
        return out
    }

    func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count)
        for id in ids {
            if id >= 0 && id < 256 {
                bytes.append(UInt8(id))
            } else if let sp = specials.bytesByID[id] {
                bytes.append(contentsOf: sp)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        decode(skipSpecialTokens ? ids.filter { !(256..<264).contains($0) } : ids)
    }

    func chat(_ messages: [ChatMessage], generationPrompt: Bool) -> [Int] {
        encode(ChatTemplate.llama3(messages, generationPrompt: generationPrompt), bos: false, allowSpecial: true)
    }

    func tokenID(_ special: String) -> Int? {
        if let id = specials.byText[special] { return id }
        let u = Array(special.utf8)
        return u.count == 1 ? Int(u[0]) : nil
    }
}
