// Values of the language: numbers (Int and Double kept distinct), strings, booleans, nil,
// lists, ordered records, ranges, user functions, commands, command namespaces, and opaque
// host objects (tensors, models, ... supplied by the Commands layer through `HostObject`).
import Foundation
import LLXSystem

public enum Value {
    case int(Int)
    case double(Double)
    case string(String)
    case bool(Bool)
    case null
    case list([Value])
    case record(Record)
    // boxed: its three words would make every value 32 bytes instead of 24 (lists, frames and
    // records then hold a third more memory, and each copy moves it)
    indirect case range(RangeValue)
    case function(Function)
    case command(Command)
    case namespace(String)
    case host(HostObject)
}

/// A record: named fields in insertion order. The names are kept apart from the values, in a
/// `RecordKeys` that the records a literal makes share (`{id: i, name: n}` run 50K times keeps
/// one list of its names), so a record is its values and a reference to its names, and a field
/// read through `FieldCache` finds a literal's field by identity instead of comparing names.
/// Small records (the usual case) find a field by comparing names in order, which is faster
/// than hashing them; larger ones keep an index.
public struct Record {
    private var names: RecordKeys
    private var vals: [Value]
    static let indexFrom = 12

    public init() { names = RecordKeys([], literal: false); vals = [] }
    public init(_ pairs: [(String, Value)]) {
        self.init()
        for (k, v) in pairs { self[k] = v }
    }
    init(capacity: Int) {
        names = RecordKeys([], literal: false)
        vals = []
        vals.reserveCapacity(capacity)
        names.keys.reserveCapacity(capacity)
    }
    /// A record from distinct keys (a literal whose field names the compiler checked).
    init(uniqueKeys keys: [String], values: [Value]) {
        names = RecordKeys(keys, literal: false)
        vals = values
    }
    /// A literal's record: its shared names and its values, in the same order.
    init(literal keys: RecordKeys, values: [Value]) {
        names = keys
        vals = values
    }

    public var keys: [String] { names.keys }

    /// The names, copied first when another record (or a literal, or a field cache) shares them.
    @inline(__always) private mutating func uniqueNames() {
        if !isKnownUniquelyReferenced(&names) { names = RecordKeys(names.keys, literal: false) }
    }

    @inline(__always) private func find(_ key: String) -> Int? { names.find(key) }

    public subscript(key: String) -> Value? {
        get {
            guard let i = find(key) else { return nil }
            return vals[i]
        }
        set {
            if let i = find(key) {
                if let v = newValue { vals[i] = v } else { remove(at: i) }
            } else if let v = newValue {
                uniqueNames()
                names.add(key)
                vals.append(v)
            }
        }
    }

    private mutating func remove(at i: Int) {
        uniqueNames()
        names.keys.remove(at: i)
        names.reindex()
        vals.remove(at: i)
    }

    /// Field `key` through a read site's cache: a record made by the literal the cache last saw
    /// has the field at the same position (a literal's names never change: a record that gains
    /// or loses a field copies them first).
    @inline(__always) func field(_ key: String, _ cache: FieldCache) -> Value? {
        if names === cache.keys { return vals[cache.slot] }
        return fieldMiss(key, cache)
    }
    @inline(never) private func fieldMiss(_ key: String, _ cache: FieldCache) -> Value? {
        guard let i = find(key) else { return nil }
        // only a literal's names: a cache holding others would make their record copy them at
        // its next new field (a record grown field by field would copy its names each time)
        if names.literal { cache.keys = names; cache.slot = i }
        return vals[i]
    }

    /// Changes the value of `key` in place (nil: absent; setting nil removes the field).
    mutating func modify<T>(_ key: String, _ body: (inout Value?) throws -> T) rethrows -> T {
        if let i = find(key) {
            var slot: Value? = vals[i]
            vals[i] = .null          // so that the value's storage is not shared
            defer {
                if let v = slot { vals[i] = v } else { remove(at: i) }
            }
            return try body(&slot)
        }
        var slot: Value? = nil
        defer { if let v = slot { self[key] = v } }
        return try body(&slot)
    }

    public var count: Int { vals.count }
    public var pairs: [(String, Value)] { Array(zip(names.keys, vals)) }
    public var values: [Value] { vals }
}

/// The field names of records, in order, with an index by name when there are many. Shared by
/// the records of one literal (`literal`: made once by the compiled literal, never changed);
/// a record changes its names only when it is their sole holder, copying them otherwise.
final class RecordKeys {
    var keys: [String]
    var index: [String: Int]? = nil
    let literal: Bool
    init(_ keys: [String], literal: Bool) {
        self.keys = keys
        self.literal = literal
        if keys.count >= Record.indexFrom { reindex() }
    }

    @inline(__always) func find(_ key: String) -> Int? {
        if let ix = index { return ix[key] }
        // the lengths first: comparing two different strings is a call into the library
        let len = key.utf8.count
        var i = 0
        let n = keys.count
        while i < n {
            let k = keys[i]
            if k.utf8.count == len && k == key { return i }
            i += 1
        }
        // a name equal to one of another length ("é" as e and an accent, the Kelvin sign as K):
        // names are compared as Swift compares strings (canonical equivalence)
        i = 0
        while i < n {
            if keys[i] == key { return i }
            i += 1
        }
        return nil
    }

