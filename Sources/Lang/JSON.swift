// JSON: an order-preserving reader (objects become records with their keys in file order;
// integers stay ints) and a writer, plus atomic file writes (temporary file + rename), so an
// error never leaves a file half written.
import Foundation

public enum JSON {
    public struct ParseError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public static func parse(_ text: String) throws -> Value {
        var p = JSONParser(Array(text.utf8))
        p.skipWS()
        let v = try p.value()
        p.skipWS()
        if p.i < p.b.count { throw p.err("unexpected text after the JSON value") }
        return v
    }

    /// Serializes a value; `indent` > 0 pretty-prints.
    public static func serialize(_ v: Value, indent: Int = 0) throws -> String {
        var out = ""
        try write(v, &out, indent: indent, level: 0)
        return out
    }

    static func write(_ v: Value, _ out: inout String, indent: Int, level: Int) throws {
        let nl = indent > 0 ? "\n" + String(repeating: " ", count: indent * (level + 1)) : ""
        let close = indent > 0 ? "\n" + String(repeating: " ", count: indent * level) : ""
        let sep = indent > 0 ? ": " : ":"
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if !d.isFinite { out += d.isNaN ? "NaN" : (d > 0 ? "Infinity" : "-Infinity") }
            else { out += d.description }
        case .string(let s): out += escape(s)
        case .list, .range:
            let l = try v.listElements() ?? []
            if l.isEmpty { out += "[]"; return }
            out += "["
            for (i, e) in l.enumerated() {
                if i > 0 { out += "," }
                out += nl
                try write(e, &out, indent: indent, level: level + 1)
            }
            out += close + "]"
        case .record(let r):
            if r.count == 0 { out += "{}"; return }
            out += "{"
            for (i, (k, e)) in r.pairs.enumerated() {
                if i > 0 { out += "," }
                out += nl + escape(k) + sep
                try write(e, &out, indent: indent, level: level + 1)
            }
            out += close + "}"
        case .host(let h):
            if let j = h.representation("application/json") { out += j; return }
            throw LangRuntimeError(.type, "\(h.typeName) cannot be written as JSON (convert it first, e.g. t.tolist())")
        default:
            throw LangRuntimeError(.type, "\(v.typeNameWithArticle) cannot be written as JSON")
        }
    }

    public static func escape(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }
}

struct JSONParser {
    let b: [UInt8]
    var i = 0
    init(_ b: [UInt8]) { self.b = b }

    func err(_ m: String) -> JSON.ParseError {
        var line = 1, col = 1
        for k in 0..<min(i, b.count) { if b[k] == 10 { line += 1; col = 1 } else { col += 1 } }
        return JSON.ParseError(message: "invalid JSON at line \(line), column \(col): \(m)")
    }
    mutating func skipWS() { while i < b.count, b[i] == 32 || b[i] == 9 || b[i] == 10 || b[i] == 13 { i += 1 } }

    mutating func value() throws -> Value {
        guard i < b.count else { throw err("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1; skipWS()
            var r = Record()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .record(r) }
            while true {
                skipWS()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw err("expected a string key") }
                let k = try string()
                skipWS()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw err("expected ':'") }
                i += 1; skipWS()
                r[k] = try value()
                skipWS()
                guard i < b.count else { throw err("unexpected end of input") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .record(r) }
                throw err("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1; skipWS()
            var l: [Value] = []
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .list(l) }
            while true {
                skipWS()
                l.append(try value())
                skipWS()
                guard i < b.count else { throw err("unexpected end of input") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .list(l) }
                throw err("expected ',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "N"): try literal("NaN"); return .double(.nan)
        case UInt8(ascii: "I"): try literal("Infinity"); return .double(.infinity)
        default: return try number()
        }
    }

    mutating func literal(_ s: String) throws {
        let u = Array(s.utf8)
        guard i + u.count <= b.count, Array(b[i..<i + u.count]) == u else { throw err("unexpected character") }
        i += u.count
    }

    mutating func number() throws -> Value {
        let start = i
        var isFloat = false
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        if i + 8 <= b.count, b[i] == UInt8(ascii: "I") { try literal("Infinity"); return .double(-.infinity) }
        while i < b.count {
            let c = b[i]
            if c >= 48 && c <= 57 { i += 1; continue }
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                isFloat = true; i += 1; continue
            }
            break
        }
        let s = String(decoding: b[start..<i], as: UTF8.self)
        if s.isEmpty || s == "-" { throw err("unexpected character") }
        if !isFloat, let v = Int(s) { return .int(v) }
        guard let d = Double(s) else { throw err("invalid number '\(s)'") }
        return .double(d)
    }

    mutating func string() throws -> String {
        i += 1
        var bytes: [UInt8] = []
        while true {
            guard i < b.count else { throw err("unterminated string") }
            let c = b[i]; i += 1
            if c == UInt8(ascii: "\"") { break }
            if c != UInt8(ascii: "\\") { bytes.append(c); continue }
            guard i < b.count else { throw err("unterminated string") }
            let e = b[i]; i += 1
            switch e {
            case UInt8(ascii: "n"): bytes.append(10)
            case UInt8(ascii: "t"): bytes.append(9)
            case UInt8(ascii: "r"): bytes.append(13)
            case UInt8(ascii: "b"): bytes.append(8)
            case UInt8(ascii: "f"): bytes.append(12)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if code >= 0xD800 && code < 0xDC00, i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let low = try hex4()
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                bytes.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: bytes.append(e)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<i + 4], as: UTF8.self), radix: 16) else { throw err("bad \\u escape") }
        i += 4
        return v
    }
}

/// Atomic file writes: the data goes to a temporary file beside the target, then is renamed
/// over it, so readers see the old file or the new one, never half of one.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: dir.path) {
            throw LangRuntimeError(.io, "cannot write '\(path)': directory '\(dir.path)' does not exist")
        }
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try data.write(to: tmp)
            if rename(tmp.path, url.path) != 0 {
                let e = String(cString: strerror(errno))
                try? FileManager.default.removeItem(at: tmp)
                throw LangRuntimeError(.io, "cannot write '\(path)': \(e)")
            }
        } catch let e as LangRuntimeError { throw e }
        catch {
            try? FileManager.default.removeItem(at: tmp)
            throw LangRuntimeError(.io, "cannot write '\(path)': \(error.localizedDescription)")
        }
    }
    public static func write(_ text: String, to path: String) throws { try write(Data(text.utf8), to: path) }
}
