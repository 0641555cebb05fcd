// Compiler: turns the syntax tree into nested Swift closures once, before it runs, the way
// closure-compiling interpreters do (Feeley & Lapalme), after a resolver pass in the spirit of
// clox's: every name a function or block declares gets a slot in a frame, so a variable is an
// array element found by (frames up, slot), not a dictionary look-up per use.
//
// Scopes keep the tree-walker's semantics exactly:
// - a function call gets a frame; its parameters are slots 0..<n, its `let`s the next ones;
// - a block (if/while/for body) is its own scope; its names live in the enclosing frame
//   ("flattened", cleared each time the block is entered, as a fresh scope would be) unless a
//   function defined inside it uses one of them: then the block gets a frame of its own per
//   entry (per loop iteration), so closures keep capturing each iteration's variables;
// - a name resolves to every enclosing scope that declares it anywhere, innermost first; at run
//   time the first whose slot is set wins (an unset slot is a name not yet bound there), then the
//   globals (the top level of a script, a notebook or the REPL, kept by name in `Environment`),
//   then commands. So `print(x); let x = 2` in a function still reads the outer `x` first.
// Errors are raised by the same code as before (Interpreter's operators, `fieldOf`, `call`...),
// at the same locations. Values stay values: lists and records are copied on write, and the
// compiler mutates a variable's list or record in place (`xs[i] = v`, `r.k = v`, `xs += [x]`,
// `xs = append(xs, x)`, `xs.push(x)`) by taking the value out of its slot so that the storage
// is not shared and Swift's copy-on-write does not copy it.
import Foundation

/// The variables of one activation (a call, a captured block's entry, a top-level run). The
/// slots are a stored pointer (a ManagedBuffer's tail elements cost a retain and a release of
/// the buffer at every access).
final class Frame {
    let slots: UnsafeMutablePointer<Value?>
    let count: Int
    /// The frame of the code the function was defined in (set again when a pooled frame is
    /// reused; nil for functions defined at the top level, whose names are globals).
    var parent: Frame?

    init(parent: Frame?, size: Int) {
        self.parent = parent
        Frame.live += 1
        count = max(size, 1)
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }

    static func make(parent: Frame?, size: Int) -> Frame { Frame(parent: parent, size: size) }

    /// Empties the slots for reuse (FunctionProto's pool).
    @inline(__always) func clear() {
        var i = 0
        while i < count { slots[i] = nil; i += 1 }
        if parent != nil { parent = nil }
    }

    deinit {
        Frame.live -= 1
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    /// Frames alive now (for the tests that check finished frames are freed).
    nonisolated(unsafe) static var live = 0

    /// Whether a finished frame that is still referenced is garbage all the same, and if so
    /// makes it unreachable from its closures; `fr` is the caller's reference. A closure defined
    /// in a frame and kept in one of its slots refers back to it (frame -> slot -> closure ->
    /// frame), a cycle that reference counting never frees: every call of a function that
    /// defines a helper would leak its frame. So each closure of this frame held only by one of
    /// its slots lets go of the frame for a moment; if `fr` is then the only reference left, the
    /// frame is garbage: the closures are dropped and true is returned (the caller clears the
    /// slots or pools the frame). Otherwise everything is put back as it was and false is
    /// returned, and the frame becomes a suspect (below).
    static func collect(_ fr: inout Frame) -> Bool {
        let slots = fr.slots
        var held: [(Int, Function)] = []
        var i = 0
        while i < fr.count {
            if case .function(var g)? = slots[i], g.frame === fr {
                slots[i] = nil
                if isKnownUniquelyReferenced(&g) {
                    g.frame = nil
                    held.append((i, g))
                } else {
                    slots[i] = .function(g)
                }
            }
            i += 1
        }
        if held.isEmpty { return false }
        if isKnownUniquelyReferenced(&fr) { return true }
        for (k, g) in held {
            g.frame = fr
            slots[k] = .function(g)
        }
        return false
    }

    /// Ends a frame whose activation finished (a block's, a loop iteration's, a call's that is
    /// not pooled): a frame kept only by the closures in its own slots is cleared, so it is freed.
    @inline(__always) static func finish(_ fr: inout Frame) {
        if isKnownUniquelyReferenced(&fr) { return }
        if collect(&fr) { fr.clear(); return }
        suspect(fr)
    }

    /// Finished frames still referenced when they finished: a closure of theirs escaped (it was
    /// returned, or stored in a list or elsewhere). When that closure is one their slots also
    /// hold (`return add` after `fn add`), dropping it later leaves the cycle behind with no
    /// deinit to notice, so the suspects are looked at again, as CPython's collector looks at
    /// the containers it tracks: when there are `suspectLimit` of them (then twice the number
    /// that stayed alive, at least 256), and at the end of each top-level entry. Holding them a
    /// while longer changes nothing but when their memory is given back.
    nonisolated(unsafe) static var suspects: [Frame] = []
    nonisolated(unsafe) static var suspectLimit = 256

    static func suspect(_ fr: Frame) {
        suspects.append(fr)
        if suspects.count >= suspectLimit { scanSuspects() }
    }

    /// Frees the suspects that nothing outside their own closures references any more, oldest
    /// first (an inner block's frame finishes before the call's around it and lets go of it).
    static func scanSuspects() {
        if suspects.isEmpty { return }
        var list = Array(suspects.reversed())
        suspects.removeAll()
        var alive: [Frame] = []
        while var f = list.popLast() {
            if isKnownUniquelyReferenced(&f) { continue }   // nothing else left: freed here
            if collect(&f) { f.clear(); continue }
            alive.append(f)
        }
        suspects = alive + suspects
        suspectLimit = max(256, 2 * alive.count)
    }

    @inline(__always) func up(_ hops: Int) -> Frame {
        var f = self
        var h = hops
        while h > 0 { f = f.parent.unsafelyUnwrapped; h -= 1 }
        return f
    }

    /// The slots of the frame `hops` levels up, walked without retaining the frames between
    /// (each is kept alive by the one below it, and this one by the caller).
    @inline(__always) func slotsUp(_ hops: Int) -> UnsafeMutablePointer<Value?> {
        if hops == 0 { return slots }
        var u = Unmanaged.passUnretained(self)
        var h = hops
        while h > 0 {
            u = u._withUnsafeGuaranteedRef { Unmanaged.passUnretained($0.parent.unsafelyUnwrapped) }
            h -= 1
        }
        return u._withUnsafeGuaranteedRef { $0.slots }
    }
}

/// The slot count of a frame, final once its code is compiled.
final class Layout {
    var size = 0
    func allocate() -> Int { size += 1; return size - 1 }
}

/// A scope at compile time: the names it declares and their slots.
final class Scope {
    let parent: Scope?
    let layout: Layout
    /// Owns a frame at run time (function bodies, captured blocks, the top level).
    let materialized: Bool
    /// The top level: its own names are globals.
    let isRoot: Bool
    let declared: Set<String>
    private(set) var slots: [String: Int] = [:]
    private(set) var slotList: [Int] = []

    init(parent: Scope?, layout: Layout, materialized: Bool, isRoot: Bool, declared: Set<String>) {
        self.parent = parent; self.layout = layout; self.materialized = materialized
        self.isRoot = isRoot; self.declared = declared
    }

    func slot(_ name: String) -> Int {
        if let s = slots[name] { return s }
        let s = layout.allocate()
        slots[name] = s
        slotList.append(s)
        return s
    }
}

/// Where a name may be at run time: frame slots (innermost first), then the globals.
struct Candidate { let hops: Int; let slot: Int }

/// A compiled reference to a name.
final class VarAccess {
    let name: String
    let cands: [Candidate]
    let one: Bool
    let hops0: Int, slot0: Int
    let globals: Environment
    let gidx: Int
    let scope: Scope
    let interp: Interpreter
    private var cachedCommand: Value? = nil
    private var cachedVersion = -1

    init(name: String, cands: [Candidate], scope: Scope, interp: Interpreter) {
        self.name = name; self.cands = cands; self.scope = scope; self.interp = interp
        one = cands.count == 1
        hops0 = cands.first?.hops ?? 0
        slot0 = cands.first?.slot ?? 0
        globals = interp.globals
        gidx = globals.slotIndex(name)
    }

    /// The bound value, nil when no scope binds the name (a command, or undefined).
    @inline(__always) func get(_ f: Frame) -> Value? {
        if one {
            if let v = f.slotsUp(hops0)[slot0] { return v }
        } else {
            for c in cands { if let v = f.slotsUp(c.hops)[c.slot] { return v } }
        }
        return globals.get(gidx)
    }

    /// Whether a scope binds the name (without copying its value).
    @inline(__always) func isBound(_ f: Frame) -> Bool {
        if one {
            if case .some = f.slotsUp(hops0)[slot0] { return true }
        } else {
            for c in cands { if case .some = f.slotsUp(c.hops)[c.slot] { return true } }
        }
        return globals.isBound(gidx)
    }

    /// The bound value when it is a user function (nil otherwise: unbound, or another value).
    @inline(__always) func function(_ f: Frame) -> Function? {
        if one {
            let p = f.slotsUp(hops0) + slot0
            if case .some(let v) = p.pointee {
                if case .function(let fn) = v { return fn }
                return nil
            }
        } else if let v = get(f) {
            if case .function(let fn) = v { return fn }
            return nil
        }
        return globals.function(gidx)
    }

    /// The slot that holds the name now (nil when unbound).
    @inline(__always) func pointer(_ f: Frame) -> UnsafeMutablePointer<Value?>? {
        if one {
            let p = f.slotsUp(hops0) + slot0
            if case .some = p.pointee { return p }
            return globals.pointer(gidx)
        }
        for c in cands {
            let p = f.slotsUp(c.hops) + c.slot
            if case .some = p.pointee { return p }
        }
        return globals.pointer(gidx)
    }

    /// Rebinds the name where it is bound; false when nothing binds it.
    @inline(__always) func set(_ f: Frame, _ v: Value) -> Bool {
        if one {
            let p = f.slotsUp(hops0) + slot0
            if case .some = p.pointee { p.pointee = v; return true }
        } else {
            for c in cands {
                let p = f.slotsUp(c.hops) + c.slot
                if case .some = p.pointee { p.pointee = v; return true }
            }
        }
        return globals.set(gidx, v)
    }

    /// A name no scope binds: a command, a group of commands, or an error with a suggestion.
    func fallback(_ f: Frame, _ loc: SourceLocation) throws -> Value {
        let r = interp.registry
        if cachedVersion == r.version, let c = cachedCommand { return c }
        if let c = r[name] {
            cachedCommand = .command(c); cachedVersion = r.version
            return .command(c)
        }
        if r.isNamespace(name) {
            cachedCommand = .namespace(name); cachedVersion = r.version
            return .namespace(name)
        }
        var msg = "undefined name '\(name)'"
        if let s = closestName(name, visibleNames(f) + r.topLevelNames) { msg += " (did you mean '\(s)'?)" }
        throw Diagnostic(.name, msg, at: loc)
    }

    private var commandVersion = -1
    private var command: Command? = nil
    /// The command of this name when no scope binds it (the caller checked), looked up once
    /// per change of the registry.
    @inline(__always) func registryCommand() -> Command? {
        let r = interp.registry
        if commandVersion != r.version {
            command = r[name]
            commandVersion = r.version
        }
        return command
    }

