// Parameters: papermill-style parameters for notebooks and scripts. A `# %% parameters` cell
// (or `# %% [parameters]`, or jupytext's `# %% tags=["parameters"]`) holds the defaults;
// `-p name=value` on the command line overrides one after that cell has run. A value is read as
// an llx literal (ints with scale suffixes, floats, true/false, nil, quoted strings, lists,
// records of literals); anything else is taken as plain text (`-p model=tiny` gives "tiny").
// Also the command-line options of `llx run` and `llx notebook` (`Invocation`).
import Foundation
import Lang

/// A bad command line or a parameter that does not fit the notebook or script; nothing has run.
public struct UsageError: Error, CustomStringConvertible {
    public var description: String
    public init(_ message: String) { description = message }
}

/// One `-p name=value`.
public struct ParameterOverride {
    public var name: String
    public var value: Value
    public init(name: String, value: Value) { self.name = name; self.value = value }
    /// The line shown in a report's injected-parameters cell.
    public var assignment: String { "\(name) = \(value.repr)" }
}

public enum Parameters {
    /// Whether the text after a `# %%` marker makes the cell the parameters cell.
    public static func isMarker(_ rest: String) -> Bool {
        let r = rest.trimmingCharacters(in: .whitespaces).lowercased()
        if r == "parameters" || r == "[parameters]" { return true }
        // jupytext: # %% tags=["parameters"]
        return r.hasPrefix("tags=[") && (r.contains("\"parameters\"") || r.contains("'parameters'"))
    }

    /// Reads one `name=value` argument.
    public static func parse(_ arg: String) throws -> ParameterOverride {
        guard let eq = arg.firstIndex(of: "=") else {
            throw UsageError("-p expects name=value, got '\(arg)'")
        }
        let name = arg[..<eq].trimmingCharacters(in: .whitespaces)
        guard isValidName(name) else {
            throw UsageError("-p \(arg): '\(name)' is not a valid name (letters, digits and _, not a keyword)")
        }
        return ParameterOverride(name: name, value: parseValue(String(arg[arg.index(after: eq)...])))
    }

    /// An identifier that `let` could bind.
    public static func isValidName(_ s: String) -> Bool {
        guard let f = s.unicodeScalars.first, f == "_" || (f.isASCII && CharacterSet.letters.contains(f)) else { return false }
        guard s.unicodeScalars.allSatisfy({ $0 == "_" || ($0.isASCII && CharacterSet.alphanumerics.contains($0)) }) else { return false }
        return !keywords.contains(s)
    }

    /// The value of `text` when it is an llx literal, else the text itself as a string.
    public static func parseValue(_ text: String) -> Value {
        guard let stmts = try? Parser.parse(text, file: "<parameter>"), stmts.count == 1,
              case .expression(let e) = stmts[0].kind, let v = literal(e) else { return .string(text) }
        return v
    }

    static func literal(_ e: Expr) -> Value? {
        switch e.kind {
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .bool(let b): return .bool(b)
        case .nilLiteral: return .null
        case .string(let parts):
            var s = ""
            for p in parts {
                guard case .text(let t) = p else { return nil }   // interpolation is not a literal
                s += t
            }
            return .string(s)
        case .list(let items):
            var out: [Value] = []
            for i in items { guard let v = literal(i) else { return nil }; out.append(v) }
            return .list(out)
        case .record(let fields):
            var r = Record()
            for (k, x) in fields { guard let v = literal(x) else { return nil }; r[k] = v }
            return .record(r)
        case .unary(let op, let inner) where op == .neg || op == .pos:
            switch literal(inner) {
            case .int(let i)?: return .int(op == .neg ? -i : i)
            case .double(let d)?: return .double(op == .neg ? -d : d)
            default: return nil
            }
        default: return nil
        }
    }

    /// The names statements bind at their top level: `let x = ...` and `x = ...`, in order.
    public static func boundNames(_ stmts: [Stmt]) -> [(name: String, line: Int)] {
        var out: [(name: String, line: Int)] = []
        for s in stmts {
            var name: String? = nil
            switch s.kind {
            case .letBinding(let n, _): name = n
            case .assign(let target, _): if case .identifier(let n) = target.kind { name = n }
            default: break
            }
            if let n = name, !out.contains(where: { $0.name == n }) { out.append((n, s.location.line)) }
        }
        return out
    }

