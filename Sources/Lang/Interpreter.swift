// Interpreter: walks the AST. Scopes are `Environment`s (a block or function body gets its
// own, closures keep theirs); runtime errors become located `Diagnostic`s; operators on host
// objects go to `binaryHook`/`unaryHook`, which the Commands layer fills (tensor arithmetic).
import Foundation

/// A scope: names bound by `let`, `fn`, parameters and loop variables.
public final class Environment {
    public private(set) var values: [String: Value] = [:]
    public let parent: Environment?
    public init(parent: Environment? = nil) { self.parent = parent }
    public func define(_ name: String, _ value: Value) { values[name] = value }
    public func lookup(_ name: String) -> Value? {
        var e: Environment? = self
        while let env = e { if let v = env.values[name] { return v }; e = env.parent }
        return nil
    }
    /// Rebinds an existing name in the nearest scope that has it; false when none does.
    public func assign(_ name: String, _ value: Value) -> Bool {
        var e: Environment? = self
        while let env = e {
            if env.values[name] != nil { env.values[name] = value; return true }
            e = env.parent
        }
        return false
    }
    public var allNames: [String] {
        var out = Set(values.keys)
        if let p = parent { out.formUnion(p.allNames) }
        return out.sorted()
    }
    public func remove(_ name: String) { values[name] = nil }
}

/// A stop request (Ctrl-C) as the interpreter sees it: the program's SIGINT handler sets it, the
/// interpreter asks it between statements, loop iterations and calls, and long-running commands
/// pass it down to their libraries. Lang knows no ML, so it names only this protocol; the token
/// itself is NN's CancellationToken, which Commands makes conform and hands to each interpreter.
public protocol CancellationSignal: AnyObject {
    var isCancelled: Bool { get }
    func cancel()
    func reset()
}

enum Flow {
    case normal
    case breakLoop
    case continueLoop
    case returned(Value)
}

public final class Interpreter {
    public let registry: Registry
    public let globals: Environment
    /// Where `print` and command output go (stdout by default; notebooks capture it).
    public var output: (String) -> Void = { s in
        fputs(s, stdout); fflush(stdout)
    }
    /// Shows a value (`show(x)`, bare expressions). Default: its repr on `output`.
    public var displayHook: ((Value) -> Void)? = nil
    /// Operators on host objects: return nil when the operands are not handled.
    public var binaryHook: ((BinaryOp, Value, Value) throws -> Value?)? = nil
    public var unaryHook: ((UnaryOp, Value) throws -> Value?)? = nil
    /// True in the REPL (commands may stream to the terminal).
    public var isInteractive = false
    /// Set by a command that already streamed its result to the terminal (`generate`), so the
    /// REPL does not show the returned value again; the REPL clears it before each entry.
    public var resultWasStreamed = false
    /// Seed of the global random generator (`seed(n)`); hooks reseed the host's generators.
    public var seedValue: Int? = nil
    public var seedHooks: [(Int) -> Void] = []
    /// The stop request Ctrl-C sets (nil: nothing can interrupt this interpreter).
    public var cancellation: CancellationSignal? = nil
    /// Extra state that command modules keep per session (by key).
    public var state: [String: Any] = [:]
    public var maxCallDepth = 200
    /// Function calls in progress (a nested interpreter, e.g. `run_script`'s, starts below the limit).
    public internal(set) var callDepth = 0

    public init(registry: Registry) {
        self.registry = registry
        self.globals = Environment()
    }

    public func write(_ s: String) { output(s) }
    public func show(_ v: Value) {
        if let h = displayHook { h(v) } else { output(v.repr + "\n") }
    }
    /// Throws an "interrupted" error when a stop was requested (and clears the request).
    public func checkCancelled() throws {
        if let c = cancellation, c.isCancelled { c.reset(); throw LangRuntimeError(.interrupted, "interrupted") }
    }

    /// Whether a stop was requested and not yet handled.
    public var isCancelled: Bool { cancellation?.isCancelled ?? false }