    /// The command this name calls (no scope binds it) with its shortcuts, for a call site that
    /// runs it without reference counting: the box of each registry version stays alive with this
    /// access (versions change when commands are registered, before scripts run).
    final class CommandBox {
        let command: Command
        let fast1: ((Value) -> Value?)?
        let fast2: ((Value, Value) -> Value?)?
        init(_ c: Command) { command = c; fast1 = c.fast1; fast2 = c.fast2 }
    }
    private var boxVersion = -1
    private var box: Unmanaged<CommandBox>? = nil
    private var boxes: [CommandBox] = []
    /// The command box for the registry as it is now (nil: no such command).
    @inline(__always) func commandBox() -> Unmanaged<CommandBox>? {
        if boxVersion != interp.registry.version { refreshBox() }
        return box
    }
    @inline(never) private func refreshBox() {
        boxVersion = interp.registry.version
        if let c = interp.registry[name] {
            let b = CommandBox(c)
            boxes.append(b)
            box = Unmanaged.passUnretained(b)
        } else {
            box = nil
        }
    }

    private var coreAppendVersion = -1
    private var coreAppend = false
    /// Whether the name is the core `append` command here (no variable binds it).
    @inline(__always) func namesCoreAppend(_ f: Frame) -> Bool {
        if isBound(f) { return boundCoreAppend(f) }
        if coreAppendVersion != interp.registry.version { refreshCoreAppend() }
        return coreAppend
    }
    @inline(never) private func boundCoreAppend(_ f: Frame) -> Bool {
        if case .command(let c)? = get(f) { return c.isCoreAppend }
        return false
    }
    @inline(never) private func refreshCoreAppend() {
        let r = interp.registry
        coreAppend = r[name]?.isCoreAppend ?? false
        coreAppendVersion = r.version
    }

    func read(_ f: Frame, _ loc: SourceLocation) throws -> Value {
        if let v = get(f) { return v }
        return try fallback(f, loc)
    }

    /// Every name bound where this reference stands (for suggestions), sorted.
    func visibleNames(_ f: Frame) -> [String] {
        var out = Set(globals.allNames)
        var s: Scope? = scope
        var frame: Frame? = f
        while let sc = s, let fr = frame {
            if !sc.isRoot {
                for (n, i) in sc.slots where fr.slots[i] != nil { out.insert(n) }
            }
            if sc.materialized { frame = fr.parent }
            s = sc.parent
        }
        return out.sorted()
    }
}

/// A user function's compiled form, shared by every closure made from its declaration.
final class FunctionProto {
    let decl: FunctionDecl
    let layout: Layout
    let arity: Int
    let defaults: [Eval?]
    /// The body, compiled to give the call's result (`Compiler.tail`: no `Flow` per statement).
    let body: Eval
    /// Frames of finished calls that nothing captured, reused by the next calls (a call then
    /// costs no allocation: recursion keeps one frame per level, which maxCallDepth bounds).
    /// A stack in an array: taking a frame out and putting it back moves the reference, with no
    /// reference counting.
    var pool: [Frame] = []
    /// No function is defined in its body or its defaults (no `fn`, at any depth): nothing can
    /// keep a frame of its calls past the call (no closure captures it, no block frame hangs
    /// below it). Its calls then take their frames from `stack`, by depth, as Lua and CPython
    /// take theirs from a value stack: no reference counting, no uniqueness check.
    let capturesNothing: Bool
    /// Frames of the calls in progress (`depth` of them) and spare ones above, each held +1.
    private var stack: UnsafeMutablePointer<Unmanaged<Frame>>? = nil
    private var stackCount = 0
    private var depth = 0
    init(decl: FunctionDecl, layout: Layout, defaults: [Eval?], body: @escaping Eval, capturesNothing: Bool = false) {
        self.decl = decl; self.layout = layout; arity = decl.parameters.count
        self.defaults = defaults; self.body = body; self.capturesNothing = capturesNothing
    }

    deinit {
        if let st = stack {
            for i in 0..<stackCount { st[i].release() }
            st.deallocate()
        }
    }

    /// One more frame on `stack` (the depth reached a new high).
    @inline(never) private func growStack() {
        let n = stackCount
        let st = UnsafeMutablePointer<Unmanaged<Frame>>.allocate(capacity: n + 1)
        if let old = stack {
            st.moveInitialize(from: old, count: n)
            old.deallocate()
        }
        (st + n).initialize(to: Unmanaged.passRetained(Frame(parent: nil, size: layout.size)))
        stack = st
        stackCount = n + 1
    }

    /// A call of `fn` (whose proto this is, `capturesNothing`) in the frame of its depth: the
    /// frame is emptied when the call ends, returning or throwing.
    @inline(__always) func invokeOnStack(_ fn: Function, _ interp: Interpreter, given: Int, _ loc: SourceLocation,
                                         _ fill: (UnsafeMutablePointer<Value?>) throws -> Void) throws -> Value {
        if depth == stackCount { growStack() }
        let u = stack.unsafelyUnwrapped[depth]
        depth += 1
        defer { depth -= 1 }
        return try u._withUnsafeGuaranteedRef { fr in
            if let p = fn.frame { fr.parent = p }
            defer { fr.clear() }
            try fill(fr.slots)
            // Interpreter.enter and run, inline: the defaults, the depth limit, Ctrl-C, the body
            if given < arity { try interp.fillDefaults(fn, fr, given: given, loc) }
            if interp.callDepth >= interp.maxCallDepth { throw interp.tooDeep(loc) }
            if interp.isCancelled { try interp.checkCancelledAt(loc) }
            interp.callDepth += 1
            defer { interp.callDepth -= 1 }
            return try body(fr)
        }
    }

    @inline(__always) func frame(parent: Frame?) -> Frame {
        if let fr = pool.popLast() {
            if let p = parent { fr.parent = p }   // a pooled frame's parent is nil
            return fr
        }
        return Frame(parent: parent, size: layout.size)
    }

    /// Calls `fn` (whose proto this is) with `given` positional arguments, which `fill` writes
    /// into the first slots of its frame (a pooled one).
    @inline(__always) static func invoke(_ fn: Function, _ interp: Interpreter, given: Int, _ loc: SourceLocation,
                                         _ fill: (UnsafeMutablePointer<Value?>) throws -> Void) throws -> Value {
        // the proto lives as long as `fn`, which this call holds to its end
        if fn.proto.capturesNothing {
            let r = try Unmanaged.passUnretained(fn.proto)._withUnsafeGuaranteedRef {
                try $0.invokeOnStack(fn, interp, given: given, loc, fill)
            }
            withExtendedLifetime(fn) {}
            return r
        }
        unowned(unsafe) let proto = fn.proto
        var fr = proto.frame(parent: fn.frame)
        try fill(fr.slots)
        let r = try interp.enter(fn, fr, given: given, loc)
        if isKnownUniquelyReferenced(&fr) || Frame.collect(&fr) {
            fr.clear()
            proto.pool.append(consume fr)
        } else {
            Frame.suspect(fr)
        }
        withExtendedLifetime(fn) {}
        return r
    }
}

typealias Eval = (Frame) throws -> Value
typealias Exec = (Frame) throws -> Flow

/// A binary operator's operands and the rest of its state (`Compiler.binary`): the fast paths
/// for numbers, then `Interpreter.binary` with its errors.
final class BinaryNode {
    let op: BinaryOp
    let a: Eval, b: Eval
    let interp: Interpreter
    let loc: SourceLocation
    init(op: BinaryOp, a: @escaping Eval, b: @escaping Eval, interp: Interpreter, loc: SourceLocation) {
        self.op = op; self.a = a; self.b = b; self.interp = interp; self.loc = loc
    }
    @inline(__always) func general(_ f: Frame) throws -> Value {
        let x = try a(f), y = try b(f)
        if let v = Compiler.fast(op, x, y) { return v }
        return try interp.binary(op, x, y, loc)
    }
    /// `+` (the commonest): two ints added without the switch over the operator.
    @inline(__always) func add(_ f: Frame) throws -> Value {
        let x = try a(f), y = try b(f)
        if case .int(let p) = x, case .int(let q) = y {
            let (r, o) = p.addingReportingOverflow(q)
            if !o { return .int(r) }
        }
        if let v = Compiler.fast(.add, x, y) { return v }
        return try interp.binary(.add, x, y, loc)
    }
    @inline(__always) func codeInt(_ f: Frame, _ k: Int) throws -> Value {
        let x = try a(f)
        if case .int(let p) = x, let v = Compiler.fastInt(op, p, k) { return v }
        if let v = Compiler.fast(op, x, .int(k)) { return v }
        return try interp.binary(op, x, .int(k), loc)
    }
    /// A comparison with an int literal as a condition (`Compiler.condition`).
    @inline(__always) func compareInt(_ f: Frame, _ k: Int) throws -> Bool {
        let x = try a(f)
        if case .int(let p) = x {
            switch op {
            case .lt: return p < k
            case .le: return p <= k
            case .gt: return p > k
            case .ge: return p >= k
            case .eq: return p == k
            default: return p != k
            }
        }
        if let v = Compiler.fast(op, x, .int(k)) { return v.isTruthy }
        return try interp.binary(op, x, .int(k), loc).isTruthy
    }
    @inline(__always) func codeDouble(_ f: Frame, _ d: Double) throws -> Value {
        let x = try a(f)
        if let v = Compiler.fast(op, x, .double(d)) { return v }
        return try interp.binary(op, x, .double(d), loc)
    }
    @inline(__always) func codeLocal(_ f: Frame, _ sl: Int) throws -> Value {
        let x = try a(f)
        if case .some(let y) = f.slots[sl], let v = Compiler.fast(op, x, y) { return v }
        let y = try b(f)
        if let v = Compiler.fast(op, x, y) { return v }
        return try interp.binary(op, x, y, loc)
    }
}

/// `if c { ... }` without else in a function body's tail position, then the rest of the body
/// (`Compiler.tail`).
final class TailIf {
    let cond: (Frame) throws -> Bool
    let body: Eval
    let next: Eval
    let nextLoc: SourceLocation
    let interp: Interpreter
    init(cond: @escaping (Frame) throws -> Bool, body: @escaping Eval, next: @escaping Eval, nextLoc: SourceLocation, interp: Interpreter) {
        self.cond = cond; self.body = body; self.next = next; self.nextLoc = nextLoc; self.interp = interp
    }
    @inline(__always) func run(_ f: Frame) throws -> Value {
        if try cond(f) { return try body(f) }
        if interp.isCancelled { try interp.checkCancelledAt(nextLoc) }
        return try next(f)
    }
    /// The branch is `return y` with `y` a local: read in place.
    @inline(__always) func runLocal(_ f: Frame, _ sl: Int) throws -> Value {
        if try cond(f) {
            if let v = f.slots[sl] { return v }
            return try body(f)
        }
        if interp.isCancelled { try interp.checkCancelledAt(nextLoc) }
        return try next(f)
    }
}

/// A call `name(x)` with one positional argument (`Compiler.call`).
final class Call1 {
    let direct: Bool
    let g: Environment
    let gi: Int
    let a0: Eval
    let interp: Interpreter
    let loc: SourceLocation
    let acc: VarAccess
    let slow: Eval
    init(direct: Bool, g: Environment, gi: Int, a0: @escaping Eval, interp: Interpreter, loc: SourceLocation, acc: VarAccess, slow: @escaping Eval) {
        self.direct = direct; self.g = g; self.gi = gi; self.a0 = a0; self.interp = interp; self.loc = loc; self.acc = acc; self.slow = slow
    }

