// Interpreter: walks the AST. Scopes are `Environment`s (a block or function body gets its
// own, closures keep theirs); runtime errors become located `Diagnostic`s; operators on host
// objects go to `binaryHook`/`unaryHook`, which the Commands layer fills (tensor arithmetic).
import Foundation
import LLXSystem

/// The global scope of an interpreter: names bound at the top level of a script, a notebook
/// or the REPL (by `let`, `fn`, parameters, `args`). Each name keeps one slot for the life of
/// the scope (an unbound name's slot is empty), so compiled code finds it by index.
public final class Environment {
    private var index: [String: Int] = [:]
    private var names: [String] = []
    private var storage: UnsafeMutablePointer<Value?>
    private var capacity: Int
    public let parent: Environment?

    public init(parent: Environment? = nil) {
        self.parent = parent
        capacity = 16
        storage = .allocate(capacity: capacity)
        storage.initialize(repeating: nil, count: capacity)
    }

    deinit {
        storage.deinitialize(count: capacity)
        storage.deallocate()
    }

    /// The bound names and their values.
    public var values: [String: Value] {
        var out: [String: Value] = [:]
        for (i, n) in names.enumerated() { if let v = storage[i] { out[n] = v } }
        return out
    }

    /// The slot of `name` (reserved, empty, when the name is new).
    func slotIndex(_ name: String) -> Int {
        if let i = index[name] { return i }
        let i = names.count
        if i == capacity {
            let bigger = UnsafeMutablePointer<Value?>.allocate(capacity: capacity * 2)
            bigger.moveInitialize(from: storage, count: capacity)
            (bigger + capacity).initialize(repeating: nil, count: capacity)
            storage.deallocate()
            storage = bigger
            capacity *= 2
        }
        names.append(name)
        index[name] = i
        return i
    }

    @inline(__always) func get(_ i: Int) -> Value? {
        if let v = storage[i] { return v }
        if let p = parent { return p.lookup(names[i]) }
        return nil
    }
    /// Whether slot `i`'s name is bound (here or in a parent), without copying its value.
    @inline(__always) func isBound(_ i: Int) -> Bool {
        if case .some = storage[i] { return true }
        if let p = parent { return p.lookup(names[i]) != nil }
        return false
    }
    /// The user function slot `i` holds (nil: unbound here, or not a function), read without
    /// copying the slot's value.
    @inline(__always) func function(_ i: Int) -> Function? {
        if case .function(let fn)? = storage[i] { return fn }
        if case .some = storage[i] { return nil }
        if let p = parent, case .function(let fn)? = p.lookup(names[i]) { return fn }
        return nil
    }
    /// The slot of a bound name here (nil when unbound here).
    func pointer(_ i: Int) -> UnsafeMutablePointer<Value?>? {
        let p = storage + i
        if case .some = p.pointee { return p }
        if let parent = parent, parent.lookup(names[i]) != nil { return parent.pointer(parent.slotIndex(names[i])) }
        return nil
    }
    @inline(__always) func store(_ i: Int, _ v: Value) { retire(i); storage[i] = v }
    /// Rebinds slot `i` when its name is bound (here or in a parent); false otherwise.
    @inline(__always) func set(_ i: Int, _ v: Value) -> Bool {
        let p = storage + i
        if case .some = p.pointee { retire(i); p.pointee = v; return true }
        return parent?.assign(names[i], v) ?? false
    }

    public func define(_ name: String, _ value: Value) { let i = slotIndex(name); retire(i); storage[i] = value }
    /// Unbinds every name. A function defined at the top level refers to the globals it uses
    /// through its compiled code, and the globals hold the function: a cycle. An interpreter
    /// thrown away after one script (the fuzzer's cases) clears its globals to free them (and
    /// the functions rebound while it ran, which no call uses any more).
    public func removeAll() {
        for i in 0..<names.count { storage[i] = nil }
        retired = []
    }
    public func lookup(_ name: String) -> Value? {
        if let i = index[name], let v = storage[i] { return v }
        return parent?.lookup(name)
    }
    /// Rebinds an existing name in the nearest scope that has it; false when none does.
    public func assign(_ name: String, _ value: Value) -> Bool {
        if let i = index[name], case .some = storage[i] { retire(i); storage[i] = value; return true }
        return parent?.assign(name, value) ?? false
    }
    public var allNames: [String] {
        var out = Set<String>()
        for (i, n) in names.enumerated() where storage[i] != nil { out.insert(n) }
        if let p = parent { out.formUnion(p.allNames) }
        return out.sorted()
    }
    public func remove(_ name: String) { if let i = index[name] { retire(i); storage[i] = nil } }

