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
        public enum Kind { case code, markdown, raw }
        public var kind: Kind
        public var text: String
        public var firstLine: Int   // line of the cell's first content line in the file
        public var isParameters = false   // marked `# %% parameters` (or `# %% [parameters]`)
        /// The source name in diagnostics: the notebook's path, or `nb.ipynb[n]` for cell n of a .ipynb.
        public var file = ""
        /// The cell as read from a .ipynb (its id and metadata are written back).
        var original: Record? = nil
        /// Its position among the cells of the .ipynb it was read from (1-based).
        var position: Int? = nil
        init(kind: Kind, text: String, firstLine: Int, isParameters: Bool = false) {
            self.kind = kind; self.text = text; self.firstLine = firstLine; self.isParameters = isParameters
        }
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

    /// Where a cell is, in messages: `line N` of a .llx notebook, `cell N` of a .ipynb.
    static func place(_ cell: Cell) -> String {
        if let p = cell.position { return "cell \(p)" }
        return "line \(cell.firstLine)"
    }

    /// Checks `parameters` against the notebook's parameters cell before anything runs: there
    /// must be one, it must parse, and it must bind every overridden name at its top level.
    /// Returns the index of that cell (nil when there are no overrides and no such cell).
    static func parametersCell(_ cells: [Cell], _ parameters: [ParameterOverride], path: String, source: SourceFile?) throws -> Int? {
        let index = cells.firstIndex { $0.kind == .code && $0.isParameters }
        if parameters.isEmpty { return index }
        guard let i = index else {
            let how = path.hasSuffix(".ipynb") ? "give the cell holding the defaults the tag 'parameters'" : "mark the cell holding the defaults with '# %% parameters'"
            throw UsageError("'\(path)' has no parameters cell, so -p \(parameters[0].name) cannot be applied (\(how))")
        }
        let cell = cells[i]
        let stmts: [Stmt]
        do { stmts = try Parser.parse(cell.text, file: cell.file, line: cell.firstLine) } catch {
            throw UsageError("the parameters cell of '\(path)' (\(place(cell))) does not parse, so -p cannot be applied:\n" + Runner.format(error, source: source))
        }
        try Parameters.check(parameters, known: Parameters.boundNames(stmts).map { $0.name },
                             place: "the parameters cell of '\(path)' (\(place(cell)))")
        return i
    }

    /// Whether Ctrl-C stopped the last `run` (its report says so; `llx notebook` exits 130).
    public nonisolated(unsafe) static var lastRunInterrupted = false

    /// The two reports of a run: `out` as given is the Markdown report (figures as SVG files in
    /// `<base>_files/`), and `<base>.ipynb` the Jupyter notebook; `-o x.ipynb` gives `x.md` and
    /// `x.ipynb`.
    public static func outputPaths(_ out: String) -> (markdown: String, ipynb: String) {
        let stem = (out as NSString).deletingPathExtension
        if (out as NSString).pathExtension.lowercased() == "ipynb" { return (stem + ".md", out) }
        return (out, stem + ".ipynb")
    }

    /// Runs `path` (a `.llx` notebook, or a `.ipynb` whose code cells are llx) and writes the
    /// reports: Markdown at `out` and the executed notebook beside it (`outputPaths`). Returns
    /// the number of failed cells. `parameters` (from `-p`) are bound after the parameters cell;
    /// a missing parameters cell or a name it does not bind throws `UsageError` before any cell runs.
    /// Ctrl-C stops the run at the interrupted cell (the reports are written and say so).
    @discardableResult
    public static func run(path: String, out: String, interpreter: Interpreter? = nil, parameters: [ParameterOverride] = [],
                           log: (String) -> Void = { _ in }) throws -> Int {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LangRuntimeError(.io, "cannot read '\(path)': no such file")
        }
        let text = String(decoding: data, as: UTF8.self)
        var allCells: [Cell]
        var metadata: Record? = nil
        var source: SourceFile? = nil
        if path.lowercased().hasSuffix(".ipynb") {
            (allCells, metadata) = try Ipynb.cells(text, path: path)
            for c in allCells where c.kind == .code { SourceRegistry.shared.add(SourceFile(name: c.file, text: c.text)) }
        } else {
            let src = SourceFile(name: path, text: text)
            SourceRegistry.shared.add(src)
            source = src
            allCells = cells(text)
            for i in allCells.indices { allCells[i].file = path }
        }
        let parametersIndex = try parametersCell(allCells, parameters, path: path, source: source)
        let interp = interpreter ?? RunScript.makeInterpreter()
        RunScript.install(interp)
        let (mdPath, ipynbPath) = outputPaths(out)
        let outURL = URL(fileURLWithPath: mdPath)
        let base = outURL.deletingPathExtension().lastPathComponent
        let filesDirName = base + "_files"
        let filesDir = outURL.deletingLastPathComponent().appendingPathComponent(filesDirName)
        // the folder beside the report where figures (and files a notebook writes) go
        try? FileManager.default.createDirectory(at: filesDir, withIntermediateDirectories: true)
        interp.globals.define("notebook_files", .string(filesDir.path))
        var figureCount = 0
        var report = ""
        var written: [Ipynb.WrittenCell] = []
        var failed = 0
        var executionCount = 0
        var stopped = false
        var interrupted = false
        /// Ends the run: a note in both reports; the remaining cells are kept in the .ipynb, not run.
        func stopRun(_ note: String, log message: String) {
            report += note + "\n\n"
            written.append(Ipynb.WrittenCell(cell: Cell(kind: .markdown, text: note, firstLine: 1), executionCount: nil, outputs: []))
            log(message)
            stopped = true
        }
        lastRunInterrupted = false
        defer { lastRunInterrupted = interrupted }
        for (n, cell) in allCells.enumerated() {
            if stopped || cell.kind != .code {
                if cell.kind == .markdown && !stopped { report += cell.text + "\n\n" }
                written.append(Ipynb.WrittenCell(cell: cell, executionCount: nil, outputs: []))
                continue
            }
            log(cell.position.map { "cell \($0)" } ?? "cell \(n + 1) (line \(cell.firstLine))")
            interp.cancellation?.reset()
            executionCount += 1
            var outputs: [CellOutput] = []
            let t0 = Date()
            var ok = CellRunner.run(cell.text, file: cell.file, line: cell.firstLine, source: source ?? SourceRegistry.shared.file(cell.file),
                                    in: interp) { outputs.append($0) }
            let seconds = Date().timeIntervalSince(t0)
            // the Markdown report: printed text and shown values in one text block until a
            // figure (written to <base>_files/figN.svg) or the error
            report += "```llx\n" + cell.text + "\n```\n\n"
            var pending = ""
            func flushText() {
                if !pending.isEmpty { report += "```text\n" + pending + (pending.hasSuffix("\n") ? "" : "\n") + "```\n\n"; pending = "" }
            }
            var errorText: String? = nil
            var figureError: Error? = nil
            for o in outputs {
                switch o {
                case .stream(let s): pending += s
                case .display(let b), .result(let b):
                    guard let svg = b["image/svg+xml"] else { pending += (b["text/plain"] ?? "") + "\n"; continue }
                    if let text = b["text/plain"] { pending += text + (text.hasSuffix("\n") ? "" : "\n") }
                    figureCount += 1
                    let name = "fig\(figureCount).svg"
                    do {
                        try FileManager.default.createDirectory(at: filesDir, withIntermediateDirectories: true)
                        try AtomicFile.write(svg, to: filesDir.appendingPathComponent(name).path)
                    } catch { if figureError == nil { figureError = error } }
                    flushText()
                    report += "![figure](\(filesDirName)/\(name))\n\n"
                case .error(_, _, let tb):
                    errorText = tb.joined(separator: "\n")
                }
            }
            flushText()
            if ok, let e = figureError {
                ok = false
                let eo = CellRunner.errorOutput(e, source: nil)
                outputs.append(eo)
                if case .error(_, _, let tb) = eo { errorText = tb.joined(separator: "\n") }
            }
            if !ok { failed += 1 }
            if let e = errorText {
                report += "**Error:**\n\n```text\n" + e + "\n```\n\n"
            }
            written.append(Ipynb.WrittenCell(cell: cell, executionCount: executionCount, outputs: outputs,
                                             tags: cell.isParameters && n == parametersIndex && cell.original == nil ? ["parameters"] : []))
            if seconds >= 1 { log(String(format: "cell %d took %.1f s", n + 1, seconds)) }
            // (a cell whose last statement was a `train` or evaluator that Ctrl-C stopped ends
            // without an error, the request still pending: the run stops there too)
            if interp.isCancelled || outputs.contains(where: { if case .error(let name, _, _) = $0 { return name == "Interrupted" }; return false }) {
                // Ctrl-C stops the whole run, not just the cell (as for a script)
                interrupted = true
                stopRun("**Interrupted:** Ctrl-C stopped the run; the remaining cells were not run.",
                        log: "interrupted: the remaining cells were not run")
                continue
            }
            if n == parametersIndex && !parameters.isEmpty {
                if !ok {
                    // running on with the defaults would give a report that looks overridden
                    stopRun("**Parameters not applied:** the parameters cell failed; the remaining cells were not run.",
                            log: "the parameters cell failed: parameters not applied, remaining cells not run")
                    continue
                }
                Parameters.apply(parameters, to: interp)
                let injected = Parameters.injectedCell(parameters)
                report += "```llx\n" + injected + "\n```\n\n"
                written.append(Ipynb.WrittenCell(cell: Cell(kind: .code, text: injected, firstLine: 1), executionCount: nil,
                                                 outputs: [], tags: ["injected-parameters"]))
                log("parameters: " + parameters.map { $0.assignment }.joined(separator: ", "))
            }
        }
        let notebook = try Ipynb.render(written, metadata: metadata)
        try AtomicFile.write(report, to: mdPath)
        try AtomicFile.write(notebook, to: ipynbPath)
        return failed
    }
}
