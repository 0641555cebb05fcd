// Notebook: runs a `.llx` notebook (cells start at `# %%` lines; `# %% md` cells hold Markdown
// as comment lines) in one session and writes a Markdown report: each cell's code, its printed
// output and shown values, figures as SVG files beside the report (`<out>_files/figN.svg`).
// A failing cell is reported in place and the report is still written, atomically.
// A `# %% parameters` cell holds defaults that `-p name=value` overrides (Parameters.swift):
// the overrides are bound right after that cell and shown as an injected cell in the report.
import Foundation
import Lang
import Commands

public enum Notebook {
    public struct Cell {
        public enum Kind { case code, markdown }
        public var kind: Kind
        public var text: String
        public var firstLine: Int   // line of the cell's first content line in the file
        public var isParameters = false   // marked `# %% parameters` (or `# %% [parameters]`)
    }

    /// Splits a notebook into cells.
    public static func cells(_ text: String) -> [Cell] {
        var cells: [Cell] = []
        var kind = Cell.Kind.code
        var isParameters = false
        var lines: [String] = []
        var first = 1
        func flush() {
            var l = lines
            var start = first
            while let f = l.first, f.trimmingCharacters(in: .whitespaces).isEmpty { l.removeFirst(); start += 1 }
            while let last = l.last, last.trimmingCharacters(in: .whitespaces).isEmpty { l.removeLast() }
            if !l.isEmpty {
                if kind == .markdown {
                    l = l.map { line in
                        if line.hasPrefix("# ") { return String(line.dropFirst(2)) }
                        if line.hasPrefix("#") { return String(line.dropFirst()) }
                        return line
                    }
                }
                cells.append(Cell(kind: kind, text: l.joined(separator: "\n"), firstLine: start,
                                  isParameters: kind == .code && isParameters))
            }
            lines = []
        }
        let all = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (i, line) in all.enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("# %%") {
                flush()
                let rest = t.dropFirst(4).trimmingCharacters(in: .whitespaces).lowercased()
                kind = (rest.hasPrefix("md") || rest.hasPrefix("[markdown]") || rest.hasPrefix("markdown")) ? .markdown : .code
                isParameters = Parameters.isMarker(rest)
                first = i + 2
                continue
            }
            lines.append(line)
        }
        flush()
        return cells
    }

    /// One thing a cell produced, in order.
    enum Output {
        case text(String)
        case figure(String)    // relative path of the SVG
    }

    /// Checks `parameters` against the notebook's parameters cell before anything runs: there
    /// must be one, it must parse, and it must bind every overridden name at its top level.
    /// Returns the index of that cell (nil when there are no overrides and no such cell).
    static func parametersCell(_ cells: [Cell], _ parameters: [ParameterOverride], path: String, source: SourceFile) throws -> Int? {
        let index = cells.firstIndex { $0.kind == .code && $0.isParameters }
        if parameters.isEmpty { return index }
        guard let i = index else {
            throw UsageError("'\(path)' has no parameters cell, so -p \(parameters[0].name) cannot be applied (mark the cell holding the defaults with '# %% parameters')")
        }
        let cell = cells[i]
        let stmts: [Stmt]
        do { stmts = try Parser.parse(cell.text, file: path, line: cell.firstLine) } catch {
            throw UsageError("the parameters cell of '\(path)' (line \(cell.firstLine)) does not parse, so -p cannot be applied:\n" + Runner.format(error, source: source))
        }
        try Parameters.check(parameters, known: Parameters.boundNames(stmts).map { $0.name },
                             place: "the parameters cell of '\(path)' (line \(cell.firstLine))")
        return i
    }

    /// Whether Ctrl-C stopped the last `run` (its report says so; `llx notebook` exits 130).
    public nonisolated(unsafe) static var lastRunInterrupted = false

    /// Runs `path` and writes the report to `out`. Returns the number of failed cells.
    /// `parameters` (from `-p`) are bound after the parameters cell; a missing parameters cell
    /// or a name it does not bind throws `UsageError` before any cell runs. Ctrl-C stops the
    /// run at the interrupted cell (the report is written and says so).
    @discardableResult
    public static func run(path: String, out: String, interpreter: Interpreter? = nil, parameters: [ParameterOverride] = [],
                           log: (String) -> Void = { _ in }) throws -> Int {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LangRuntimeError(.io, "cannot read '\(path)': no such file")
        }
        let text = String(decoding: data, as: UTF8.self)
        let source = SourceFile(name: path, text: text)
        SourceRegistry.shared.add(source)
        let allCells = cells(text)
        let parametersIndex = try parametersCell(allCells, parameters, path: path, source: source)
        let interp = interpreter ?? RunScript.makeInterpreter()
        RunScript.install(interp)
        let outURL = URL(fileURLWithPath: out)
        let base = outURL.deletingPathExtension().lastPathComponent
        let filesDirName = base + "_files"
        let filesDir = outURL.deletingLastPathComponent().appendingPathComponent(filesDirName)
        // the folder beside the report where figures (and files a notebook writes) go
        try? FileManager.default.createDirectory(at: filesDir, withIntermediateDirectories: true)
        interp.globals.define("notebook_files", .string(filesDir.path))
        var figureCount = 0
        var outputs: [Output] = []
        var pending = ""
        func flushText() { if !pending.isEmpty { outputs.append(.text(pending)); pending = "" } }
        interp.output = { pending += $0 }
        var displayError: Error? = nil
        interp.displayHook = { v in
            if case .host(let h) = v, let svg = h.representation("image/svg+xml") {
                figureCount += 1
                let name = "fig\(figureCount).svg"
                do {
                    try FileManager.default.createDirectory(at: filesDir, withIntermediateDirectories: true)
                    try AtomicFile.write(svg, to: filesDir.appendingPathComponent(name).path)
                } catch { displayError = error }
                if let text = h.representation("text/plain") { pending += text + (text.hasSuffix("\n") ? "" : "\n") }
                flushText()
                outputs.append(.figure(filesDirName + "/" + name))
                return
            }
            pending += v.repr + "\n"
        }
        var report = ""
        var failed = 0
        var interrupted = false
        lastRunInterrupted = false
        defer { lastRunInterrupted = interrupted }
        cellLoop: for (n, cell) in allCells.enumerated() {
            switch cell.kind {
            case .markdown:
                report += cell.text + "\n\n"
            case .code:
                log("cell \(n + 1) (line \(cell.firstLine))")
                outputs = []; pending = ""
                var errorText: String? = nil
                interp.cancellation?.reset()
                let t0 = Date()
                do {
                    if let v = try interp.run(cell.text, file: path, line: cell.firstLine), !v.isNil { interp.show(v) }
                    if let e = displayError { displayError = nil; throw e }
                } catch {
                    failed += 1
                    errorText = Runner.format(error, source: source)
                    if let d = error as? Diagnostic, d.kind == .interrupted { interrupted = true }
                }
                let seconds = Date().timeIntervalSince(t0)
                flushText()
                report += "```llx\n" + cell.text + "\n```\n\n"
                for o in outputs {
                    switch o {
                    case .text(let s):
                        report += "```text\n" + s + (s.hasSuffix("\n") ? "" : "\n") + "```\n\n"
                    case .figure(let p):
                        report += "![figure](\(p))\n\n"
                    }
                }
                if let e = errorText {
                    report += "**Error:**\n\n```text\n" + e + "\n```\n\n"
                }
                if seconds >= 1 { log(String(format: "cell %d took %.1f s", n + 1, seconds)) }
                if interrupted {
                    // Ctrl-C stops the whole run, not just the cell (as for a script)
                    report += "**Interrupted:** Ctrl-C stopped the run; the remaining cells were not run.\n\n"
                    log("interrupted: the remaining cells were not run")
                    break cellLoop
                }
                if n == parametersIndex && !parameters.isEmpty {
                    if errorText != nil {
                        // running on with the defaults would give a report that looks overridden
                        report += "**Parameters not applied:** the parameters cell failed; the remaining cells were not run.\n\n"
                        log("the parameters cell failed: parameters not applied, remaining cells not run")
                        break cellLoop
                    }
                    Parameters.apply(parameters, to: interp)
                    report += "```llx\n" + Parameters.injectedCell(parameters) + "\n```\n\n"
                    log("parameters: " + parameters.map { $0.assignment }.joined(separator: ", "))
                }
            }
        }
        try AtomicFile.write(report, to: out)
        return failed
    }
}