    @inline(__always) func run(_ f: Frame) throws -> Value {
        // a global function borrowed from its slot (see Environment.retired)
        if direct, let u = g.functionRef(gi), u._withUnsafeGuaranteedRef({ $0.proto.arity >= 1 }) {
            return try u._withUnsafeGuaranteedRef { try FunctionProto.invoke($0, interp, given: 1, loc) { p in p[0] = try a0(f) } }
        }
        return try other(f)
    }

    @inline(never) func other(_ f: Frame) throws -> Value {
        if let fn = direct ? g.function(gi) : acc.function(f), fn.proto.arity >= 1 {
            return try FunctionProto.invoke(fn, interp, given: 1, loc) { p in p[0] = try a0(f) }
        }
        // a core command's shortcut (len(x), str(x)): no argument array, no
        // reference counting of the command (`CommandBox`)
        if !(direct ? g.isBound(gi) : acc.isBound(f)), let u = acc.commandBox(),
           u._withUnsafeGuaranteedRef({ $0.fast1 != nil }) {
            let x = try a0(f)
            if interp.isCancelled { try interp.checkCancelledAt(loc) }
            if let r = u._withUnsafeGuaranteedRef({ $0.fast1.unsafelyUnwrapped(x) }) { return r }
            return try interp.call(.command(u.takeUnretainedValue().command), Arguments([x], location: loc))
        }
        return try slow(f)
    }
}

/// Compiled code kept in arrays or optionals goes in a box: a closure stored directly in a
/// generic container is called through a reabstraction thunk, one more indirect call each time.
final class Code {
    let run: Eval
    init(_ run: @escaping Eval) { self.run = run }
    /// Runs the code of a box that something else keeps alive (an array the caller holds),
    /// through a guaranteed reference: no retain of the closure's context per run.
    @inline(__always) static func run(_ u: Unmanaged<Code>, _ f: Frame) throws -> Value {
        try u._withUnsafeGuaranteedRef { try $0.run(f) }
    }
}
final class SCode { let run: Exec; init(_ run: @escaping Exec) { self.run = run } }
final class CondCode { let run: (Frame) throws -> Bool; init(_ run: @escaping (Frame) throws -> Bool) { self.run = run } }

/// Slot numbers in memory a compiled closure reads without the array's bounds checks and
/// reference counting; freed with the closure that keeps this owner.
final class SlotList {
    let slots: UnsafeMutablePointer<Int>
    init(_ slots: UnsafeMutablePointer<Int>) { self.slots = slots }
    deinit { slots.deallocate() }
}

/// One step of an assignment target after its indices are evaluated: `.name` or `[items]`.
enum PathStep {
    case field(String, Expr)                 // the field expression (location, object expression)
    case index([IndexItem], Expr)            // the subscript expression
    var expr: Expr {
        switch self { case .field(_, let e), .index(_, let e): return e }
    }
}

/// A compiled step of an assignment target.
enum PathCode {
    case field(String, Expr)
    case index([ItemCode], Expr)
}

enum ItemCode {
    case index(Eval)
    case slice(Eval?, Eval?, Eval?, Expr?, Expr?, Expr?)
}

final class Compiler {
    let interp: Interpreter
    private var usedInFunctions: [ObjectIdentifier: Set<String>] = [:]

    init(_ interp: Interpreter) { self.interp = interp }

    // MARK: scopes

    /// Names a block binds directly (`let`, `fn`), not those of nested blocks.
    static func declaredNames(_ stmts: [Stmt]) -> Set<String> {
        var out = Set<String>()
        for s in stmts {
            switch s.kind {
            case .letBinding(let n, _): out.insert(n)
            case .function(let d): out.insert(d.name)
            default: break
            }
        }
        return out
    }

    /// Every identifier used inside function declarations nested in `stmts` (at any depth).
    func namesUsedInFunctions(_ stmts: [Stmt]) -> Set<String> {
        var out = Set<String>()
        func stmt(_ s: Stmt, inFn: Bool) {
            switch s.kind {
            case .expression(let e): expr(e, inFn)
            case .letBinding(let n, let e): if inFn { out.insert(n) }; expr(e, inFn)
            case .assign(let t, let e), .compoundAssign(_, let t, let e): expr(t, inFn); expr(e, inFn)
            case .function(let d): function(d)
            case .ifStmt(let bs, let els):
                for (c, b) in bs { expr(c, inFn); for x in b { stmt(x, inFn: inFn) } }
                for x in els ?? [] { stmt(x, inFn: inFn) }
            case .forStmt(let names, let e, let b):
                if inFn { out.formUnion(names) }
                expr(e, inFn); for x in b { stmt(x, inFn: inFn) }
            case .whileStmt(let c, let b): expr(c, inFn); for x in b { stmt(x, inFn: inFn) }
            case .returnStmt(let e): if let e = e { expr(e, inFn) }
            case .breakStmt, .continueStmt: break
            }
        }
        func function(_ d: FunctionDecl) {
            let key = ObjectIdentifier(d)
            if let known = usedInFunctions[key] { out.formUnion(known); return }
            let saved = out
            out = []
            for p in d.parameters { out.insert(p.name); if let x = p.defaultValue { expr(x, true) } }
            for x in d.body { stmt(x, inFn: true) }
            usedInFunctions[key] = out
            out.formUnion(saved)
        }
        func expr(_ e: Expr, _ inFn: Bool) {
            switch e.kind {
            case .identifier(let n): if inFn { out.insert(n) }
            case .int, .double, .bool, .nilLiteral: break
            case .string(let parts): for p in parts { if case .expr(let x) = p { expr(x, inFn) } }
            case .list(let xs): for x in xs { expr(x, inFn) }
            case .record(let fs): for (_, x) in fs { expr(x, inFn) }
            case .unary(_, let x): expr(x, inFn)
            case .binary(_, let a, let b): expr(a, inFn); expr(b, inFn)
            case .call(let c, let args): expr(c, inFn); for a in args { expr(a.value, inFn) }
            case .field(let o, _): expr(o, inFn)
            case .subscriptAccess(let o, let items):
                expr(o, inFn)
                for it in items {
                    switch it {
                    case .index(let x): expr(x, inFn)
                    case .slice(let a, let b, let c): for x in [a, b, c] { if let x = x { expr(x, inFn) } }
                    }
                }
            case .function(let d): function(d)
            }
        }
        for s in stmts { stmt(s, inFn: false) }
        return out
    }

    /// The scope of a block nested in `parent` (an if/while/for body), with `extra` names bound
    /// on entry (a for loop's variables).
    func blockScope(_ stmts: [Stmt], parent: Scope, extra: [String] = []) -> Scope {
        var declared = Compiler.declaredNames(stmts)
        declared.formUnion(extra)
        let captured = !declared.isEmpty && !namesUsedInFunctions(stmts).isDisjoint(with: declared)
        let owner = captured ? Layout() : parent.layout
        let s = Scope(parent: parent, layout: owner, materialized: captured, isRoot: false, declared: declared)
        for n in extra { _ = s.slot(n) }
        return s
    }

    func access(_ name: String, _ scope: Scope) -> VarAccess {
        var cands: [Candidate] = []
        var hops = 0
        var s: Scope? = scope
        while let sc = s {
            if !sc.isRoot, sc.declared.contains(name) { cands.append(Candidate(hops: hops, slot: sc.slot(name))) }
            if sc.materialized { hops += 1 }
            s = sc.parent
        }
        return VarAccess(name: name, cands: cands, scope: scope, interp: interp)
    }

    // MARK: programs and blocks

    /// A top-level program: its statements' code (bare expressions give their value) and the
    /// size of the frame that holds the variables of its blocks.
    func compileProgram(_ program: [Stmt]) -> (codes: [(Stmt, Eval?, Exec?)], layout: Layout) {
        let layout = Layout()
        let root = Scope(parent: nil, layout: layout, materialized: true, isRoot: true, declared: [])
        var out: [(Stmt, Eval?, Exec?)] = []
        for s in program {
            if case .expression(let e) = s.kind { out.append((s, expr(e, root), nil)) }
            else { out.append((s, nil, stmt(s, root))) }
        }
        return (out, layout)
    }

    func statements(_ stmts: [Stmt], _ scope: Scope) -> Exec {
        if stmts.isEmpty { return { _ in .normal } }
        let interp = self.interp
        let codes = stmts.map { SCode(stmt($0, scope)) }
        var code = codes[codes.count - 1].run
        // a chain of closures, not a loop over an array of them. Between two statements a
        // pending stop request (a command such as train returned after Ctrl-C) ends the run.
        for k in stride(from: codes.count - 2, through: 0, by: -1) {
            let c = codes[k].run
            let next = code
            let nextLoc = stmts[k + 1].location
            code = { f in
                let r = try c(f)
                if case .normal = r {
                    if interp.isCancelled { try interp.checkCancelledAt(nextLoc) }
                    return try next(f)
                }
                return r
            }
        }
        return code
    }

    /// A nested block run as its own scope: a fresh frame when captured, else its slots cleared.
    func block(_ stmts: [Stmt], _ parent: Scope) -> Exec {
        let scope = blockScope(stmts, parent: parent)
        let body = statements(stmts, scope)
        if scope.materialized {
            let layout = scope.layout
            return { f in
                var b = Frame.make(parent: f, size: layout.size)
                defer { Frame.finish(&b) }
                return try body(b)
            }
        }
        let reset = scope.slotList   // final now that the block is compiled
        if reset.isEmpty { return body }
        return { f in
            for i in reset { f.slots[i] = nil }
            return try body(f)
        }
    }

    /// Where a function body's code goes on after the statements `tail` compiles: the code of
    /// the statements after them (entered with a Ctrl-C check at their first statement, as
    /// between any two statements), or the end of the body (nil: the call gives nil).
    typealias Then = (code: Eval, loc: SourceLocation)?

