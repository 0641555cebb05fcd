// JSONTree: a small JSON reader and pretty writer for tokenizer.json files. Objects keep their
// members in file order as (key, value) pairs, so keys that Swift's String equality would
// merge (canonically equivalent "café" spelled with U+00E9 or with e + U+0301) stay distinct,
// as they are in Hugging Face's byte-keyed maps. Errors name the file and line.

import Foundation

indirect enum JSONTree {
    case null
    case bool(Bool)
    case number(String)            // the literal text; see `int`
    case string(String)
    case array([JSONTree])
    case object([(String, JSONTree)])

    /// The last member named `key` (serde's maps keep the last of repeated keys).
    subscript(_ key: String) -> JSONTree? {
        guard case .object(let members) = self else { return nil }
        let k = Array(key.utf8)
        return members.last { $0.0.utf8.elementsEqual(k) }?.1
    }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    var isNull: Bool { if case .null = self { return true }; return false }
    var array: [JSONTree]? { if case .array(let a) = self { return a }; return nil }
    var members: [(String, JSONTree)]? { if case .object(let m) = self { return m }; return nil }
    /// An integral number (no fraction or exponent) that fits an Int.
    var int: Int? {
        guard case .number(let s) = self, !s.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else { return nil }
        return Int(s)
    }

    // MARK: reading

    static func parse(_ bytes: [UInt8], path: String) throws -> JSONTree {
        var r = Reader(bytes: bytes, path: path)
        r.skipSpace()
        let v = try r.value(depth: 0)
        r.skipSpace()
        if r.i != bytes.count { throw r.fail("unexpected text after the JSON value") }
        return v
    }

    private struct Reader {
        let bytes: [UInt8]
        let path: String
        var i = 0

        func fail(_ message: String) -> TokenizerError {
            let line = 1 + bytes[0..<min(i, bytes.count)].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            return .malformed(path: path, line: line, message: "invalid JSON: " + message)
        }

        mutating func skipSpace() {
            while i < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[i]) { i += 1 }
        }

        mutating func expect(_ word: String) throws {
            let w = Array(word.utf8)
            guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else {
                throw fail("unexpected character")
            }
            i += w.count
        }

        mutating func value(depth: Int) throws -> JSONTree {
            guard depth < 256 else { throw fail("nested too deeply") }
            guard i < bytes.count else { throw fail("unexpected end of file") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var members: [(String, JSONTree)] = []
                skipSpace()
                if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                    let k = try string()
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipSpace()
                    members.append((k, try value(depth: depth + 1)))
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end of file in an object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                    throw fail("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [JSONTree] = []
                skipSpace()
                if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end of file in an array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let s = i
                if bytes[i] == UInt8(ascii: "-") { i += 1 }
                var digits = 0
                while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1; digits += 1 }
                guard digits > 0 else { throw fail("invalid number") }
                if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
                    i += 1
                    var f = 0
                    while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1; f += 1 }
                    guard f > 0 else { throw fail("invalid number") }
                }
                if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
                    i += 1
                    if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
                    var e = 0
                    while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) { i += 1; e += 1 }
                    guard e > 0 else { throw fail("invalid number") }
                }
                return .number(String(decoding: bytes[s..<i], as: UTF8.self))
            default:
                throw fail("unexpected character")
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw fail("invalid \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        /// A string literal at `i` (which holds the opening quote).
        mutating func string() throws -> String {
            i += 1
            var out: [UInt8] = []
            var runStart = i
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let c = bytes[i]
                if c == UInt8(ascii: "\"") {
                    out.append(contentsOf: bytes[runStart..<i])
                    i += 1
                    break
                }
                if c < 0x20 { throw fail("control character in a string") }
                if c != UInt8(ascii: "\\") { i += 1; continue }
                out.append(contentsOf: bytes[runStart..<i])
                i += 1
                guard i < bytes.count else { throw fail("unterminated string") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var v = try hex4()
                    if (0xD800...0xDBFF).contains(v) {
                        guard i + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("lone surrogate in a \\u escape")
                        }
                        i += 2
                        let lo = try hex4()
                        guard (0xDC00...0xDFFF).contains(lo) else { throw fail("lone surrogate in a \\u escape") }
                        v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(v) {
                        throw fail("lone surrogate in a \\u escape")
                    }
                    guard let s = Unicode.Scalar(v) else { throw fail("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(s)).utf8))
                default:
                    throw fail("invalid escape \\\(Character(Unicode.Scalar(e)))")
                }
                runStart = i
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
            return s
        }
    }

    // MARK: writing (serde_json's pretty style: two-space indents, UTF-8 kept as is)

    func pretty() -> String {
        var out = ""
        write(&out, indent: "")
        return out + "\n"
    }

    private func write(_ out: inout String, indent: String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let s): out += s
        case .string(let s): JSONTree.quote(s, into: &out)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            let inner = indent + "  "
            out += "[\n"
            for (k, v) in a.enumerated() {
                out += inner
                v.write(&out, indent: inner)
                out += k + 1 < a.count ? ",\n" : "\n"
            }
            out += indent + "]"
        case .object(let m):
            if m.isEmpty { out += "{}"; return }
            let inner = indent + "  "
            out += "{\n"
            for (k, (key, v)) in m.enumerated() {
                out += inner
                JSONTree.quote(key, into: &out)
                out += ": "
                v.write(&out, indent: inner)
                out += k + 1 < m.count ? ",\n" : "\n"
            }
            out += indent + "}"
        }
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}