    /// Functions that global slots held before they were rebound or removed, kept alive until
    /// the interpreter's outermost entry ends (`Interpreter.execute`): a call of a global
    /// function borrows it from its slot (`functionRef`), without a retain and a release per
    /// call, and the function it runs must outlive the call even if the call rebinds its name.
    private(set) var retired: [Function] = []
    @inline(__always) private func retire(_ i: Int) {
        if case .function? = storage[i] { retireSlow(i) }
    }
    @inline(never) private func retireSlow(_ i: Int) {
        if case .function(let fn)? = storage[i] { retired.append(fn) }
    }
    /// Drops the retired functions (no call of this interpreter's code is in progress).
    func releaseRetired() { if !retired.isEmpty { retired = [] } }

    /// The user function slot `i` holds, borrowed: not retained, valid while this environment
    /// lives and until `releaseRetired` (nil: unbound here, or not a function).
    @inline(__always) func functionRef(_ i: Int) -> Unmanaged<Function>? {
        Environment.borrowFunction(storage[i])
    }
    static func borrowFunction(_ v: borrowing Value?) -> Unmanaged<Function>? {
        switch v {
        case .some(.function(let fn)): return Unmanaged.passUnretained(fn)
        default: return nil
        }
    }
}

/// A stop request (Ctrl-C) as the interpreter sees it: the program's SIGINT handler sets it, the
/// interpreter asks it between statements, loop iterations and calls, and long-running commands
/// pass it down to their libraries. Lang knows no ML, so it names only this protocol; the token
/// itself is NN's CancellationToken, which Commands makes conform and hands to each interpreter.
public protocol CancellationSignal: AnyObject {
    var isCancelled: Bool { get }
    func cancel()
    func reset()
    /// The request as a word in memory (non-zero: stop), when the signal has one: the
    /// interpreter then asks with a load instead of a call. Nil by default.
    var stopFlag: UnsafePointer<Int32>? { get }
}

public extension CancellationSignal {
    var stopFlag: UnsafePointer<Int32>? { nil }
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
    public var cancellation: CancellationSignal? = nil {
        didSet { stopFlag = cancellation?.stopFlag }
    }
    private var stopFlag: UnsafePointer<Int32>? = nil
    /// Extra state that command modules keep per session (by key).
    public var state: [String: Any] = [:]
    public var maxCallDepth = 200
    /// Function calls in progress (a nested interpreter, e.g. `run_script`'s, starts below the limit).
    public internal(set) var callDepth = 0
    /// `execute`s in progress (one, or more when a command runs code in this interpreter).
    var executeDepth = 0

    public init(registry: Registry) {
        self.registry = registry
        self.globals = Environment()
    }

    public func write(_ s: String) { output(s) }
    public func show(_ v: Value) {
        if let h = displayHook { h(v) }
        // at the REPL a long list or record breaks over lines, floats shortened (Value.display)
        else { output((isInteractive ? v.display(width: Terminal.width) : v.repr) + "\n") }
    }
    /// Throws an "interrupted" error when a stop was requested (and clears the request).
    public func checkCancelled() throws {
        if let c = cancellation, c.isCancelled { c.reset(); throw LangRuntimeError(.interrupted, "interrupted") }
    }

    /// Whether a stop was requested and not yet handled.
    public var isCancelled: Bool {
        if let p = stopFlag { return p.pointee != 0 }
        return cancellation?.isCancelled ?? false
    }

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

