// CellRunner: runs one cell of llx code (a notebook cell, a Jupyter kernel request) and turns
// what it does into outputs in Jupyter's terms, in order: printed text (`stream`), values shown
// with `show(x)` and figures (`display`, a MIME bundle: text/plain, image/svg+xml), the value of
// a final bare expression that is not a figure (`result`), and a failure (`error`, with the located message and the
// caret line as its traceback). `llx notebook` renders these as Markdown and as .ipynb outputs;
// `llx serve --jsonl` (the kernel's back end) sends each one as soon as it happens.
import Foundation
import Lang

public enum CellOutput: Equatable {
    case stream(String)
    case display([String: String])
    case result([String: String])
    case error(name: String, message: String, traceback: [String])

    /// The text/plain of a display or result.
    var plainText: String? {
        switch self {
        case .display(let b), .result(let b): return b["text/plain"]
        default: return nil
        }
    }
}

public enum CellRunner {
    /// The MIME bundle a shown value becomes: figures (and eval results) give image/svg+xml,
    /// with their text form (a result's table) as text/plain when they have one; any other
    /// value its repr as text/plain.
    public static func bundle(_ v: Value) -> [String: String] {
        if case .host(let h) = v, let svg = h.representation("image/svg+xml") {
            var b = ["image/svg+xml": svg]
            if let text = h.representation("text/plain") { b["text/plain"] = text }
            return b
        }
        return ["text/plain": v.repr]
    }

    /// The Jupyter name of an error: `NameError`, `SyntaxError`, ..., `Interrupted` for Ctrl-C.
    static func errorName(_ kind: ErrorKind?) -> String {
        guard let k = kind else { return "Error" }
        switch k {
        case .syntax: return "SyntaxError"
        case .name: return "NameError"
        case .type: return "TypeError"
        case .value: return "ValueError"
        case .argument: return "ArgumentError"
        case .index: return "IndexError"
        case .io: return "IOError"
        case .interrupted: return "Interrupted"
        case .runtime: return "RuntimeError"
        }
    }

    /// An error as an `error` output: its kind, its message, and the formatted diagnostic
    /// (`file:line:col: error: message`, the source line, the caret) as traceback lines.
    public static func errorOutput(_ error: Error, source: SourceFile?) -> CellOutput {
        let kind: ErrorKind?, message: String
        switch error {
        case let d as Diagnostic: kind = d.kind; message = d.message
        case let l as DiagnosticList: kind = l.diagnostics.first?.kind; message = l.diagnostics.first?.message ?? "\(l)"
        case let e as LangRuntimeError: kind = e.kind; message = e.message
        default: kind = nil; message = "\(error)"
        }
        let text = Runner.format(error, source: source)
        return .error(name: errorName(kind), message: message,
                      traceback: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
    }

    /// Runs `code` (its first line is line `line` of `file`) in `interp`, sending each output
    /// to `emit` as it happens. The interpreter's output and display hooks are set for the run
    /// and left in place. Returns false when the cell failed (its error was emitted last).
    @discardableResult
    public static func run(_ code: String, file: String, line: Int = 1, source: SourceFile?, in interp: Interpreter,
                           emit: @escaping (CellOutput) -> Void) -> Bool {
        interp.output = { s in if !s.isEmpty { emit(.stream(s)) } }
        interp.displayHook = { v in emit(.display(bundle(v))) }
        interp.resultWasStreamed = false
        do {
            if let v = try interp.run(code, file: file, line: line), !v.isNil {
                // a string that generate already streamed is not shown a second time (as the REPL)
                if interp.resultWasStreamed, case .string = v { return true }
                // a figure is display data wherever it comes from; other values are the cell's result
                let b = bundle(v)
                emit(b["image/svg+xml"] != nil ? .display(b) : .result(b))
            }
            return true
        } catch {
            emit(errorOutput(error, source: source))
            return false
        }
    }
}
