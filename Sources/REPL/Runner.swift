// Runner: runs a script file (`llx run`) or commands piped on stdin, printing located errors
// on stderr; the exit status says whether everything succeeded.
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

    /// `llx run file.llx`: 0 on success, 1 on any error (reported on stderr).
    public static func runFile(_ path: String, interpreter: Interpreter? = nil) -> Int32 {
        guard let data = FileManager.default.contents(atPath: path) else {
            printError("error: cannot read '\(path)': no such file")
            return 1
        }
        let text = String(decoding: data, as: UTF8.self)
        let interp = interpreter ?? Commands.makeInterpreter()
        let src = SourceFile(name: path, text: text)
        do {
            try interp.run(text, file: path)
            return 0
        } catch {
            fflush(stdout)
            printError(format(error, source: src))
            return 1
        }
    }
}
