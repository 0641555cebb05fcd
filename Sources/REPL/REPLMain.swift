// REPLMain: the program modes `llx` starts — the REPL (readline at a terminal, plain lines
// from a pipe), a script, a notebook — with the SIGINT handling each needs.
import Foundation
import Lang
import Commands
import NN

/// The program's stop request: the SIGINT handlers set it, and every interpreter the program
/// makes (RunScript.makeInterpreter, and the children of run_script) is given it, so that
/// Ctrl-C reaches the running statement, training, evaluation or generation.
enum Interrupt {
    static let token = CancellationToken()
}

public enum REPLMain {
    /// `llx`: the interactive REPL at a terminal, prompt-less evaluation of piped input.
    public static func start() -> Int32 {
        let interp = RunScript.makeInterpreter()
        if isatty(0) != 0 {
            let reader = ReadlineReader(interpreter: interp)
            return Session(interpreter: interp, reader: reader, interactive: true).run()
        }
        installBatchInterruptHandler()
        return Session(interpreter: interp, reader: PipeReader(), interactive: false).run()
    }

    /// `llx run file.llx [-p name=value ...] [arg ...]`.
    public static func runScript(_ path: String, parameters: [ParameterOverride] = [], args: [String] = []) -> Int32 {
        installBatchInterruptHandler()
        return Runner.runFile(path, parameters: parameters, args: args)
    }

    /// `llx notebook file.llx -o out.md [-p name=value ...]`: 1 when a cell failed (the reports
    /// are written), 2 when the parameters do not fit the notebook (nothing runs).
    public static func runNotebook(_ path: String, out: String, parameters: [ParameterOverride] = []) -> Int32 {
        installBatchInterruptHandler()
        do {
            let failed = try Notebook.run(path: path, out: out, parameters: parameters) { msg in
                FileHandle.standardError.write(Data("[notebook] \(msg)\n".utf8))
            }
            let paths = Notebook.outputPaths(out)
            FileHandle.standardError.write(Data("[notebook] wrote \(paths.markdown) and \(paths.ipynb)\(failed > 0 ? " (\(failed) failed cell\(failed == 1 ? "" : "s"))" : "")\n".utf8))
            if Notebook.lastRunInterrupted { return 130 }
            return failed > 0 ? 1 : 0
        } catch let e as UsageError {
            Runner.printError("error: \(e)")
            return 2
        } catch {
            Runner.printError("error: \(error)")
            return 1
        }
    }

    /// First Ctrl-C asks the running command to stop; a second one ends the program.
    static func installBatchInterruptHandler() {
        _ = Interrupt.token   // created before a signal can arrive
        signal(SIGINT) { _ in
            if Interrupt.token.isCancelled { _exit(130) }
            Interrupt.token.cancel()
        }
    }
}
