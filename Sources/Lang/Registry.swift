// Command registry: every command the language knows (core builtins and the ML commands the
// Commands module binds) with its signature, help text and implementation. `help(cmd)`,
// `help()`, argument checking and tab completion all come from here.
//
// HOW TO ADD COMMANDS (for other modules):
//   Put a file `Sources/Commands/<Area>Commands.swift` with
//
//     enum TrainCommands {
//         static func register(into r: Registry) {
//             r.register("train", [
//                 Param("m", .host("LlamaModel"), doc: "the model"),
//                 Param("data", .any),
//                 Param.named("lr", .number, default: .double(5e-5)),
//                 Param.named("steps", .int, optional: true),        // nil when not given
//             ], help: "Fine-tunes `m` on `data` with AdamW; returns the history.") { a, interp in
//                 let lr = try a.double("lr"); let steps = try a.optionalInt("steps")
//                 ...; try interp.checkCancelled()   // in long loops (Ctrl-C)
//                 interp.write("progress\n")         // output goes through the interpreter
//                 return .record(...)
//             }
//         }
//     }
//
//   and call `TrainCommands.register(into: r)` from `Commands.registerAll` (Commands.swift).
//   Dotted names (`llama.init`, `eval.niah`) are written as they are typed; `llama` then
//   resolves to a namespace. Registering an existing name replaces it. Errors: throw
//   `LangRuntimeError(.value, "argument 'lengths' ...")`; the interpreter adds the location.
//   Types check before the call; `.number` accepts ints and doubles, `.int` accepts integral
//   doubles; a `ParamType` is a name plus a predicate, so define your own
//   (`ParamType("a tensor") { ($0.asHost as? TensorValue) != nil }`).
import Foundation

/// The type a parameter accepts: a name for messages plus a predicate.
public struct ParamType {
    public var name: String
    public var accepts: (Value) -> Bool
    public init(_ name: String, _ accepts: @escaping (Value) -> Bool) { self.name = name; self.accepts = accepts }

    public static let any = ParamType("any value") { _ in true }
    public static let int = ParamType("an int") { v in
        if case .int = v { return true }
        if case .double(let d) = v { return d == d.rounded() && abs(d) < 9e18 }
        return false
    }
    public static let number = ParamType("a number") { v in v.asDouble != nil }
    public static let string = ParamType("a string") { v in v.asString != nil }
    public static let bool = ParamType("a bool") { v in if case .bool = v { return true }; return false }
    public static let list = ParamType("a list") { v in
        switch v { case .list, .range: return true; default: return false }
    }
    public static let record = ParamType("a record") { v in v.asRecord != nil }
    public static let callable = ParamType("a function") { v in
        switch v { case .function, .command: return true; default: return false }
    }
    /// A shape: an int or a list of ints.
    public static let shape = ParamType("a shape (an int or a list of ints)") { v in
        if case .int = v { return true }
        guard let l = v.asList else { return false }
        return l.allSatisfy { if case .int = $0 { return true }; return false }
    }
    /// A host object whose `typeName` is one of `names`.
    public static func host(_ names: String...) -> ParamType {
        ParamType(names.count == 1 ? "a \(names[0])" : "one of " + names.joined(separator: ", ")) { v in
            guard case .host(let h) = v else { return false }
            return names.contains(h.typeName)
        }
    }
    public static func oneOf(_ types: ParamType...) -> ParamType {
        ParamType(types.map { $0.name }.joined(separator: " or ")) { v in types.contains { $0.accepts(v) } }
    }
}

public struct Param {
    public enum Kind { case positional, named, variadic, keywords }
    public var name: String
    public var type: ParamType
    public var kind: Kind
    public var defaultValue: Value?   // nil: required (unless optional)
    public var optional: Bool         // may be omitted; then nil
    public var doc: String

