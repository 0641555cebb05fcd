// Runner: runs a script file (`llx run`, with `-p` parameters and extra arguments as `args`)
// or commands piped on stdin, printing located errors on stderr; the exit status says whether
// everything succeeded.
import Foundation
import Lang
import Commands

public enum Runner {
    /// Formats any error raised by parsing or running `source`.
    public static func format(_ error: Error, source: SourceFile?) -> String {
        switch error {
        case let d as DiagnosticList: return d.formatted(source: source)
        case let d as Diagnostic: return d.formatted(source: source)
        default: return "error: \(error)"
        }
    }

    public static func printError(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    /// `llx run file.llx [-p name=value ...] [arg ...]`: 0 on success, 1 on any error in the
    /// script, 2 when the parameters do not fit it (reported on stderr, nothing run), 130 when
    /// Ctrl-C stopped it (nothing after the interrupted statement runs).
    /// `args` is bound to the extra arguments (a list of strings). With a `# %% parameters`
    /// block in the script, the statements up to the end of that block run first, then the
    /// overrides are bound (each must be a name the block binds at its top level), then the
    /// rest runs. Without one, the overrides are bound before the script starts, and a script
    /// that binds such a name itself at its top level is refused (it would overwrite the value).
    public static func runFile(_ path: String, interpreter: Interpreter? = nil,
                               parameters: [ParameterOverride] = [], args: [String] = []) -> Int32 {
        guard let data = FileManager.default.contents(atPath: path) else {
            printError("error: cannot read '\(path)': no such file")
            return 1
        }
        let text = String(decoding: data, as: UTF8.self)
        let interp = interpreter ?? RunScript.makeInterpreter()
        RunScript.install(interp)
        let src = SourceFile(name: path, text: text)
        SourceRegistry.shared.add(src)
        let program: [Stmt]
        do { program = try Parser.parse(text, file: path) } catch {
            printError(format(error, source: src))
            return 1
        }
        let head: [Stmt], tail: [Stmt]
        do {
            (head, tail) = try Parameters.split(program, text: text, path: path, overrides: parameters, via: "-p")
        } catch {
            printError("error: \(error)")
            return 2
        }
        interp.globals.define("args", .list(args.map { .string($0) }))
        do {
            if !head.isEmpty { try interp.execute(head) }
            Parameters.apply(parameters, to: interp)
            try interp.execute(tail)
            // a `train` or evaluator stopped by Ctrl-C as the script's last statement returned
            // what it finished and left the request pending: the script was interrupted all the same
            if interp.isCancelled {
                fflush(stdout)
                printError("error: interrupted")
                return 130
            }
            return 0
        } catch {
            fflush(stdout)
            printError(format(error, source: src))
            // Ctrl-C stops the whole script, as Python's KeyboardInterrupt: 128 + SIGINT
            if let d = error as? Diagnostic, d.kind == .interrupted { return 130 }
            return 1
        }
    }
}
