// Dataset: training records (plain text, chat conversations, or ready token ids) read from
// JSON Lines or JSON array files in the paper's released format, and the list operations
// llx scripts use on them (take, concatenate, shuffle, count).
import Foundation
import Tokenizer
import NN

// Conversations hold Tokenizer.ChatMessage ({role, content}), as the released data does.

/// One training record before tokenization.
public enum TrainRecord: Equatable, Sendable {
    /// Language modelling: loss on every token (truncated to max_len).
    case text(String)
    /// A conversation: loss on the assistant replies and their <|eot_id|> only
    /// (dropped when longer than max_len).
    case conversation([ChatMessage])
    /// Token ids with their labels (-100 = no loss), used as they are (truncated to max_len).
    case tokens(ids: [Int], labels: [Int])
}

/// A list of training records.
public struct TrainDataset: Equatable, Sendable {
    public var records: [TrainRecord]
    /// Where the records came from (a file name, or a description).
    public var source: String

    public init(records: [TrainRecord], source: String = "data") {
        self.records = records
        self.source = source
    }

    public var count: Int { records.count }

    /// The first n records (all when n >= count).
    public func take(_ n: Int) throws -> TrainDataset {
        guard n >= 0 else { throw TrainError.argument("n", "take(n) needs n >= 0, got \(n)") }
        return TrainDataset(records: Array(records.prefix(n)), source: source)
    }

    /// The records of self followed by those of other.
    public static func + (a: TrainDataset, b: TrainDataset) -> TrainDataset {
        TrainDataset(records: a.records + b.records, source: a.source == b.source ? a.source : "\(a.source) + \(b.source)")
    }

    /// The records in a random order that depends only on seed (Fisher-Yates over SplitMix64).
    public func shuffled(seed: UInt64) -> TrainDataset {
        var rng = SplitMix64(seed: seed)
        return TrainDataset(records: rng.permutation(records.count).map { records[$0] }, source: source)
    }

    /// Reads `path`: JSON Lines (one record object a line; blank lines skipped) or a JSON array
    /// of record objects. A record has `text` (a string) or `conversations` (a list of
    /// {role, content}; "from"/"value" as in ShareGPT files are accepted too), or `input_ids`
    /// (with optional `labels`). Errors name the file and the line of the bad record.
    public static func jsonl(_ path: String) throws -> TrainDataset {
        let name = (path as NSString).lastPathComponent
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainError.data(path, 0, FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw TrainError.data(path, 0, "not UTF-8 text") }
        let firstNonSpace = text.unicodeScalars.first { !CharacterSet.whitespacesAndNewlines.contains($0) }
        var records: [TrainRecord] = []
        if firstNonSpace == "[" {
            let obj: Any
            do { obj = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
                throw TrainError.data(path, 0, "invalid JSON: \(jsonReason(error))")
            }
            guard let items = obj as? [Any] else { throw TrainError.data(path, 1, "expected a JSON array of records") }
            let lines = arrayElementLines(data)
            for (i, item) in items.enumerated() {
                let line = i < lines.count ? lines[i] : 0
                records.append(try record(item, file: path, line: line))
            }
        } else {
            var lineNo = 0
            for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
                lineNo += 1
                let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                if line.isEmpty { continue }
                let obj: Any
                do { obj = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) } catch {
                    throw TrainError.data(path, lineNo, "invalid JSON: \(jsonReason(error))")
                }
                records.append(try record(obj, file: path, line: lineNo))
            }
        }
        return TrainDataset(records: records, source: name)
    }

    /// One record from a decoded JSON object.
    public static func record(_ obj: Any, file: String, line: Int) throws -> TrainRecord {
        guard let rec = obj as? [String: Any] else {
            throw TrainError.data(file, line, "a record must be a JSON object with \"text\" or \"conversations\"")
        }
        if let conv = rec["conversations"] ?? rec["messages"] {
            guard let turns = conv as? [Any] else {
                throw TrainError.data(file, line, "\"conversations\" must be a list of {role, content} objects")
            }
            var messages: [ChatMessage] = []
            for (j, t) in turns.enumerated() {
                guard let m = t as? [String: Any] else {
                    throw TrainError.data(file, line, "conversation turn \(j) is not an object")
                }
                guard let role = (m["role"] ?? m["from"]) as? String else {
                    throw TrainError.data(file, line, "conversation turn \(j) has no string \"role\"")
                }
                guard let content = (m["content"] ?? m["value"]) as? String else {
                    throw TrainError.data(file, line, "conversation turn \(j) has no string \"content\"")
                }
                let r: String
                switch role { case "human": r = "user"; case "gpt": r = "assistant"; default: r = role }
                messages.append(ChatMessage(role: r, content: content))
            }
            if messages.isEmpty { throw TrainError.data(file, line, "\"conversations\" is empty") }
            return .conversation(messages)
        }
        if let t = rec["text"] {
            guard let s = t as? String else { throw TrainError.data(file, line, "\"text\" must be a string") }
            return .text(s)
        }
        if let ids = rec["input_ids"] {
            guard let idList = intList(ids) else { throw TrainError.data(file, line, "\"input_ids\" must be a list of integers") }
            var labels = idList
            if let l = rec["labels"] {
                guard let ll = intList(l), ll.count == idList.count else {
                    throw TrainError.data(file, line, "\"labels\" must be a list of \(idList.count) integers")
                }
                labels = ll
            }
            return .tokens(ids: idList, labels: labels)
        }
        let keys = rec.keys.sorted().joined(separator: ", ")
        throw TrainError.data(file, line, "record has neither \"text\" nor \"conversations\" (keys: \(keys))")
    }

    static func intList(_ any: Any) -> [Int]? {
        guard let xs = any as? [Any] else { return nil }
        var out: [Int] = []
        out.reserveCapacity(xs.count)
        for x in xs {
            guard let n = x as? NSNumber else { return nil }
            let d = n.doubleValue
            guard d == d.rounded(), abs(d) < 1e15 else { return nil }
            out.append(n.intValue)
        }
        return out
    }

    static func jsonReason(_ error: Error) -> String {
        let ns = error as NSError
        return (ns.userInfo["NSDebugDescription"] as? String) ?? ns.localizedDescription
    }

    /// The 1-based line on which each top-level element of a JSON array starts.
    static func arrayElementLines(_ data: Data) -> [Int] {
        var lines: [Int] = []
        var line = 1, depth = 0
        var inString = false, escaped = false, expectStart = false
        for b in data {
            if b == 0x0A { line += 1 }
            if inString {
                if escaped { escaped = false } else if b == 0x5C { escaped = true } else if b == 0x22 { inString = false }
                continue
            }
            if expectStart && depth == 1 && !(b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09) {
                if b != 0x5D { lines.append(line) }
                expectStart = false
            }
            switch b {
            case 0x22: inString = true
            case 0x5B, 0x7B:
                depth += 1
                if depth == 1 { expectStart = true }
            case 0x5D, 0x7D: depth -= 1
            case 0x2C: if depth == 1 { expectStart = true }
            default: break
            }
        }
        return lines
    }
}