    /// Throws naming the first override that is not in `known` (the parameters `place` binds).
    static func check(_ overrides: [ParameterOverride], known: [String], place: String) throws {
        for o in overrides where !known.contains(o.name) {
            let list = known.isEmpty ? "it binds no names" : "known parameters: " + known.joined(separator: ", ")
            throw UsageError("unknown parameter '\(o.name)': \(place) does not bind it (\(list))")
        }
    }

    /// Binds each override as a global.
    static func apply(_ overrides: [ParameterOverride], to interp: Interpreter) {
        for o in overrides { interp.globals.define(o.name, o.value) }
    }

    /// Splits a script around its parameters block and checks `overrides` against it (for
    /// `llx run -p` and `run_script(params:)`; `via` names where they came from in messages).
    /// With a `# %% parameters` block, `head` is the statements that start before the end of
    /// the block (they run before the overrides are bound) and every override must be a name
    /// the block binds at its top level. Without one, `head` is empty (the overrides are bound
    /// first) and a script that binds an overridden name itself at its top level is refused.
    /// `args` cannot be overridden. Throws `UsageError`.
    static func split(_ program: [Stmt], text: String, path: String, overrides: [ParameterOverride],
                      via: String) throws -> (head: [Stmt], tail: [Stmt]) {
        if overrides.contains(where: { $0.name == "args" }) {
            throw UsageError("'args' holds the script's extra arguments and cannot be set with \(via)")
        }
        guard let block = block(in: text) else {
            for b in boundNames(program) where overrides.contains(where: { $0.name == b.name }) {
                throw UsageError("parameter '\(b.name)' is also set by the script itself (\(path):\(b.line)), which would overwrite the \(via) value; put its default in a '# %% parameters' block")
            }
            return ([], program)
        }
        let head = program.filter { $0.location.line <= block.end }
        let inBlock = head.filter { $0.location.line > block.marker }
        try check(overrides, known: boundNames(inBlock).map { $0.name },
                  place: "the parameters block of '\(path)' (line \(block.marker))")
        return (head, Array(program.dropFirst(head.count)))
    }

    /// The source of the injected-parameters cell a report shows.
    public static func injectedCell(_ overrides: [ParameterOverride]) -> String {
        (["# injected parameters"] + overrides.map { $0.assignment }).joined(separator: "\n")
    }

    /// The first parameters block of a script: the line of its `# %%` marker and the last line
    /// before the next `# %%` marker (or the end). 1-based.
    static func block(in text: String) -> (marker: Int, end: Int)? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var marker: Int? = nil
        for (i, line) in lines.enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("# %%") else { continue }
            if let m = marker { return (m, i) }   // i is the 1-based number of the line before
            if isMarker(String(t.dropFirst(4))) { marker = i + 1 }
        }
        return marker.map { ($0, lines.count) }
    }
}

/// The arguments of `llx run` and `llx notebook` after the subcommand: positional arguments,
/// `-o/--output`, `-p/--parameter name=value` (a later one for the same name wins), and `--`
/// after which everything is positional.
public struct Invocation {
    public var positional: [String] = []
    public var output: String? = nil
    public var parameters: [ParameterOverride] = []

    public static func parse(_ args: [String], allowOutput: Bool) throws -> Invocation {
        var inv = Invocation()
        var i = 0
        var optionsEnded = false
        while i < args.count {
            let a = args[i]
            i += 1
            if optionsEnded || a == "-" || !a.hasPrefix("-") { inv.positional.append(a); continue }
            switch a {
            case "--":
                optionsEnded = true
            case "-p", "--parameter":
                guard i < args.count else { throw UsageError("\(a) needs name=value") }
                let p = try Parameters.parse(args[i])
                i += 1
                if let k = inv.parameters.firstIndex(where: { $0.name == p.name }) { inv.parameters[k] = p } else { inv.parameters.append(p) }
            case "-o", "--output":
                guard allowOutput else { throw UsageError("\(a) is an option of 'llx notebook' only") }
                guard i < args.count else { throw UsageError("\(a) needs a file name") }
                inv.output = args[i]
                i += 1
            default:
                throw UsageError("unknown option '\(a)' (put arguments that start with '-' after '--')")
            }
        }
        return inv
    }
}