    /// A function body's statements compiled to give the call's result directly, where
    /// `statements` gives a `Flow` per statement that the call unpacks: `return e` is the code
    /// of `e`, an `if` in this position runs the tail of its branch (which goes on to `then`
    /// when it does not return) and the rest of the body as its continuation, and any other
    /// statement runs as compiled by `stmt`, a `return` inside it (a loop's) ending the call.
    /// Same order of evaluation, Ctrl-C checks, scopes and errors as `statements` and
    /// `Interpreter.run` (`break`/`continue` outside a loop is an error at the function).
    func tail(_ stmts: ArraySlice<Stmt>, _ scope: Scope, _ fnLoc: SourceLocation, then: Then) -> Eval {
        let interp = self.interp
        guard let first = stmts.first else { return proceed(then) }
        let rest = stmts.dropFirst()
        // what runs after `first` completes normally
        let after: Then = rest.isEmpty ? then : (tail(rest, scope, fnLoc, then: then), rest.first!.location)
        switch first.kind {
        case .returnStmt(let e):
            // the statements after a return never run
            guard let e = e else { return { _ in .null } }
            let c = expr(e, scope)
            switch operand(e, scope) {
            case .local(let sl):
                return { f in
                    if let v = f.slots[sl] { return v }
                    return try c(f)
                }
            case .int(let i):
                let v = Value.int(i)
                return { _ in v }
            default:
                return c
            }
        case .ifStmt(let branches, let elseBody):
            // each branch (a block scope of its own, unless a closure captures it) goes on to
            // what follows the `if`
            let scopes = branches.map { blockScope($0.1, parent: scope) }
            let elseScope = elseBody.map { blockScope($0, parent: scope) }
            if scopes.contains(where: { $0.materialized }) || (elseScope?.materialized ?? false) { break }
            func branch(_ body: [Stmt], _ bs: Scope) -> Eval {
                let code = tail(body[...], bs, fnLoc, then: after)
                let reset = bs.slotList   // final now that the branch is compiled
                if reset.isEmpty { return code }
                return { f in
                    for i in reset { f.slots[i] = nil }
                    return try code(f)
                }
            }
            let otherwise: Eval
            if let eb = elseBody, let es = elseScope {
                otherwise = branch(eb, es)
            } else {
                otherwise = proceed(after)
            }
            if branches.count == 1 {
                // (the condition and the branch as closures of their own, not taken out of an
                // array: a closure stored in an array is called through a reabstraction thunk)
                let c = condition(branches[0].0, scope)
                let b = branch(branches[0].1, scopes[0])
                var local: Int? = nil
                // `if ... { return y }` with a local `y`: read in place
                if case .some(.returnStmt(let re?)) = branches[0].1.first?.kind, branches[0].1.count == 1,
                   case .local(let sl) = operand(re, scope), scopes[0].slotList.isEmpty { local = sl }
                if elseBody == nil, let t = after {
                    // no else: the rest of the body, entered here (one closure call fewer), the
                    // state in one object (a small closure context)
                    let node = TailIf(cond: c, body: b, next: t.code, nextLoc: t.loc, interp: interp)
                    if let sl = local { return { f in try node.runLocal(f, sl) } }
                    return { f in try node.run(f) }
                }
                if let sl = local {
                    return { f in
                        if try c(f) {
                            if let v = f.slots[sl] { return v }
                            return try b(f)
                        }
                        return try otherwise(f)
                    }
                }
                return { f in try c(f) ? try b(f) : try otherwise(f) }
            }
            let condBoxes = branches.map { CondCode(condition($0.0, scope)) }
            let bodyBoxes = zip(branches, scopes).map { Code(branch($0.0.1, $0.1)) }
            return { f in
                for i in 0..<condBoxes.count where try condBoxes[i].run(f) { return try bodyBoxes[i].run(f) }
                return try otherwise(f)
            }
        default:
            break
        }
        let s = stmt(first, scope)
        guard let t = after else {
            return { f in try Compiler.result(try s(f), fnLoc) }
        }
        let next = t.code, nextLoc = t.loc
        return { f in
            let r = try s(f)
            if case .normal = r {
                if interp.isCancelled { try interp.checkCancelledAt(nextLoc) }
                return try next(f)
            }
            return try Compiler.result(r, fnLoc)
        }
    }

    /// The code that goes on to `t` (a Ctrl-C check at its first statement, as between any two
    /// statements, then its code); nil: the end of the body, the call gives nil.
    func proceed(_ t: Then) -> Eval {
        guard let t = t else { return { _ in .null } }
        let interp = self.interp, next = t.code, nextLoc = t.loc
        return { f in
            if interp.isCancelled { try interp.checkCancelledAt(nextLoc) }
            return try next(f)
        }
    }

    /// A call's result from the flow its last statement ended with.
    static func result(_ r: Flow, _ fnLoc: SourceLocation) throws -> Value {
        switch r {
        case .returned(let v): return v
        case .normal: return .null
        case .breakLoop, .continueLoop:
            throw Diagnostic(.syntax, "'break' or 'continue' outside a loop", at: fnLoc)
        }
    }

    // MARK: statements

    func stmt(_ s: Stmt, _ scope: Scope) -> Exec {
        let interp = self.interp
        let loc = s.location
        switch s.kind {
        case .expression(let e):
            let c = expr(e, scope)
            return { f in _ = try c(f); return .normal }

        case .letBinding(let name, let e):
            let c = expr(e, scope)
            let rename: (Value) -> Value = { v in
                if case .function(let fn) = v, fn.decl.name == "<anonymous>" {
                    let d = FunctionDecl(name: name, parameters: fn.decl.parameters, body: fn.decl.body, location: fn.decl.location)
                    return .function(Function(decl: d, proto: fn.proto, frame: fn.frame))
                }
                return v
            }
            var isFn = false
            if case .function = e.kind { isFn = true }
            if scope.isRoot {
                let g = interp.globals, gi = g.slotIndex(name)
                return isFn ? { f in g.store(gi, rename(try c(f))); return .normal }
                            : { f in g.store(gi, try c(f)); return .normal }
            }
            let slot = scope.slot(name)
            return isFn ? { f in f.slots[slot] = rename(try c(f)); return .normal }
                        : { f in f.slots[slot] = try c(f); return .normal }

        case .function(let decl):
            let proto = function(decl, scope)
            if scope.isRoot {
                let g = interp.globals, gi = g.slotIndex(decl.name)
                // its names resolve to its own frame or the globals: the top-level frame is not kept
                return { _ in g.store(gi, .function(Function(decl: decl, proto: proto, frame: nil))); return .normal }
            }
            let slot = scope.slot(decl.name)
            return { f in f.slots[slot] = .function(Function(decl: decl, proto: proto, frame: f)); return .normal }

        case .assign(let target, let e):
            return assignment(target, e, scope, loc)

        case .compoundAssign(let op, let target, let e):
            return compoundAssignment(op, target, e, scope, loc)

        case .ifStmt(let branches, let elseBody):
            let conds = branches.map { Code(expr($0.0, scope)) }
            let bodies = branches.map { SCode(block($0.1, scope)) }
            let els = elseBody.map { SCode(block($0, scope)) }
            if conds.count == 1 {
                let c = condition(branches[0].0, scope), b = bodies[0].run
                if let eb = els {
                    let e = eb.run
                    return { f in try c(f) ? try b(f) : try e(f) }
                }
                return { f in try c(f) ? try b(f) : .normal }
            }
            return { f in
                for i in 0..<conds.count where try conds[i].run(f).isTruthy { return try bodies[i].run(f) }
                if let e = els { return try e.run(f) }
                return .normal
            }

        case .whileStmt(let cond, let body):
            let c = condition(cond, scope)
            let b = block(body, scope)
            return { f in
                while try c(f) {
                    if interp.isCancelled { try interp.checkCancelledAt(loc) }
                    if let out = Compiler.loopExit(try b(f)) { return out }
                }
                return .normal
            }

        case .forStmt(let names, let seqExpr, let body):
            return forLoop(names, seqExpr, body, scope, loc)

        case .breakStmt: return { _ in .breakLoop }
        case .continueStmt: return { _ in .continueLoop }
        case .returnStmt(let e):
            guard let e = e else { return { _ in .returned(.null) } }
            let c = expr(e, scope)
            switch operand(e, scope) {
            case .local(let sl):
                return { f in
                    if let v = f.slots[sl] { return .returned(v) }
                    return .returned(try c(f))
                }
            case .int(let i):
                let v = Value.int(i)
                return { _ in .returned(v) }
            default:
                return { f in .returned(try c(f)) }
            }
        }
    }

    func forLoop(_ names: [String], _ seqExpr: Expr, _ body: [Stmt], _ scope: Scope, _ loc: SourceLocation) -> Exec {
        let interp = self.interp
        let seqCode = expr(seqExpr, scope)
        let inner = blockScope(body, parent: scope, extra: names)
        let code = statements(body, inner)
        let varSlots = names.map { inner.slot($0) }
        let materialized = inner.materialized
        let layout = inner.layout
        let single = names.count == 1
        let slot0 = varSlots[0]
        // the body's own names are cleared each iteration (the loop variables are set anyway)
        let reset = inner.slotList.filter { !varSlots.contains($0) }
        // one iteration: bind the element (unpacking pairs), run the body in a fresh scope
        @inline(__always) func bind(_ fr: Frame, _ item: Value) throws -> Flow {
            if single {
                fr.slots[slot0] = item
            } else {
                guard let parts = item.asList, parts.count == names.count else {
                    throw Diagnostic(.value, "cannot unpack \(item.typeNameWithArticle) into \(names.count) names \(names.joined(separator: ", "))", at: loc)
                }
                for (i, v) in zip(varSlots, parts) { fr.slots[i] = v }
            }
            return try code(fr)
        }
        let iteration: (Frame, Value) throws -> Flow = { f, item in
            if materialized {
                var fr = Frame.make(parent: f, size: layout.size)
                defer { Frame.finish(&fr) }
                return try bind(fr, item)
            }
            for i in reset { f.slots[i] = nil }
            return try bind(f, item)
        }
        if single && !materialized {
            // the common loop: one name and no closures (the body's own names, `reset`, are
            // cleared before each iteration, as a fresh scope would have them)
            // A loop variable the body only reads holds each element borrowed (see `borrowing`).
            let borrow = Compiler.borrowing && !Compiler.mayRebind(names[0], body)
            let resetCount = reset.count
            let resetSlots = UnsafeMutablePointer<Int>.allocate(capacity: max(resetCount, 1))
            resetSlots.initialize(from: reset, count: resetCount)
            let resetOwner = SlotList(resetSlots)   // frees them with the compiled loop
            return { f in
                let seq = try seqCode(f)
                if case .range(let r) = seq {
                    let n = r.count
                    var k = 0
                    var x = r.start
                    let slot = f.slots + slot0
                    while k < n {
                        if interp.isCancelled { try interp.checkCancelledAt(loc) }
                        var j = 0
                        while j < resetCount { f.slots[resetSlots[j]] = nil; j += 1 }
                        slot.pointee = .int(x)
                        if let out = Compiler.loopExit(try code(f)) { return out }
                        k += 1
                        if k < n { x &+= r.step }
                    }
                    return .normal
                }
                // the elements' walk in a function of its own: the range loop above keeps the
                // code (and registers) it had before the borrowed walk was added
                let r = try Compiler.walkElements(try interp.iterate(seq, seqExpr.location), f, slot0, resetSlots, resetCount,
                                                  borrow, code, interp, loc)
                withExtendedLifetime(resetOwner) {}
                return r
            }
        }
        return { f in
            let seq = try seqCode(f)
            if case .range(let r) = seq {
                // lazily: a range is never built as a list
                let n = r.count
                var k = 0
                var x = r.start
                while k < n {
                    if interp.isCancelled { try interp.checkCancelledAt(loc) }
                    if let out = Compiler.loopExit(try iteration(f, .int(x))) { return out }
                    k += 1
                    if k < n { x += r.step }
                }
                return .normal
            }
            let items = try interp.iterate(seq, seqExpr.location)
            for item in items {
                if interp.isCancelled { try interp.checkCancelledAt(loc) }
                if let out = Compiler.loopExit(try iteration(f, item)) { return out }
            }
            return .normal
        }
    }

    /// A loop's answer to its body's flow: nil goes on (`.normal`, `.continueLoop`), else what
    /// the loop returns (`.normal` after a break, the flow itself after a return).
    @inline(__always) static func loopExit(_ flow: Flow) -> Flow? {
        switch flow {
        case .normal, .continueLoop: return nil
        case .breakLoop: return .normal
        case .returned: return flow
        }
    }

    /// The one-name loop over a sequence's elements (`forLoop`): each bound to slot `slot0`,
    /// borrowed when `borrow` (see `borrowing`), the body's own names cleared first.
    @inline(never) static func walkElements(_ items: [Value], _ f: Frame, _ slot0: Int, _ resetSlots: UnsafeMutablePointer<Int>,
                                            _ resetCount: Int, _ borrow: Bool, _ code: Exec, _ interp: Interpreter,
                                            _ loc: SourceLocation) throws -> Flow {
        if borrow {
            // the slot holds a bitwise copy of each element, without a reference of its
            // own (`items` keeps the elements alive), and is emptied the same way
            let slot = f.slots + slot0
            slot.pointee = nil
            defer { slot.initialize(to: nil) }
            return try items.withUnsafeBufferPointer { buf -> Flow in
                let n = buf.count
                var k = 0
                while k < n {
                    if interp.isCancelled { try interp.checkCancelledAt(loc) }
                    var j = 0
                    while j < resetCount { f.slots[resetSlots[j]] = nil; j += 1 }
                    UnsafeMutableRawPointer(slot).copyMemory(from: buf.baseAddress.unsafelyUnwrapped + k, byteCount: MemoryLayout<Value>.size)
                    if let out = Compiler.loopExit(try code(f)) { return out }
                    k += 1
                }
                return .normal
            }
        }
        for item in items {
            if interp.isCancelled { try interp.checkCancelledAt(loc) }
            var j = 0
            while j < resetCount { f.slots[resetSlots[j]] = nil; j += 1 }
            f.slots[slot0] = item
            if let out = Compiler.loopExit(try code(f)) { return out }
        }
        return .normal
    }