    /// Parses and runs `text`; returns the value of the last statement when it is a bare
    /// expression (the REPL shows it). Throws `DiagnosticList` (syntax) or `Diagnostic`.
    @discardableResult
    public func run(_ text: String, file: String) throws -> Value? {
        SourceRegistry.shared.add(SourceFile(name: file, text: text))
        let program = try Parser.parse(text, file: file)
        return try execute(program)
    }

    /// Runs a piece of a longer text (a REPL entry or a notebook cell) whose first line is
    /// line `line` of `file`; the caller registers the whole text with `SourceRegistry`.
    @discardableResult
    public func run(_ text: String, file: String, line: Int) throws -> Value? {
        let program = try Parser.parse(text, file: file, line: line)
        return try execute(program)
    }

    @discardableResult
    public func execute(_ program: [Stmt]) throws -> Value? {
        var last: Value? = nil
        for s in program {
            last = nil
            if case .expression(let e) = s.kind {
                last = try evaluate(e, globals)
                continue
            }
            switch try exec(s, globals) {
            case .normal: break
            case .breakLoop, .continueLoop:
                throw Diagnostic(.syntax, "'break' or 'continue' outside a loop", at: s.location)
            case .returned: throw Diagnostic(.syntax, "'return' outside a function", at: s.location)
            }
        }
        return last
    }

    // MARK: statements

    func execBlock(_ stmts: [Stmt], _ env: Environment) throws -> Flow {
        for s in stmts {
            let f = try exec(s, env)
            if case .normal = f { continue }
            return f
        }
        return .normal
    }

    func exec(_ s: Stmt, _ env: Environment) throws -> Flow {
        switch s.kind {
        case .expression(let e):
            _ = try evaluate(e, env)
        case .letBinding(let name, let e):
            var v = try evaluate(e, env)
            if case .function(let f) = v, f.decl.name == "<anonymous>" {
                v = .function(Function(decl: FunctionDecl(name: name, parameters: f.decl.parameters, body: f.decl.body, location: f.decl.location), closure: f.closure))
            }
            env.define(name, v)
        case .assign(let target, let e):
            let v = try evaluate(e, env)
            try assign(target, v, env)
        case .compoundAssign(let op, let target, let e):
            let cur = try evaluate(target, env)
            let rhs = try evaluate(e, env)
            try assign(target, try binary(op, cur, rhs, s.location), env)
        case .function(let decl):
            env.define(decl.name, .function(Function(decl: decl, closure: env)))
        case .ifStmt(let branches, let elseBody):
            for (c, body) in branches where try evaluate(c, env).isTruthy {
                return try execBlock(body, Environment(parent: env))
            }
            if let b = elseBody { return try execBlock(b, Environment(parent: env)) }
        case .whileStmt(let c, let body):
            while try evaluate(c, env).isTruthy {
                try checkCancelledAt(s.location)
                let f = try execBlock(body, Environment(parent: env))
                switch f {
                case .breakLoop: return .normal
                case .returned: return f
                default: continue
                }
            }
        case .forStmt(let names, let seqExpr, let body):
            let seq = try evaluate(seqExpr, env)
            let items = try iterate(seq, seqExpr.location)
            for item in items {
                try checkCancelledAt(s.location)
                let inner = Environment(parent: env)
                if names.count == 1 {
                    inner.define(names[0], item)
                } else {
                    guard let parts = item.asList, parts.count == names.count else {
                        throw Diagnostic(.value, "cannot unpack \(item.typeNameWithArticle) into \(names.count) names \(names.joined(separator: ", "))", at: s.location)
                    }
                    for (n, v) in zip(names, parts) { inner.define(n, v) }
                }
                let f = try execBlock(body, inner)
                switch f {
                case .breakLoop: return .normal
                case .returned: return f
                default: continue
                }
            }
        case .breakStmt: return .breakLoop
        case .continueStmt: return .continueLoop
        case .returnStmt(let e):
            return .returned(try e.map { try evaluate($0, env) } ?? .null)
        }
        return .normal
    }

    func checkCancelledAt(_ loc: SourceLocation) throws {
        if let c = cancellation, c.isCancelled {
            c.reset()
            throw Diagnostic(.interrupted, "interrupted", at: loc)
        }
    }