    func add(_ key: String) {
        keys.append(key)
        if index != nil { index![key] = keys.count - 1 } else if keys.count >= Record.indexFrom { reindex() }
    }

    func reindex() {
        if keys.count >= Record.indexFrom {
            var ix: [String: Int] = [:]
            ix.reserveCapacity(keys.count)
            for (i, k) in keys.enumerated() { ix[k] = i }
            index = ix
        } else {
            index = nil
        }
    }
}

/// A field read site's memory (`r.name` in compiled code): the names of the literal whose
/// records it last read, and where the field is among them.
final class FieldCache {
    var keys: RecordKeys? = nil
    var slot = 0
}

/// The stop request of the interpreter that is running (set by Interpreter.execute), asked by the
/// repr of long lists; one thread runs llx code.
public enum ReprStop {
    /// The running entry's stop request: the one `StopRequest` holds for code below the language.
    public static var flag: UnsafePointer<Int32>? {
        get { StopRequest.flag }
        set { StopRequest.flag = newValue }
    }
    /// Set when a list's text outgrew the memory available (it was cut short as "[...]"): the
    /// bytes it had reached. `print`, `str` and `repr` then raise a memory error instead of
    /// returning the cut text (`repr([s] * 2M)` took 850 MB under a 256 MB limit: fuzz seed 301).
    nonisolated(unsafe) public static var outgrown: Int? = nil

    /// Raises the memory error of a text cut short since the last call (and clears it).
    public static func check(_ what: String) throws {
        guard let n = outgrown else { return }
        outgrown = nil
        throw LangRuntimeError(.runtime, "\(what): the text of this value outgrew the memory available (over \(Memory.format(n)) when it was stopped)")
    }
}

/// A half-open integer range `start..<stop` with a step (`0..10`, `range(a, b, step)`).
public struct RangeValue: Equatable {
    public var start: Int, stop: Int, step: Int
    public init(start: Int, stop: Int, step: Int = 1) { self.start = start; self.stop = stop; self.step = step }
    /// The number of elements, computed without overflow (the distance between Int.min and
    /// Int.max does not fit an Int; such a range is refused where it is made).
    public var count: Int { let n = exactCount; return n > UInt64(Int.max) ? Int.max : Int(n) }
    /// Whether the element count fits an Int (`range(-2 ** 63, 2 ** 63 - 1)` does not); the
    /// range builders refuse a range that does not.
    public var countFitsInt: Bool { exactCount <= UInt64(Int.max) }
    private var exactCount: UInt64 {
        guard step != 0 else { return 0 }
        let distance: UInt64
        if step > 0 { guard stop > start else { return 0 }; distance = UInt64(bitPattern: Int64(stop &- start)) }
        else { guard start > stop else { return 0 }; distance = UInt64(bitPattern: Int64(start &- stop)) }
        let s = step.magnitude
        return distance / UInt64(s) + (distance % UInt64(s) == 0 ? 0 : 1)
    }
    static let tooLong = "has more than 2^63 - 1 elements (its length does not fit an int)"
    /// Element `i` (0 <= i < count): the true value fits an Int, so wrapping arithmetic is exact
    /// even where `i * step` alone would overflow.
    public func element(_ i: Int) -> Int { start &+ i &* step }
    public var elements: [Int] { (0..<count).map(element) }
    /// The elements as values, after checking that they fit in memory (a range is lazy; making it
    /// a list of 2^62 numbers is an error naming the size, not a failed allocation).
    public func values() throws -> [Value] {
        try Memory.require(count: count, elementSize: MemoryLayout<Value>.stride, "the list of the \(count) elements of range(\(start), \(stop), \(step))")
        return elements.map { .int($0) }
    }
}