    /// Whether a loop variable can hold its elements borrowed: a `Value?` slot holding `.some(v)`
    /// is `v`'s bits (Optional keeps its nil in the tag's spare values), so an element's bits
    /// copied into the slot read as that element. Such a slot must never be released or changed
    /// in place, which `mayRebind` rules out at compile time.
    static let borrowing = MemoryLayout<Value?>.size == MemoryLayout<Value>.size
        && MemoryLayout<Value?>.stride == MemoryLayout<Value>.stride

    /// Whether `body` may rebind `name` or change its value in place (conservatively: any
    /// `let`, `fn` or loop of that name at any depth, any assignment whose target starts with
    /// it, `name.push/pop/extend(...)` on it or a part of it, any function defined in the body). A loop
    /// variable for which this is false only has its value read, copied out of its slot.
    static func mayRebind(_ name: String, _ body: [Stmt]) -> Bool {
        func root(_ e: Expr) -> String? {
            switch e.kind {
            case .identifier(let n): return n
            case .field(let o, _), .subscriptAccess(let o, _): return root(o)
            default: return nil
            }
        }
        func expr(_ e: Expr) -> Bool {
            switch e.kind {
            case .int, .double, .bool, .nilLiteral, .identifier: return false
            case .function: return true
            case .string(let parts):
                return parts.contains { if case .expr(let x) = $0 { return expr(x) }; return false }
            case .list(let xs): return xs.contains(where: expr)
            case .record(let fs): return fs.contains { expr($0.1) }
            case .unary(_, let x): return expr(x)
            case .binary(_, let a, let b): return expr(a) || expr(b)
            case .call(let c, let args):
                // `xs.push(x)`, `xs.pop()`, `xs.extend(ys)` change a list where it lies
                // (`Compiler.call`); other methods work on a copy
                if case .field(let o, let m) = c.kind, ["push", "pop", "extend"].contains(m), root(o) == name { return true }
                return expr(c) || args.contains { expr($0.value) }
            case .field(let o, _): return expr(o)
            case .subscriptAccess(let o, let items):
                return expr(o) || items.contains {
                    switch $0 {
                    case .index(let x): return expr(x)
                    case .slice(let a, let b, let c): return [a, b, c].contains { $0.map(expr) ?? false }
                    }
                }
            }
        }
        func stmt(_ s: Stmt) -> Bool {
            switch s.kind {
            case .expression(let e): return expr(e)
            case .letBinding(let n, let e): return n == name || expr(e)
            case .assign(let t, let e), .compoundAssign(_, let t, let e): return root(t) == name || expr(t) || expr(e)
            case .function: return true
            case .ifStmt(let bs, let els):
                return bs.contains { expr($0.0) || $0.1.contains(where: stmt) } || (els ?? []).contains(where: stmt)
            case .forStmt(let ns, let e, let b): return ns.contains(name) || expr(e) || b.contains(where: stmt)
            case .whileStmt(let c, let b): return expr(c) || b.contains(where: stmt)
            case .returnStmt(let e): return e.map(expr) ?? false
            case .breakStmt, .continueStmt: return false
            }
        }
        return body.contains(where: stmt)
    }

    // MARK: assignment

    /// `target = e`. A name is rebound where it is bound; a field or element is set in place.
    func assignment(_ target: Expr, _ e: Expr, _ scope: Scope, _ loc: SourceLocation) -> Exec {
        let value = expr(e, scope)
        switch target.kind {
        case .identifier(let name):
            let acc = access(name, scope)
            let tloc = target.location
            let undefined = { () -> Diagnostic in
                Diagnostic(.name, "cannot assign to undefined name '\(name)' (use 'let \(name) = ...' to bind a new name)", at: tloc)
            }
            // xs = append(xs, x): appends in place when `append` is the core command
            if case .call(let callee, let args) = e.kind, case .identifier("append") = callee.kind, args.count == 2,
               args.allSatisfy({ $0.name == nil }), case .identifier(let first) = args[0].value.kind, first == name {
                let appendAcc = access("append", scope)
                let item = expr(args[1].value, scope)
                let cloc = callee.location
                _ = cloc
                return { f in
                    if let p = acc.pointer(f), Compiler.holdsList(p), appendAcc.namesCoreAppend(f) {
                        let x = try item(f)
                        if let q = acc.pointer(f), Compiler.holdsList(q) {
                            Compiler.appendInPlace(q, x)
                            return .normal
                        }
                    }
                    let v = try value(f)
                    if !acc.set(f, v) { throw undefined() }
                    return .normal
                }
            }
            if acc.one && acc.hops0 == 0 {
                // a variable of this frame: its slot, when bound there
                let sl = acc.slot0
                return { f in
                    let v = try value(f)
                    let p = f.slots + sl
                    if case .some = p.pointee { p.pointee = v; return .normal }
                    if !acc.set(f, v) { throw undefined() }
                    return .normal
                }
            }
            return { f in
                let v = try value(f)
                if !acc.set(f, v) { throw undefined() }
                return .normal
            }
        case .field, .subscriptAccess:
            guard let (root, steps) = path(target, scope) else {
                return { _ in throw Diagnostic(.syntax, "cannot assign to this expression", at: target.location) }
            }
            return { f in
                let v = try value(f)
                try self.modify(root, steps, f) { leaf in leaf = v }
                return .normal
            }
        default:
            return { _ in throw Diagnostic(.syntax, "cannot assign to this expression", at: target.location) }
        }
    }

    func plainAssign(_ acc: VarAccess, _ v: Value, _ f: Frame, _ undefined: () -> Diagnostic) throws -> Flow {
        if !acc.set(f, v) { throw undefined() }
        return .normal
    }

    /// `target op= e`: numbers as `target = target op e`; a list or string grows in place.
    func compoundAssignment(_ op: BinaryOp, _ target: Expr, _ e: Expr, _ scope: Scope, _ loc: SourceLocation) -> Exec {
        let interp = self.interp
        let rhsCode = expr(e, scope)
        switch target.kind {
        case .identifier(let name):
            let acc = access(name, scope)
            let tloc = target.location
            return { f in
                var cur = try acc.read(f, tloc)
                let rhs = try rhsCode(f)
                if case .int(let x) = cur, case .int(let y) = rhs {
                    var r: (partialValue: Int, overflow: Bool)? = nil
                    switch op {
                    case .add: r = x.addingReportingOverflow(y)
                    case .sub: r = x.subtractingReportingOverflow(y)
                    case .mul: r = x.multipliedReportingOverflow(by: y)
                    default: break
                    }
                    if let r = r, !r.overflow { _ = acc.set(f, .int(r.partialValue)); return .normal }
                }
                if op == .add, Compiler.canGrow(cur, rhs) {
                    cur = .null   // not a second holder of the storage
                    if let p = acc.pointer(f), Compiler.growSlotInPlace(p, rhs) { return .normal }
                    cur = try acc.read(f, tloc)
                }
                let v = try interp.binary(op, cur, rhs, loc)
                if !acc.set(f, v) {
                    throw Diagnostic(.name, "cannot assign to undefined name '\(name)' (use 'let \(name) = ...' to bind a new name)", at: tloc)
                }
                return .normal
            }
        case .field, .subscriptAccess:
            guard let (root, steps) = path(target, scope) else {
                return { _ in throw Diagnostic(.syntax, "cannot assign to this expression", at: target.location) }
            }
            return { f in
                var rhs: Value = .null
                try self.modify(root, steps, f, readFirst: true, between: { rhs = try rhsCode(f) }) { leaf in
                    if op == .add, Compiler.growInPlace(&leaf, rhs) { return }
                    leaf = try interp.binary(op, leaf, rhs, loc)
                }
                return .normal
            }
        default:
            return { _ in throw Diagnostic(.syntax, "cannot assign to this expression", at: target.location) }
        }
    }

    /// Whether a slot holds a list (without copying it out).
    @inline(__always) static func holdsList(_ p: UnsafeMutablePointer<Value?>) -> Bool {
        if case .some(.list) = p.pointee { return true }
        return false
    }

    /// Appends to the list a slot holds (holdsList checked), without copying its storage.
    @inline(__always) static func appendInPlace(_ p: UnsafeMutablePointer<Value?>, _ x: Value) {
        var v = p.move().unsafelyUnwrapped
        if case .list(var l) = v {
            v = .null
            l.append(x)
            p.initialize(to: .list(l))
        } else {
            p.initialize(to: v)
        }
    }

    /// `xs += ys` on a list or `s += t` on a string, done in place; false when not those.
    /// `a + b` on two lists or two strings (which `+=` can do in place).
    static func canGrow(_ a: Value, _ b: Value) -> Bool {
        if case .list = a, case .list = b { return true }
        if case .string = a, case .string = b { return true }
        return false
    }

    static func growSlotInPlace(_ p: UnsafeMutablePointer<Value?>, _ rhs: Value) -> Bool {
        guard case .some = p.pointee, canGrow(p.pointee.unsafelyUnwrapped, rhs) else { return false }
        var v: Value = p.move()!
        p.initialize(to: nil)
        _ = growInPlace(&v, rhs)
        p.pointee = v
        return true
    }

    static func growInPlace(_ v: inout Value, _ rhs: Value) -> Bool {
        if case .list(let r) = rhs, case .list(var l) = v {
            v = .null
            l.append(contentsOf: r)
            v = .list(l)
            return true
        }
        if case .string(let t) = rhs, case .string(var s) = v {
            v = .null
            s += t
            v = .string(s)
            return true
        }
        return false
    }

    /// An assignment target as a root name and the steps below it; nil when the root is not a name.
    func path(_ target: Expr, _ scope: Scope) -> (VarAccess, [(PathCode, Expr)])? {
        var steps: [(PathCode, Expr)] = []
        var e = target
        while true {
            switch e.kind {
            case .field(let o, let name):
                steps.append((.field(name, e), o)); e = o
            case .subscriptAccess(let o, let items):
                steps.append((.index(items.map { item($0, scope) }, e), o)); e = o
            case .identifier(let name):
                return (access(name, scope), steps.reversed())
            default:
                return nil
            }
        }
    }

