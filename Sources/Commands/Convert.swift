// Convert: moving values between the language and the libraries — tensors from nested lists,
// token ids from lists or tensors, records from/to JSON-like dictionaries, chat messages.
import Foundation
import Lang
import Tensor
import Tokenizer

enum Convert {
    static func error(_ command: String, _ arg: String, _ message: String) -> LangRuntimeError {
        LangRuntimeError(.value, "\(command): argument '\(arg)' \(message)")
    }

    /// A tensor from a tensor value, a number or a nested list of numbers.
    static func tensor(_ v: Value, _ command: String, _ arg: String, dtype: DType? = nil) throws -> Tensor {
        if case .host(let h) = v, let t = h as? TensorValue { return dtype.map { t.tensor.to($0) } ?? t.tensor }
        let (shape, flat, allInts) = try numbers(v, command, arg)
        let dt = dtype ?? .f32
        if dt.isFloatingPoint || !allInts {
            return Tensor(shape: shape, floats: flat.map { Float($0) }, dtype: dt)
        }
        return Tensor(shape: shape, ints: flat.map { Int($0) }, dtype: dt)
    }

    /// A number or a (nested, rectangular) list of numbers as its shape and row-major values,
    /// kept as float64; `allInts` when every value was an int or a bool.
    static func numbers(_ v: Value, _ command: String, _ arg: String) throws -> (shape: [Int], flat: [Double], allInts: Bool) {
        var shape: [Int] = []
        var flat: [Double] = []
        var allInts = true
        func walk(_ x: Value, depth: Int) throws {
            switch x {
            case .int(let i): flat.append(Double(i)); if depth != shape.count { throw error(command, arg, "is a ragged nested list") }
            case .double(let d): flat.append(d); allInts = false; if depth != shape.count { throw error(command, arg, "is a ragged nested list") }
            case .bool(let b): flat.append(b ? 1 : 0); if depth != shape.count { throw error(command, arg, "is a ragged nested list") }
            case .list, .range:
                // a range becomes a list only once its size is checked (a lazy range of 2^46
                // elements is a memory error, not a failed allocation)
                let l: [Value]
                if case .range(let r) = x { l = try r.values() } else { l = x.asList ?? [] }
                if depth == shape.count { shape.append(l.count) }
                else if depth > shape.count || shape[depth] != l.count { throw error(command, arg, "is a ragged nested list (lengths differ at depth \(depth))") }
                for e in l { try walk(e, depth: depth + 1) }
            case .host(let h):
                if let t = h as? TensorValue, t.tensor.count == 1 { flat.append(Double(t.tensor.floats()[0])); allInts = false; return }
                throw error(command, arg, "must hold numbers, got \(x.typeNameWithArticle)")
            default:
                throw error(command, arg, "must be a tensor, a number or a list of numbers, got \(x.typeNameWithArticle)")
            }
        }
        try walk(v, depth: 0)
        if shape.count > 0 && flat.isEmpty && shape.last != 0 { throw error(command, arg, "is an empty list") }
        return (shape, flat, allInts)
    }

    /// A 1-D id sequence from a list of ints or a 1-D tensor.
    static func ids(_ v: Value, _ command: String, _ arg: String) throws -> [Int] {
        switch ids2(v, command, arg) {
        case .one(let x): return x
        case .batch: throw error(command, arg, "must be a 1-D id list here, got a 2-D batch")
        case .failure(let e): throw e
        }
    }

    enum IDs { case one([Int]), batch([[Int]]), failure(Error) }

