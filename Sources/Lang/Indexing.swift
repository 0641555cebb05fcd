// Indexing and slicing of lists, ranges, strings and records with Python semantics
// (negative indices count from the end; slices clamp; steps may be negative), and the few
// methods plain values have (`s.upper()`, `s.split(",")`, `xs.contains(x)`).
import Foundation
import LLXSystem

public enum Builtins {
    /// An index into a sequence of `count` elements; negative counts from the end.
    public static func normalizeIndex(_ v: Value, count: Int) throws -> Int {
        guard let i = v.asInt, !v.isBool else { throw LangRuntimeError(.type, "index must be an int, got \(v.typeNameWithArticle)") }
        let j = i < 0 ? i + count : i
        guard j >= 0 && j < count else { throw LangRuntimeError(.index, "index \(i) out of range for length \(count)") }
        return j
    }

    /// The positions a Python slice selects from `count` elements.
    public static func sliceIndices(start: Int?, stop: Int?, step: Int?, count: Int) -> [Int] {
        let r = sliceRange(start: start, stop: stop, step: step, count: count)
        return (0..<r.count).map(r.element)
    }

    /// The positions a Python slice selects, as a range of indices (its count is known before
    /// anything is listed, and a huge step does not overflow: `"abc"[2::2 ** 62]`).
    public static func sliceRange(start: Int?, stop: Int?, step: Int?, count: Int) -> RangeValue {
        let st = step ?? 1
        func clamp(_ x: Int?, _ def: Int, lo: Int, hi: Int) -> Int {
            guard var v = x else { return def }
            if v < 0 { v = v.addingReportingOverflow(count).partialValue }
            return min(max(v, lo), hi)
        }
        if st > 0 {
            return RangeValue(start: clamp(start, 0, lo: 0, hi: count), stop: clamp(stop, count, lo: 0, hi: count), step: st)
        }
        return RangeValue(start: clamp(start, count - 1, lo: -1, hi: count - 1), stop: clamp(stop, -1, lo: -1, hi: count - 1), step: st)
    }

    public static func subscriptValue(_ obj: Value, _ items: [IndexItem]) throws -> Value {
        switch obj {
        case .host(let h): return try h.getIndex(items)
        case .record(let r):
            guard items.count == 1, case .index(let k) = items[0], case .string(let key) = k else {
                throw LangRuntimeError(.index, "a record is indexed by a string key, e.g. r[\"name\"]")
            }
            guard let v = r[key] else {
                var msg = "record has no field '\(key)'"
                if let s = closestName(key, r.keys) { msg += " (did you mean '\(s)'?)" }
                throw LangRuntimeError(.index, msg)
            }
            return v
        case .list, .range, .string:
            guard items.count == 1 else {
                throw LangRuntimeError(.index, "\(obj.typeNameWithArticle) takes one index, got \(items.count) (index the result again: xs[i][j])")
            }
            let chars: [Character]? = obj.asString.map(Array.init)
            let count: Int
            switch obj {
            case .list(let l): count = l.count
            case .range(let r): count = r.count
            default: count = chars!.count
            }
            func element(_ i: Int) -> Value {
                switch obj {
                case .list(let l): return l[i]
                case .range(let r): return .int(r.element(i))
                default: return .string(String(chars![i]))
                }
            }
            switch items[0] {
            case .index(let v):
                return element(try normalizeIndex(v, count: count))
            case .slice(let a, let b, let c):
                if case .range(let r) = obj {
                    // a slice of a lazy range is listed only once its size is checked
                    let s = sliceRange(start: a, stop: b, step: c, count: count)
                    try Memory.require(count: s.count, elementSize: MemoryLayout<Value>.stride, "a slice of \(s.count) elements of \(obj.repr)")
                    return .list((0..<s.count).map { .int(r.element(s.element($0))) })
                }
                let idx = sliceIndices(start: a, stop: b, step: c, count: count)
                if case .string = obj { return .string(String(idx.map { chars![$0] })) }
                return .list(idx.map(element))
            }
        default:
            throw LangRuntimeError(.type, "\(obj.typeNameWithArticle) cannot be indexed")
        }
    }

    /// The common methods of strings and lists called with good positional arguments, without
    /// making a bound command; nil for anything else (the ordinary path then runs, with its
    /// checks and messages). Same results as `valueMethod`.
    static func fastMethod(_ v: Value, _ name: String, _ args: [Value]) -> Value? {
        switch v {
        case .string(let s):
            switch (name, args.count) {
            case ("upper", 0): return .string(s.uppercased())
            case ("lower", 0): return .string(s.lowercased())
            case ("strip", 0): return .string(s.trimmingCharacters(in: .whitespacesAndNewlines))
            case ("startswith", 1), ("starts_with", 1):
                if case .string(let p) = args[0] { return .bool(s.hasPrefix(p)) }
            case ("endswith", 1), ("ends_with", 1):
                if case .string(let p) = args[0] { return .bool(s.hasSuffix(p)) }
            case ("contains", 1):
                if case .string(let p) = args[0] { return .bool(s.contains(p)) }
            case ("replace", 2):
                if case .string(let a) = args[0], case .string(let b) = args[1] { return .string(s.replacingOccurrences(of: a, with: b)) }
            default: break
            }
        case .list(let l):
            if name == "contains", args.count == 1 { return .bool(l.contains { valuesEqual($0, args[0]) }) }
        default: break
        }
        return nil
    }