    /// The elements `for` walks over.
    public func iterate(_ v: Value, _ loc: SourceLocation) throws -> [Value] {
        switch v {
        case .list(let l): return l
        case .range(let r): return r.elements.map { .int($0) }
        case .string(let s): return s.map { .string(String($0)) }
        case .record(let r): return r.keys.map { .string($0) }
        case .host(let h):
            if let e = try located(loc, { try h.elements() }) { return e }
            throw Diagnostic(.type, "cannot iterate over \(v.typeNameWithArticle)", at: loc)
        default:
            throw Diagnostic(.type, "cannot iterate over \(v.typeNameWithArticle)", at: loc)
        }
    }

    /// Runs host code, turning its errors into diagnostics at `loc`.
    public func located<T>(_ loc: SourceLocation, _ body: () throws -> T) throws -> T {
        do { return try body() }
        catch let d as Diagnostic { throw d }
        catch let d as DiagnosticList { throw d }
        catch let e as LangRuntimeError { throw Diagnostic(e.kind, e.message, at: loc) }
        catch { throw Diagnostic(.runtime, "\(error)", at: loc) }
    }

    func assign(_ target: Expr, _ v: Value, _ env: Environment) throws {
        switch target.kind {
        case .identifier(let name):
            if !env.assign(name, v) {
                throw Diagnostic(.name, "cannot assign to undefined name '\(name)' (use 'let \(name) = ...' to bind a new name)", at: target.location)
            }
        case .field(let objExpr, let name):
            let obj = try evaluate(objExpr, env)
            switch obj {
            case .host(let h):
                try located(target.location) { try h.setField(name, v) }
            case .record(var r):
                r[name] = v
                try assign(objExpr, .record(r), env)
            default:
                throw Diagnostic(.type, "cannot set field '\(name)' of \(obj.typeNameWithArticle)", at: target.location)
            }
        case .subscriptAccess(let objExpr, let items):
            let obj = try evaluate(objExpr, env)
            let idx = try evaluateItems(items, env)
            switch obj {
            case .host(let h):
                try located(target.location) { try h.setIndex(idx, v) }
            case .list(var l):
                guard idx.count == 1, case .index(let iv) = idx[0] else {
                    throw Diagnostic(.index, "list element assignment takes one index", at: target.location)
                }
                let i = try located(target.location) { try Builtins.normalizeIndex(iv, count: l.count) }
                l[i] = v
                try assign(objExpr, .list(l), env)
            case .record(var r):
                guard idx.count == 1, case .index(.string(let k)) = idx[0] else {
                    throw Diagnostic(.index, "a record is indexed by a string key", at: target.location)
                }
                r[k] = v
                try assign(objExpr, .record(r), env)
            default:
                throw Diagnostic(.type, "cannot assign to an element of \(obj.typeNameWithArticle)", at: target.location)
            }
        default:
            throw Diagnostic(.syntax, "cannot assign to this expression", at: target.location)
        }
    }

    // MARK: expressions