    /// A 1-D sequence or a 2-D batch of ids.
    static func ids2(_ v: Value, _ command: String, _ arg: String) -> IDs {
        func intOf(_ x: Value) -> Int? {
            if case .int(let i) = x { return i }
            // whole and finite (found by scripts/fuzz.sh: decode([-float("inf")]) trapped)
            if case .double(let d) = x, d.isFinite, d == d.rounded(), abs(d) < 9.2e18 { return Int(d) }
            return nil
        }
        switch v {
        case .host(let h):
            guard let t = h as? TensorValue else { return .failure(error(command, arg, "must be token ids, got \(v.typeNameWithArticle)")) }
            let tt = t.tensor
            if tt.shape.count == 1 { return .one(tt.ints()) }
            if tt.shape.count == 2 {
                let all = tt.ints(), n = tt.shape[1]
                return .batch((0..<tt.shape[0]).map { Array(all[$0 * n..<($0 + 1) * n]) })
            }
            return .failure(error(command, arg, "must be a 1-D or 2-D tensor of ids, got shape \(tt.shape)"))
        case .list, .range:
            let l: [Value]
            do { l = try v.listElements() ?? [] } catch { return .failure(Convert.error(command, arg, "\(error)")) }
            if let first = l.first, first.asList != nil || first.asHost != nil {
                var rows: [[Int]] = []
                for (i, r) in l.enumerated() {
                    switch ids2(r, command, arg) {
                    case .one(let x): rows.append(x)
                    default: return .failure(error(command, arg, "row \(i) must be a list of ids"))
                    }
                }
                return .batch(rows)
            }
            var out: [Int] = []
            for (i, x) in l.enumerated() {
                guard let n = intOf(x) else { return .failure(error(command, arg, "element \(i) must be an int token id, got \(x.typeNameWithArticle)")) }
                out.append(n)
            }
            return .one(out)
        default:
            return .failure(error(command, arg, "must be a list of token ids or a tensor, got \(v.typeNameWithArticle)"))
        }
    }

    /// A language value from a Foundation JSON object (`[String: Any]` keys in `order` first).
    static func value(_ any: Any?, order: [String] = []) -> Value {
        guard let any = any else { return .null }
        switch any {
        case is NSNull: return .null
        case let b as Bool where type(of: any) == Bool.self: return .bool(b)
        case let i as Int where type(of: any) == Int.self: return .int(i)
        case let d as Double where type(of: any) == Double.self: return .double(d)
        case let f as Float where type(of: any) == Float.self: return .double(Double(f))
        case let n as NSNumber:
            let code = String(cString: n.objCType)
            if code == "c" || code == "B" { return .bool(n.boolValue) }
            if ["d", "f"].contains(code) { return .double(n.doubleValue) }
            return .int(n.intValue)
        case let s as String: return .string(s)
        case let a as [Any]: return .list(a.map { value($0) })
        case let d as [String: Any]:
            var r = Record()
            for k in order where d[k] != nil { r[k] = value(d[k]) }
            for k in d.keys.sorted() where r[k] == nil { r[k] = value(d[k]) }
            return .record(r)
        default: return .string(String(describing: any))
        }
    }

    /// A Foundation JSON object from a language value.
    static func any(_ v: Value) throws -> Any {
        switch v {
        case .null: return NSNull()
        case .bool(let b): return b
        case .int(let i): return i
        case .double(let d): return d
        case .string(let s): return s
        case .list, .range: return try (v.listElements() ?? []).map { try any($0) }
        case .record(let r):
            var d: [String: Any] = [:]
            for (k, x) in r.pairs { d[k] = try any(x) }
            return d
        case .host(let h):
            if let t = h as? TensorValue { return t.tensor.count == 1 ? Double(t.tensor.floats()[0]) : t.tensor.floats().map { Double($0) } }
            throw LangRuntimeError(.type, "\(h.typeName) cannot be converted to JSON")
        default: throw LangRuntimeError(.type, "\(v.typeNameWithArticle) cannot be converted to JSON")
        }
    }

    /// Chat messages from a list of `{role, content}` records.
    static func messages(_ v: Value, _ command: String, _ arg: String) throws -> [ChatMessage] {
        guard let l = v.asList else { throw error(command, arg, "must be a list of {role, content} records, got \(v.typeNameWithArticle)") }
        return try l.enumerated().map { i, m in
            guard let r = m.asRecord, let role = r["role"]?.asString, let content = r["content"]?.asString else {
                throw error(command, arg, "message \(i) must be a record {role: \"...\", content: \"...\"}")
            }
            return ChatMessage(role: role, content: content)
        }
    }

    static func messagesValue(_ ms: [ChatMessage]) -> Value {
        .list(ms.map { .record(Record([("role", .string($0.role)), ("content", .string($0.content))])) })
    }

    static func seed(_ a: BoundArguments, _ interp: Interpreter, _ name: String = "seed") throws -> UInt64 {
        if let s = try a.optionalInt(name) { return UInt64(bitPattern: Int64(s)) }
        if let s = interp.seedValue { return UInt64(bitPattern: Int64(s)) }
        return 0
    }

    static func doubles(_ t: Tensor) -> [Double] { t.floats().map { Double($0) } }
}
