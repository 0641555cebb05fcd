// Resume: partial results of a long evaluation, kept in a JSON file (`resume: "path"`) written
// after every finished unit (a NIAH or passkey cell, a topics trial, a perplexity window, a
// multiple-choice or QA item), and read at the start to skip the units it holds.
//
// The file carries the run's fingerprint: every input that changes its results, by name — the
// model (its log-probabilities on a probe text, compared to 1e-4, so a re-run with other
// threads still matches), the tokenizer (vocabulary size, special ids, a probe encoding and
// chat rendering), the data (a hash of the haystack, documents or items) and every setting. A
// resume whose fingerprint differs is refused with the first field that differs named, the
// saved and the new value shown; nothing is mixed. Numbers are kept as Swift writes them
// (shortest exact form), so a resumed result is the uninterrupted one, bit for bit.
import Foundation
import Tokenizer
import NN

/// One field of a fingerprint: a text compared exactly, or numbers compared within a tolerance.
public enum FingerprintValue: Equatable {
    case text(String)
    case numbers([Double])

    var json: Any {
        switch self {
        case .text(let s): return s
        case .numbers(let xs): return xs.map { "\($0)" }
        }
    }

    static func from(_ any: Any) -> FingerprintValue? {
        if let s = any as? String { return .text(s) }
        if let a = any as? [String] {
            let xs = a.compactMap(Double.init)
            return xs.count == a.count ? .numbers(xs) : nil
        }
        return nil
    }

    func matches(_ o: FingerprintValue) -> Bool {
        switch (self, o) {
        case (.text(let a), .text(let b)): return a == b
        case (.numbers(let a), .numbers(let b)):
            guard a.count == b.count else { return false }
            return zip(a, b).allSatisfy { x, y in x == y || abs(x - y) <= 1e-4 * max(1, abs(x), abs(y)) }
        default: return false
        }
    }

    var shown: String {
        switch self {
        case .text(let s): return s.count > 80 ? "\"\(s.prefix(77))...\"" : "\"\(s)\""
        case .numbers(let xs): return "[" + xs.prefix(4).map { String(format: "%.6g", $0) }.joined(separator: ", ") + (xs.count > 4 ? ", ..." : "") + "]"
        }
    }
}

/// The identity of an evaluation run: (name, value) in a fixed order.
public struct EvalFingerprint {
    public var fields: [(String, FingerprintValue)] = []

    public init() {}

    public mutating func add(_ name: String, _ value: String) { fields.append((name, .text(value))) }
    public mutating func add(_ name: String, _ value: Int) { fields.append((name, .text("\(value)"))) }
    public mutating func add(_ name: String, _ value: Bool) { fields.append((name, .text("\(value)"))) }
    public mutating func add(_ name: String, _ value: Double) { fields.append((name, .text("\(value)"))) }
    public mutating func add(_ name: String, ints: [Int]) { fields.append((name, .text(ints.map(String.init).joined(separator: ",")))) }
    public mutating func add(_ name: String, doubles: [Double]) { fields.append((name, .text(doubles.map { "\($0)" }.joined(separator: ",")))) }
    /// A hash of a long input (a haystack, documents, items): equal inputs, equal hashes.
    public mutating func add(_ name: String, hashOf parts: [String]) { fields.append((name, .text(EvalFingerprint.hash(parts)))) }
    public mutating func add(_ name: String, hashOfIDs ids: [[Int]]) {
        fields.append((name, .text(EvalFingerprint.hash(ids.map { $0.map(String.init).joined(separator: " ") }))))
    }

    /// FNV-1a (64 bits) over the parts, each ended by a separator byte; with the part count.
    public static func hash(_ parts: [String]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for p in parts {
            for b in p.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            h = (h ^ 0xFF) &* 0x100_0000_01b3
        }
        return "\(parts.count) parts, fnv1a \(String(h, radix: 16))"
    }

    static let probeText = "The quick brown fox jumps over the lazy dog. 1234 ünïcode <|eot_id|>"

