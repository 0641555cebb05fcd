// Core commands that know nothing about ML: printing and help, types and conversions,
// sequences and records, numbers, seeds and threads, JSON files. The Commands module adds
// the ML commands (and may replace e.g. `abs`, `sum`, `exp` with tensor-aware versions).
import Foundation

public enum CoreCommands {
    /// `len` of a string: its characters; an ASCII string's bytes (no grapheme breaking).
    @inline(__always) static func characterCount(_ s: String) -> Int {
        let ascii = s.utf8.withContiguousStorageIfAvailable { b -> Bool in
            var acc: UInt8 = 0
            for x in b { acc |= x }
            return acc < 0x80
        }
        if ascii == true { return s.utf8.count }
        if ascii == nil, s.utf8.allSatisfy({ $0 < 0x80 }) { return s.utf8.count }
        return s.count
    }

    public static func register(into r: Registry) {
        registerIO(r)
        registerValues(r)
        registerNumbers(r)
        registerFiles(r)
    }

    static func registerIO(_ r: Registry) {
        r.register("print", [.variadic("values"), .named("sep", .string, default: .string(" ")), .named("end", .string, default: .string("\n"))],
                   help: "Prints the values separated by spaces (strings without quotes).") { a, interp in
            let text = a.rest.map { $0.description }.joined(separator: try a.string("sep")) + (try a.string("end"))
            // a stop request (or the memory) that cut a long list's text short: nothing half-printed
            try interp.checkCancelled()
            try ReprStop.check("print")
            interp.write(text)
            return .null
        }
        r.register("show", [Param("x")], help: "Shows a value as the REPL does (figures render in notebooks).") { a, interp in
            interp.show(a["x"]); return .null
        }
        r.register("help", [Param("x", optional: true)], help: "help() lists every command; help(cmd) prints its signature and documentation.") { a, interp in
            // wrapped at the terminal's width (100 columns when not a terminal)
            interp.write(Terminal.wrapText(helpText(a["x"], interp), width: Terminal.width))
            return .null
        }
        r.register("type", [Param("x")], help: "The type name of a value: int, float, string, bool, nil, list, record, range, function, Tensor, ...") { a, _ in
            .string(a["x"].typeName)
        }
        r.register("repr", [Param("x")], help: "The shown form of a value as a string (strings quoted).") { a, _ in
            let r = a["x"].repr; try ReprStop.check("repr"); return .string(r)
        }
        r.register("assert", [Param("condition"), Param("message", .string, default: .string("assertion failed"))],
                   help: "Raises an error with `message` unless `condition` is true.") { a, _ in
            if !a["condition"].isTruthy { throw LangRuntimeError(.runtime, try a.string("message")) }
            return .null
        }
        r.register("error", [Param("message", .string)], help: "Raises an error with this message.") { a, _ in
            throw LangRuntimeError(.runtime, try a.string("message"))
        }
        r.register("time", [], help: "Seconds since 1970 as a float (for timing).") { _, _ in
            .double(Date().timeIntervalSince1970)
        }
        r.register("seed", [Param("n", .int)], help: "Seeds the global random generator: the same script with the same seed gives the same numbers.") { a, interp in
            let n = try a.int("n")
            interp.seedValue = n
            for h in interp.seedHooks { h(n) }
            return .null
        }
        r.register("threads", [Param("n", .int, optional: true)], help: "Sets the number of compute threads; returns the number in use.") { a, interp in
            if let n = try a.optionalInt("n") {
                guard n >= 1 else { throw a.error("n", "must be at least 1, got \(n)") }
                interp.state["threads"] = n
            }
            return .int(interp.state["threads"] as? Int ?? ProcessInfo.processInfo.activeProcessorCount)
        }
    }