    public func evaluate(_ e: Expr, _ env: Environment) throws -> Value {
        switch e.kind {
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .bool(let b): return .bool(b)
        case .nilLiteral: return .null
        case .string(let parts):
            var s = ""
            for p in parts {
                switch p {
                case .text(let t): s += t
                case .expr(let x): s += try evaluate(x, env).description
                }
            }
            return .string(s)
        case .identifier(let name):
            return try lookup(name, e.location, env)
        case .list(let items):
            return .list(try items.map { try evaluate($0, env) })
        case .record(let fields):
            var r = Record()
            for (k, x) in fields { r[k] = try evaluate(x, env) }
            return .record(r)
        case .unary(let op, let x):
            let v = try evaluate(x, env)
            return try unary(op, v, e.location)
        case .binary(let op, let l, let r):
            let lv = try evaluate(l, env)
            if op == .and { return lv.isTruthy ? try evaluate(r, env) : lv }
            if op == .or { return lv.isTruthy ? lv : try evaluate(r, env) }
            let rv = try evaluate(r, env)
            return try binary(op, lv, rv, e.location)
        case .field(let objExpr, let name):
            return try fieldAccess(objExpr, name, e.location, env)
        case .subscriptAccess(let objExpr, let items):
            let obj = try evaluate(objExpr, env)
            let idx = try evaluateItems(items, env)
            return try located(e.location) { try Builtins.subscriptValue(obj, idx) }
        case .call(let calleeExpr, let argExprs):
            var args = Arguments(location: e.location)
            for a in argExprs {
                let v = try evaluate(a.value, env)
                if let n = a.name { args.named.append((n, v)) } else { args.positional.append(v) }
            }
            // method call on a host object: obj.name(args)
            if case .field(let objExpr, let name) = calleeExpr.kind {
                let obj = try evaluate(objExpr, env)
                if case .host(let h) = obj {
                    if !h.fieldNames.contains(name), case .identifier(let id) = objExpr.kind, let c = registry["\(id).\(name)"] {
                        return try call(.command(c), args)
                    }
                    return try located(e.location) { try h.callMethod(name, args, self) }
                }
                let f = try fieldOf(obj, objExpr, name, calleeExpr.location, env)
                return try call(f, args)
            }
            let callee = try evaluate(calleeExpr, env)
            return try call(callee, args)
        case .function(let decl):
            return .function(Function(decl: decl, closure: env))
        }
    }

    func evaluateItems(_ items: [SubscriptItem], _ env: Environment) throws -> [IndexItem] {
        try items.map { item in
            switch item {
            case .index(let x): return .index(try evaluate(x, env))
            case .slice(let a, let b, let c):
                func bound(_ x: Expr?) throws -> Int? {
                    guard let x = x else { return nil }
                    let v = try evaluate(x, env)
                    if v.isNil { return nil }
                    guard let i = v.asInt else { throw Diagnostic(.type, "slice bounds must be ints, got \(v.typeNameWithArticle)", at: x.location) }
                    return i
                }
                let step = try bound(c)
                if step == 0 { throw Diagnostic(.value, "slice step cannot be zero", at: c!.location) }
                return .slice(start: try bound(a), stop: try bound(b), step: step)
            }
        }
    }

    func lookup(_ name: String, _ loc: SourceLocation, _ env: Environment) throws -> Value {
        if let v = env.lookup(name) { return v }
        if let c = registry[name] { return .command(c) }
        if registry.isNamespace(name) { return .namespace(name) }
        var msg = "undefined name '\(name)'"
        if let s = closestName(name, env.allNames + registry.topLevelNames) { msg += " (did you mean '\(s)'?)" }
        throw Diagnostic(.name, msg, at: loc)
    }

    func fieldAccess(_ objExpr: Expr, _ name: String, _ loc: SourceLocation, _ env: Environment) throws -> Value {
        let obj = try evaluate(objExpr, env)
        return try fieldOf(obj, objExpr, name, loc, env)
    }

    func fieldOf(_ obj: Value, _ objExpr: Expr, _ name: String, _ loc: SourceLocation, _ env: Environment) throws -> Value {
        switch obj {
        case .record(let r):
            if let v = r[name] { return v }
            if case .identifier(let id) = objExpr.kind, let c = registry["\(id).\(name)"] { return .command(c) }
            var msg = "record has no field '\(name)'"
            if let s = closestName(name, r.keys) { msg += " (did you mean '\(s)'?)" }
            else if r.count > 0 { msg += "; its fields are " + r.keys.joined(separator: ", ") }
            throw Diagnostic(.name, msg, at: loc)
        case .namespace, .command:
            var ns = ""
            if case .namespace(let n) = obj { ns = n }
            if case .command(let c) = obj { ns = c.name }
            let full = "\(ns).\(name)"
            if let c = registry[full] { return .command(c) }
            if registry.isNamespace(full) { return .namespace(full) }
            var msg = "no command '\(full)'"
            let members = registry.members(of: ns)
            if let s = closestName(name, members) { msg += " (did you mean '\(ns).\(s)'?)" }
            else if !members.isEmpty { msg += "; \(ns) has " + members.joined(separator: ", ") }
            throw Diagnostic(.name, msg, at: loc)
        case .host(let h):
            do { return try located(loc) { try h.getField(name) } }
            catch {
                if case .identifier(let id) = objExpr.kind, let c = registry["\(id).\(name)"] { return .command(c) }
                if let d = error as? Diagnostic, d.kind == .name, !h.fieldNames.isEmpty, !d.message.contains("did you mean") {
                    var m = d.message
                    if let s = closestName(name, h.fieldNames) { m += " (did you mean '\(s)'?)" }
                    throw Diagnostic(.name, m, at: loc)
                }
                throw error
            }
        default:
            if case .identifier(let id) = objExpr.kind, let c = registry["\(id).\(name)"] { return .command(c) }
            if let v = try Builtins.valueMethod(obj, name, self) { return v }
            throw Diagnostic(.type, "\(obj.typeNameWithArticle) has no field '\(name)'", at: loc)
        }
    }

