// Session: the read-eval-print loop. Reads an entry (more lines while brackets are open or the
// input ends in an operator: "unexpected end of input" means "read another line"), runs it,
// shows the value of a bare expression, reports errors without ending the session, and
// handles the `:help :vars :time :load :quit` meta commands.
import Foundation
import Lang
import Commands

public final class Session {
    public let interp: Interpreter
    let reader: LineReader
    let interactive: Bool
    var timing = false
    var lineNumber = 1
    var allText = ""
    public private(set) var errorCount = 0
    public let fileName = "<stdin>"

    public init(interpreter: Interpreter, reader: LineReader, interactive: Bool) {
        self.interp = interpreter; self.reader = reader; self.interactive = interactive
        interpreter.isInteractive = interactive
        RunScript.install(interpreter)
    }

    func err(_ s: String) {
        fflush(stdout)
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    /// Runs until end of input or `:quit`. Returns the exit status (1 if a piped run had errors).
    public func run() -> Int32 {
        if interactive {
            print("llx 0.1 — :help for help, :quit or Ctrl-D to leave")
        }
        while true {
            guard let entry = readEntry() else { break }
            let trimmed = entry.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            reader.addHistory(entry)
            if trimmed.hasPrefix(":") {
                if !meta(trimmed) { break }
                continue
            }
            evaluate(entry)
            // an entry Ctrl-C stopped is marked so in the history (`train(...)  # interrupted`)
            if lastWasInterrupted { reader.markInterrupted(entry) }
        }
        if interactive { print("") }
        return errorCount > 0 && !interactive ? 1 : 0
    }

    /// Reads lines until they parse (or fail for a reason other than an early end).
    func readEntry() -> String? {
        var text = ""
        while true {
            let prompt = interactive ? (text.isEmpty ? "llx> " : "...> ") : ""
            guard let line = reader.readLine(prompt: prompt) else {
                if !text.isEmpty { return text }   // run what we have; its error will show
                return nil
            }
            // Ctrl-C at a `...>` prompt dropped the lines typed so far: this line starts anew
            if reader.takeInterrupt() { text = "" }
            text += text.isEmpty ? line : "\n" + line
            if text.trimmingCharacters(in: .whitespaces).hasPrefix(":") { return text }
            do {
                _ = try Parser.parse(text, file: fileName, line: lineNumber)
                return text
            } catch let d as DiagnosticList where d.isIncomplete {
                continue
            } catch {
                return text
            }
        }
    }

    /// Whether the last entry was stopped by Ctrl-C.
    public private(set) var lastWasInterrupted = false

    /// Runs one entry and shows its value.
    public func evaluate(_ entry: String) {
        let first = lineNumber
        allText += (allText.isEmpty ? "" : "\n") + entry
        lineNumber += entry.split(separator: "\n", omittingEmptySubsequences: false).count
        let source = SourceFile(name: fileName, text: allText)
        SourceRegistry.shared.add(source)
        interp.cancellation?.reset()
        interp.resultWasStreamed = false
        let t0 = Date()
        do {
            if let v = try interp.run(entry, file: fileName, line: first), !v.isNil {
                // a string that generate already streamed is not shown a second time
                var streamed = false
                if interp.resultWasStreamed, case .string = v { streamed = true }
                if !streamed { interp.show(v) }
            }
            // a `train` or evaluator Ctrl-C stopped returned what it finished (kept by `let`)
            // and left the stop request pending: the entry was interrupted all the same
            lastWasInterrupted = interp.isCancelled
        } catch {
            errorCount += 1
            lastWasInterrupted = (error as? Diagnostic)?.kind == .interrupted || (error as? LangRuntimeError)?.kind == .interrupted
            err(Runner.format(error, source: source))
        }
        interp.cancellation?.reset()
        if timing {
            print(String(format: "(%.3f s)", Date().timeIntervalSince(t0)))
        }
    }

    /// One variable for `:vars`: `name: type = value`, the value whole (a model's summary with
    /// all its lines) wrapped at `width`, a long value cut after `maxLines` lines.
    public static func varSummary(_ name: String, _ v: Value, width: Int, maxLines: Int = 12) -> String {
        let head = "\(name): \(v.typeName) = "
        let text = v.repr
        var lines: [String]
        if text.contains("\n") {
            lines = [head.trimmingCharacters(in: .whitespaces)]
            for l in text.split(separator: "\n", omittingEmptySubsequences: false) {
                lines += Terminal.wrap("    " + l, width: width, indent: 6)
            }
        } else {
            lines = Terminal.wrap(head + text, width: width, indent: 4)
        }
        if lines.count > maxLines {
            let more = lines.count - maxLines
            lines = Array(lines.prefix(maxLines)) + ["    ... (\(more) more line\(more == 1 ? "" : "s"))"]
        }
        return lines.joined(separator: "\n")
    }

    /// A `:command`; false means leave.
    func meta(_ line: String) -> Bool {
        let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
        let arg = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        switch parts[0] {
        case ":quit", ":q", ":exit": return false
        case ":help", ":h":
            print("""
            :help          this text; help() lists the commands, help(cmd) explains one
            :vars          the variables of this session
            :time          time each command (toggle)
            :load f.llx    run a script in this session (run_script("f.llx", params: {...})
                           runs one in its own scope and returns its variables)
            :quit          leave (or Ctrl-D)
            Tab completes names, fields (m.con<Tab>) and named arguments (a call's first);
            Ctrl-R searches the history; Ctrl-C stops the running entry as a whole (at a ...>
            prompt it drops the pending lines); an open bracket or a trailing operator
            continues the input on the next line.
            """)
            if !arg.isEmpty { evaluate("help(\"\(arg)\")") }
        case ":vars":
            let names = interp.globals.values.keys.sorted()
            if names.isEmpty { print("(no variables)") }
            for n in names {
                guard let v = interp.globals.values[n] else { continue }
                print(Session.varSummary(n, v, width: Terminal.width))
            }
        case ":time":
            timing.toggle()
            print("timing \(timing ? "on" : "off")")
        case ":load":
            guard !arg.isEmpty else { err("usage: :load file.llx"); return true }
            let path = arg.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            guard let d = FileManager.default.contents(atPath: path) else { err("error: cannot read '\(path)': no such file"); return true }
            let text = String(decoding: d, as: UTF8.self)
            let src = SourceFile(name: path, text: text)
            interp.cancellation?.reset()
            do {
                if let v = try interp.run(text, file: path), !v.isNil { interp.show(v) }
            } catch {
                errorCount += 1
                err(Runner.format(error, source: src))
            }
        default:
            err("unknown command '\(parts[0])' (try :help)")
        }
        return true
    }
}