    /// A positional parameter (may also be passed by name).
    public init(_ name: String, _ type: ParamType = .any, default def: Value? = nil, optional: Bool = false, doc: String = "") {
        self.name = name; self.type = type; self.kind = .positional; self.defaultValue = def; self.optional = optional; self.doc = doc
    }
    /// A named parameter: `name: value`.
    public static func named(_ name: String, _ type: ParamType = .any, default def: Value? = nil, optional: Bool = false, doc: String = "") -> Param {
        var p = Param(name, type, default: def, optional: optional, doc: doc); p.kind = .named; return p
    }
    /// Collects the remaining positional arguments into a list (`print(a, b, ...)`).
    public static func variadic(_ name: String, _ type: ParamType = .any, doc: String = "") -> Param {
        var p = Param(name, type, doc: doc); p.kind = .variadic; return p
    }
    /// Collects named arguments no other parameter takes (`llama.config("tiny", hidden_size: 128)`).
    public static func keywords(_ name: String, doc: String = "") -> Param {
        var p = Param(name, .any, doc: doc); p.kind = .keywords; return p
    }
    var signature: String {
        switch kind {
        case .variadic: return "\(name)..."
        case .keywords: return "\(name): ..."
        case .positional:
            if let d = defaultValue { return "\(name) = \(d.repr)" }
            return optional ? "\(name)?" : name
        case .named:
            if let d = defaultValue { return "\(name): \(d.repr)" }
            return "\(name):"
        }
    }
}

/// Arguments after checking against a signature, by parameter name.
public struct BoundArguments {
    public let command: String
    public var values: [String: Value]
    public var rest: [Value]           // the variadic parameter's values
    public var extra: [(String, Value)] = []   // named arguments a `keywords` parameter collected
    public let location: SourceLocation

    public init(command: String, values: [String: Value], rest: [Value] = [], location: SourceLocation = .unknown) {
        self.command = command; self.values = values; self.rest = rest; self.location = location
    }

    public subscript(_ name: String) -> Value { values[name] ?? .null }
    public func has(_ name: String) -> Bool { if let v = values[name], !v.isNil { return true }; return false }

    public func error(_ name: String, _ message: String) -> LangRuntimeError {
        LangRuntimeError(.value, "\(command): argument '\(name)' \(message)")
    }
    public func int(_ name: String) throws -> Int {
        guard let i = self[name].asInt else { throw LangRuntimeError(.type, "\(command): argument '\(name)' must be an int, got \(self[name].typeNameWithArticle)") }
        return i
    }
    public func optionalInt(_ name: String) throws -> Int? { has(name) ? try int(name) : nil }
    public func double(_ name: String) throws -> Double {
        guard let d = self[name].asDouble else { throw LangRuntimeError(.type, "\(command): argument '\(name)' must be a number, got \(self[name].typeNameWithArticle)") }
        return d
    }
    public func optionalDouble(_ name: String) throws -> Double? { has(name) ? try double(name) : nil }
    public func string(_ name: String) throws -> String {
        guard let s = self[name].asString else { throw LangRuntimeError(.type, "\(command): argument '\(name)' must be a string, got \(self[name].typeNameWithArticle)") }
        return s
    }
    public func optionalString(_ name: String) throws -> String? { has(name) ? try string(name) : nil }
    public func bool(_ name: String) throws -> Bool {
        guard case .bool(let b) = self[name] else { throw LangRuntimeError(.type, "\(command): argument '\(name)' must be a bool, got \(self[name].typeNameWithArticle)") }
        return b
    }
    public func list(_ name: String) throws -> [Value] {
        guard let l = self[name].asList else { throw LangRuntimeError(.type, "\(command): argument '\(name)' must be a list, got \(self[name].typeNameWithArticle)") }
        return l
    }
    public func optionalList(_ name: String) throws -> [Value]? { has(name) ? try list(name) : nil }
    public func record(_ name: String) throws -> Record {
        guard let r = self[name].asRecord else { throw LangRuntimeError(.type, "\(command): argument '\(name)' must be a record, got \(self[name].typeNameWithArticle)") }
        return r
    }
    public func ints(_ name: String) throws -> [Int] {
        if case .int(let i) = self[name] { return [i] }
        let l = try list(name)
        return try l.enumerated().map { i, v in
            guard let x = v.asInt else { throw LangRuntimeError(.type, "\(command): argument '\(name)' element \(i) must be an int, got \(v.typeNameWithArticle)") }
            return x
        }
    }
    public func doubles(_ name: String) throws -> [Double] {
        if let d = self[name].asDouble { return [d] }
        let l = try list(name)
        return try l.enumerated().map { i, v in
            guard let x = v.asDouble else { throw LangRuntimeError(.type, "\(command): argument '\(name)' element \(i) must be a number, got \(v.typeNameWithArticle)") }
            return x
        }
    }
    public func host<T>(_ name: String, as: T.Type) throws -> T {
        guard case .host(let h) = self[name], let t = h as? T else {
            throw LangRuntimeError(.type, "\(command): argument '\(name)' must be \(String(describing: T.self)), got \(self[name].typeNameWithArticle)")
        }
        return t
    }
}

