// HFTokenizerJSON: reads a Hugging Face tokenizer.json holding a byte-level BPE (model.vocab in
// the GPT-2 byte-to-unicode alphabet, model.merges, added_tokens) whose pre-tokenizer is the
// Llama-3 Split regex (optionally with ByteLevel use_regex false), as Llama-3's file does.
// Files whose model is WordLevel go to WordLevelTokenizer.load.

import Foundation

extension VocabFiles {
    static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// GPT-2's byte-to-unicode table inverted: the character standing for each byte -> byte.
    static let byteDecoder: [Character: UInt8] = {
        var bs: [Int] = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) {
            bs.append(b)
            cs.append(256 + n)
            n += 1
        }
        var d: [Character: UInt8] = [:]
        for (b, c) in zip(bs, cs) { d[Character(Unicode.Scalar(UInt32(c))!)] = UInt8(b) }
        return d
    }()

    static func lineOf(_ error: Error, _ data: [UInt8]) -> Int {
        let ns = error as NSError
        if let idx = ns.userInfo["NSJSONSerializationErrorIndex"] as? Int, idx <= data.count {
            return 1 + data[0..<idx].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        }
        let text = "\(ns.userInfo[NSDebugDescriptionErrorKey] ?? "") \(ns)"
        if let r = text.range(of: #"line (\d+)"#, options: .regularExpression) {
            return Int(text[r].dropFirst(5)) ?? 0
        }
        if let r = text.range(of: #"character (\d+)"#, options: .regularExpression),
           let idx = Int(text[r].dropFirst(10)) {
            // An offset in UTF-16 units of the decoded text.
            let utf16 = String(decoding: data, as: UTF8.self).utf16
            return 1 + utf16.prefix(idx).reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        }
        return 0
    }

    /// tokenizer.json's added_tokens as (content, id), each id checked as the vocab's are (a
    /// mutated file gave 2^63 - 1, and the vocabulary size overflowed: fuzz seed 301 case 1024307).
    static func addedTokens(_ root: [String: Any], path: String) throws -> [(String, Int)] {
        var out: [(String, Int)] = []
        for (k, t) in (root["added_tokens"] as? [[String: Any]] ?? []).enumerated() {
            guard let c = t["content"] as? String, let n = t["id"] as? NSNumber else { continue }
            let d = n.doubleValue
            guard d.isFinite, d >= 0, d < Double(Int32.max), let id = Int(exactly: d) else {
                throw TokenizerError.malformed(path: path, line: 0, message: "added_tokens[\(k)] (\(c)) has no valid id: \(n)")
            }
            out.append((c, id))
        }
        return out
    }

    static func loadHF(path: String, data: [UInt8]) throws -> TextTokenizer {
        let root: [String: Any]
        do {
            guard let r = try JSONSerialization.jsonObject(with: Data(data)) as? [String: Any] else {
                throw TokenizerError.malformed(path: path, line: 1, message: "expected a JSON object")
            }
            root = r
        } catch let e as TokenizerError {
            throw e
        } catch {
            throw TokenizerError.malformed(path: path, line: lineOf(error, data),
                                           message: "invalid JSON: \((error as NSError).userInfo[NSDebugDescriptionErrorKey] ?? error)")
        }
        func bad(_ m: String) -> TokenizerError { .unsupported(path: path, message: m) }
        if (root["model"] as? [String: Any])?["type"] as? String == "WordLevel" {
            return try WordLevelTokenizer.load(path: path, data: data)
        }

        // Normalizer: none (or an empty sequence).
        if let norm = root["normalizer"] as? [String: Any] {
            let empty = norm["type"] as? String == "Sequence" && ((norm["normalizers"] as? [Any])?.isEmpty ?? true)
            if !empty { throw bad("normalizer \(norm["type"] ?? "?") is not supported") }
        }
        // Pre-tokenizer: the Llama-3 Split regex, with ByteLevel somewhere in the pipeline.
        var byteLevel = false
        var pattern: String?
        var nodes: [[String: Any]] = []
        if let pt = root["pre_tokenizer"] as? [String: Any] {
            nodes = pt["type"] as? String == "Sequence" ? (pt["pretokenizers"] as? [[String: Any]] ?? []) : [pt]
        }
        for node in nodes {
            switch node["type"] as? String {
            case "Split":
                if pattern != nil { throw bad("several Split pre-tokenizers") }
                pattern = (node["pattern"] as? [String: Any])?["Regex"] as? String ?? "?"
            case "ByteLevel":
                byteLevel = true
                if node["add_prefix_space"] as? Bool == true { throw bad("ByteLevel add_prefix_space") }
                if node["use_regex"] as? Bool ?? true, pattern == nil {
                    throw bad("ByteLevel's built-in GPT-2 regex (only the Llama-3 Split pattern is implemented)")
                }
            default:
                throw bad("pre_tokenizer \(node["type"] ?? "?")")
            }
        }
        if let dec = root["decoder"] as? [String: Any], dec["type"] as? String == "ByteLevel" { byteLevel = true }
        guard byteLevel else { throw bad("not a byte-level BPE (no ByteLevel pre-tokenizer or decoder)") }
        guard let pat = pattern else { throw bad("no Split pre-tokenizer") }
        guard pat == llama3Pattern else { throw bad("pre-tokenizer pattern \(pat) (only Llama-3's is implemented)") }

        guard let model = root["model"] as? [String: Any],
              (model["type"] as? String ?? "BPE") == "BPE",
              let vocabJSON = model["vocab"] as? [String: Any] else {
            throw bad("model is not a BPE with a vocab")
        }
        if model["byte_fallback"] as? Bool == true { throw bad("byte_fallback BPE") }
        var strToID: [String: Int] = [:]
        var vocab = VocabBuilder()
        for (s, v) in vocabJSON {
            guard let id = (v as? NSNumber)?.intValue, id >= 0, id < Int(Int32.max) else {
                throw TokenizerError.malformed(path: path, line: 0, message: "vocab entry \(s) has no valid id")
            }
            strToID[s] = id
            var bytes: [UInt8] = []
            var ok = true
            for ch in s {
                guard let b = byteDecoder[ch] else { ok = false; break }
                bytes.append(b)
            }
            if ok { vocab.add(bytes, id: id) }
        }
        var merges: [UInt64: UInt64] = [:]
        let mergeList = model["merges"] as? [Any] ?? []
        merges.reserveCapacity(mergeList.count)
        for (rank, m) in mergeList.enumerated() {
            var a: String?, b: String?
            if let s = m as? String {
                let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2 { a = String(parts[0]); b = String(parts[1]) }
            } else if let arr = m as? [String], arr.count == 2 {
                a = arr[0]; b = arr[1]
            }
            guard let a, let b, let ia = strToID[a], let ib = strToID[b], let im = strToID[a + b] else {
                throw TokenizerError.malformed(path: path, line: 0,
                                               message: "merge #\(rank) \(m) names tokens missing from the vocab")
            }
            let key = UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))
            if merges[key] == nil { merges[key] = UInt64(rank) << 32 | UInt64(UInt32(im)) }
        }
        var specials: [(String, Int)] = []
        specials = try addedTokens(root, path: path)
        let ignore = model["ignore_merges"] as? Bool ?? false
        return BPETokenizer(source: path, vocab: vocab, specials: specials,
                            rule: .merges(merges, ignoreMerges: ignore),
                            bos: templateBOS(root["post_processor"]))
    }

    /// The special token a TemplateProcessing post-processor puts first (Llama-3: BOS), if any.
    static func templateBOS(_ node: Any?) -> String? {
        guard let pp = node as? [String: Any] else { return nil }
        if pp["type"] as? String == "Sequence" {
            for sub in pp["processors"] as? [Any] ?? [] { if let b = templateBOS(sub) { return b } }
            return nil
        }
        guard pp["type"] as? String == "TemplateProcessing",
              let first = (pp["single"] as? [[String: Any]])?.first,
              let special = first["SpecialToken"] as? [String: Any] else { return nil }
        return special["id"] as? String
    }
}
