// WordLevel: a word-level tokenizer with Hugging Face `tokenizers` semantics — model `WordLevel`
// (word -> id, unknown words -> the unk token's id), pre-tokenizer `Whitespace` (optionally in a
// `Sequence` with `Digits`), no normalizer, no decoder, and added tokens split out of the text
// first (two passes, as HF's AddedVocabulary: tokens with normalized = false, then the rest).
// `train` reproduces `WordLevelTrainer`; `save` writes a tokenizer.json that
// `tokenizers.Tokenizer.from_file` loads; `VocabFiles` loads such files back.
//
// Choices where HF has no single behaviour:
//   - `decode(ids)` keeps special tokens (HF `decode(ids, skip_special_tokens=False)`, as llx's
//     other tokenizers do); `decode(ids, skipSpecialTokens: true)` drops them (HF's Python default).
//     Tokens are joined with one space (HF with no decoder); unknown ids are skipped.
//   - `encode(allowSpecial: true)` is HF's `encode(text, add_special_tokens=False)`;
//     `allowSpecial: false` is the same with `encode_special_tokens = True` (special-token text is
//     cut like other text). Non-special added tokens are split out in both.
//   - A word missing from the vocabulary when the unk token is not in the model vocabulary is
//     dropped (HF raises MissingUnkToken).
//   - `vocabSize` is the largest id + 1 (the embedding size a model needs); HF counts distinct
//     strings, which differs only when special tokens repeat or are also corpus words.

import Foundation

public final class WordLevelTokenizer: TextTokenizer {
    /// An entry of tokenizer.json's `added_tokens` (what HF's AddedToken holds).
    public struct AddedToken: Equatable, Sendable {
        public var content: String
        public var id: Int
        public var special: Bool
        public var singleWord: Bool
        public var lstrip: Bool
        public var rstrip: Bool
        public var normalized: Bool

        public init(content: String, id: Int, special: Bool = true, singleWord: Bool = false,
                    lstrip: Bool = false, rstrip: Bool = false, normalized: Bool? = nil) {
            self.content = content
            self.id = id
            self.special = special
            self.singleWord = singleWord
            self.lstrip = lstrip
            self.rstrip = rstrip
            self.normalized = normalized ?? !special
        }
    }

    public let vocabSize: Int
    public let bosID: Int?
    public let endTokenIDs: Set<Int>
    /// The token unknown words become (`model.unk_token`).
    public let unkToken: String
    /// The Digits pre-tokenizer after Whitespace, if any.
    public let digits: DigitSplit
    /// The model vocabulary, by ascending id (added tokens not in it are in `addedTokens`).
    public let vocabulary: [(word: String, id: Int)]
    /// The added tokens (special tokens and others), by ascending id.
    public let addedTokens: [AddedToken]

    private let table: ByteTable                 // model vocabulary: word bytes -> id
    private let unkID: Int?                      // the unk token's id in the model vocabulary
    private let addedByText: [[UInt8]: Int]
    private let tokenBytes: [Int: [UInt8]]       // id -> text for decoding (added tokens first)
    private let specialTexts: Set<[UInt8]>
    private let rawMatcher: AddedMatcher         // added tokens with normalized == false
    private let normalizedMatcher: AddedMatcher  // the others
    private let postProcessor: JSONTree          // kept as loaded, written back by save