    /// The text of `help()` / `help(x)`.
    public static func helpText(_ x: Value, _ interp: Interpreter) -> String {
        let r = interp.registry
        switch x {
        case .null:
            var out = "Commands (help(cmd) for details):\n"
            for name in r.names {
                guard let c = r[name] else { continue }
                let sig = c.signature
                out += "  " + sig.padding(toLength: max(sig.count, 44), withPad: " ", startingAt: 0) + "  " + c.summary + "\n"
            }
            out += "Statements: let x = e, x = e, fn f(a, b: 1) { }, if/else, for x in xs { }, while c { }, break, continue, return.\n"
            return out
        case .command(let c): return c.helpText
        case .namespace(let ns):
            var out = "\(ns): a group of commands\n"
            for m in r.names where m.hasPrefix(ns + ".") {
                if let c = r[m] { out += "  \(c.signature)  \(c.summary)\n" }
            }
            return out
        case .string(let s):
            if let c = r[s] { return c.helpText }
            if r.isNamespace(s) { return helpText(.namespace(s), interp) }
            return "no command '\(s)'" + (closestName(s, r.names).map { " (did you mean '\($0)'?)" } ?? "") + "\n"
        case .function(let f):
            return "fn \(f.decl.name)(" + f.decl.parameters.map { $0.defaultValue == nil ? $0.name : "\($0.name): ..." }.joined(separator: ", ") + ")  defined at \(f.decl.location)\n"
        case .host(let h):
            var out = "\(h.typeName)\n"
            if !h.fieldNames.isEmpty { out += "  fields and methods: " + h.fieldNames.joined(separator: ", ") + "\n" }
            return out
        default:
            // a preview, not the whole value: help of a record holding a 4M-item list wrapped
            // its full text for 12 s and stopped 1.8 s after Ctrl-C (fuzz seed 302 case 527309)
            return "\(x.typeNameWithArticle): \(preview(x, limit: 300))\n"
        }
    }

    /// The repr of `v` cut after about `limit` characters ("..." and the item count where cut),
    /// built without the text of what it leaves out.
    static func preview(_ v: Value, limit: Int) -> String {
        // nested items get what is left of the limit, at least a few characters (a negative
        // prefix length trapped: fuzz seed 304 case 120965)
        let limit = max(limit, 16)
        switch v {
        case .string(let s):
            if s.utf8.count <= limit { return Value.quote(s) }
            return Value.quote(String(s.prefix(limit))) + "... (\(s.count) characters)"
        case .list(let l):
            var out = "["
            for (i, e) in l.enumerated() {
                if out.utf8.count >= limit { out += "... (\(l.count) items)"; break }
                if i > 0 { out += ", " }
                out += preview(e, limit: limit - out.utf8.count)
            }
            return out + "]"
        case .record(let r):
            var out = "{"
            for (i, (k, e)) in r.pairs.enumerated() {
                if out.utf8.count >= limit { out += "... (\(r.count) fields)"; break }
                if i > 0 { out += ", " }
                out += Value.formatKey(k) + ": " + preview(e, limit: limit - out.utf8.count)
            }
            return out + "}"
        default:
            return v.repr
        }
    }

