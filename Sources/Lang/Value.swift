// Values of the language: numbers (Int and Double kept distinct), strings, booleans, nil,
// lists, ordered records, ranges, user functions, commands, command namespaces, and opaque
// host objects (tensors, models, ... supplied by the Commands layer through `HostObject`).
import Foundation

public enum Value {
    case int(Int)
    case double(Double)
    case string(String)
    case bool(Bool)
    case null
    case list([Value])
    case record(Record)
    case range(RangeValue)
    case function(Function)
    case command(Command)
    case namespace(String)
    case host(HostObject)
}

/// A record: named fields in insertion order.
public struct Record {
    public private(set) var keys: [String] = []
    private var storage: [String: Value] = [:]
    public init() {}
    public init(_ pairs: [(String, Value)]) { for (k, v) in pairs { self[k] = v } }
    public subscript(key: String) -> Value? {
        get { storage[key] }
        set {
            if let v = newValue {
                if storage.updateValue(v, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }
    public var count: Int { keys.count }
    public var pairs: [(String, Value)] { keys.map { ($0, storage[$0]!) } }
    public var values: [Value] { keys.map { storage[$0]! } }
}

/// A half-open integer range `start..<stop` with a step (`0..10`, `range(a, b, step)`).
public struct RangeValue: Equatable {
    public var start: Int, stop: Int, step: Int
    public init(start: Int, stop: Int, step: Int = 1) { self.start = start; self.stop = stop; self.step = step }
    public var count: Int {
        if step > 0 { return stop > start ? (stop - start + step - 1) / step : 0 }
        return start > stop ? (start - stop - step - 1) / (-step) : 0
    }
    public func element(_ i: Int) -> Int { start + i * step }
    public var elements: [Int] { (0..<count).map(element) }
}

/// A user function or closure: its declaration and the scope it was defined in.
public final class Function {
    public let decl: FunctionDecl
    public let closure: Environment
    public init(decl: FunctionDecl, closure: Environment) { self.decl = decl; self.closure = closure }
}

/// One component of a subscript after evaluation: an index value or a slice.
public enum IndexItem {
    case index(Value)
    case slice(start: Int?, stop: Int?, step: Int?)
}

/// Call arguments after evaluation: positional values, then named ones in source order.
public struct Arguments {
    public var positional: [Value]
    public var named: [(String, Value)]
    public var location: SourceLocation
    public init(_ positional: [Value] = [], named: [(String, Value)] = [], location: SourceLocation = .unknown) {
        self.positional = positional; self.named = named; self.location = location
    }
}

/// An opaque value owned by the host (tensors, models, tokenizers, datasets, results,
/// figures). Lang only calls through this protocol; defaults make most members optional.
public protocol HostObject: AnyObject {
    /// The name `type(x)` returns, e.g. "Tensor", "LlamaModel".
    var typeName: String { get }
    /// How the value shows at the REPL, in `print` and in notebooks.
    var description: String { get }
    /// Field and method names, for tab completion and `help(x)`.
    var fieldNames: [String] { get }
    func getField(_ name: String) throws -> Value
    func setField(_ name: String, _ value: Value) throws
    /// `x.name(args)`; the default calls the value of `getField(name)`.
    func callMethod(_ name: String, _ args: Arguments, _ interp: Interpreter) throws -> Value
    /// `len(x)`; nil when the value has no length.
    var length: Int? { get }
    /// `for e in x`; nil when the value is not iterable.
    func elements() throws -> [Value]?
    /// `x[i, 1:3]` and `x[i] = v`.
    func getIndex(_ items: [IndexItem]) throws -> Value
    func setIndex(_ items: [IndexItem], _ value: Value) throws
    /// A rich representation for notebooks, e.g. mime "image/svg+xml" for figures.
    func representation(_ mime: String) -> String?
    /// Structural equality with another host object; nil means identity.
    func isEqual(to other: HostObject) -> Bool?
}

public extension HostObject {
    var fieldNames: [String] { [] }
    func getField(_ name: String) throws -> Value {
        throw LangRuntimeError(.name, "\(typeName) has no field '\(name)'")
    }
    func setField(_ name: String, _ value: Value) throws {
        if fieldNames.contains(name) { throw LangRuntimeError(.name, "field '\(name)' of \(typeName) cannot be set") }
        throw LangRuntimeError(.name, "\(typeName) has no field '\(name)'")
    }
    func callMethod(_ name: String, _ args: Arguments, _ interp: Interpreter) throws -> Value {
        let f = try getField(name)
        return try interp.call(f, args)
    }
    var length: Int? { nil }
    func elements() throws -> [Value]? { nil }
    func getIndex(_ items: [IndexItem]) throws -> Value {
        throw LangRuntimeError(.type, "\(typeName) cannot be indexed")
    }
    func setIndex(_ items: [IndexItem], _ value: Value) throws {
        throw LangRuntimeError(.type, "\(typeName) does not support element assignment")
    }
    func representation(_ mime: String) -> String? { nil }
    func isEqual(to other: HostObject) -> Bool? { nil }
}

public extension Value {
    /// The name `type(x)` returns.
    var typeName: String {
        switch self {
        case .int: return "int"
        case .double: return "float"
        case .string: return "string"
        case .bool: return "bool"
        case .null: return "nil"
        case .list: return "list"
        case .record: return "record"
        case .range: return "range"
        case .function: return "function"
        case .command: return "command"
        case .namespace: return "namespace"
        case .host(let h): return h.typeName
        }
    }

    /// "a list", "an int": for error messages.
    var typeNameWithArticle: String {
        let n = typeName
        return (["a", "e", "i", "o", "u"].contains(n.lowercased().first.map(String.init) ?? "") ? "an " : "a ") + n
    }

    var isTruthy: Bool {
        switch self {
        case .bool(let b): return b
        case .null: return false
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let l): return !l.isEmpty
        case .record(let r): return r.count > 0
        case .range(let r): return r.count > 0
        default: return true
        }
    }

    var asDouble: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
    var asInt: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9e18: return Int(d)
        default: return nil
        }
    }
    var asString: String? { if case .string(let s) = self { return s }; return nil }
    var asList: [Value]? {
        switch self {
        case .list(let l): return l
        case .range(let r): return r.elements.map { .int($0) }
        default: return nil
        }
    }
    var asRecord: Record? { if case .record(let r) = self { return r }; return nil }
    var asHost: HostObject? { if case .host(let h) = self { return h }; return nil }
    var isNil: Bool { if case .null = self { return true }; return false }
}