/// A user function or closure: its declaration, its compiled code and the frame it was defined
/// in (nil at the top level of a script).
public final class Function {
    public let decl: FunctionDecl
    let proto: FunctionProto
    /// The frame of the code the function was defined in (nil at the top level). Set to nil
    /// only by `Frame.collect`, for a moment or for good, to break the cycle with that frame.
    var frame: Frame?
    init(decl: FunctionDecl, proto: FunctionProto, frame: Frame?) { self.decl = decl; self.proto = proto; self.frame = frame }
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
    /// Where each named argument was written (parallel to `named`; empty when not known).
    public var namedLocations: [SourceLocation] = []
    public init(_ positional: [Value] = [], named: [(String, Value)] = [], location: SourceLocation = .unknown) {
        self.positional = positional; self.named = named; self.location = location
    }
    /// The location of the `k`th named argument (the call's when not known).
    public func namedLocation(_ k: Int) -> SourceLocation { k < namedLocations.count ? namedLocations[k] : location }
    /// The location of the named argument `name`, if it was given by name.
    public func location(ofNamed name: String) -> SourceLocation? {
        guard let k = named.lastIndex(where: { $0.0 == name }), k < namedLocations.count else { return nil }
        return namedLocations[k]
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
        case .range(let r): return try? r.values()   // nil (a type error) when it does not fit in memory
        default: return nil
        }
    }
    /// The elements of a list or a range (nil for anything else); a range is turned into a list
    /// only once the memory check passes (a MemoryError naming the size otherwise).
    public func listElements() throws -> [Value]? {
        switch self {
        case .list(let l): return l
        case .range(let r): return try r.values()
        default: return nil
        }
    }
    /// Field `name` of a record (nil: not a record, or no such field), read without copying the
    /// record: a `borrowing` value is switched over in place (a pattern binding of an owned or
    /// stored value copies it: a retain and a release of its storage for each read).
    static func recordField(_ v: borrowing Value, _ name: String) -> Value? {
        switch v {
        case .record(let r): return r[name]
        default: return nil
        }
    }
    /// The same through a read site's cache (`Record.field`).
    internal static func recordField(_ v: borrowing Value, _ name: String, _ cache: FieldCache) -> Value? {
        switch v {
        case .record(let r): return r.field(name, cache)
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
        case .list(let l):
            // a stop request (Ctrl-C) ends a long one early: `print` and `str` then report the
            // interruption instead of the text (a list of 2M tensors took minutes, found by llx fuzz)
            var parts: [String] = []
            parts.reserveCapacity(l.count)
            // (the text built so far is dropped at once: joining hundreds of MB of it took over
            // the half second Ctrl-C may take, fuzz seed 301 cases 525908, 686275)
            // (asked every 64 items, and after each megabyte: 255 items of 6 MB strings each
            // went on 5 s past the stop request, fuzz seed 302 case 970505)
            var bytes = 0, asked = 0
            for (k, e) in l.enumerated() {
                if k & 63 == 63 || bytes - asked > 1 << 20 {
                    asked = bytes
                    if let f = ReprStop.flag, f.pointee != 0 { return "[...]" }
                    // the parts and their joined copy: twice the text
                    if bytes > Memory.checkThreshold, let avail = Memory.available(), 2 * bytes > avail {
                        ReprStop.outgrown = bytes; return "[...]"
                    }
                }
                let r = e.repr
                bytes += r.utf8.count + 2
                parts.append(r)
            }
            return "[" + parts.joined(separator: ", ") + "]"
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

    /// How the REPL shows a value: its repr when that fits in `width` columns on one line;
    /// else a list or record with one element per line (nested ones likewise), floats with 6
    /// significant digits (a training history: one step per line, no 16-digit losses).
    public func display(width: Int) -> String {
        let r = repr
        if r.count <= width && !r.contains("\n") { return r }
        return Value.broken(self, indent: 0, width: width)
    }

    static func broken(_ v: Value, indent: Int, width: Int) -> String {
        let one = v.shortRepr
        if indent + one.count <= width { return one }
        let pad = String(repeating: " ", count: indent + 2)
        switch v {
        case .list(let l) where !l.isEmpty:
            return "[\n" + l.map { pad + broken($0, indent: indent + 2, width: width) }.joined(separator: ",\n")
                + "\n" + String(repeating: " ", count: indent) + "]"
        case .record(let rec) where rec.count > 0:
            return "{\n" + rec.pairs.map { pad + "\(formatKey($0.0)): " + broken($0.1, indent: indent + 2, width: width) }.joined(separator: ",\n")
                + "\n" + String(repeating: " ", count: indent) + "}"
        default:
            return one
        }
    }

    /// The repr with floats to 6 significant digits.
    var shortRepr: String {
        switch self {
        case .double(let d): return Value.shortDouble(d)
        case .list(let l): return "[" + l.map { $0.shortRepr }.joined(separator: ", ") + "]"
        case .record(let r):
            if r.count == 0 { return "{}" }
            return "{" + r.pairs.map { "\(Value.formatKey($0.0)): \($0.1.shortRepr)" }.joined(separator: ", ") + "}"
        default: return repr
        }
    }

    /// A float to 6 significant digits, written as the language writes floats (2.0, 0.0002, 1.5e-07).
    public static func shortDouble(_ d: Double) -> String {
        guard d.isFinite, d != 0 else { return formatDouble(d) }
        let rounded = Double(String(format: "%.6g", d)) ?? d
        return formatDouble(rounded)
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
        // most strings need no escape: copied whole (a 6 MB string took ~0.6 s a scalar at a time)
        if !s.utf8.contains(where: { $0 == 0x22 || $0 == 0x5C || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }) {
            return "\"" + s + "\""
        }
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
    case (.list(let x), .list(let y)):
        guard x.count == y.count else { return false }
        return zip(x, y).allSatisfy { valuesEqual($0, $1) }
    case (.range(let r), .list(let l)), (.list(let l), .range(let r)):
        guard r.count == l.count else { return false }
        return l.enumerated().allSatisfy { valuesEqual(.int(r.element($0.offset)), $0.element) }
    case (.range(let x), .range(let y)):
        // the same elements: same count, and the same first and step where they matter
        let n = x.count
        return n == y.count && (n == 0 || (x.start == y.start && (n == 1 || x.step == y.step)))
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