    static func registerValues(_ r: Registry) {
        r.register("len", [Param("x")], help: "The number of elements of a list, string, record, range, tensor (first axis) or dataset.") { a, _ in
            let x = a["x"]
            switch x {
            case .list(let l): return .int(l.count)
            case .string(let s): return .int(s.count)
            case .record(let rec): return .int(rec.count)
            case .range(let rg): return .int(rg.count)
            case .host(let h):
                if let n = h.length { return .int(n) }
                throw LangRuntimeError(.type, "len: \(h.typeName) has no length")
            default: throw LangRuntimeError(.type, "len: argument 'x' must be a list, string, record or range, got \(x.typeNameWithArticle)")
            }
        }
        r.register("range", [Param("a", .int), Param("b", .int, optional: true), Param("step", .int, default: .int(1))],
                   help: "range(n) is 0..n; range(a, b, step) counts from a up to (not including) b.") { a, _ in
            let x = try a.int("a"), step = try a.int("step")
            if step == 0 { throw a.error("step", "must not be zero") }
            let r = try a.optionalInt("b").map { RangeValue(start: x, stop: $0, step: step) } ?? RangeValue(start: 0, stop: x, step: step)
            guard r.countFitsInt else { throw a.error("b", "range(\(r.start), \(r.stop), \(step)) \(RangeValue.tooLong)") }
            return .range(r)
        }
        r.register("keys", [Param("r", .record)], help: "The field names of a record, in insertion order.") { a, _ in
            .list(try a.record("r").keys.map { .string($0) })
        }
        r.register("values", [Param("r", .record)], help: "The field values of a record, in insertion order.") { a, _ in
            .list(try a.record("r").values)
        }
        r.register("items", [Param("r", .record)], help: "[name, value] pairs of a record, in insertion order.") { a, _ in
            .list(try a.record("r").pairs.map { .list([.string($0.0), $0.1]) })
        }
        r.register("has", [Param("r", .record), Param("name", .string)], help: "True when the record has this field.") { a, _ in
            .bool(try a.record("r")[try a.string("name")] != nil)
        }
        r.register("str", [Param("x")], help: "The printed form of a value as a string.") { a, _ in
            let t = a["x"].description; try ReprStop.check("str"); return .string(t)
        }
        r.register("int", [Param("x")], help: "Converts a number (truncating), a bool or a numeric string to an int.") { a, _ in
            let x = a["x"]
            switch x {
            case .int: return x
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d):
                guard d.isFinite, abs(d) < 9.2e18 else { throw a.error("x", "cannot convert \(Value.formatDouble(d)) to an int") }
                return .int(Int(d))
            case .string(let s):
                let t = s.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
                if let i = Int(t) { return .int(i) }
                throw a.error("x", "\(Value.quote(s)) is not an integer")
            case .host(let h):
                if let v = try? h.callMethod("item", Arguments(), Interpreter(registry: Registry())), let d = v.asDouble {
                    guard d.isFinite, abs(d) < 9.2e18 else { throw a.error("x", "cannot convert \(Value.formatDouble(d)) to an int") }
                    return .int(Int(d))
                }
                fallthrough
            default: throw LangRuntimeError(.type, "int: cannot convert \(x.typeNameWithArticle) to an int")
            }
        }
        r.register("float", [Param("x")], help: "Converts a number, a bool or a numeric string to a float.") { a, _ in
            let x = a["x"]
            switch x {
            case .int(let i): return .double(Double(i))
            case .double: return x
            case .bool(let b): return .double(b ? 1 : 0)
            case .string(let s):
                let t = s.trimmingCharacters(in: .whitespaces)
                if let d = Double(t) { return .double(d) }
                if ["nan", "inf", "-inf"].contains(t.lowercased()) { return .double(Double(t.lowercased()) ?? .nan) }
                throw a.error("x", "\(Value.quote(s)) is not a number")
            case .host(let h):
                if let v = try? h.callMethod("item", Arguments(), Interpreter(registry: Registry())), let d = v.asDouble { return .double(d) }
                fallthrough
            default: throw LangRuntimeError(.type, "float: cannot convert \(x.typeNameWithArticle) to a float")
            }
        }
        r.register("bool", [Param("x")], help: "Truthiness: false for false, nil, 0, empty strings, lists and records.") { a, _ in .bool(a["x"].isTruthy) }
        r.register("list", [Param("x")], help: "The elements of a range, string, record (its names) or list, as a list.") { a, interp in
            .list(try interp.iterate(a["x"], a.location))
        }
        r.register("sorted", [Param("xs"), .named("reverse", .bool, default: .bool(false))], help: "A sorted copy of a list (numbers or strings).") { a, interp in
            var xs = try interp.iterate(a["xs"], a.location)
            var failure: Error? = nil
            xs.sort { p, q in
                do { return (try interp.compare(p, q, a.location) ?? 0) < 0 } catch { failure = error; return false }
            }
            if let f = failure { throw f }
            for i in 1..<max(1, xs.count) where (try interp.compare(xs[i - 1], xs[i], a.location)) == nil {
                throw LangRuntimeError(.type, "sorted: cannot compare \(xs[i - 1].typeNameWithArticle) with \(xs[i].typeNameWithArticle)")
            }
            return .list(try a.bool("reverse") ? xs.reversed() : xs)
        }
        r.register("reversed", [Param("xs")], help: "The elements in reverse order.") { a, interp in
            if case .string(let s) = a["xs"] { return .string(String(s.reversed())) }
            return .list(try interp.iterate(a["xs"], a.location).reversed())
        }
        r.register("enumerate", [Param("xs")], help: "[index, element] pairs.") { a, interp in
            .list(try interp.iterate(a["xs"], a.location).enumerated().map { .list([.int($0.offset), $0.element]) })
        }
        r.register("zip", [.variadic("lists")], help: "Lists of corresponding elements, as long as the shortest input.") { a, interp in
            let ls = try a.rest.map { try interp.iterate($0, a.location) }
            let n = ls.map { $0.count }.min() ?? 0
            return .list((0..<n).map { i in .list(ls.map { $0[i] }) })
        }
        r.register("append", [Param("xs", .list), Param("x")], help: "A new list with x added at the end (lists are values: write xs = append(xs, x), which appends in place; or xs.push(x)).") { a, _ in
            .list(try a.list("xs") + [a["x"]])
        }.isCoreAppend = true
        r.register("contains", [Param("collection"), Param("x")], help: "True when the list holds x, the string holds the substring x, or the record has the field x.") { a, interp in
            switch a["collection"] {
            case .string(let s): return .bool(s.contains(try a.string("x")))
            case .record(let rec): return .bool(rec[(a["x"].asString ?? "")] != nil)
            default: return .bool(try interp.iterate(a["collection"], a.location).contains { valuesEqual($0, a["x"]) })
            }
        }
        r.register("join", [Param("xs"), Param("sep", .string, default: .string(""))], help: "The elements' printed forms joined with sep.") { a, interp in
            .string(try interp.iterate(a["xs"], a.location).map { $0.description }.joined(separator: try a.string("sep")))
        }
        r.register("split", [Param("s", .string), Param("sep", .string, optional: true)], help: "Splits a string at sep (at whitespace when omitted).") { a, _ in
            let s = try a.string("s")
            if let sep = try a.optionalString("sep") {
                guard !sep.isEmpty else { throw a.error("sep", "must not be empty") }
                return .list(s.components(separatedBy: sep).map { .string($0) })
            }
            return .list(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
        }
        r.register("format", [Param("x", .number), Param("digits", .int, default: .int(4))], help: "A number with a fixed count of digits after the point, as a string.") { a, _ in
            let d = try a.int("digits")
            guard (0...30).contains(d) else { throw a.error("digits", "must be in 0...30") }
            return .string(formatFixed(try a.double("x"), digits: d))
        }.fast = { xs in
            guard xs.count == 2, let x = xs[0].asDouble, case .int(let d) = xs[1], (0...30).contains(d) else { return nil }
            return .string(formatFixed(x, digits: d))
        }
        let len1: (Value) -> Value? = { x in
            switch x {
            case .list(let l): return .int(l.count)
            case .string(let s): return .int(CoreCommands.characterCount(s))
            case .record(let rec): return .int(rec.count)
            case .range(let rg): return .int(rg.count)
            default: return nil
            }
        }
        r["len"]?.fast = { xs in xs.count == 1 ? len1(xs[0]) : nil }
        r["len"]?.fast1 = len1
        // lists and records take the command (its memory check of long text)
        let str1: (Value) -> Value? = { x in
            switch x { case .list, .record: return nil; default: return .string(x.description) }
        }
        r["str"]?.fast = { xs in xs.count == 1 ? str1(xs[0]) : nil }
        r["str"]?.fast1 = str1
        r["format"]?.fast2 = { v, dv in
            guard let x = v.asDouble, case .int(let d) = dv, (0...30).contains(d) else { return nil }
            return .string(formatFixed(x, digits: d))
        }
        r["range"]?.fast1 = { v in
            if case .int(let n) = v { return .range(RangeValue(start: 0, stop: n)) }
            return nil
        }
        r["range"]?.fast2 = { a, b in
            // a range too long for an Int goes the slow way, which refuses it
            if case .int(let x) = a, case .int(let y) = b, RangeValue(start: x, stop: y).countFitsInt { return .range(RangeValue(start: x, stop: y)) }
            return nil
        }
        r["append"]?.fast = { xs in
            guard xs.count == 2, case .list(var l) = xs[0] else { return nil }
            l.append(xs[1])
            return .list(l)
        }
        r["range"]?.fast = { xs in
            switch xs.count {
            case 1: if case .int(let n) = xs[0] { return .range(RangeValue(start: 0, stop: n)) }
            case 2:
                // a range too long for an Int goes the slow way, which refuses it
                if case .int(let a) = xs[0], case .int(let b) = xs[1], RangeValue(start: a, stop: b).countFitsInt { return .range(RangeValue(start: a, stop: b)) }
            default: break
            }
            return nil
        }
    }