extension Value: CustomStringConvertible {
    /// The `print` form: strings bare, everything else as `repr`.
    public var description: String {
        if case .string(let s) = self { return s }
        return repr
    }

    /// The shown form: strings quoted, records `{a: 1}`, doubles as Python prints them.
    public var repr: String {
        switch self {
        case .int(let i): return String(i)
        case .double(let d): return Value.formatDouble(d)
        case .string(let s): return Value.quote(s)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "nil"
        case .list(let l): return "[" + l.map { $0.repr }.joined(separator: ", ") + "]"
        case .record(let r):
            if r.count == 0 { return "{}" }
            return "{" + r.pairs.map { "\(Value.formatKey($0.0)): \($0.1.repr)" }.joined(separator: ", ") + "}"
        case .range(let r): return r.step == 1 ? "\(r.start)..\(r.stop)" : "range(\(r.start), \(r.stop), \(r.step))"
        case .function(let f): return "<fn \(f.decl.name)(\(f.decl.parameters.map { $0.name }.joined(separator: ", ")))>"
        case .command(let c): return "<command \(c.name)>"
        case .namespace(let n): return "<commands \(n).*>"
        case .host(let h): return h.description
        }
    }

    public static func formatDouble(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        return d.description
    }

    static func formatKey(_ k: String) -> String {
        guard let f = k.unicodeScalars.first, Lexer.isIdentStart(f),
              k.unicodeScalars.allSatisfy(Lexer.isIdentChar) else { return quote(k) }
        return k
    }

    public static func quote(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }
}

/// Structural equality as in Python: 1 == 1.0, lists and records element-wise.
public func valuesEqual(_ a: Value, _ b: Value) -> Bool {
    switch (a, b) {
    case (.int(let x), .int(let y)): return x == y
    case (.int, .double), (.double, .int), (.double, .double): return a.asDouble! == b.asDouble!
    case (.string(let x), .string(let y)): return x == y
    case (.bool(let x), .bool(let y)): return x == y
    case (.null, .null): return true
    case (.list, .list), (.range, .list), (.list, .range):
        guard let x = a.asList, let y = b.asList, x.count == y.count else { return false }
        return zip(x, y).allSatisfy { valuesEqual($0, $1) }
    case (.range(let x), .range(let y)): return x.elements == y.elements
    case (.record(let x), .record(let y)):
        guard x.count == y.count else { return false }
        for (k, v) in x.pairs { guard let w = y[k], valuesEqual(v, w) else { return false } }
        return true
    case (.function(let x), .function(let y)): return x === y
    case (.command(let x), .command(let y)): return x === y
    case (.namespace(let x), .namespace(let y)): return x == y
    case (.host(let x), .host(let y)): return x.isEqual(to: y) ?? (x === y)
    default: return false
    }
}