/// A command: a name, a signature, help text and an implementation.
public final class Command {
    public let name: String
    public let params: [Param]
    public let help: String
    public let implementation: (BoundArguments, Interpreter) throws -> Value
    /// The core `append`: `xs = append(xs, x)` then appends in place (see Compiler.swift).
    var isCoreAppend = false
    /// A shortcut for calls with positional arguments only: the result, or nil to take the
    /// ordinary path (which checks the arguments and reports errors). Core commands set it.
    public var fast: (([Value]) -> Value?)? = nil
    /// The same shortcut for calls with exactly one or two positional arguments, without an
    /// array of them (`len(xs)`, `format(x, 4)`).
    public var fast1: ((Value) -> Value?)? = nil
    public var fast2: ((Value, Value) -> Value?)? = nil
    private lazy var positionalParams: [Param] = params.filter { $0.kind == .positional }
    private lazy var variadicParam: Param? = params.first { $0.kind == .variadic }
    private lazy var hasKeywords: Bool = params.contains { $0.kind == .keywords }

    public init(_ name: String, _ params: [Param], help: String, _ implementation: @escaping (BoundArguments, Interpreter) throws -> Value) {
        self.name = name; self.params = params; self.help = help; self.implementation = implementation
    }

    /// `name(a, b, seed: nil)`.
    public var signature: String { "\(name)(" + params.map { $0.signature }.joined(separator: ", ") + ")" }
    public var summary: String { help.split(separator: "\n").first.map(String.init) ?? "" }
    public var namedParameterNames: [String] { params.filter { $0.kind != .variadic && $0.kind != .keywords }.map { $0.name } }

    /// Checks arguments against the signature: unknown named argument, missing argument,
    /// too many positional arguments and wrong types are errors naming the argument.
    public func bind(_ args: Arguments) throws -> BoundArguments {
        var values: [String: Value] = [:]
        var rest: [Value] = []
        var extra: [(String, Value)] = []
        let positionalParams = self.positionalParams
        let variadic = self.variadicParam
        for (i, v) in args.positional.enumerated() {
            if i < positionalParams.count {
                values[positionalParams[i].name] = v
            } else if variadic != nil {
                rest.append(v)
            } else {
                let named = params.filter { $0.kind == .named }.map { $0.name + ":" }
                let hint = named.isEmpty ? "" : " (pass \(named.joined(separator: ", ")) by name)"
                throw LangRuntimeError(.argument, "\(name) takes \(positionalParams.count) positional argument\(positionalParams.count == 1 ? "" : "s") but \(args.positional.count) were given\(hint)")
            }
        }
        for (n, v) in args.named {
            guard let p = params.first(where: { $0.name == n && $0.kind != .variadic && $0.kind != .keywords }) else {
                if hasKeywords { extra.append((n, v)); continue }
                let names = namedParameterNames
                var msg = "\(name): unknown argument '\(n)'"
                if let s = closestName(n, names) { msg += " (did you mean '\(s)'?)" }
                else if !names.isEmpty { msg += "; arguments are " + names.joined(separator: ", ") }
                throw LangRuntimeError(.argument, msg, argument: n)
            }
            if values[n] != nil { throw LangRuntimeError(.argument, "\(name): argument '\(n)' given twice", argument: n) }
            values[p.name] = v
        }
        for p in params where p.kind != .variadic && p.kind != .keywords {
            if let v = values[p.name] {
                if v.isNil && (p.optional || (p.defaultValue?.isNil ?? false)) { continue }
                if !p.type.accepts(v) {
                    throw LangRuntimeError(.type, "\(name): argument '\(p.name)' must be \(p.type.name), got \(v.typeNameWithArticle)")
                }
            } else if let d = p.defaultValue {
                values[p.name] = d
            } else if p.optional {
                values[p.name] = .null
            } else {
                throw LangRuntimeError(.argument, "\(name): missing argument '\(p.name)' (\(signature))")
            }
        }
        if let vp = variadic {
            for v in rest where !vp.type.accepts(v) {
                throw LangRuntimeError(.type, "\(name): argument '\(vp.name)' must be \(vp.type.name), got \(v.typeNameWithArticle)")
            }
        }
        var bound = BoundArguments(command: name, values: values, rest: rest, location: args.location)
        bound.extra = extra
        return bound
    }

