// Ipynb: Jupyter notebooks (nbformat 4) for `llx notebook`. Reads a `.ipynb` whose code cells
// are llx into the runner's cells (markdown and raw cells kept; a code cell tagged
// `parameters`, papermill's convention, is the parameters cell; one tagged `injected-parameters`,
// left by an earlier run, is dropped, as papermill does), and writes the executed
// notebook: code cells with their outputs as `stream`, `display_data` (figures as
// image/svg+xml), `execute_result` and `error` outputs. A notebook read from .ipynb keeps its
// metadata, cell ids and cell metadata; only outputs and execution counts are replaced.
// Uses Lang's order-preserving JSON, so a rewritten notebook keeps its keys in order.
import Foundation
import Lang

public enum Ipynb {
    public static let kernelspec: Record = Record([
        ("display_name", .string("llx")), ("language", .string("llx")), ("name", .string("llx")),
    ])
    public static let languageInfo: Record = Record([
        ("codemirror_mode", .string("swift")), ("file_extension", .string(".llx")),
        ("mimetype", .string("text/x-llx")), ("name", .string("llx")),
    ])

    /// Reads the cells of a notebook file. `path` names the cells' sources in diagnostics:
    /// the cell at position n (1-based, counting every cell) is `path[n]`, its first line 1.
    public static func cells(_ text: String, path: String) throws -> (cells: [Notebook.Cell], metadata: Record?) {
        func bad(_ why: String) -> Error { LangRuntimeError(.value, "'\(path)' is not a Jupyter notebook: \(why)") }
        let root: Value
        do { root = try JSON.parse(text) } catch { throw bad("\(error)") }
        guard case .record(let nb) = root else { throw bad("the top level is not a JSON object") }
        guard case .int(let major)? = nb["nbformat"] else { throw bad("no 'nbformat' version") }
        guard major == 4 else { throw bad("nbformat \(major) is not supported (only 4; convert it with `jupyter nbconvert --to notebook`)") }
        guard case .list(let list)? = nb["cells"] else { throw bad("no 'cells' list") }
        var out: [Notebook.Cell] = []
        for (i, c) in list.enumerated() {
            guard case .record(let cell) = c, case .string(let type)? = cell["cell_type"] else {
                throw bad("cell \(i + 1) has no 'cell_type'")
            }
            let source = try sourceText(cell["source"], cell: i + 1, bad)
            let kind: Notebook.Cell.Kind
            switch type {
            case "code": kind = .code
            case "markdown": kind = .markdown
            case "raw": kind = .raw
            default: throw bad("cell \(i + 1) has an unknown cell_type '\(type)'")
            }
            var isParameters = false
            if kind == .code, case .record(let meta)? = cell["metadata"], case .list(let tags)? = meta["tags"] {
                func has(_ t: String) -> Bool { tags.contains { if case .string(let s) = $0 { return s == t }; return false } }
                // the injected cell of an earlier run is replaced by this run's (as papermill does)
                if has("injected-parameters") { continue }
                isParameters = has("parameters")
            }
            var c = Notebook.Cell(kind: kind, text: source, firstLine: 1, isParameters: isParameters)
            c.file = "\(path)[\(i + 1)]"
            c.position = i + 1
            c.original = cell
            out.append(c)
        }
        var meta: Record? = nil
        if case .record(let m)? = nb["metadata"] { meta = m }
        return (out, meta)
    }

    /// A cell's source: a string or a list of strings (lines with their newlines).
    static func sourceText(_ v: Value?, cell: Int, _ bad: (String) -> Error) throws -> String {
        switch v {
        case .string(let s)?: return s
        case .list(let parts)?:
            var s = ""
            for p in parts {
                guard case .string(let t) = p else { throw bad("cell \(cell) has a source that is not text") }
                s += t
            }
            return s
        case nil: return ""
        default: throw bad("cell \(cell) has a source that is not text")
        }
    }

    /// Text as nbformat stores it: a list of lines, each but the last with its newline.
    static func lines(_ s: String) -> Value {
        var out: [Value] = []
        var cur = ""
        for ch in s {
            cur.append(ch)
            if ch == "\n" { out.append(.string(cur)); cur = "" }
        }
        if !cur.isEmpty { out.append(.string(cur)) }
        return .list(out)
    }