    /// Runs `leaf` on the element a target names, in place. The root must be bound (else the
    /// same error a read gives); indices are evaluated first, outermost first. `readFirst`: the
    /// leaf must exist (compound assignment) and `between` runs after the leaf was checked.
    func modify(_ root: VarAccess, _ steps: [(PathCode, Expr)], _ f: Frame, readFirst: Bool = false,
                between: (() throws -> Void)? = nil, _ leaf: (inout Value) throws -> Void) throws {
        let first = steps[0].1
        guard root.get(f) != nil else { _ = try root.read(f, first.location); return }
        var evaluated: [PathStep] = []
        evaluated.reserveCapacity(steps.count)
        for (s, _) in steps {
            switch s {
            case .field(let n, let e): evaluated.append(.field(n, e))
            case .index(let items, let e): evaluated.append(.index(try evalItems(items, f), e))
            }
        }
        if readFirst {
            // the current value must exist, with the errors a read of the target gives
            guard var cur = root.get(f) else { _ = try root.read(f, first.location); return }
            for (i, s) in evaluated.enumerated() {
                switch s {
                case .field(let n, let e): cur = try interp.fieldOf(cur, steps[i].1, n, e.location)
                case .index(let items, let e): cur = try interp.located(e.location) { try Builtins.subscriptValue(cur, items) }
                }
            }
            cur = .null   // not a second holder of the storage
            try between?()
        }
        guard let p = root.pointer(f) else { _ = try root.read(f, first.location); return }
        var v = p.move()!
        p.initialize(to: nil)
        defer {
            // the slot is looked up again: host code may have bound new globals meanwhile
            if let q = root.pointer(f) { q.pointee = v } else { root.restore(f, v) }
        }
        try apply(&v, evaluated[...], readLeaf: readFirst, leaf)
    }

    /// Sets (through `leaf`) the element `steps` names inside `v`, with the errors of the old
    /// evaluate-then-assign-back: hosts get `setField`/`setIndex`, values are changed in place.
    func apply(_ v: inout Value, _ steps: ArraySlice<PathStep>, readLeaf: Bool, _ leaf: (inout Value) throws -> Void) throws {
        guard let step = steps.first else { try leaf(&v); return }
        let rest = steps.dropFirst()
        let last = rest.isEmpty
        // `if case`, not `switch`: a switch keeps a copy of its subject, and the list or record
        // taken out of `v` must be its storage's only holder to change in place
        switch step {
        case .field(let name, let e):
            if case .record(var r) = v {
                if !last, r[name] == nil {
                    // the error a read gives (a missing field in the middle of the path)
                    _ = try interp.fieldOf(v, Compiler.objectExpr(e), name, e.location)
                }
                v = .null
                defer { v = .record(r) }
                try r.modify(name) { slot in try applySlot(&slot, last, rest, readLeaf, leaf) }
                return
            }
            if case .host(let h) = v {
                var x: Value = last && !readLeaf ? .null : try interp.fieldOf(v, Compiler.objectExpr(e), name, e.location)
                if last { try leaf(&x) } else { try apply(&x, rest, readLeaf: readLeaf, leaf) }
                let nv = x
                try interp.located(e.location) { try h.setField(name, nv) }
                return
            }
            throw Diagnostic(.type, "cannot set field '\(name)' of \(v.typeNameWithArticle)", at: e.location)
        case .index(let items, let e):
            if case .list(var l) = v {
                guard items.count == 1, case .index(let iv) = items[0] else {
                    if !last { _ = try interp.located(e.location) { try Builtins.subscriptValue(v, items) } }
                    throw Diagnostic(.index, "list element assignment takes one index", at: e.location)
                }
                let i = try interp.located(e.location) { try Builtins.normalizeIndex(iv, count: l.count) }
                v = .null
                defer { v = .list(l) }
                try apply(&l[i], rest, readLeaf: readLeaf, leaf)
                return
            }
            if case .record(var r) = v {
                guard items.count == 1, case .index(.string(let k)) = items[0] else {
                    if !last { _ = try interp.located(e.location) { try Builtins.subscriptValue(v, items) } }
                    throw Diagnostic(.index, "a record is indexed by a string key", at: e.location)
                }
                if !last, r[k] == nil { _ = try interp.located(e.location) { try Builtins.subscriptValue(v, items) } }
                v = .null
                defer { v = .record(r) }
                try r.modify(k) { slot in try applySlot(&slot, last, rest, readLeaf, leaf) }
                return
            }
            if case .host(let h) = v {
                var x: Value = last && !readLeaf ? .null : try interp.located(e.location) { try Builtins.subscriptValue(v, items) }
                if last { try leaf(&x) } else { try apply(&x, rest, readLeaf: readLeaf, leaf) }
                let nv = x
                try interp.located(e.location) { try h.setIndex(items, nv) }
                return
            }
            if !last { _ = try interp.located(e.location) { try Builtins.subscriptValue(v, items) } }
            throw Diagnostic(.type, "cannot assign to an element of \(v.typeNameWithArticle)", at: e.location)
        }
    }

    /// A record field's slot (nil: absent) along an assignment path.
    func applySlot(_ slot: inout Value?, _ last: Bool, _ rest: ArraySlice<PathStep>, _ readLeaf: Bool,
                   _ leaf: (inout Value) throws -> Void) throws {
        if last, slot == nil {
            var nv: Value = .null
            try leaf(&nv)
            slot = nv
            return
        }
        var x = slot!
        slot = nil
        defer { slot = x }
        try apply(&x, rest, readLeaf: readLeaf, leaf)
    }

    static func objectExpr(_ e: Expr) -> Expr {
        switch e.kind {
        case .field(let o, _), .subscriptAccess(let o, _): return o
        default: return e
        }
    }

    // MARK: functions

    func function(_ decl: FunctionDecl, _ scope: Scope) -> FunctionProto {
        let layout = Layout()
        var declared = Compiler.declaredNames(decl.body)
        for p in decl.parameters { declared.insert(p.name) }
        let fs = Scope(parent: scope, layout: layout, materialized: true, isRoot: false, declared: declared)
        for p in decl.parameters { _ = fs.slot(p.name) }   // parameters are slots 0..<n
        let defaults = decl.parameters.map { p in p.defaultValue.map { expr($0, fs) } }
        let body = tail(decl.body[...], fs, decl.location, then: nil)
        let capturesNothing = !decl.parameters.contains { $0.defaultValue.map(Compiler.definesFunction) ?? false }
            && !decl.body.contains(where: Compiler.definesFunction)
        return FunctionProto(decl: decl, layout: layout, defaults: defaults, body: body, capturesNothing: capturesNothing)
    }

    /// Whether a function is defined (`fn`, named or anonymous) anywhere in a statement.
    static func definesFunction(_ s: Stmt) -> Bool {
        switch s.kind {
        case .expression(let e), .letBinding(_, let e): return definesFunction(e)
        case .assign(let t, let e), .compoundAssign(_, let t, let e): return definesFunction(t) || definesFunction(e)
        case .function: return true
        case .ifStmt(let bs, let els):
            return bs.contains { definesFunction($0.0) || $0.1.contains(where: definesFunction) }
                || (els ?? []).contains(where: definesFunction)
        case .forStmt(_, let e, let b): return definesFunction(e) || b.contains(where: definesFunction)
        case .whileStmt(let c, let b): return definesFunction(c) || b.contains(where: definesFunction)
        case .returnStmt(let e): return e.map(definesFunction) ?? false
        case .breakStmt, .continueStmt: return false
        }
    }

    /// Whether a function is defined (an anonymous `fn`) anywhere in an expression.
    static func definesFunction(_ e: Expr) -> Bool {
        switch e.kind {
        case .int, .double, .bool, .nilLiteral, .identifier: return false
        case .string(let parts):
            return parts.contains { if case .expr(let x) = $0 { return definesFunction(x) }; return false }
        case .list(let xs): return xs.contains(where: definesFunction)
        case .record(let fs): return fs.contains { definesFunction($0.1) }
        case .unary(_, let x): return definesFunction(x)
        case .binary(_, let a, let b): return definesFunction(a) || definesFunction(b)
        case .call(let c, let args): return definesFunction(c) || args.contains { definesFunction($0.value) }
        case .field(let o, _): return definesFunction(o)
        case .subscriptAccess(let o, let items):
            return definesFunction(o) || items.contains {
                switch $0 {
                case .index(let x): return definesFunction(x)
                case .slice(let a, let b, let c): return [a, b, c].contains { $0.map(definesFunction) ?? false }
                }
            }
        case .function: return true
        }
    }

    // MARK: expressions

    func item(_ it: SubscriptItem, _ scope: Scope) -> ItemCode {
        switch it {
        case .index(let x): return .index(expr(x, scope))
        case .slice(let a, let b, let c):
            return .slice(a.map { expr($0, scope) }, b.map { expr($0, scope) }, c.map { expr($0, scope) }, a, b, c)
        }
    }

    func evalItems(_ items: [ItemCode], _ f: Frame) throws -> [IndexItem] {
        var out: [IndexItem] = []
        out.reserveCapacity(items.count)
        for it in items {
            switch it {
            case .index(let c): out.append(.index(try c(f)))
            case .slice(let a, let b, let c, let ae, let be, let ce):
                func bound(_ code: Eval?, _ x: Expr?) throws -> Int? {
                    guard let code = code, let x = x else { return nil }
                    let v = try code(f)
                    if v.isNil { return nil }
                    guard let i = v.asInt else { throw Diagnostic(.type, "slice bounds must be ints, got \(v.typeNameWithArticle)", at: x.location) }
                    return i
                }
                let step = try bound(c, ce)
                if step == 0 { throw Diagnostic(.value, "slice step cannot be zero", at: ce!.location) }
                out.append(.slice(start: try bound(a, ae), stop: try bound(b, be), step: step))
            }
        }
        return out
    }

