// VocabFiles: readers for tokenizer files: tiktoken BPE text (Meta's tokenizer.model: base64
// token and rank per line), quicktok's binary .vocab/.special pair (how the Llama-3 vocabulary is
// installed), Hugging Face tokenizer.json (byte-level BPE or WordLevel), and model directories
// holding one.

import Foundation

enum VocabFiles {
    /// Meta's Llama-3 special tokens, in the order its tokenizer code appends them after the
    /// 128,000 ranks.
    static let llama3Specials: [String] = {
        var s = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                 "<|reserved_special_token_1|>", "<|reserved_special_token_2|>",
                 "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
                 "<|reserved_special_token_4|>", "<|eot_id|>"]
        for i in 5..<(256 - 5) { s.append("<|reserved_special_token_\(i)|>") }
        return s
    }()

    static func load(path: String) throws -> TextTokenizer {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TokenizerError.fileNotFound(path: path, hint: "")
        }
        if isDir.boolValue {
            let base = path.hasSuffix("/") ? String(path.dropLast()) : path
            for name in ["tokenizer.json", "tokenizer.model", "original/tokenizer.model", "llama3.vocab"] {
                let p = base + "/" + name
                if fm.fileExists(atPath: p) { return try load(path: p) }
            }
            throw TokenizerError.fileNotFound(
                path: path, hint: "the directory holds no tokenizer.json, tokenizer.model or llama3.vocab")
        }
        let data = try read(path)
        if path.hasSuffix(".json") || data.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x09 }) == UInt8(ascii: "{") {
            return try loadHF(path: path, data: data)
        }
        if path.hasSuffix(".vocab") {
            return try loadQuicktok(vocabPath: path, data: data)
        }
        if data.prefix(64).contains(0) {
            // Binary: a quicktok vocabulary under another name, or something unsupported.
            if let t = try? loadQuicktok(vocabPath: path, data: data) { return t }
            throw TokenizerError.unsupported(
                path: path, message: "binary file that is neither a tiktoken BPE text file nor a quicktok "
                    + "vocabulary (SentencePiece models are not supported)")
        }
        return try loadTiktoken(path: path, data: data)
    }

    static func read(_ path: String) throws -> [UInt8] {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw TokenizerError.fileNotFound(path: path, hint: "")
        }
        return [UInt8](d)
    }

    // MARK: tiktoken text

    static func loadTiktoken(path: String, data: [UInt8]) throws -> TextTokenizer {
        var vocab = VocabBuilder()
        var seenRanks = Set<Int>()
        var lineNo = 0
        var i = 0
        let n = data.count
        while i < n {
            var j = i
            while j < n && data[j] != 0x0A { j += 1 }
            lineNo += 1
            var end = j
            if end > i && data[end - 1] == 0x0D { end -= 1 }
            defer { i = j + 1 }
            if end == i { continue }
            let line = data[i..<end]
            guard let sp = line.firstIndex(of: 0x20) else {
                throw TokenizerError.malformed(path: path, line: lineNo,
                                               message: "expected '<base64 token> <rank>'")
            }
            guard let token = Data(base64Encoded: Data(line[i..<sp])) else {
                throw TokenizerError.malformed(path: path, line: lineNo, message: "invalid base64 token")
            }
            guard let rankText = String(bytes: line[(sp + 1)...], encoding: .utf8),
                  let rank = Int(rankText), rank >= 0, rank < Int(Int32.max) else {
                throw TokenizerError.malformed(path: path, line: lineNo, message: "invalid rank")
            }
            guard seenRanks.insert(rank).inserted else {
                throw TokenizerError.malformed(path: path, line: lineNo, message: "duplicate rank \(rank)")
            }
            vocab.add(token, id: rank)
        }
        guard vocab.count > 0 else {
            throw TokenizerError.malformed(path: path, line: 0, message: "empty vocabulary")
        }
        let specials = vocab.count == 128_000
            ? llama3Specials.enumerated().map { ($0.element, 128_000 + $0.offset) } : []
        return BPETokenizer(source: path, vocab: vocab, specials: specials, rule: .ranks)
    }

    // MARK: quicktok binary (.vocab: u32 count, then u16 length, bytes, u32 rank per record;
    // .special: u32 count, then u32 id, u16 length, UTF-8 bytes per record; little-endian)

    static func loadQuicktok(vocabPath: String, data: [UInt8]? = nil) throws -> TextTokenizer {
        let d = try data ?? read(vocabPath)
        var r = BinaryReader(bytes: d, path: vocabPath)
        let count = try r.u32(record: 0, what: "record count")
        var vocab = VocabBuilder()
        for k in 1...max(count, 1) where count > 0 {
            let len = try r.u16(record: k, what: "token length")
            let bytes = try r.bytes(len, record: k, what: "token bytes")
            let rank = try r.u32(record: k, what: "rank")
            vocab.add(bytes, id: rank)
        }
        guard vocab.count > 0 else {
            throw TokenizerError.malformed(path: vocabPath, line: 0, message: "empty vocabulary")
        }
        if r.offset != d.count {
            throw TokenizerError.malformed(path: vocabPath, line: count,
                                           message: "\(d.count - r.offset) trailing bytes after the last record")
        }
        var specials: [(String, Int)] = []
        let specialPath = (vocabPath.hasSuffix(".vocab") ? String(vocabPath.dropLast(6)) : vocabPath) + ".special"
        if FileManager.default.fileExists(atPath: specialPath) {
            let sd = try read(specialPath)
            var s = BinaryReader(bytes: sd, path: specialPath)
            let sc = try s.u32(record: 0, what: "record count")
            for k in 1...max(sc, 1) where sc > 0 {
                let id = try s.u32(record: k, what: "token id")
                let len = try s.u16(record: k, what: "token length")
                let bytes = try s.bytes(len, record: k, what: "token text")
                guard let text = String(bytes: bytes, encoding: .utf8) else {
                    throw TokenizerError.malformed(path: specialPath, line: k, message: "token text is not UTF-8")
                }
                specials.append((text, id))
            }
        } else if vocab.count == 128_000 {
            specials = llama3Specials.enumerated().map { ($0.element, 128_000 + $0.offset) }
        }
        return BPETokenizer(source: vocabPath, vocab: vocab, specials: specials, rule: .ranks)
    }

    struct BinaryReader {
        let bytes: [UInt8]
        let path: String
        var offset = 0

        private func fail(_ record: Int, _ what: String) -> TokenizerError {
            .malformed(path: path, line: record,
                       message: "truncated or garbled file: cannot read \(what) (record \(record), byte \(offset))")
        }
        mutating func u16(record: Int, what: String) throws -> Int {
            guard offset + 2 <= bytes.count else { throw fail(record, what) }
            defer { offset += 2 }
            return Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
        }
        mutating func u32(record: Int, what: String) throws -> Int {
            guard offset + 4 <= bytes.count else { throw fail(record, what) }
            defer { offset += 4 }
            let v = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16
                | Int(bytes[offset + 3]) << 24
            guard v < Int(Int32.max) else { throw fail(record, what + " (value out of range)") }
            return v
        }
        mutating func bytes(_ n: Int, record: Int, what: String) throws -> ArraySlice<UInt8> {
            guard offset + n <= bytes.count else { throw fail(record, what) }
            defer { offset += n }
            return bytes[offset..<(offset + n)]
        }
    }
}