    // MARK: calls

    /// Calls a function, a command or a bound method with evaluated arguments.
    public func call(_ callee: Value, _ args: Arguments) throws -> Value {
        let loc = args.location
        switch callee {
        case .function(let f):
            return try callFunction(f, args)
        case .command(let c):
            do {
                let bound = try c.bind(args)
                return try c.implementation(bound, self)
            }
            catch let d as Diagnostic { throw d }
            catch let d as DiagnosticList { throw d }
            catch let e as LangRuntimeError { throw Diagnostic(e.kind, e.message, at: loc) }
            catch {
                // a library's typed error: name the command unless the message already does
                let text = "\(error)"
                throw Diagnostic(.runtime, text.hasPrefix(c.name) ? text : "\(c.name): \(text)", at: loc)
            }
        case .namespace(let ns):
            throw Diagnostic(.type, "'\(ns)' is a group of commands, not a command: " + registry.members(of: ns).map { "\(ns).\($0)" }.joined(separator: ", "), at: loc)
        default:
            throw Diagnostic(.type, "\(callee.typeNameWithArticle) is not callable", at: loc)
        }
    }

    func callFunction(_ f: Function, _ args: Arguments) throws -> Value {
        let decl = f.decl
        let loc = args.location
        let env = Environment(parent: f.closure)
        if args.positional.count > decl.parameters.count {
            throw Diagnostic(.argument, "\(decl.name) takes \(decl.parameters.count) argument\(decl.parameters.count == 1 ? "" : "s") but \(args.positional.count) were given", at: loc)
        }
        var given: [String: Value] = [:]
        for (p, v) in zip(decl.parameters, args.positional) { given[p.name] = v }
        for (n, v) in args.named {
            guard decl.parameters.contains(where: { $0.name == n }) else {
                var msg = "\(decl.name): unknown argument '\(n)'"
                if let s = closestName(n, decl.parameters.map { $0.name }) { msg += " (did you mean '\(s)'?)" }
                throw Diagnostic(.argument, msg, at: loc)
            }
            if given[n] != nil { throw Diagnostic(.argument, "\(decl.name): argument '\(n)' given twice", at: loc) }
            given[n] = v
        }
        for p in decl.parameters {
            if let v = given[p.name] { env.define(p.name, v) }
            else if let d = p.defaultValue { env.define(p.name, try evaluate(d, env)) }
            else { throw Diagnostic(.argument, "\(decl.name): missing argument '\(p.name)'", at: loc) }
        }
        if callDepth >= maxCallDepth {
            throw Diagnostic(.runtime, "too many nested calls (more than \(maxCallDepth)): infinite recursion?", at: loc)
        }
        if isCancelled { try checkCancelledAt(loc) }
        callDepth += 1
        defer { callDepth -= 1 }
        switch try execBlock(decl.body, env) {
        case .returned(let v): return v
        case .breakLoop, .continueLoop:
            throw Diagnostic(.syntax, "'break' or 'continue' outside a loop", at: decl.location)
        case .normal: return .null
        }
    }

    /// Variable and command names visible at the top level (for completion and `:vars`).
    public var globalNames: [String] { globals.allNames }
}