    /// A whole float as an int: NaN, infinities and values past Int's range are errors (found
    /// by scripts/fuzz.sh: `floor(float("nan"))` trapped).
    static func integral(_ x: Double, _ a: BoundArguments) throws -> Int {
        guard x.isFinite, abs(x) < 9.2e18 else { throw a.error("x", "\(Value.formatDouble(x)) has no int value") }
        return Int(x)
    }

    /// `x` with `digits` digits after the point, as C's printf("%.*f") (and Python's
    /// f"{x:.4f}") write it.

    public static func formatFixed(_ x: Double, digits: Int) -> String {
        if let s = fixedExact(x, digits) { return s }
        if !x.isFinite || !(0...30).contains(digits) { return String(format: "%.\(digits)f", x) }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 400) { buf -> String in
            let n: Int32
            if let f = strfromd {
                // C's own conversion without a va_list (whose builder casts each argument)
                n = fixedFormats[digits].withUnsafeBufferPointer { f(buf.baseAddress, 400, $0.baseAddress, x) }
            } else {
                n = withVaList([Int32(digits), x]) { vsnprintf(buf.baseAddress!, 400, "%.*f", $0) }
            }
            guard n > 0 && n < 400 else { return String(format: "%.\(digits)f", x) }
            return String(cString: buf.baseAddress!)
        }
    }

    static let powersOf10: [UInt64] = (0...18).map { k in (0..<k).reduce(UInt64(1)) { p, _ in p * 10 } }

    /// formatFixed without printf for a number whose scaled value `|x| * 10^digits` is below
    /// 9e18 (digits <= 18): the exact binary value times 10^digits in 128 bits, rounded half to
    /// even as printf rounds it, written as digits. Nil for anything else (printf then).
    static func fixedExact(_ x: Double, _ digits: Int) -> String? {
        guard x.isFinite, digits >= 0, digits <= 18 else { return nil }
        let a = x.magnitude
        let p10 = powersOf10[digits]
        guard a * Double(p10) < 9e18 else { return nil }
        var q: UInt64 = 0
        if a != 0 {
            let m: UInt64 = a.isSubnormal ? a.significandBitPattern : a.significandBitPattern | (1 << 52)
            let e = a.isSubnormal ? -1074 : Int(a.exponent) - 52
            if e >= 0 {
                q = (m &* p10) &<< UInt64(e)          // exact: the bound above keeps it below 2^63
            } else {
                let s = -e
                let (hi, lo) = m.multipliedFullWidth(by: p10)
                var up = false
                if s >= 128 {
                    q = 0                              // below 2^127 / 2^128: less than a half
                } else if s >= 64 {
                    let s2 = s - 64
                    q = s2 == 0 ? hi : hi >> UInt64(s2)
                    if s2 == 0 {
                        up = lo > (1 << 63) || (lo == (1 << 63) && q & 1 == 1)
                    } else {
                        let remHi = hi & ((1 << UInt64(s2)) - 1), half: UInt64 = 1 << UInt64(s2 - 1)
                        up = remHi > half || (remHi == half && (lo != 0 || q & 1 == 1))
                    }
                } else {
                    q = (hi << UInt64(64 - s)) | (lo >> UInt64(s))
                    let rem = lo & ((1 << UInt64(s)) - 1), half: UInt64 = 1 << UInt64(s - 1)
                    up = rem > half || (rem == half && q & 1 == 1)
                }
                if up { q += 1 }
            }
        }
        // the digits from the last one: `digits` of them, the point, then at least one more
        let negative = x.sign == .minus
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48) { buf -> String in
            var pos = 48, n = 0, v = q
            while true {
                pos -= 1; buf[pos] = 48 + UInt8(v % 10); v /= 10; n += 1
                if n == digits { pos -= 1; buf[pos] = 46 }   // "."
                if v == 0 && n > digits { break }
            }
            if negative { pos -= 1; buf[pos] = 45 }       // "-"
            return String(decoding: UnsafeBufferPointer(rebasing: buf[pos..<48]), as: UTF8.self)
        }
    }

    typealias StrFromD = @convention(c) (UnsafeMutablePointer<CChar>?, Int, UnsafePointer<CChar>?, Double) -> Int32
    /// glibc's strfromd(buf, n, "%.4f", x) (C23), looked up at run time: Swift's Glibc module
    /// does not declare it.
    static let strfromd: StrFromD? = {
        guard let sym = dlsym(nil, "strfromd") else { return nil }
        return unsafeBitCast(sym, to: StrFromD.self)
    }()
    static let fixedFormats: [[CChar]] = (0...30).map { Array("%.\($0)f".utf8CString) }

    static func registerNumbers(_ r: Registry) {
        func numbers(_ a: BoundArguments, _ interp: Interpreter) throws -> [Value] {
            let xs = a.rest.count == 1 ? try interp.iterate(a.rest[0], a.location) : a.rest
            for x in xs where x.asDouble == nil || x.isBool {
                throw LangRuntimeError(.type, "\(a.command): expected numbers, got \(x.typeNameWithArticle)")
            }
            if xs.isEmpty { throw LangRuntimeError(.value, "\(a.command): no values") }
            return xs
        }
        r.register("min", [.variadic("values")], help: "The smallest of the numbers (or of one list).") { a, interp in
            try numbers(a, interp).min { $0.asDouble! < $1.asDouble! }!
        }
        r.register("max", [.variadic("values")], help: "The largest of the numbers (or of one list).") { a, interp in
            try numbers(a, interp).max { $0.asDouble! < $1.asDouble! }!
        }
        r.register("sum", [Param("xs")], help: "The sum of a list of numbers (ints stay ints).") { a, interp in
            var acc: Value = .int(0)
            for x in try interp.iterate(a["xs"], a.location) { acc = try interp.binary(.add, acc, x, a.location) }
            return acc
        }
        r.register("abs", [Param("x", .number)], help: "The absolute value.") { a, _ in
            if case .int(let i) = a["x"] { return .int(abs(i)) }
            return .double(abs(try a.double("x")))
        }
        r.register("round", [Param("x", .number), Param("digits", .int, optional: true)], help: "Rounds half to even, to an int, or to `digits` decimals.") { a, _ in
            let x = try a.double("x")
            if let d = try a.optionalInt("digits") {
                let p = pow(10.0, Double(d))
                return .double((x * p).rounded(.toNearestOrEven) / p)
            }
            return .int(try integral(x.rounded(.toNearestOrEven), a))
        }
        r.register("floor", [Param("x", .number)], help: "The largest int not above x.") { a, _ in .int(try integral((try a.double("x")).rounded(.down), a)) }
        r.register("ceil", [Param("x", .number)], help: "The smallest int not below x.") { a, _ in .int(try integral((try a.double("x")).rounded(.up), a)) }
        for (name, f) in [("sqrt", { (x: Double) in x.squareRoot() }), ("exp", { (x: Double) in Foundation.exp(x) }),
                          ("log", { (x: Double) in Foundation.log(x) }), ("tanh", { (x: Double) in Foundation.tanh(x) })] {
            r.register(name, [Param("x", .number)], help: "\(name) of a number.") { a, _ in .double(f(try a.double("x"))) }
        }
    }

    static func registerFiles(_ r: Registry) {
        func readText(_ path: String) throws -> String {
            guard let d = FileManager.default.contents(atPath: path) else {
                throw LangRuntimeError(.io, "cannot read '\(path)': no such file")
            }
            return String(decoding: d, as: UTF8.self)
        }
        r.register("read_json", [Param("path", .string)], help: "Reads a JSON file as lists, records, numbers, strings, booleans and nil.") { a, _ in
            let p = try a.string("path")
            do { return try JSON.parse(try readText(p)) } catch let e as JSON.ParseError { throw LangRuntimeError(.io, "\(p): \(e.message)") }
        }
        r.register("read_jsonl", [Param("path", .string)], help: "Reads a JSON-lines file: a list with one value per non-empty line.") { a, _ in
            let p = try a.string("path")
            var out: [Value] = []
            for (i, line) in try readText(p).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                do { out.append(try JSON.parse(String(line))) }
                catch let e as JSON.ParseError { throw LangRuntimeError(.io, "\(p):\(i + 1): \(e.message)") }
            }
            return .list(out)
        }
        r.register("write_json", [Param("path", .string), Param("value"), .named("indent", .int, default: .int(2))],
                   help: "Writes a value as JSON, atomically.") { a, _ in
            try AtomicFile.write(try JSON.serialize(a["value"], indent: try a.int("indent")) + "\n", to: try a.string("path"))
            return .null
        }
        r.register("write_jsonl", [Param("path", .string), Param("values", .list)], help: "Writes a list as JSON lines, atomically.") { a, _ in
            let lines = try a.list("values").map { try JSON.serialize($0) }
            try AtomicFile.write(lines.map { $0 + "\n" }.joined(), to: try a.string("path"))
            return .null
        }
        r.register("read_text", [Param("path", .string)], help: "Reads a text file as a string.") { a, _ in .string(try readText(try a.string("path"))) }
        r.register("write_text", [Param("path", .string), Param("text", .string)], help: "Writes a string to a file, atomically.") { a, _ in
            try AtomicFile.write(try a.string("text"), to: try a.string("path")); return .null
        }
    }
}

public extension Registry {
    /// A registry holding the core commands.
    static func withCore() -> Registry {
        let r = Registry()
        CoreCommands.register(into: r)
        return r
    }
}