    /// The tokenizer and the model: the tokenizer by its vocabulary, special ids and the ids it
    /// gives a probe text (plain and in the chat template); the model by its log-probabilities
    /// on that probe (any change to its weights changes them).
    public mutating func add(model: EvalModel, tokenizer tok: TextTokenizer?, probeIDs: [Int]? = nil) throws {
        var ids = probeIDs ?? []
        if let tok {
            let enc = tok.encode(EvalFingerprint.probeText, bos: true)
            let chat = tok.chat([ChatMessage(role: "user", content: "probe")], generationPrompt: true)
            add("tokenizer", "vocab \(tok.vocabSize), bos \(tok.bosID.map(String.init) ?? "none"), end \(tok.endTokenIDs.sorted()), probe \(enc), chat \(chat)")
            if probeIDs == nil { ids = enc }
        }
        ids = Array(ids.prefix(24))
        guard ids.count >= 2 else { fields.append(("model", .numbers([]))); return }
        fields.append(("model", .numbers(try model.logProbs(ids: ids).map { Double($0) })))
    }
}

/// The partial results of one run, kept in `path` (nil: nothing is kept).
struct PartialResults {
    let path: String?
    let evaluator: String
    let fingerprint: EvalFingerprint
    private(set) var units: [String: Any] = [:]

    /// Opens the partial results for a run: reads `path` if it exists (refusing it when it is not
    /// partial results of this evaluator or was made with another fingerprint), else starts empty.
    init(path: String?, evaluator: String, fingerprint: () throws -> EvalFingerprint) throws {
        self.path = path
        self.evaluator = evaluator
        guard let path else { self.fingerprint = EvalFingerprint(); return }
        self.fingerprint = try fingerprint()
        guard FileManager.default.fileExists(atPath: path) else { return }
        guard let data = FileManager.default.contents(atPath: path) else { throw EvalError.file(path, "cannot read partial results") }
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let kind = obj["llx_partial_results"] as? String, let fp = obj["fingerprint"] as? [String: Any],
              let units = obj["units"] as? [String: Any] else {
            throw EvalError.file(path, "not a file of partial results of an llx evaluation; remove it to start over, or give resume: another path")
        }
        guard kind == evaluator else {
            throw EvalError.file(path, "holds partial results of eval.\(kind), not eval.\(evaluator); give resume: another path")
        }
        for (name, now) in self.fingerprint.fields {
            guard let savedAny = fp[name], let saved = FingerprintValue.from(savedAny) else {
                throw EvalError.file(path, "partial results have no '\(name)' in their fingerprint; remove the file to start over")
            }
            if !saved.matches(now) {
                let what = name == "model" ? "the model's log-probabilities on a probe text differ (saved \(saved.shown), now \(now.shown)): another model or other weights"
                                           : "saved \(saved.shown), now \(now.shown)"
                throw EvalError.file(path, "partial results were made with another \(name): \(what); remove the file to start over, or give resume: another path")
            }
        }
        self.units = units
    }

    func unit(_ key: String) -> [String: Any]? { units[key] as? [String: Any] }

    var count: Int { units.count }

    /// Records a finished unit and writes the file (atomically).
    mutating func record(_ key: String, _ value: [String: Any]) throws {
        guard let path else { return }
        units[key] = value
        var fp: [String: Any] = [:]
        for (n, v) in fingerprint.fields { fp[n] = v.json }
        let obj: [String: Any] = ["llx_partial_results": evaluator, "fingerprint": fp, "units": units]
        do {
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw EvalError.file(path, "cannot write partial results: \(error.localizedDescription)")
        }
    }
}

/// Exact numbers in partial results (as strings: JSON has no NaN, and Swift's form round-trips).
func exact(_ d: Double) -> String { "\(d)" }
func exactDouble(_ any: Any?) -> Double? { (any as? String).flatMap(Double.init) }
func exactDoubles(_ any: Any?) -> [Double]? {
    guard let a = any as? [String] else { return nil }
    let xs = a.compactMap(Double.init)
    return xs.count == a.count ? xs : nil
}