    /// `vocab` must have distinct ids (the loader and trainer check or guarantee it).
    init(vocab: [([UInt8], Int)], unkToken: String, added: [AddedToken], digits: DigitSplit,
         postProcessor: JSONTree = .null) {
        let sorted = vocab.sorted { $0.1 < $1.1 }
        let t = ByteTable(capacity: max(sorted.count, 1))
        var bytesByID: [Int: [UInt8]] = [:]
        for (w, id) in sorted {
            t.insert(w, Int32(id))
            bytesByID[id] = w
        }
        table = t
        vocabulary = sorted.map { (String(decoding: $0.0, as: UTF8.self), $0.1) }
        self.unkToken = unkToken
        self.digits = digits
        self.postProcessor = postProcessor
        var u = Array(unkToken.utf8)
        let uid = u.withUnsafeMutableBufferPointer { b in b.baseAddress.map { t.lookup($0, b.count) } ?? -1 }
        unkID = uid >= 0 ? Int(uid) : nil

        let addedSorted = added.sorted { $0.id < $1.id }
        addedTokens = addedSorted
        var byText: [[UInt8]: Int] = [:]
        var specials = Set<[UInt8]>()
        for a in addedSorted {
            let b = Array(a.content.utf8)
            byText[b] = a.id
            bytesByID[a.id] = b
            if a.special { specials.insert(b) }
        }
        addedByText = byText
        tokenBytes = bytesByID
        specialTexts = specials
        rawMatcher = AddedMatcher(addedSorted.filter { !$0.normalized })
        normalizedMatcher = AddedMatcher(addedSorted.filter { $0.normalized })
        let maxID = max(sorted.last?.1 ?? -1, addedSorted.last?.id ?? -1)
        vocabSize = maxID + 1

        func lookup(_ s: String) -> Int? {
            if let id = byText[Array(s.utf8)] { return id }
            var b = Array(s.utf8)
            let id = b.withUnsafeMutableBufferPointer { p in p.baseAddress.map { t.lookup($0, p.count) } ?? -1 }
            return id >= 0 ? Int(id) : nil
        }
        bosID = WordLevelTokenizer.templateBOS(postProcessor).flatMap(lookup) ?? lookup("<|begin_of_text|>")
        endTokenIDs = Set(["<|end_of_text|>", "<|eot_id|>"].compactMap(lookup))
    }

    // MARK: TextTokenizer

    public func encode(_ text: String, bos: Bool) -> [Int] { encode(text, bos: bos, allowSpecial: false) }

