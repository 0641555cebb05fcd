// RunScript: the `run_script(path, params: {...})` command, `llx run path -p name=value` from
// inside llx code (a notebook cell runs a training script with overrides and uses its model).
// It needs the parser and the parameters logic, so the REPL module registers it on every
// interpreter it builds or is handed (REPL, `llx run`, `llx notebook`); Lang knows no ML.
//
// The script runs in a fresh interpreter on the same registry: its own globals (it neither
// sees nor changes the caller's), the caller's output and figures (a notebook cell shows what
// it prints), operators on host objects, seed hooks and Ctrl-C. It counts as a call, so a
// script that runs itself ends at the call-depth limit. It returns a record of the script's
// global variables at the end.
import Foundation
import Lang
import Commands

public enum RunScript {
    /// `Commands.makeInterpreter()` plus `run_script`.
    public static func makeInterpreter() -> Interpreter {
        let interp = Commands.makeInterpreter()
        interp.cancellation = Interrupt.token
        register(into: interp.registry)
        return interp
    }

    /// Registers `run_script` unless the interpreter's registry already has it.
    public static func install(_ interp: Interpreter) {
        if interp.registry["run_script"] == nil { register(into: interp.registry) }
    }

    public static func register(into r: Registry) {
        r.register("run_script", [
            Param("path", .string, doc: "the script; a relative path is relative to the current directory"),
            .named("params", .record, default: .record(Record()),
                   doc: "overrides of the script's parameters, {name: value, ...}, as `llx run -p name=value`"),
            .named("args", .list, default: .list([]), doc: "the script's `args` (the extra arguments of `llx run`)"),
        ], help: """
        Runs a script as `llx run path -p name=value` does and returns a record of its global variables at the end (`r.m`).
        With a `# %% parameters` block, the block runs first, then `params` are bound (each must be a name the block binds),
        then the rest; without one, `params` are globals from the start. The script has its own globals (it neither sees
        nor changes the caller's) and prints where the caller prints. An error in it stops the call, located in the script.
        """) { a, interp in
            try run(try a.string("path"), params: try a.record("params"), args: try a.list("args"),
                    caller: interp, at: a.location)
        }
    }

    /// Runs `path` in a child interpreter of `caller`; `location` is the call's (for messages).
    public static func run(_ path: String, params: Record, args: [Value], caller: Interpreter,
                           at location: SourceLocation) throws -> Value {
        var overrides: [ParameterOverride] = []
        for (name, value) in params.pairs {
            guard Parameters.isValidName(name) else {
                throw LangRuntimeError(.argument, "run_script: params: '\(name)' is not a valid name (letters, digits and _, not a keyword)")
            }
            overrides.append(ParameterOverride(name: name, value: value))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LangRuntimeError(.io, "run_script: cannot read '\(path)': no such file")
        }
        let text = String(decoding: data, as: UTF8.self)
        SourceRegistry.shared.add(SourceFile(name: path, text: text))
        let call = "run_script(\"\(path)\") at \(location)"
        if calls.isEmpty { failedCalls = nil }
        calls.append(call)
        defer { calls.removeLast() }
        let program: [Stmt]
        do { program = try Parser.parse(text, file: path) } catch { throw annotated(error) }
        let head: [Stmt], tail: [Stmt]
        do {
            (head, tail) = try Parameters.split(program, text: text, path: path, overrides: overrides, via: "params")
        } catch {
            throw LangRuntimeError(.argument, "run_script: \(error)")
        }
        let interp = try child(of: caller)
        interp.globals.define("args", .list(args))
        do {
            if !head.isEmpty { try interp.execute(head) }
            Parameters.apply(overrides, to: interp)
            try interp.execute(tail)
        } catch {
            throw annotated(error)
        }
        return .record(globals(of: interp, program: program, boundFirst: head.isEmpty ? overrides.map { $0.name } : []))
    }

    /// A fresh interpreter that shares the caller's registry, output, display, host operators,
    /// seed hooks, session state and cancellation, with the call depth the caller has left.
    static func child(of caller: Interpreter) throws -> Interpreter {
        let depth = caller.maxCallDepth - caller.callDepth - 1
        guard depth > 0 else {
            throw LangRuntimeError(.runtime, "run_script: too many nested calls (a script that runs itself?)")
        }
        let interp = Interpreter(registry: caller.registry)
        interp.maxCallDepth = depth
        interp.output = { caller.write($0) }
        interp.displayHook = { caller.show($0) }
        interp.binaryHook = caller.binaryHook
        interp.unaryHook = caller.unaryHook
        interp.seedHooks = caller.seedHooks
        interp.isInteractive = caller.isInteractive
        interp.state = caller.state
        interp.cancellation = caller.cancellation
        return interp
    }

    /// The script's globals: `boundFirst` (overrides bound before it ran), then names in the
    /// order its top-level statements bind them, then any others by name; not `args`.
    static func globals(of interp: Interpreter, program: [Stmt], boundFirst: [String]) -> Record {
        var order = boundFirst
        for s in program {
            switch s.kind {
            case .letBinding(let n, _): order.append(n)
            case .function(let decl): order.append(decl.name)
            default: break
            }
        }
        order += interp.globals.values.keys.sorted()
        var r = Record()
        for n in order where n != "args" && r[n] == nil {
            if let v = interp.globals.values[n] { r[n] = v }
        }
        return r
    }

    /// The `run_script` calls in progress, outermost first (one thread runs llx code).
    nonisolated(unsafe) static var calls: [String] = []
    /// The calls in progress when the error now propagating was caught first (innermost).
    nonisolated(unsafe) static var failedCalls: [String]? = nil

    /// An error raised while the script ran: still located where it happened (in the script,
    /// or in a function it called). The outermost call adds the chain of calls to the message
    /// (innermost first); the inner ones pass it on unchanged.
    static func annotated(_ error: Error) -> Error {
        if failedCalls == nil { failedCalls = calls }
        guard calls.count == 1, let chain = failedCalls else { return error }
        failedCalls = nil
        var notes = chain.reversed().map { "in " + $0 }
        if notes.count > 3 { notes = [notes[0], "... \(notes.count - 2) more ...", notes[notes.count - 1]] }
        func note(_ d: Diagnostic) -> Diagnostic {
            Diagnostic(d.kind, d.message + " (" + notes.joined(separator: ", ") + ")", at: d.location)
        }
        switch error {
        case let d as Diagnostic: return note(d)
        case let l as DiagnosticList: return DiagnosticList(l.diagnostics.map(note))
        default: return error
        }
    }
}
