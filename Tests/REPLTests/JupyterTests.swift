// JupyterTests: llx in Jupyter. The .ipynb that `llx notebook` writes beside the .md report
// (structure checked here, and validated by nbformat), .ipynb notebooks as input (parameters
// tag, errors located at `nb.ipynb[n]`, metadata kept, rerun in place), `llx serve --jsonl`
// driven directly (streamed output, figures, errors, SIGINT keeping the session, completion,
// inspection), and the kernel itself: `llx kernel install` into a temporary prefix, then a
// notebook executed by nbclient (outputs, an error cell, an interrupted cell, a figure) and a
// jupyter_client session (completion of names, fields and named arguments; inspection).
// The Python parts use the LLX_VENV (or .venv) Python with nbformat, nbclient, ipykernel and
// jupyter_client (scripts/setup.sh installs them) and skip, saying what is missing, without.
import XCTest
import Foundation
import Lang
import Commands
import REPL

final class JupyterTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = root.appendingPathComponent(".build/release/llx").path
    static let checkScript = root.appendingPathComponent("scripts/check_jupyter.py").path

    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("llx-jupyter-\(getpid())-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: tmp) }

    // MARK: helpers

    func requireBinary() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw XCTSkip("build llx first: swift build -c release (\(Self.binary) missing)")
        }
    }

    /// Runs a program; (status, stdout, stderr).
    @discardableResult
    func run(_ exe: String, _ args: [String], env extra: [String: String] = [:], cwd: URL? = nil) throws -> (Int32, String, String) {
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: exe)
        proc.arguments = args
        if let d = cwd { proc.currentDirectoryURL = d }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in extra { env[k] = v }
        proc.environment = env
        let out = Pipe(), err = Pipe()
        proc.standardInput = FileHandle.nullDevice
        proc.standardOutput = out; proc.standardError = err
        try proc.run()
        // read both pipes while the program runs (a full pipe would block it)
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let errDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); errDone.signal() }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        errDone.wait()
        proc.waitUntilExit()
        return (proc.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errBox.data, as: UTF8.self))
    }

    /// The test Python with Jupyter's libraries, or a skip that says what is missing.
    func jupyterPython() throws -> String {
        let env = ProcessInfo.processInfo.environment
        let venv = env["LLX_VENV"].flatMap { $0.isEmpty ? nil : $0 }.map { $0.hasPrefix("/") ? $0 : Self.root.appendingPathComponent($0).path }
            ?? Self.root.appendingPathComponent(".venv").path
        let python = venv + "/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw XCTSkip("no Python at \(python) (set LLX_VENV; scripts/setup.sh creates .venv with nbformat, nbclient, ipykernel)")
        }
        let (rc, out, err) = try run(python, [Self.checkScript, "imports"])
        if rc == 3 { throw XCTSkip("\(python): \(out.trimmingCharacters(in: .whitespacesAndNewlines)) (scripts/setup.sh installs them)") }
        XCTAssertEqual(rc, 0, out + err)
        return python
    }

    /// The environment that makes the kernel from this checkout's python/ folder and a
    /// kernelspec installed under `tmp` visible, without touching the user's Jupyter folders.
    var jupyterEnv: [String: String] {
        ["PYTHONPATH": Self.root.appendingPathComponent("python").path,
         "JUPYTER_PATH": tmp.appendingPathComponent("prefix/share/jupyter").path,
         "JUPYTER_DATA_DIR": tmp.appendingPathComponent("data").path,
         "JUPYTER_RUNTIME_DIR": tmp.appendingPathComponent("runtime").path,
         "JUPYTER_CONFIG_DIR": tmp.appendingPathComponent("config").path,
         "IPYTHONDIR": tmp.appendingPathComponent("ipython").path,
         "JUPYTER_PLATFORM_DIRS": "1"]
    }

    /// `llx kernel install --prefix tmp/prefix --name llx-test`; the kernelspec's name.
    func installKernel(_ python: String) throws -> String {
        let (rc, out, err) = try run(Self.binary, ["kernel", "install", "--prefix", tmp.appendingPathComponent("prefix").path,
                                                   "--python", python, "--name", "llx-test"], env: jupyterEnv)
        XCTAssertEqual(rc, 0, out + err)
        let specPath = tmp.appendingPathComponent("prefix/share/jupyter/kernels/llx-test/kernel.json")
        let spec = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: specPath)) as? [String: Any])
        XCTAssertEqual(spec["argv"] as? [String], [python, "-m", "llx_kernel", "-f", "{connection_file}"])
        XCTAssertEqual(spec["language"] as? String, "llx")
        let binary = try XCTUnwrap((spec["env"] as? [String: String])?["LLX_BINARY"])
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary), binary)
        return "llx-test"
    }

    func readNotebook(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }
    func cells(_ nb: [String: Any]) -> [[String: Any]] { nb["cells"] as? [[String: Any]] ?? [] }
    func outputs(_ cell: [String: Any]) -> [[String: Any]] { cell["outputs"] as? [[String: Any]] ?? [] }
    /// nbformat's multiline strings: a string or a list of lines.
    func text(_ v: Any?) -> String {
        if let s = v as? String { return s }
        if let l = v as? [String] { return l.joined() }
        return ""
    }
    func source(_ cell: [String: Any]) -> String { text(cell["source"]) }

    // MARK: .ipynb written by llx notebook

    static let notebook = """
    # %% md
    # # Title
    # %% parameters
    let x = 41
    # %%
    print("hello")
    x + 1
    # %%
    missing_name(1)
    # %%
    show([1, 2])
    plot.line([1, 3, 2], title: "curve")
    # %%
    {done: true}
    """

    func testNotebookWritesIpynbBesideMarkdown() throws {
        let nb = tmp.appendingPathComponent("nb.llx")
        try Self.notebook.write(to: nb, atomically: true, encoding: .utf8)
        let md = tmp.appendingPathComponent("report.md").path
        let failed = try Notebook.run(path: nb.path, out: md, interpreter: Commands.makeInterpreter(),
                                      parameters: [ParameterOverride(name: "x", value: .int(1))])
        XCTAssertEqual(failed, 1)
        // the Markdown report is as before
        let report = try String(contentsOfFile: md, encoding: .utf8)
        XCTAssertTrue(report.contains("```text\nhello\n2\n```"), report)
        XCTAssertTrue(report.contains("```text\n[1, 2]\n```\n\n![figure](report_files/fig1.svg)"), report)
        XCTAssertTrue(report.contains("nb.llx:9:1: error: undefined name 'missing_name'\nmissing_name(1)\n^"), report)

        let doc = try readNotebook(tmp.appendingPathComponent("report.ipynb").path)
        XCTAssertEqual(doc["nbformat"] as? Int, 4)
        XCTAssertEqual((doc["metadata"] as? [String: Any]).flatMap { $0["kernelspec"] as? [String: Any] }?["name"] as? String, "llx")
        let cs = cells(doc)
        XCTAssertEqual(cs.map { $0["cell_type"] as? String ?? "" }, ["markdown", "code", "code", "code", "code", "code", "code"])
        XCTAssertEqual(source(cs[0]), "# Title")
        XCTAssertEqual((cs[1]["metadata"] as? [String: Any])?["tags"] as? [String], ["parameters"])
        XCTAssertEqual((cs[2]["metadata"] as? [String: Any])?["tags"] as? [String], ["injected-parameters"])
        XCTAssertEqual(source(cs[2]), "# injected parameters\nx = 1")
        XCTAssertTrue(cs[2]["execution_count"] is NSNull)
        // print as a stream, the last value as the result
        XCTAssertEqual(cs[3]["execution_count"] as? Int, 2)
        let o3 = outputs(cs[3])
        XCTAssertEqual(o3.map { $0["output_type"] as? String ?? "" }, ["stream", "execute_result"])
        XCTAssertEqual(text(o3[0]["text"]), "hello\n")
        XCTAssertEqual(text((o3[1]["data"] as? [String: Any])?["text/plain"]), "2")
        XCTAssertEqual(o3[1]["execution_count"] as? Int, 2)
        // the error with its location and caret line
        let o4 = outputs(cs[4])
        XCTAssertEqual(o4.count, 1)
        XCTAssertEqual(o4[0]["output_type"] as? String, "error")
        XCTAssertEqual(o4[0]["ename"] as? String, "NameError")
        XCTAssertEqual(o4[0]["evalue"] as? String, "undefined name 'missing_name'")
        XCTAssertEqual(o4[0]["traceback"] as? [String], ["\(nb.path):9:1: error: undefined name 'missing_name'", "missing_name(1)", "^"])
        // show() and a figure as display data, the figure as SVG
        let o5 = outputs(cs[5])
        XCTAssertEqual(o5.map { $0["output_type"] as? String ?? "" }, ["display_data", "display_data"])
        XCTAssertEqual(text((o5[0]["data"] as? [String: Any])?["text/plain"]), "[1, 2]")
        let svg = text((o5[1]["data"] as? [String: Any])?["image/svg+xml"])
        XCTAssertTrue(svg.hasPrefix("<svg"), String(svg.prefix(80)))
        XCTAssertTrue(svg.contains("curve"))
        let figFile = try String(contentsOfFile: tmp.appendingPathComponent("report_files/fig1.svg").path, encoding: .utf8)
        XCTAssertEqual(svg, figFile)
        XCTAssertEqual(text((outputs(cs[6]).first?["data"] as? [String: Any])?["text/plain"]), "{done: true}")
        XCTAssertEqual(Set(cs.compactMap { $0["id"] as? String }).count, cs.count, "cell ids are unique")

        // -o x.ipynb gives x.ipynb and x.md
        XCTAssertEqual(Notebook.outputPaths("/a/b.ipynb").markdown, "/a/b.md")
        XCTAssertEqual(Notebook.outputPaths("/a/b.md").ipynb, "/a/b.ipynb")
    }

    func testWrittenIpynbValidatesWithNbformat() throws {
        try requireBinary()
        let python = try jupyterPython()
        let nb = tmp.appendingPathComponent("nb.llx")
        try Self.notebook.write(to: nb, atomically: true, encoding: .utf8)
        let (rc, _, err) = try run(Self.binary, ["notebook", nb.path, "-p", "x=3"])
        XCTAssertEqual(rc, 1, err)   // the error cell
        XCTAssertTrue(err.contains("wrote \(tmp.appendingPathComponent("nb.md").path) and \(tmp.appendingPathComponent("nb.ipynb").path)"), err)
        // and the notebook read back as input, run again in place (its injected cell replaced)
        let (rc2, _, err2) = try run(Self.binary, ["notebook", tmp.appendingPathComponent("nb.ipynb").path, "-p", "x=7"])
        XCTAssertEqual(rc2, 1, err2)
        let doc = try readNotebook(tmp.appendingPathComponent("nb.ipynb").path)
        XCTAssertEqual(cells(doc).filter { source($0).hasPrefix("# injected parameters") }.map(source), ["# injected parameters\nx = 7"])
        let (rc3, out3, err3) = try run(python, [Self.checkScript, "validate", tmp.appendingPathComponent("nb.ipynb").path,
                                                  tmp.appendingPathComponent("nb.llx").path.replacingOccurrences(of: ".llx", with: ".ipynb")])
        XCTAssertEqual(rc3, 0, out3 + err3)
        XCTAssertEqual(out3, "valid 2\n")
        // the quickstart notebook's .ipynb (figures, eval results) is valid too
        let qs = Self.root.appendingPathComponent("notebooks/quickstart.llx").path
        let qsOut = tmp.appendingPathComponent("qs/quickstart.md").path
        let (rc4, _, err4) = try run(Self.binary, ["notebook", qs, "-o", qsOut])
        XCTAssertEqual(rc4, 0, err4)
        let (rc5, out5, err5) = try run(python, [Self.checkScript, "validate", tmp.appendingPathComponent("qs/quickstart.ipynb").path])
        XCTAssertEqual(rc5, 0, out5 + err5)
    }

    // MARK: .ipynb as input

    func testIpynbInput() throws {
        try requireBinary()
        let nb: [String: Any] = [
            "nbformat": 4, "nbformat_minor": 4,
            "metadata": ["custom": ["kept": true]],
            "cells": [
                ["cell_type": "markdown", "metadata": [:], "source": ["# Sweep\n", "text"]],
                ["cell_type": "code", "metadata": ["tags": ["parameters"], "mine": 1], "execution_count": NSNull(), "outputs": [],
                 "source": "let lr = 1e-3\nlet steps = 10"],
                ["cell_type": "code", "metadata": [:], "execution_count": 9,
                 "outputs": [["output_type": "stream", "name": "stdout", "text": "stale\n"]],
                 "source": ["print(\"lr=\\(lr) steps=\\(steps)\")\n", "steps * 2"]],
                ["cell_type": "raw", "metadata": [:], "source": "raw text"],
                ["cell_type": "code", "metadata": [:], "execution_count": NSNull(), "outputs": [],
                 "source": "let a = 1\nprint(a + nope)"],
            ],
        ]
        let path = tmp.appendingPathComponent("sweep.ipynb")
        try JSONSerialization.data(withJSONObject: nb).write(to: path)
        let (rc, _, err) = try run(Self.binary, ["notebook", path.path, "-p", "steps=21", "-o", tmp.appendingPathComponent("out.md").path])
        XCTAssertEqual(rc, 1, err)
        let report = try String(contentsOfFile: tmp.appendingPathComponent("out.md").path, encoding: .utf8)
        XCTAssertTrue(report.hasPrefix("# Sweep\ntext\n\n```llx\nlet lr = 1e-3"), report)
        XCTAssertTrue(report.contains("```text\nlr=0.001 steps=21\n42\n```"), report)
        // errors are located in the cell: <file>[position]:line:col
        XCTAssertTrue(report.contains("\(path.path)[5]:2:11: error: undefined name 'nope'\nprint(a + nope)\n          ^"), report)
        let doc = try readNotebook(tmp.appendingPathComponent("out.ipynb").path)
        XCTAssertEqual(((doc["metadata"] as? [String: Any])?["custom"] as? [String: Any])?["kept"] as? Bool, true)
        let cs = cells(doc)
        XCTAssertEqual(cs.map { $0["cell_type"] as? String ?? "" }, ["markdown", "code", "code", "code", "raw", "code"])
        XCTAssertEqual((cs[1]["metadata"] as? [String: Any])?["mine"] as? Int, 1)
        XCTAssertEqual(source(cs[2]), "# injected parameters\nx = 1".replacingOccurrences(of: "x = 1", with: "steps = 21"))
        XCTAssertEqual(outputs(cs[3]).map { text($0["text"]) }.first, "lr=0.001 steps=21\n", "the stale output is replaced")
        XCTAssertEqual(cs[3]["execution_count"] as? Int, 2)
        XCTAssertEqual(outputs(cs[5]).first?["traceback"] as? [String],
                       ["\(path.path)[5]:2:11: error: undefined name 'nope'", "print(a + nope)", "          ^"])
        // a missing parameters tag, and a file that is not a notebook, are clear errors
        let (rc2, _, err2) = try run(Self.binary, ["notebook", path.path, "-p", "nothere=1", "-o", tmp.appendingPathComponent("o2.md").path])
        XCTAssertEqual(rc2, 2)
        XCTAssertTrue(err2.contains("the parameters cell of '\(path.path)' (cell 2)"), err2)
        let junk = tmp.appendingPathComponent("junk.ipynb")
        try "{\"cells\": 3}".write(to: junk, atomically: true, encoding: .utf8)
        let (rc3, _, err3) = try run(Self.binary, ["notebook", junk.path])
        XCTAssertEqual(rc3, 1)
        XCTAssertTrue(err3.contains("'\(junk.path)' is not a Jupyter notebook: no 'nbformat' version"), err3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("junk.md").path), "no report for a bad notebook")
    }

    // MARK: llx serve --jsonl

    /// `llx serve --jsonl` with its pipes: requests in, JSON lines out.
    final class Server {
        let proc = Process()
        let inp = Pipe(), out = Pipe(), err = Pipe()
        var buffer = Data()
        let lock = NSLock()

        init(binary: String) throws {
            proc.executableURL = URL(fileURLWithPath: binary)
            proc.arguments = ["serve", "--jsonl"]
            proc.standardInput = inp; proc.standardOutput = out; proc.standardError = err
            out.fileHandleForReading.readabilityHandler = { [weak self] h in
                let d = h.availableData
                guard let self else { return }
                self.lock.lock(); self.buffer.append(d); self.lock.unlock()
            }
            err.fileHandleForReading.readabilityHandler = { h in _ = h.availableData }
            try proc.run()
        }

        func send(_ req: [String: Any]) throws {
            var d = try JSONSerialization.data(withJSONObject: req)
            d.append(10)
            inp.fileHandleForWriting.write(d)
        }

        /// The next answer line, waiting up to `timeout` seconds.
        func next(timeout: Double = 30) -> [String: Any]? {
            let end = Date().addingTimeInterval(timeout)
            while Date() < end {
                lock.lock()
                if let nl = buffer.firstIndex(of: 10) {
                    let line = buffer[buffer.startIndex..<nl]
                    buffer.removeSubrange(buffer.startIndex...nl)
                    lock.unlock()
                    return (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any]
                }
                lock.unlock()
                usleep(5_000)
            }
            return nil
        }

        /// Executes `code`: every answer up to and including `done`.
        func execute(_ code: String, onEvent: (([String: Any]) -> Void)? = nil) throws -> [[String: Any]] {
            try send(["type": "execute", "code": code])
            var events: [[String: Any]] = []
            while let e = next() {
                events.append(e)
                onEvent?(e)
                if e["type"] as? String == "done" { return events }
            }
            XCTFail("no 'done' after \(events)")
            return events
        }

        func close() -> Int32 {
            try? inp.fileHandleForWriting.close()
            proc.waitUntilExit()
            return proc.terminationStatus
        }
    }

    func testServeJSONLines() throws {
        try requireBinary()
        let s = try Server(binary: Self.binary)
        // print streams, the value is the result, stray stdout never mixes into the protocol
        let e1 = try s.execute("let x = 20\nprint(\"a\")\nprint(\"b\")\nx + 1")
        XCTAssertEqual(e1.map { $0["type"] as? String ?? "" }, ["stream", "stream", "result", "done"])
        XCTAssertEqual(e1[0]["text"] as? String, "a\n")
        XCTAssertEqual((e1[2]["data"] as? [String: String])?["text/plain"], "21")
        XCTAssertEqual(e1[3]["status"] as? String, "ok")
        // a figure as display data; errors located in In[n]
        let e2 = try s.execute("plot.line([1, 2])")
        XCTAssertEqual(e2.first?["type"] as? String, "display")
        XCTAssertTrue(((e2.first?["data"] as? [String: String])?["image/svg+xml"] ?? "").hasPrefix("<svg"))
        let e3 = try s.execute("let y = 1\ny + zzz")
        XCTAssertEqual(e3.map { $0["type"] as? String ?? "" }, ["error", "done"])
        XCTAssertEqual(e3[0]["ename"] as? String, "NameError")
        XCTAssertEqual(e3[0]["traceback"] as? [String], ["In[3]:2:5: error: undefined name 'zzz'", "y + zzz", "    ^"])
        XCTAssertEqual(e3[1]["status"] as? String, "error")
        // SIGINT stops a running cell (sent once the cell has printed, so it is running); the
        // session keeps its variables
        let pid = s.proc.processIdentifier
        let e4 = try s.execute("print(\"looping\")\nlet n = 0\nwhile true { n += 1 }") { e in
            if e["text"] as? String == "looping\n" {
                DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { kill(pid, SIGINT) }
            }
        }
        XCTAssertEqual(e4.dropFirst().first?["ename"] as? String, "Interrupted", "\(e4)")
        let e5 = try s.execute("[x, n > 0]")
        XCTAssertEqual((e5.first?["data"] as? [String: String])?["text/plain"], "[20, true]")
        // completion, inspection, is_complete; ids are echoed
        try s.send(["type": "complete", "code": "print(x + zz", "cursor": 12, "id": 7])
        let c1 = try XCTUnwrap(s.next())
        XCTAssertEqual(c1["id"] as? Int, 7)
        XCTAssertEqual(c1["cursor_start"] as? Int, 10)
        try s.send(["type": "complete", "code": "llama.con"])
        XCTAssertEqual(try XCTUnwrap(s.next())["matches"] as? [String], ["llama.config"])
        try s.send(["type": "inspect", "code": "train(m, data, stepz", "cursor": 20])
        let i1 = try XCTUnwrap(s.next())
        XCTAssertEqual(i1["name"] as? String, "train")
        XCTAssertTrue((i1["text"] as? String ?? "").hasPrefix("train(m, data, tok:"), "\(i1)")
        try s.send(["type": "is_complete", "code": "fn f(x) {"])
        XCTAssertEqual(try XCTUnwrap(s.next())["status"] as? String, "incomplete")
        try s.send(["type": "nonsense"])
        XCTAssertEqual(try XCTUnwrap(s.next())["type"] as? String, "protocol_error")
        XCTAssertEqual(s.close(), 0)
    }

    // MARK: the kernel

    func testKernelInstallErrors() throws {
        try requireBinary()
        let (rc, _, err) = try run(Self.binary, ["kernel", "install", "--bogus"])
        XCTAssertEqual(rc, 2)
        XCTAssertTrue(err.contains("unknown option '--bogus'"), err)
        let (rc2, _, err2) = try run(Self.binary, ["kernel", "install", "--prefix", tmp.path, "--python", "/nonexistent/python"])
        XCTAssertEqual(rc2, 1)
        XCTAssertTrue(err2.contains("the Python '/nonexistent/python' cannot run the llx kernel"), err2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("share").path), "nothing written")
        let (rc3, _, err3) = try run(Self.binary, ["kernel", "install", "--user", "--sys-prefix"])
        XCTAssertEqual(rc3, 2)
        XCTAssertTrue(err3.contains("not several"), err3)
    }

    func testKernelRunsNotebookWithNbclient() throws {
        try requireBinary()
        let python = try jupyterPython()
        let kernel = try installKernel(python)
        func code(_ src: String, _ meta: [String: Any] = [:]) -> [String: Any] {
            ["cell_type": "code", "metadata": meta, "execution_count": NSNull(), "outputs": [], "source": src]
        }
        let nb: [String: Any] = [
            "nbformat": 4, "nbformat_minor": 5,
            "metadata": ["kernelspec": ["name": kernel, "display_name": "llx", "language": "llx"]],
            "cells": [
                ["cell_type": "markdown", "metadata": [:], "source": "# In Jupyter", "id": "m1"],
                code("let x = 41\nprint(\"hello\")\nx + 1"),
                code("let y = 2\nmissing_name(y)"),
                code("let n = 0\nwhile true { n += 1 }", ["llx_timeout": 4]),
                code("[x * 2, y, n > 0]"),
                code("show(\"shown\")\nplot.line([1, 3, 2], title: \"in a kernel\")"),
                code("help(\"len\")"),
                code("""
                let tok = tokenizer.bytes()
                let m = llama.init(llama.config("tiny", num_hidden_layers: 2), seed: 0)
                let h = train(m, synth.needle_qa(tok, count: 4, length: 200, seed: 0), tok: tok, steps: 4, batch: 2, lr: 2e-3)
                let r = eval.niah(m, tok, lengths: [400], depths: 2, max_tokens: 4)
                len(h)
                """),
            ].enumerated().map { i, c in var c = c; c["id"] = "c\(i)"; return c },
        ]
        let input = tmp.appendingPathComponent("in.ipynb"), output = tmp.appendingPathComponent("out.ipynb")
        try JSONSerialization.data(withJSONObject: nb).write(to: input)
        let (rc, out, err) = try run(python, [Self.checkScript, "execute", kernel, input.path, output.path], env: jupyterEnv)
        XCTAssertEqual(rc, 0, out + err)
        let cs = cells(try readNotebook(output.path))
        XCTAssertEqual(cs.count, 8)
        // values shown, print streamed
        let o1 = outputs(cs[1])
        XCTAssertEqual(o1.map { $0["output_type"] as? String ?? "" }, ["stream", "execute_result"], "\(o1)")
        XCTAssertEqual(text(o1.first?["text"]), "hello\n")
        XCTAssertEqual(text((o1.last?["data"] as? [String: Any])?["text/plain"]), "42")
        // an error with its location (the cell is In[2]) and caret
        let o2 = outputs(cs[2])
        XCTAssertEqual(o2.map { $0["output_type"] as? String ?? "" }, ["error"], "\(o2)")
        XCTAssertEqual(o2.first?["ename"] as? String, "NameError")
        XCTAssertEqual(o2.first?["traceback"] as? [String], ["In[2]:2:1: error: undefined name 'missing_name'", "missing_name(y)", "^"])
        // the endless loop is interrupted after its timeout; the kernel lives on with its variables
        let o3 = outputs(cs[3])
        XCTAssertEqual(o3.last?["output_type"] as? String, "error", "\(o3)")
        XCTAssertEqual(o3.last?["ename"] as? String, "Interrupted", "\(o3)")
        XCTAssertEqual(text((outputs(cs[4]).first?["data"] as? [String: Any])?["text/plain"]), "[82, 2, true]", "\(outputs(cs[4]))")
        // show() and a figure as display data (SVG)
        let o5 = outputs(cs[5])
        XCTAssertEqual(o5.map { $0["output_type"] as? String ?? "" }, ["display_data", "display_data"], "\(o5)")
        XCTAssertEqual(text((o5.first?["data"] as? [String: Any])?["text/plain"]), "\"shown\"")
        let svg = text((o5.last?["data"] as? [String: Any])?["image/svg+xml"])
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("in a kernel"), String(svg.prefix(100)))
        XCTAssertTrue(text(outputs(cs[6]).first?["text"]).hasPrefix("len(x)"), "\(outputs(cs[6]))")
        // progress: training's lines stream on stdout, the evaluator's line (redrawn with \r) on stderr
        let o7 = outputs(cs[7])
        let stdout = o7.filter { $0["name"] as? String == "stdout" }.map { text($0["text"]) }.joined()
        let stderr = o7.filter { $0["name"] as? String == "stderr" }.map { text($0["text"]) }.joined()
        XCTAssertTrue(stdout.contains("] 1/4 loss ") && stdout.contains("] 4/4 loss "), stdout)
        XCTAssertTrue(stderr.contains("\r[eval.niah] 2/2 length 400"), stderr)
        XCTAssertFalse(stderr.contains("\u{1B}"), "terminal codes are left out: \(stderr)")
        // the cell's value (the evaluator's closing newline on stderr may arrive after it)
        let result7 = o7.first { $0["output_type"] as? String == "execute_result" }
        XCTAssertEqual(text((result7?["data"] as? [String: Any])?["text/plain"]), "4", "\(o7)")
    }

    func testKernelCompletionAndInspection() throws {
        try requireBinary()
        let python = try jupyterPython()
        let kernel = try installKernel(python)
        let (rc, out, err) = try run(python, [Self.checkScript, "session", kernel], env: jupyterEnv)
        XCTAssertEqual(rc, 0, out + err)
        let r = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], out)
        func matches(_ k: String) -> [String] { (r[k] as? [String: Any])?["matches"] as? [String] ?? [] }
        func start(_ k: String) -> Int { (r[k] as? [String: Any])?["cursor_start"] as? Int ?? -1 }
        XCTAssertEqual(matches("complete_name"), ["zebra_count"])
        XCTAssertEqual(start("complete_name"), 6)
        XCTAssertEqual(matches("complete_field"), ["cfg.rope_theta"])
        XCTAssertEqual(start("complete_field"), 0)
        XCTAssertEqual(matches("complete_namespace"), ["llama.init"])
        XCTAssertEqual(matches("complete_argument"), ["alpha_value:"])
        func inspect(_ k: String) -> (Bool, String) {
            let d = r[k] as? [String: Any]
            return (d?["found"] as? Bool ?? false, d?["text"] as? String ?? "")
        }
        XCTAssertTrue(inspect("inspect_command").1.hasPrefix("train(m, data, tok:"), "\(r)")
        XCTAssertTrue(inspect("inspect_in_call").1.hasPrefix("eval.niah("), "\(r)")
        XCTAssertEqual(inspect("inspect_variable").1, "zebra_count: an int: 17\n")
        XCTAssertFalse(inspect("inspect_unknown").0)
        XCTAssertEqual(r["is_complete_open"] as? String, "incomplete")
        XCTAssertEqual(r["is_complete_done"] as? String, "complete")
    }
}