    func expr(_ e: Expr, _ scope: Scope) -> Eval {
        let interp = self.interp
        let loc = e.location
        switch e.kind {
        case .int(let i): let v = Value.int(i); return { _ in v }
        case .double(let d): let v = Value.double(d); return { _ in v }
        case .bool(let b): let v = Value.bool(b); return { _ in v }
        case .nilLiteral: return { _ in .null }
        case .string(let parts):
            if parts.isEmpty { return { _ in .string("") } }
            if parts.count == 1, case .text(let t) = parts[0] { let v = Value.string(t); return { _ in v } }
            enum Part { case text(String), code(Eval) }
            let ps: [Part] = parts.map {
                switch $0 { case .text(let t): return .text(t); case .expr(let x): return .code(expr(x, scope)) }
            }
            // the parts as two parallel arrays of plain values (walking an array of enums whose
            // payload is a closure copied each closure, a retain and a release per part)
            let texts: [String] = ps.map { if case .text(let t) = $0 { return t }; return "" }
            let boxes: [Code?] = ps.map { if case .code(let c) = $0 { return Code(c) }; return nil }
            let units: [Unmanaged<Code>?] = boxes.map { $0.map { Unmanaged.passUnretained($0) } }   // `boxes` keeps them
            let count = ps.count
            let textBytes: [[UInt8]] = texts.map { Array($0.utf8) }
            // the text is written as UTF-8 bytes into a buffer on the stack and made a String
            // once (appending each part to a String costs a capacity check and a count update
            // per part); a text that outgrows the buffer goes on as a String
            return { f in
                try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Compiler.interpolationBuffer) { buf -> Value in
                    let base = buf.baseAddress.unsafelyUnwrapped
                    let cap = Compiler.interpolationBuffer
                    var n = 0
                    var long: String? = nil   // set once the text outgrew the buffer
                    var k = 0
                    while k < count {
                        if let u = units[k] {
                            let v = try Code.run(u, f)
                            if long == nil {
                                switch v {
                                case .int(let i) where n + 20 <= cap:
                                    n = Compiler.writeInt(i, base, n)
                                    k += 1
                                    continue
                                case .string(let x):
                                    if Compiler.copyUTF8(x, base, &n, cap) { k += 1; continue }
                                default:
                                    if Compiler.copyUTF8(v.description, base, &n, cap) { k += 1; continue }
                                }
                                long = String(decoding: UnsafeBufferPointer(start: base, count: n), as: UTF8.self)
                            }
                            switch v {
                            case .string(let x): long! += x
                            case .int(let i): long! += String(i)
                            default: long! += v.description
                            }
                        } else {
                            if long == nil {
                                let t = textBytes[k]
                                if n + t.count <= cap {
                                    t.withUnsafeBufferPointer { (base + n).update(from: $0.baseAddress.unsafelyUnwrapped, count: t.count) }
                                    n += t.count
                                    k += 1
                                    continue
                                }
                                long = String(decoding: UnsafeBufferPointer(start: base, count: n), as: UTF8.self)
                            }
                            long! += texts[k]
                        }
                        k += 1
                    }
                    withExtendedLifetime(boxes) {}
                    if let l = long { return .string(l) }
                    return .string(String(decoding: UnsafeBufferPointer(start: base, count: n), as: UTF8.self))
                }
            }
        case .identifier(let name):
            let acc = access(name, scope)
            if acc.cands.isEmpty {
                // a global (or a command): its slot in the globals, found once
                let g = acc.globals, gi = acc.gidx
                return { f in
                    if let v = g.get(gi) { return v }
                    return try acc.fallback(f, loc)
                }
            }
            if acc.one {
                let h = acc.hops0, sl = acc.slot0
                if h == 0 {
                    return { f in
                        if let v = f.slots[sl] { return v }
                        return try acc.read(f, loc)
                    }
                }
            }
            return { f in
                if let v = acc.get(f) { return v }
                return try acc.fallback(f, loc)
            }
        case .list(let items):
            let codes = items.map { Code(expr($0, scope)) }
            let units = codes.map { Unmanaged.passUnretained($0) }   // `codes` keeps them
            return { f in
                var out: [Value] = []
                out.reserveCapacity(units.count)
                for u in units { out.append(try Code.run(u, f)) }
                withExtendedLifetime(codes) {}
                return .list(out)
            }
        case .record(let fields):
            let keys = fields.map { $0.0 }
            let codes = fields.map { Code(expr($0.1, scope)) }
            if Set(keys).count == keys.count {
                let n = codes.count
                let units = codes.map { Unmanaged.passUnretained($0) }   // `codes` keeps them
                // the names, made once and shared by every record this literal makes
                let names = RecordKeys(keys, literal: true)
                return { f in
                    let vals = try [Value](unsafeUninitializedCapacity: n) { buf, done in
                        let base = buf.baseAddress.unsafelyUnwrapped
                        while done < n {
                            (base + done).initialize(to: try Code.run(units[done], f))
                            done += 1
                        }
                    }
                    withExtendedLifetime(codes) {}
                    return .record(Record(literal: names, values: vals))
                }
            }
            return { f in
                var r = Record(capacity: codes.count)
                for i in 0..<codes.count { r[keys[i]] = try codes[i].run(f) }
                return .record(r)
            }
        case .unary(let op, let x):
            let c = expr(x, scope)
            if op == .not { return { f in .bool(!(try c(f)).isTruthy) } }
            return { f in
                let v = try c(f)
                if op == .neg, case .double(let d) = v { return .double(-d) }
                return try interp.unary(op, v, loc)
            }
        case .binary(let op, let l, let r):
            return binary(op, expr(l, scope), expr(r, scope), loc, operand(l, scope), operand(r, scope))
        case .field(let objExpr, let name):
            let o = expr(objExpr, scope)
            // the literal whose records this site last read, and the field's place in them
            let cache = FieldCache()
            if case .local(let sl) = operand(objExpr, scope) {
                // a field of a record held by a variable of this frame: read where it lies
                return { f in
                    if let v = Compiler.field(f.slots + sl, name, cache) { return v }
                    let obj = try o(f)
                    if let v = Value.recordField(obj, name) { return v }
                    return try interp.fieldOf(obj, objExpr, name, loc)
                }
            }
            return { f in
                let obj = try o(f)
                if let v = Value.recordField(obj, name, cache) { return v }
                return try interp.fieldOf(obj, objExpr, name, loc)
            }
        case .subscriptAccess(let objExpr, let items):
            let o = expr(objExpr, scope)
            let its = items.map { item($0, scope) }
            if its.count == 1, case .index(let ic) = its[0] {
                return { f in
                    let obj = try o(f)
                    let iv = try ic(f)
                    if case .list(let l) = obj, case .int(let i) = iv {
                        let j = i < 0 ? i + l.count : i
                        if j >= 0 && j < l.count { return l[j] }
                    }
                    return try interp.located(loc) { try Builtins.subscriptValue(obj, [.index(iv)]) }
                }
            }
            return { f in
                let obj = try o(f)
                let idx = try self.evalItems(its, f)
                return try interp.located(loc) { try Builtins.subscriptValue(obj, idx) }
            }
        case .call(let calleeExpr, let argExprs):
            return call(calleeExpr, argExprs, scope, loc)
        case .function(let decl):
            let proto = function(decl, scope)
            if scope.isRoot { return { _ in .function(Function(decl: decl, proto: proto, frame: nil)) } }
            return { f in .function(Function(decl: decl, proto: proto, frame: f)) }
        }
    }

    /// Bytes of an interpolated string built on the stack before it becomes a String.
    static let interpolationBuffer = 256

    /// Writes `i` in decimal at `p + at` (20 bytes at most); returns the end.
    @inline(__always) static func writeInt(_ i: Int, _ p: UnsafeMutablePointer<UInt8>, _ at: Int) -> Int {
        var m = i.magnitude
        var digits = 1
        var t = m
        while t >= 10 { t /= 10; digits += 1 }
        var pos = at
        if i < 0 { p[pos] = 45; pos += 1 }   // "-"
        let end = pos + digits
        var e = end
        repeat { e -= 1; p[e] = 48 + UInt8(truncatingIfNeeded: m % 10); m /= 10 } while m > 0
        return end
    }

    /// Appends the UTF-8 of `s` at `p + n` when it fits below `cap` (false: it does not).
    @inline(__always) static func copyUTF8(_ s: String, _ p: UnsafeMutablePointer<UInt8>, _ n: inout Int, _ cap: Int) -> Bool {
        let len = s.utf8.count
        guard n + len <= cap else { return false }
        let done = s.utf8.withContiguousStorageIfAvailable { b -> Bool in
            if len > 0 { (p + n).update(from: b.baseAddress.unsafelyUnwrapped, count: len) }
            return true
        }
        if done != true {
            var j = n
            for byte in s.utf8 { p[j] = byte; j += 1 }
        }
        n += len
        return true
    }

    /// Field `name` of the record a slot holds (nil: not a record, or no such field).
    /// The record is read where it lies (`Value.recordField` borrows it: binding it out of the
    /// slot would copy it, a retain and a release of its storage per read).
    @inline(__always) static func field(_ p: UnsafeMutablePointer<Value?>, _ name: String, _ cache: FieldCache) -> Value? {
        guard case .some(.record) = p.pointee else { return nil }
        // moved out of the slot and back (no reference counting): a switch over `p.pointee`, or
        // over a copy of it, retains the record's storage and releases it after the look-up
        let v = p.move()
        let out: Value?
        switch v {
        case .some(.record(let r)): out = r.field(name, cache)
        default: out = nil
        }
        p.initialize(to: v)
        return out
    }

    /// What an operand is, for the specialized operators: a number literal, a variable of the
    /// current frame (one slot, no hops), or other code.
    enum Operand {
        case int(Int), double(Double), local(Int), code
    }

    func operand(_ e: Expr, _ scope: Scope) -> Operand {
        switch e.kind {
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .identifier(let name):
            let acc = access(name, scope)
            if acc.one && acc.hops0 == 0 { return .local(acc.slot0) }
            return .code
        default: return .code
        }
    }

    /// An int operator's result when it needs no error (no overflow, no division by zero) and
    /// equals what `Interpreter.binary` gives; nil to take the general way.
    @inline(__always) static func fastInt(_ op: BinaryOp, _ p: Int, _ q: Int) -> Value? {
        switch op {
        case .add: let (r, o) = p.addingReportingOverflow(q); return o ? nil : .int(r)
        case .sub: let (r, o) = p.subtractingReportingOverflow(q); return o ? nil : .int(r)
        case .mul: let (r, o) = p.multipliedReportingOverflow(by: q); return o ? nil : .int(r)
        case .lt: return .bool(p < q)
        case .le: return .bool(p <= q)
        case .gt: return .bool(p > q)
        case .ge: return .bool(p >= q)
        case .eq: return .bool(p == q)
        case .ne: return .bool(p != q)
        case .mod:
            guard q > 0 else { return nil }
            let r = p % q
            return .int(r < 0 ? r + q : r)
        case .floorDiv:
            guard q > 0 else { return nil }
            return .int(p % q < 0 ? p / q - 1 : p / q)
        case .div: return q != 0 ? .double(Double(p) / Double(q)) : nil
        default: return nil
        }
    }

    /// The same for two floats (or an int and a float): arithmetic only.
    @inline(__always) static func fastDouble(_ op: BinaryOp, _ p: Double, _ q: Double) -> Value? {
        switch op {
        case .add: return .double(p + q)
        case .sub: return .double(p - q)
        case .mul: return .double(p * q)
        case .div: return q != 0 ? .double(p / q) : nil
        default: return nil
        }
    }

    @inline(__always) static func fast(_ op: BinaryOp, _ x: Value, _ y: Value) -> Value? {
        if case .int(let p) = x {
            if case .int(let q) = y { return fastInt(op, p, q) }
            if case .double(let q) = y { return fastDouble(op, Double(p), q) }
        } else if case .double(let p) = x {
            if case .double(let q) = y { return fastDouble(op, p, q) }
            if case .int(let q) = y { return fastDouble(op, p, Double(q)) }
        }
        return nil
    }

    func binary(_ op: BinaryOp, _ a: @escaping Eval, _ b: @escaping Eval, _ loc: SourceLocation,
                _ la: Operand = .code, _ lb: Operand = .code) -> Eval {
        let interp = self.interp
        switch op {
        case .and: return { f in let x = try a(f); return x.isTruthy ? try b(f) : x }
        case .or: return { f in let x = try a(f); return x.isTruthy ? x : try b(f) }
        case .add, .sub, .mul, .div, .mod, .floorDiv, .lt, .le, .gt, .ge, .eq, .ne:
            // specialized on what the operands are: a variable of this frame is read in place,
            // a literal is not evaluated; anything else (or a value that is not a number) goes
            // the general way, with the same errors
            // the operator's state in one object, so that each closure's context is a word or
            // a few (a context of a dozen words is copied onto the stack at each call)
            let node = BinaryNode(op: op, a: a, b: b, interp: interp, loc: loc)
            let general: Eval
            if op == .add {
                general = { f in try node.add(f) }
            } else {
                general = { f in try node.general(f) }
            }
            switch (la, lb) {
            case (.local(let sl), .int(let k)):
                return { f in
                    if case .int(let p)? = f.slots[sl], let v = Compiler.fastInt(op, p, k) { return v }
                    return try general(f)
                }
            case (.local(let sl), .double(let d)):
                return { f in
                    if case .double(let p)? = f.slots[sl], let v = Compiler.fastDouble(op, p, d) { return v }
                    return try general(f)
                }
            case (.local(let s1), .local(let s2)):
                return { f in
                    if case .int(let p)? = f.slots[s1], case .int(let q)? = f.slots[s2], let v = Compiler.fastInt(op, p, q) { return v }
                    return try general(f)
                }
            case (.code, .int(let k)):
                return { f in try node.codeInt(f, k) }
            case (.code, .double(let d)):
                return { f in try node.codeDouble(f, d) }
            case (.code, .local(let sl)):
                return { f in try node.codeLocal(f, sl) }
            default:
                return general
            }
        default:
            return { f in
                let x = try a(f), y = try b(f)
                return try interp.binary(op, x, y, loc)
            }
        }
    }