    static func mimeBundle(_ b: [String: String]) -> Value {
        var r = Record()
        for k in b.keys.sorted() { r[k] = lines(b[k]!) }
        return .record(r)
    }

    /// One output in nbformat 4 form; adjacent stream text is merged by the caller.
    static func output(_ o: CellOutput, count: Int?) -> Value {
        switch o {
        case .stream(let s):
            return .record(Record([("name", .string("stdout")), ("output_type", .string("stream")), ("text", lines(s))]))
        case .display(let b):
            return .record(Record([("data", mimeBundle(b)), ("metadata", .record(Record())), ("output_type", .string("display_data"))]))
        case .result(let b):
            return .record(Record([("data", mimeBundle(b)), ("execution_count", count.map { .int($0) } ?? .null),
                                   ("metadata", .record(Record())), ("output_type", .string("execute_result"))]))
        case .error(let name, let message, let tb):
            return .record(Record([("ename", .string(name)), ("evalue", .string(message)), ("output_type", .string("error")),
                                   ("traceback", .list(tb.map { .string($0) }))]))
        }
    }

    /// Consecutive printed text as one stream output, as Jupyter shows it.
    static func merged(_ outputs: [CellOutput]) -> [CellOutput] {
        var out: [CellOutput] = []
        for o in outputs {
            if case .stream(let s) = o, case .stream(let prev)? = out.last {
                out[out.count - 1] = .stream(prev + s)
            } else {
                out.append(o)
            }
        }
        return out
    }

    /// A cell of the written notebook.
    public struct WrittenCell {
        public var cell: Notebook.Cell
        /// nil: not run (or not a code cell).
        public var executionCount: Int?
        public var outputs: [CellOutput]
        public var tags: [String] = []
    }

    /// The notebook as nbformat 4.5 JSON text (cell ids kept from the original, else made up).
    public static func render(_ cells: [WrittenCell], metadata: Record?) throws -> String {
        var used = Set<String>()
        var list: [Value] = []
        for (i, w) in cells.enumerated() {
            var r = w.cell.original ?? Record()
            let type: String
            switch w.cell.kind {
            case .code: type = "code"
            case .markdown: type = "markdown"
            case .raw: type = "raw"
            }
            r["cell_type"] = .string(type)
            var id = ""
            if case .string(let s)? = r["id"], !s.isEmpty, !used.contains(s) { id = s }
            if id.isEmpty {
                var n = i + 1
                while used.contains("llx-cell-\(n)") { n += 1 }
                id = "llx-cell-\(n)"
            }
            used.insert(id)
            r["id"] = .string(id)
            var meta: Record
            if case .record(let m)? = r["metadata"] { meta = m } else { meta = Record() }
            if !w.tags.isEmpty {
                var tags: [Value] = []
                if case .list(let t)? = meta["tags"] { tags = t }
                for t in w.tags where !tags.contains(where: { if case .string(let s) = $0 { return s == t }; return false }) { tags.append(.string(t)) }
                meta["tags"] = .list(tags)
            }
            r["metadata"] = .record(meta)
            if w.cell.original == nil || r["source"] == nil { r["source"] = lines(w.cell.text) }
            if w.cell.kind == .code {
                r["execution_count"] = w.executionCount.map { .int($0) } ?? .null
                r["outputs"] = .list(merged(w.outputs).map { output($0, count: w.executionCount) })
            } else {
                r["execution_count"] = nil
                r["outputs"] = nil
            }
            list.append(.record(r))
        }
        var meta = metadata ?? Record()
        if meta["kernelspec"] == nil { meta["kernelspec"] = .record(kernelspec) }
        if meta["language_info"] == nil { meta["language_info"] = .record(languageInfo) }
        let nb = Record([("cells", .list(list)), ("metadata", .record(meta)), ("nbformat", .int(4)), ("nbformat_minor", .int(5))])
        return try JSON.serialize(.record(nb), indent: 1) + "\n"
    }
}