    /// Methods of plain values, as bound commands; nil when there is none.
    static func valueMethod(_ v: Value, _ name: String, _ interp: Interpreter) throws -> Value? {
        func m(_ params: [Param], _ f: @escaping (BoundArguments) throws -> Value) -> Value {
            .command(Command("\(v.typeName).\(name)", params, help: "") { a, _ in try f(a) })
        }
        switch v {
        case .string(let s):
            switch name {
            case "upper": return m([]) { _ in .string(s.uppercased()) }
            case "lower": return m([]) { _ in .string(s.lowercased()) }
            case "strip": return m([]) { _ in .string(s.trimmingCharacters(in: .whitespacesAndNewlines)) }
            case "split": return m([Param("sep", .string, optional: true)]) { a in
                if let sep = try a.optionalString("sep") {
                    return .list(s.components(separatedBy: sep).map { .string($0) })
                }
                return .list(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
            }
            case "replace": return m([Param("old", .string), Param("new", .string)]) { a in
                .string(s.replacingOccurrences(of: try a.string("old"), with: try a.string("new")))
            }
            case "startswith", "starts_with": return m([Param("prefix", .string)]) { a in .bool(s.hasPrefix(try a.string("prefix"))) }
            case "endswith", "ends_with": return m([Param("suffix", .string)]) { a in .bool(s.hasSuffix(try a.string("suffix"))) }
            case "contains": return m([Param("x", .string)]) { a in .bool(s.contains(try a.string("x"))) }
            case "join": return m([Param("items", .list)]) { a in .string(try a.list("items").map { $0.description }.joined(separator: s)) }
            case "count": return .int(s.count)
            default: return nil
            }
        case .list(let l):
            switch name {
            case "contains": return m([Param("x")]) { a in .bool(l.contains { valuesEqual($0, a["x"]) }) }
            case "append": return m([Param("x")]) { a in .list(l + [a["x"]]) }
            case "push", "extend":
                // in place on a variable (see Compiler.swift); here the list is a temporary
                return m(listMethodCommand(name).params) { _ in
                    throw LangRuntimeError(.type, "list.\(name) changes a list in place: call it on a variable or an element, as in xs.\(name)(...)")
                }
            case "pop": return m([]) { _ in
                guard let x = l.last else { throw LangRuntimeError(.index, "list.pop: the list is empty") }
                return x
            }
            case "count": return .int(l.count)
            default: return nil
            }
        default: return nil
        }
    }

    static let pushCommand = Command("list.push", [Param("x")], help: "Adds x at the end of the list, in place.") { _, _ in .null }
    static let popCommand = Command("list.pop", [], help: "Removes the last element and returns it.") { _, _ in .null }
    static let extendCommand = Command("list.extend", [Param("xs", .list)], help: "Adds the elements of xs at the end, in place.") { _, _ in .null }

    /// The signatures of the in-place list methods (for checking their arguments).
    static func listMethodCommand(_ name: String) -> Command {
        switch name {
        case "push": return pushCommand
        case "pop": return popCommand
        default: return extendCommand
        }
    }

    /// `xs.push(x)`, `xs.pop()`, `xs.extend(ys)` on the list `v`, in place.
    static func listMethod(_ name: String, _ v: inout Value, _ a: BoundArguments) throws -> Value {
        guard case .list(var l) = v else { throw LangRuntimeError(.type, "\(v.typeNameWithArticle) has no method '\(name)'") }
        v = .null
        defer { v = .list(l) }
        switch name {
        case "push": l.append(a["x"]); return .null
        case "pop":
            guard let x = l.popLast() else { throw LangRuntimeError(.index, "list.pop: the list is empty") }
            return x
        default:
            l.append(contentsOf: try a.list("xs"))
            return .null
        }
    }

    /// `"%d items" % n`, a small printf subset (%d %s %f %.Nf %%).
    static func percentFormat(_ fmt: String, _ arg: Value) throws -> String {
        var args = arg.asList ?? [arg]
        if case .range = arg { args = [arg] }
        var out = ""
        var chars = Array(fmt)[...]
        while let c = chars.popFirst() {
            guard c == "%" else { out.append(c); continue }
            var spec = ""
            while let d = chars.first, "0123456789.-+".contains(d) { spec.append(d); chars.removeFirst() }
            guard let kind = chars.popFirst() else { out += "%" + spec; break }
            if kind == "%" { out += "%"; continue }
            let v = args.isEmpty ? Value.null : args.removeFirst()
            switch kind {
            case "d", "i":
                // as Python: %d of nan or inf is an error (found by scripts/fuzz.sh: it trapped)
                if let d = v.asDouble, !(d.isFinite && abs(d) < 9.2e18) {
                    throw LangRuntimeError(.value, "%\(kind) format: cannot convert \(Value.formatDouble(d)) to an int")
                }
                out += String(format: "%\(spec)d", v.asDouble.map { Int($0) } ?? 0)
            case "f", "e", "g": out += String(format: "%\(spec)\(kind)", v.asDouble ?? .nan)
            default: out += v.description
            }
        }
        return out
    }
}