    /// A condition (if, while): comparisons give their Bool without making a Value.
    func condition(_ e: Expr, _ scope: Scope) -> (Frame) throws -> Bool {
        if case .binary(let op, let l, let r) = e.kind, [.lt, .le, .gt, .ge, .eq, .ne].contains(op) {
            let code = expr(e, scope)
            let la = operand(l, scope), lb = operand(r, scope)
            @inline(__always) func cmp(_ p: Int, _ q: Int) -> Bool {
                switch op {
                case .lt: return p < q
                case .le: return p <= q
                case .gt: return p > q
                case .ge: return p >= q
                case .eq: return p == q
                default: return p != q
                }
            }
            switch (la, lb) {
            case (.local(let sl), .int(let k)):
                return { f in
                    if case .int(let p)? = f.slots[sl] { return cmp(p, k) }
                    return try code(f).isTruthy
                }
            case (.local(let s1), .local(let s2)):
                return { f in
                    if case .int(let p)? = f.slots[s1], case .int(let q)? = f.slots[s2] { return cmp(p, q) }
                    return try code(f).isTruthy
                }
            case (.code, .int(let k)):
                // `r.score > 20`: the left side once, compared as ints without making a bool value
                let node = BinaryNode(op: op, a: expr(l, scope), b: { _ in .int(k) }, interp: interp, loc: e.location)
                return { f in try node.compareInt(f, k) }
            default: break
            }
            return { f in try code(f).isTruthy }
        }
        let code = expr(e, scope)
        if case .unary(.not, let x) = e.kind {
            let inner = condition(x, scope)
            return { f in !(try inner(f)) }
        }
        return { f in try code(f).isTruthy }
    }

    // MARK: calls

    func call(_ calleeExpr: Expr, _ argExprs: [Argument], _ scope: Scope, _ loc: SourceLocation) -> Eval {
        let interp = self.interp
        let argNames = argExprs.map { $0.name }
        let argBoxes = argExprs.map { Code(expr($0.value, scope)) }
        let named = argExprs.contains { $0.name != nil }
        let argLocations = argExprs.map { $0.location }
        func evalArgs(_ f: Frame) throws -> Arguments {
            var args = Arguments(location: loc)
            args.positional.reserveCapacity(argBoxes.count)
            for k in 0..<argBoxes.count {
                let v = try argBoxes[k].run(f)
                if let n = argNames[k] { args.named.append((n, v)); args.namedLocations.append(argLocations[k]) } else { args.positional.append(v) }
            }
            return args
        }

        // method call: obj.name(args)
        if case .field(let objExpr, let name) = calleeExpr.kind {
            let objCode = expr(objExpr, scope)
            let calleeLoc = calleeExpr.location
            // xs.push(x), xs.pop(), xs.extend(ys) change a list variable (or element) in place
            if ["push", "pop", "extend"].contains(name), let (root, steps) = path(objExpr, scope) {
                if name == "push", steps.isEmpty, argExprs.count == 1, argExprs[0].name == nil {
                    // xs.push(x) on a list variable: appended where it lies, no argument binding
                    let a0 = argBoxes[0].run
                    return { f in
                        let x = try a0(f)
                        if let p = root.pointer(f), Compiler.holdsList(p) {
                            Compiler.appendInPlace(p, x)
                            return .null
                        }
                        var args = Arguments([x], location: loc)
                        args.namedLocations = []
                        if let r = try self.listMethodInPlace(name, root, steps, args, f) { return r }
                        let obj = try objCode(f)
                        return try self.callMethod(obj, objExpr, name, args, calleeLoc, loc)
                    }
                }
                return { f in
                    let args = try evalArgs(f)
                    if let r = try self.listMethodInPlace(name, root, steps, args, f) { return r }
                    let obj = try objCode(f)
                    return try self.callMethod(obj, objExpr, name, args, calleeLoc, loc)
                }
            }
            if argExprs.isEmpty {
                // `s.upper()`: no arguments to gather (the common string methods need no binding)
                return { f in
                    let obj = try objCode(f)
                    if case .string = obj, let r = Builtins.fastMethod(obj, name, []) {
                        if interp.isCancelled { try interp.checkCancelledAt(loc) }
                        return r
                    }
                    return try self.callMethod(obj, objExpr, name, Arguments(location: loc), calleeLoc, loc)
                }
            }
            return { f in
                let args = try evalArgs(f)
                let obj = try objCode(f)
                return try self.callMethod(obj, objExpr, name, args, calleeLoc, loc)
            }
        }

        // a plain call: arguments first, then the callee (as the tree-walker did)
        if case .identifier(let name) = calleeExpr.kind, !named {
            let acc = access(name, scope)
            let cloc = calleeExpr.location
            let n = argBoxes.count
            let codes = argBoxes
            let slow: (Frame) throws -> Value = { f in
                let args = try evalArgs(f)
                let callee = try acc.read(f, cloc)
                if case .command(let c) = callee, let fast = c.fast {
                    if interp.isCancelled { try interp.checkCancelledAt(loc) }
                    if let r = fast(args.positional) { return r }
                }
                return try interp.call(callee, args)
            }
            // a user function with positional arguments: straight into its frame (a pooled one)
            let direct = acc.cands.isEmpty
            let g = acc.globals, gi = acc.gidx
            switch n {
            case 0:
                return { f in
                    if direct, let u = g.functionRef(gi) {
                        return try u._withUnsafeGuaranteedRef { try FunctionProto.invoke($0, interp, given: 0, loc) { _ in } }
                    }
                    if let fn = direct ? g.function(gi) : acc.function(f) {
                        return try FunctionProto.invoke(fn, interp, given: 0, loc) { _ in }
                    }
                    return try slow(f)
                }
            case 1:
                // the call's state in one object: the closure's context is then one reference
                // (a context of a dozen words is copied onto the stack at each call)
                let site = Call1(direct: direct, g: g, gi: gi, a0: codes[0].run, interp: interp, loc: loc, acc: acc, slow: slow)
                return { f in try site.run(f) }
            case 2:
                let a0 = codes[0].run, a1 = codes[1].run
                return { f in
                    if direct, let u = g.functionRef(gi), u._withUnsafeGuaranteedRef({ $0.proto.arity >= 2 }) {
                        return try u._withUnsafeGuaranteedRef {
                            try FunctionProto.invoke($0, interp, given: 2, loc) { p in
                                p[0] = try a0(f)
                                p[1] = try a1(f)
                            }
                        }
                    }
                    if let fn = direct ? g.function(gi) : acc.function(f), fn.proto.arity >= 2 {
                        return try FunctionProto.invoke(fn, interp, given: 2, loc) { p in
                            p[0] = try a0(f)
                            p[1] = try a1(f)
                        }
                    }
                    if !(direct ? g.isBound(gi) : acc.isBound(f)), let u = acc.commandBox(),
                       u._withUnsafeGuaranteedRef({ $0.fast2 != nil }) {
                        let x = try a0(f), y = try a1(f)
                        if interp.isCancelled { try interp.checkCancelledAt(loc) }
                        if let r = u._withUnsafeGuaranteedRef({ $0.fast2.unsafelyUnwrapped(x, y) }) { return r }
                        return try interp.call(.command(u.takeUnretainedValue().command), Arguments([x, y], location: loc))
                    }
                    return try slow(f)
                }
            default:
                return { f in
                    if direct, let u = g.functionRef(gi), u._withUnsafeGuaranteedRef({ n <= $0.proto.arity }) {
                        return try u._withUnsafeGuaranteedRef {
                            try FunctionProto.invoke($0, interp, given: n, loc) { p in
                                for i in 0..<n { p[i] = try codes[i].run(f) }
                            }
                        }
                    }
                    if let fn = direct ? g.function(gi) : acc.function(f), n <= fn.proto.arity {
                        return try FunctionProto.invoke(fn, interp, given: n, loc) { p in
                            for i in 0..<n { p[i] = try codes[i].run(f) }
                        }
                    }
                    return try slow(f)
                }
            }
        }
        let calleeCode = expr(calleeExpr, scope)
        return { f in
            let args = try evalArgs(f)
            let callee = try calleeCode(f)
            return try interp.call(callee, args)
        }
    }

    /// `xs.push(x)`, `xs.pop()`, `xs.extend(ys)` on a list held by a variable (or an element of
    /// one); nil when the target does not hold a list (the ordinary method call then runs).
    func listMethodInPlace(_ name: String, _ root: VarAccess, _ steps: [(PathCode, Expr)], _ args: Arguments, _ f: Frame) throws -> Value? {
        // only when the target is a list right now (reading it has no side effects but indices)
        if steps.isEmpty {
            guard let p = root.pointer(f), case .list = p.pointee! else { return nil }
            let cmd = Builtins.listMethodCommand(name)
            let bound = try interp.located(args.location) { try cmd.bind(args) }
            var v = p.move()!
            p.initialize(to: nil)
            defer { if let q = root.pointer(f) { q.pointee = v } else { root.restore(f, v) } }
            return try interp.located(args.location) { try Builtins.listMethod(name, &v, bound) }
        }
        // an element: check it is a list with an ordinary read first
        var cur = try root.read(f, steps[0].1.location)
        var evaluated: [PathStep] = []
        for (s, o) in steps {
            switch s {
            case .field(let n, let e):
                evaluated.append(.field(n, e))
                cur = try interp.fieldOf(cur, o, n, e.location)
            case .index(let items, let e):
                let idx = try evalItems(items, f)
                evaluated.append(.index(idx, e))
                cur = try interp.located(e.location) { try Builtins.subscriptValue(cur, idx) }
            }
        }
        guard case .list = cur else { return nil }
        cur = .null
        let cmd = Builtins.listMethodCommand(name)
        let bound = try interp.located(args.location) { try cmd.bind(args) }
        var result: Value = .null
        guard let p = root.pointer(f) else { return nil }
        var v = p.move()!
        p.initialize(to: nil)
        defer { if let q = root.pointer(f) { q.pointee = v } else { root.restore(f, v) } }
        try apply(&v, evaluated[...], readLeaf: true) { leaf in
            result = try interp.located(args.location) { try Builtins.listMethod(name, &leaf, bound) }
        }
        return result
    }

    /// `obj.name(args)` after evaluation, as the tree-walker did it.
    func callMethod(_ obj: Value, _ objExpr: Expr, _ name: String, _ args: Arguments, _ calleeLoc: SourceLocation, _ loc: SourceLocation) throws -> Value {
        if case .host(let h) = obj {
            if !h.fieldNames.contains(name), case .identifier(let id) = objExpr.kind, let c = interp.registry["\(id).\(name)"] {
                return try interp.call(.command(c), args)
            }
            return try interp.located(loc) { try h.callMethod(name, args, interp) }
        }
        if args.named.isEmpty, let r = Builtins.fastMethod(obj, name, args.positional) {
            if interp.isCancelled { try interp.checkCancelledAt(loc) }
            return r
        }
        let fn = try interp.fieldOf(obj, objExpr, name, calleeLoc)
        return try interp.call(fn, args)
    }
}

extension VarAccess {
    /// Puts a value back when its slot is gone (cannot happen for frames; globals keep indices).
    func restore(_ f: Frame, _ v: Value) { globals.store(gidx, v) }
}