    /// Runs top-level statements (compiled first, see Compiler.swift); returns the value of the
    /// last one when it is a bare expression.
    @discardableResult
    public func execute(_ program: [Stmt]) throws -> Value? {
        let savedStop = StopRequest.flag
        StopRequest.flag = stopFlag
        ReprStop.outgrown = nil   // a cut text no command asked about (the REPL's display) is not this entry's
        defer { StopRequest.flag = savedStop }
        let (codes, layout) = Compiler(self).compileProgram(program)
        var frame = Frame.make(parent: nil, size: layout.size)
        executeDepth += 1
        defer {
            executeDepth -= 1
            Frame.finish(&frame)
            // no code of this interpreter runs now: the global functions rebound meanwhile can go
            // (before the scan: a rebound closure may be what kept a cycle of frames alive)
            if executeDepth == 0 && callDepth == 0 { globals.releaseRetired() }
            Frame.scanSuspects()
        }
        var last: Value? = nil
        for (s, expr, stmt) in codes {
            last = nil
            if isCancelled { try checkCancelledAt(s.location) }
            if let e = expr {
                last = try e(frame)
                continue
            }
            switch try stmt!(frame) {
            case .normal: break
            case .breakLoop, .continueLoop:
                throw Diagnostic(.syntax, "'break' or 'continue' outside a loop", at: s.location)
            case .returned: throw Diagnostic(.syntax, "'return' outside a function", at: s.location)
            }
        }
        return last
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
        case .range(let r): return try located(loc) { try r.values() }
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

    func fieldOf(_ obj: Value, _ objExpr: Expr, _ name: String, _ loc: SourceLocation) throws -> Value {
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
            if isCancelled { try checkCancelledAt(loc) }
            let bound: BoundArguments
            do { bound = try c.bind(args) }
            catch let e as LangRuntimeError {
                // an unknown or repeated named argument is shown at that argument
                throw Diagnostic(e.kind, e.message, at: e.argument.flatMap { args.location(ofNamed: $0) } ?? loc)
            }
            do {
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
        var frame = Frame.make(parent: f.frame, size: f.proto.layout.size)
        defer { Frame.finish(&frame) }
        if args.positional.count > decl.parameters.count {
            throw Diagnostic(.argument, "\(decl.name) takes \(decl.parameters.count) argument\(decl.parameters.count == 1 ? "" : "s") but \(args.positional.count) were given", at: loc)
        }
        var given: [String: Value] = [:]
        for (p, v) in zip(decl.parameters, args.positional) { given[p.name] = v }
        for (k, (n, v)) in args.named.enumerated() {
            guard decl.parameters.contains(where: { $0.name == n }) else {
                var msg = "\(decl.name): unknown argument '\(n)'"
                if let s = closestName(n, decl.parameters.map { $0.name }) { msg += " (did you mean '\(s)'?)" }
                throw Diagnostic(.argument, msg, at: args.namedLocation(k))
            }
            if given[n] != nil { throw Diagnostic(.argument, "\(decl.name): argument '\(n)' given twice", at: args.namedLocation(k)) }
            given[n] = v
        }
        for (i, p) in decl.parameters.enumerated() {
            if let v = given[p.name] { frame.slots[i] = v }
            else if let d = f.proto.defaults[i] { frame.slots[i] = try d(frame) }
            else { throw Diagnostic(.argument, "\(decl.name): missing argument '\(p.name)'", at: loc) }
        }
        return try run(f, frame, loc)
    }

    /// A call of `f` with its first `n` parameters in `frame` already (positional arguments):
    /// the others take their defaults.
    func enter(_ f: Function, _ frame: Frame, given n: Int, _ loc: SourceLocation) throws -> Value {
        if n < f.proto.arity { try fillDefaults(f, frame, given: n, loc) }
        return try run(f, frame, loc)
    }

    /// The parameters from the `n`th on that the call did not give: their defaults, or an error.
    @inline(never) func fillDefaults(_ f: Function, _ frame: Frame, given n: Int, _ loc: SourceLocation) throws {
        let params = f.decl.parameters
        for i in n..<params.count {
            if let d = f.proto.defaults[i] { frame.slots[i] = try d(frame) }
            else { throw Diagnostic(.argument, "\(f.decl.name): missing argument '\(params[i].name)'", at: loc) }
        }
    }

    /// The error of a call past `maxCallDepth`.
    @inline(never) func tooDeep(_ loc: SourceLocation) -> Diagnostic {
        Diagnostic(.runtime, "too many nested calls (more than \(maxCallDepth)): infinite recursion?", at: loc)
    }

    @inline(__always) func run(_ f: Function, _ frame: Frame, _ loc: SourceLocation) throws -> Value {
        if callDepth >= maxCallDepth { throw tooDeep(loc) }
        if isCancelled { try checkCancelledAt(loc) }
        callDepth += 1
        defer { callDepth -= 1 }
        // the body called through a guaranteed reference: no retain of its context per call
        // (it gives the result; `break`/`continue` outside a loop is its error, see Compiler.tail)
        return try Unmanaged.passUnretained(f.proto)._withUnsafeGuaranteedRef { try $0.body(frame) }
    }

    /// Call and block frames alive in the process (tests check that finished ones are freed).
    public static var liveFrames: Int { Frame.live }

    /// Variable and command names visible at the top level (for completion and `:vars`).
    public var globalNames: [String] { globals.allNames }
}