    public func encode(_ text: String, bos: Bool, allowSpecial: Bool) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 4 + 2)
        if bos, let b = bosID { out.append(b) }
        var s = text
        s.withUTF8 { buf in
            guard let p = buf.baseAddress else { return }
            rawMatcher.split(p, 0, buf.count, allowSpecial: allowSpecial, token: { out.append($0) }) { a, b in
                normalizedMatcher.split(p, a, b, allowSpecial: allowSpecial, token: { out.append($0) }) { c, d in
                    WhitespacePretokenizer.split(p, c, d, digits: digits) { ws, we in
                        let id = table.lookup(p + ws, we - ws)
                        if id >= 0 { out.append(Int(id)) } else if let u = unkID { out.append(u) }
                    }
                }
            }
        }
        return out
    }

    /// Keeps special tokens: HF's `decode(ids, skip_special_tokens=False)`.
    public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: false) }

    /// The tokens of `ids` joined with single spaces (HF with no decoder); unknown ids are
    /// skipped, and with `skipSpecialTokens` so are special tokens (any id whose text is a
    /// special token's, as HF compares strings).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        var first = true
        for id in ids {
            guard let t = tokenBytes[id] else { continue }
            if skipSpecialTokens && specialTexts.contains(t) { continue }
            if !first { bytes.append(0x20) }
            bytes.append(contentsOf: t)
            first = false
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func chat(_ messages: [ChatMessage], generationPrompt: Bool) -> [Int] {
        encode(ChatTemplate.llama3(messages, generationPrompt: generationPrompt), bos: false, allowSpecial: true)
    }

    /// The id of an added token or of a word of the model vocabulary (exact bytes), if any.
    public func tokenID(_ token: String) -> Int? {
        var b = Array(token.utf8)
        if let id = addedByText[b] { return id }
        let id = b.withUnsafeMutableBufferPointer { p in p.baseAddress.map { table.lookup($0, p.count) } ?? -1 }
        return id >= 0 ? Int(id) : nil
    }

    // MARK: Training

    /// Trains as Hugging Face's `WordLevelTrainer` on a fresh `Tokenizer(WordLevel(unk_token))`
    /// with the Whitespace pre-tokenizer (and `Digits(individual_digits: true)` when `digits`).
    /// See `train(texts:vocabSize:minFrequency:specialTokens:unkToken:digitSplit:)`.
    public static func train(texts: [String], vocabSize: Int, minFrequency: Int = 0, specialTokens: [String],
                             unkToken: String = "[UNK]", digits: Bool = false) -> WordLevelTokenizer {
        train(texts: texts, vocabSize: vocabSize, minFrequency: minFrequency, specialTokens: specialTokens,
              unkToken: unkToken, digitSplit: digits ? .individual : .none)
    }

    /// Trains as Hugging Face's `WordLevelTrainer`: words are the pre-tokenizer's pieces of every
    /// text (special-token text in the texts is cut like any other text, as a fresh HF tokenizer
    /// has no added tokens yet); the vocabulary is the special tokens in the given order, then
    /// the words counted at least `minFrequency` times by descending count, ties in byte order
    /// of the UTF-8 text, cut to `vocabSize` entries in all (specials included), ids in that
    /// order (a string listed twice keeps its last id). Then, as HF's `add_special_tokens`, each
    /// special token becomes an added token: with its vocabulary id, or, when the cap left it
    /// out, the next id after the vocabulary. `unkToken` is not added by itself: list it among
    /// `specialTokens` (unknown words are dropped otherwise). Negative sizes count as 0.
    public static func train(texts: [String], vocabSize: Int, minFrequency: Int = 0, specialTokens: [String],
                             unkToken: String = "[UNK]", digitSplit: DigitSplit) -> WordLevelTokenizer {
        var counts: [[UInt8]: Int] = [:]
        for text in texts {
            var s = text
            s.withUTF8 { buf in
                guard let p = buf.baseAddress else { return }
                WhitespacePretokenizer.split(p, 0, buf.count, digits: digitSplit) { a, b in
                    counts[Array(UnsafeBufferPointer(start: p + a, count: b - a)), default: 0] += 1
                }
            }
        }
        let minCount = max(minFrequency, 0)
        let words = counts.filter { $0.value >= minCount }.sorted { l, r in
            l.value != r.value ? l.value > r.value : l.key.lexicographicallyPrecedes(r.key)
        }
        var order: [[UInt8]] = specialTokens.map { Array($0.utf8) } + words.map { $0.key }
        order = Array(order.prefix(max(vocabSize, 0)))
        var vocab: [[UInt8]: Int] = [:]
        for (i, w) in order.enumerated() { vocab[w] = i }

        // HF's AddedVocabulary.add_tokens on a tokenizer with no added tokens yet.
        var nextID = vocab.count
        var addedID: [[UInt8]: Int] = [:]
        var addedByID: [Int: AddedToken] = [:]
        for sp in specialTokens where !sp.isEmpty {
            let b = Array(sp.utf8)
            if addedID[b] != nil { continue }          // the same token again: ignored
            let id: Int
            if let v = vocab[b] { id = v } else { id = nextID; nextID += 1 }
            addedID[b] = id
            addedByID[id] = AddedToken(content: sp, id: id, special: true)
        }
        return WordLevelTokenizer(vocab: vocab.map { ($0.key, $0.value) }, unkToken: unkToken,
                                  added: Array(addedByID.values), digits: digitSplit)
    }

    // MARK: tokenizer.json

    /// The tokenizer.json text (Hugging Face's layout; vocabulary by id).
    public func jsonString() -> String {
        var pre: JSONTree = .object([("type", .string("Whitespace"))])
        if digits != .none {
            pre = .object([("type", .string("Sequence")), ("pretokenizers", .array([
                pre, .object([("type", .string("Digits")), ("individual_digits", .bool(digits == .individual))]),
            ]))])
        }
        let added: [JSONTree] = addedTokens.map { a in
            .object([("id", .number(String(a.id))), ("content", .string(a.content)),
                     ("single_word", .bool(a.singleWord)), ("lstrip", .bool(a.lstrip)), ("rstrip", .bool(a.rstrip)),
                     ("normalized", .bool(a.normalized)), ("special", .bool(a.special))])
        }
        let doc: JSONTree = .object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null),
            ("added_tokens", .array(added)), ("normalizer", .null), ("pre_tokenizer", pre),
            ("post_processor", postProcessor), ("decoder", .null),
            ("model", .object([
                ("type", .string("WordLevel")),
                ("vocab", .object(vocabulary.map { ($0.word, .number(String($0.id))) })),
                ("unk_token", .string(unkToken)),
            ])),
        ])
        return doc.pretty()
    }

    /// Writes tokenizer.json atomically (a temporary file renamed over the target). A `path`
    /// that is a directory or does not end in ".json" names a directory (created if needed)
    /// that gets `tokenizer.json`. Returns the file written.
    @discardableResult
    public func save(path: String) throws -> String {
        guard !path.isEmpty else { throw TokenizerError.writeFailed(path: path, message: "empty path") }
        let fm = FileManager.default
        var isDir: ObjCBool = false
        let exists = fm.fileExists(atPath: path, isDirectory: &isDir)
        let file: String
        if (exists && isDir.boolValue) || !path.hasSuffix(".json") {
            file = (path.hasSuffix("/") ? String(path.dropLast()) : path) + "/tokenizer.json"
        } else {
            file = path
        }
        let dir = (file as NSString).deletingLastPathComponent
        do {
            if !dir.isEmpty { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        } catch {
            throw TokenizerError.writeFailed(path: file, message: "cannot create directory \(dir): \(error.localizedDescription)")
        }
        let tmp = file + ".tmp-\(getpid())-\(UUID().uuidString.prefix(8))"
        do {
            try Data(jsonString().utf8).write(to: URL(fileURLWithPath: tmp))
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw TokenizerError.writeFailed(path: file, message: error.localizedDescription)
        }
        if rename(tmp, file) != 0 {
            let msg = String(cString: strerror(errno))
            try? fm.removeItem(atPath: tmp)
            throw TokenizerError.writeFailed(path: file, message: msg)
        }
        return file
    }

    /// Reads a tokenizer.json whose model is WordLevel.
    static func load(path: String, data: [UInt8]) throws -> WordLevelTokenizer {
        let root = try JSONTree.parse(data, path: path)
        func bad(_ m: String) -> TokenizerError { .unsupported(path: path, message: m) }
        func malformed(_ m: String) -> TokenizerError { .malformed(path: path, line: 0, message: m) }
        guard root.members != nil else { throw malformed("expected a JSON object") }
        guard let model = root["model"], model.members != nil else { throw malformed("no \"model\" object") }
        guard model["type"]?.string == "WordLevel" else { throw bad("model type is \(model["type"]?.string ?? "missing"), not WordLevel") }
        guard let vocabMembers = model["vocab"]?.members else { throw malformed("model.vocab is not an object") }
        let unk: String
        if let u = model["unk_token"], !u.isNull {
            guard let s = u.string else { throw malformed("model.unk_token is not a string") }
            unk = s
        } else {
            unk = "<unk>"
        }

        if let norm = root["normalizer"], !norm.isNull {
            let empty = norm["type"]?.string == "Sequence" && (norm["normalizers"]?.array?.isEmpty ?? true)
            if !empty { throw bad("normalizer \(norm["type"]?.string ?? "?") (only none is implemented)") }
        }
        for key in ["truncation", "padding"] {
            if let v = root[key], !v.isNull { throw bad("\(key) settings (encode them without it)") }
        }
        if let dec = root["decoder"], !dec.isNull {
            throw bad("decoder \(dec["type"]?.string ?? "?") (only none, which joins tokens with spaces, is implemented)")
        }
        // Pre-tokenizer: Whitespace, alone or in a Sequence with one Digits.
        guard let pt = root["pre_tokenizer"], !pt.isNull else {
            throw bad("no pre_tokenizer (only Whitespace, optionally with Digits, is implemented)")
        }
        let nodes = pt["type"]?.string == "Sequence" ? (pt["pretokenizers"]?.array ?? []) : [pt]
        var whitespace = 0
        var digits: DigitSplit?
        for n in nodes {
            switch n["type"]?.string {
            case "Whitespace": whitespace += 1
            case "Digits":
                guard digits == nil else { throw bad("several Digits pre-tokenizers") }
                digits = (n["individual_digits"]?.bool ?? false) ? .individual : .contiguous
            default:
                throw bad("pre_tokenizer \(n["type"]?.string ?? "?") (only Whitespace, optionally with Digits, is implemented)")
            }
        }
        guard whitespace == 1 else { throw bad("pre_tokenizer without exactly one Whitespace") }

        func idOf(_ v: JSONTree, _ what: String) throws -> Int {
            guard let id = v.int, id >= 0, id < Int(Int32.max) else { throw malformed("\(what) has no valid id") }
            return id
        }
        var byWord: [[UInt8]: Int] = [:]
        for (w, v) in vocabMembers { byWord[Array(w.utf8)] = try idOf(v, "vocab entry \(w.debugDescription)") }
        var seen: [Int: [UInt8]] = [:]
        for (w, id) in byWord {
            if let other = seen[id] {
                throw malformed("vocab ids repeat: \(id) is given to \(String(decoding: other, as: UTF8.self).debugDescription) and \(String(decoding: w, as: UTF8.self).debugDescription)")
            }
            seen[id] = w
        }

        var added: [Int: AddedToken] = [:]
        if let at = root["added_tokens"], !at.isNull {
            guard let list = at.array else { throw malformed("added_tokens is not a list") }
            for (k, t) in list.enumerated() {
                guard t.members != nil, let content = t["content"]?.string, let idv = t["id"] else {
                    throw malformed("added_tokens[\(k)] needs \"id\" and \"content\"")
                }
                let id = try idOf(idv, "added_tokens[\(k)]")
                func flag(_ name: String, _ def: Bool) throws -> Bool {
                    guard let v = t[name], !v.isNull else { return def }
                    guard let b = v.bool else { throw malformed("added_tokens[\(k)].\(name) is not a bool") }
                    return b
                }
                let special = try flag("special", false)
                added[id] = AddedToken(content: content, id: id, special: special,
                                       singleWord: try flag("single_word", false), lstrip: try flag("lstrip", false),
                                       rstrip: try flag("rstrip", false), normalized: try flag("normalized", !special))
            }
        }
        if let pp = root["post_processor"], !pp.isNull,
           !["TemplateProcessing", "Sequence"].contains(pp["type"]?.string ?? "") {
            throw bad("post_processor \(pp["type"]?.string ?? "?") (only TemplateProcessing, for BOS, is implemented)")
        }
        return WordLevelTokenizer(vocab: byWord.map { ($0.key, $0.value) }, unkToken: unk,
                                  added: Array(added.values), digits: digits ?? .none,
                                  postProcessor: root["post_processor"] ?? .null)
    }

    /// The special token a TemplateProcessing post-processor puts first, if any.
    static func templateBOS(_ pp: JSONTree) -> String? {
        if pp["type"]?.string == "Sequence" {
            for sub in pp["processors"]?.array ?? [] { if let b = templateBOS(sub) { return b } }
            return nil
        }
        guard pp["type"]?.string == "TemplateProcessing", let first = pp["single"]?.array?.first,
              let special = first["SpecialToken"] else { return nil }
        return special["id"]?.string
    }
}