    /// The text `help(cmd)` prints.
    public var helpText: String {
        var out = signature + "\n"
        if !help.isEmpty { out += "  " + help.replacingOccurrences(of: "\n", with: "\n  ") + "\n" }
        let documented = params.filter { !$0.doc.isEmpty }
        for p in documented { out += "    \(p.name): \(p.doc)\n" }
        return out
    }
}

/// All commands by name.
public final class Registry {
    public private(set) var commands: [String: Command] = [:]
    /// Bumped by every registration (compiled code caches command look-ups against it).
    public private(set) var version = 0
    public init() {}

    public func register(_ command: Command) { commands[command.name] = command; version += 1 }

    @discardableResult
    public func register(_ name: String, _ params: [Param], help: String, _ implementation: @escaping (BoundArguments, Interpreter) throws -> Value) -> Command {
        let c = Command(name, params, help: help, implementation)
        register(c)
        return c
    }

    /// Registers the same command under another name.
    public func alias(_ alias: String, for name: String) {
        guard let c = commands[name] else { return }
        let a = Command(alias, c.params, help: c.help + "\n(alias of \(name))", c.implementation)
        a.isCoreAppend = c.isCoreAppend
        commands[alias] = a
        version += 1
    }

    public subscript(name: String) -> Command? { commands[name] }
    public var names: [String] { commands.keys.sorted() }

    /// True when some command's name starts with `prefix.`.
    public func isNamespace(_ prefix: String) -> Bool {
        let p = prefix + "."
        return commands.keys.contains { $0.hasPrefix(p) }
    }
    /// The names directly under a namespace (`llama` -> `config`, `init`, `load`).
    public func members(of prefix: String) -> [String] {
        let p = prefix + "."
        var out = Set<String>()
        for k in commands.keys where k.hasPrefix(p) {
            let rest = k.dropFirst(p.count)
            out.insert(String(rest.split(separator: ".").first ?? rest))
        }
        return out.sorted()
    }
    /// Top-level names (commands without dots plus namespace roots).
    public var topLevelNames: [String] {
        Set(commands.keys.map { String($0.split(separator: ".").first ?? "") }).sorted()
    }
}

/// Suggestion for misspelt names: the closest candidate within a small edit distance.
public func closestName(_ name: String, _ candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var prevprev = prev
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                // two neighbours swapped (rnak for rank) count as one edit
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { cur[j] = min(cur[j], prevprev[j - 2] + 1) }
            }
            prevprev = prev
            prev = cur
        }
        return prev[b.count]
    }
    let a = Array(name)
    var best: (String, Int)? = nil
    let limit = max(1, min(3, a.count / 3))
    for c in candidates {
        // the distance is at least the difference in length: skip those that cannot be close
        // (help() of a 36 MB string compared it with every command name, for minutes; llx fuzz)
        if abs(a.count - c.count) > limit { continue }
        let d = distance(a, Array(c))
        if d <= max(1, min(3, a.count / 3)), best == nil || d < best!.1 { best = (c, d) }
    }
    return best?.0
}