/// Added tokens found in text as HF's AddedVocabulary finds them: leftmost-longest,
/// non-overlapping matches, then per token single_word / lstrip / rstrip, and special tokens
/// ignored (left as text) unless allowed.
struct AddedMatcher {
    struct Entry {
        let bytes: [UInt8]
        let token: WordLevelTokenizer.AddedToken
    }
    private let byFirstByte: [[Entry]]      // 256 lists, longest first
    let isEmpty: Bool

    init(_ tokens: [WordLevelTokenizer.AddedToken]) {
        var first = [[Entry]](repeating: [], count: 256)
        for t in tokens where !t.content.isEmpty {
            let b = Array(t.content.utf8)
            first[Int(b[0])].append(Entry(bytes: b, token: t))
        }
        for i in 0..<256 { first[i].sort { $0.bytes.count > $1.bytes.count } }
        byFirstByte = first
        isEmpty = tokens.allSatisfy { $0.content.isEmpty }
    }

    /// Splits `p[start..<end]`: `token(id)` for each added token kept, `text(a, b)` for the runs
    /// between them (all in order).
    func split(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, allowSpecial: Bool,
               token: (Int) -> Void, text: (Int, Int) -> Void) {
        if isEmpty {
            if start < end { text(start, end) }
            return
        }
        var offset = start
        var i = start
        while i < end {
            var hit: Entry?
            for c in byFirstByte[Int(p[i])] where c.bytes.count <= end - i {
                let same = c.bytes.withUnsafeBufferPointer { memcmp($0.baseAddress!, p + i, $0.count) == 0 }
                if same { hit = c; break }
            }
            guard let m = hit else { i += 1; continue }
            let ms = i, me = i + m.bytes.count
            i = me                                     // the search goes on after the match
            let t = m.token
            if t.special && !allowSpecial { continue }
            if t.singleWord {
                let startOK = ms == start || !WordClass.endsWithWord(p, start, ms)
                let stopOK = me == end || !WordClass.startsWithWord(p, me, end)
                if !(startOK && stopOK) { continue }
            }
            var s = ms, e = me
            if t.lstrip { s = max(WordClass.spaceRunBefore(p, start, ms), offset) }
            if t.rstrip { e = WordClass.spaceRunAfter(p, me, end) }
            if offset < s { text(offset, s) }
            token(t.id)
            offset = e
        }
        if offset < end { text(offset, end) }
    }
}
