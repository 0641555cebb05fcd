// REPLTests: the REPL driven through a pseudo-terminal (completion, multi-line input, history
// across sessions, errors, Ctrl-C), piped input, `llx run` exit status, the notebook runner,
// notebook and script parameters (`-p name=value`, `args`), `run_script`, and the completion logic on its own. Needs `swift build -c release` first (skips otherwise).
import XCTest
import Foundation
import Lang
import Commands
import REPL

final class REPLTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = root.appendingPathComponent(".build/release/llx").path

    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("llx-repl-\(getpid())-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: tmp) }

    func startREPL() throws -> PTYProcess {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw XCTSkip("build llx first: swift build -c release (\(Self.binary) missing)")
        }
        let p = try PTYProcess(binary: Self.binary, env: ["TERM": "dumb", "HOME": tmp.path,
                                                          "LLX_HISTORY": tmp.appendingPathComponent("history").path])
        XCTAssertTrue(p.expect("llx> "), "no prompt: \(p.transcript)")
        return p
    }

    func testCompletionOfNamesFieldsAndArguments() throws {
        let p = try startREPL(); defer { p.close() }
        p.send("let zebra_count = 17\n")
        XCTAssertTrue(p.expect("llx> "))
        p.send("zebra_c\t * 2\n")
        XCTAssertTrue(p.expect("34"), p.transcript)
        p.send("let cfg = {rope_theta: 5, other: 1}\n")
        XCTAssertTrue(p.expect("llx> "))
        p.send("cfg.rope_t\t * 1001\n")
        XCTAssertTrue(p.expect("5005"), p.transcript)
        p.send("fn g(a, alpha_value: 1) { return a + alpha_value }\n")
        XCTAssertTrue(p.expect("llx> "))
        p.send("g(1, alpha_v\t 100)\n")
        XCTAssertTrue(p.expect("101"), p.transcript)
        p.send("rang\t(3)\n")     // a command name
        XCTAssertTrue(p.expect("0..3"), p.transcript)
    }

    func testMultiLineInput() throws {
        let p = try startREPL(); defer { p.close() }
        p.send("fn h(x) {\n")
        XCTAssertTrue(p.expect("...> "), p.transcript)
        p.send("return x * 3\n")
        p.send("}\n")
        p.send("h(111)\n")
        XCTAssertTrue(p.expect("333"), p.transcript)
        p.send("let total = 1 +\n")
        XCTAssertTrue(p.expect("...> "), p.transcript)
        p.send("2000\n")
        p.send("total\n")
        XCTAssertTrue(p.expect("2001"), p.transcript)
        p.send("[10,\n20][1] + 5\n")
        XCTAssertTrue(p.expect("25"), p.transcript)
    }

    func testHistoryAcrossSessions() throws {
        let p1 = try startREPL()
        p1.send("let hist_marker = 424242\n")
        XCTAssertTrue(p1.expect("llx> "))
        p1.send(":quit\n")
        XCTAssertEqual(p1.waitExit(), 0)
        p1.close()
        let saved = try String(contentsOf: tmp.appendingPathComponent("history"), encoding: .utf8)
        XCTAssertTrue(saved.contains("let hist_marker = 424242"), saved)

        let p2 = try startREPL(); defer { p2.close() }
        p2.send("\u{10}\u{10}\n")   // Ctrl-P twice: the line before ":quit"
        XCTAssertTrue(p2.expect("llx> "))
        p2.send("hist_marker + 1\n")
        XCTAssertTrue(p2.expect("424243"), p2.transcript)
    }

    func testErrorLeavesSessionUsable() throws {
        let p = try startREPL(); defer { p.close() }
        p.send("no_such_thing + 1\n")
        XCTAssertTrue(p.expect("<stdin>:1:1: error: undefined name 'no_such_thing'"), p.transcript)
        p.send("let a = 1 2\n")   // a syntax error that is not an early end
        XCTAssertTrue(p.expect("error"), p.transcript)
        p.send("7 * 191\n")
        XCTAssertTrue(p.expect("1337"), p.transcript)
        p.send(":vars\n")
        XCTAssertTrue(p.expect("(no variables)"), p.transcript)
        XCTAssertTrue(p.expect("llx> "))
        p.send("\u{04}")   // Ctrl-D leaves
        XCTAssertEqual(p.waitExit(), 0)
    }

    func testCtrlCInterruptsLongCommand() throws {
        let p = try startREPL(); defer { p.close() }
        p.send("let n = 0\n")
        XCTAssertTrue(p.expect("llx> "))
        p.send("while true { n += 1 }\n")
        Thread.sleep(forTimeInterval: 0.7)
        p.send("\u{03}")
        XCTAssertTrue(p.expect("interrupted"), p.transcript)
        // wait for the prompt: the error repeats the source line, whose "true" must not count
        // as the answer below, and a Ctrl-C sent before the REPL reads "n > 0" flushes it
        XCTAssertTrue(p.expect("llx> "), p.transcript)
        p.send("n > 0\n")
        XCTAssertTrue(p.expect("true"), p.transcript)
        XCTAssertTrue(p.expect("llx> "), p.transcript)
        p.send("half_typed_garbage\u{03}")   // Ctrl-C at the prompt clears the line
        p.send("3 * 37\n")
        XCTAssertTrue(p.expect("111"), p.transcript)
        XCTAssertFalse(p.transcript.contains("undefined name 'half_typed_garbage"), p.transcript)
        // the interrupted entry is marked in the history (and stays runnable)
        XCTAssertTrue(p.expect("llx> "), p.transcript)
        p.send(":quit\n")
        XCTAssertEqual(p.waitExit(), 0)
        let saved = try String(contentsOf: tmp.appendingPathComponent("history"), encoding: .utf8)
        XCTAssertTrue(saved.contains("while true { n += 1 }  # interrupted"), saved)
        XCTAssertTrue(saved.contains("let n = 0\n"), saved)
        XCTAssertFalse(saved.contains("let n = 0  # interrupted"), saved)
    }

    /// `:vars` shows a value whole, wrapped at the width, a multi-line summary line by line.
    func testVarSummaryWrapsAndKeepsEveryLine() {
        let long = Value.list((0..<40).map { .int($0 * 1000) })
        let s = Session.varSummary("xs", long, width: 50)
        let lines = s.split(separator: "\n")
        XCTAssertGreaterThan(lines.count, 1)
        XCTAssertTrue(s.hasPrefix("xs: list = [0, 1000,"))
        for l in lines { XCTAssertLessThanOrEqual(l.count, 50, String(l)) }
        XCTAssertTrue(s.contains("39000]"))
        let tall = Value.string("x")   // one short line stays one line
        XCTAssertEqual(Session.varSummary("s", tall, width: 50), "s: string = \"x\"")
    }

    /// Ctrl-C in a loop over a huge range (issue 14: it built the range first, 2e9 elements, so
    /// Ctrl-C did nothing) stops the whole entry; the variables keep the values they had.
    func testCtrlCStopsLoopOverHugeRangeAndTheWholeEntry() throws {
        let p = try startREPL(); defer { p.close() }
        p.send("let count = 0\n")
        XCTAssertTrue(p.expect("llx> "))
        p.send("for i in range(2000000000) { count += 1 }; print(\"after-loop\")\n")
        Thread.sleep(forTimeInterval: 0.7)
        p.send("\u{03}")
        XCTAssertTrue(p.expect("error: interrupted"), p.transcript)
        XCTAssertTrue(p.expect("llx> "), p.transcript)
        p.send("count > 0\n")
        XCTAssertTrue(p.expect("true"), p.transcript)
        XCTAssertFalse(p.transcript.contains("after-loop\r\n"), p.transcript)
    }

    /// Ctrl-C at a `...>` prompt drops the pending entry (issue 15: `let xs = [1, 2,` Ctrl-C,
    /// `print("hello")`, `]` ran the print and set xs to [1, 2, nil]).
    func testCtrlCAtContinuationPromptDropsTheEntry() throws {
        let p = try startREPL(); defer { p.close() }
        p.send("let xs = [1, 2,\n")
        XCTAssertTrue(p.expect("...> "), p.transcript)
        p.send("\u{03}")
        XCTAssertTrue(p.expect("llx> "), p.transcript)
        p.send("print(\"hel\" + \"lo\")\n")
        XCTAssertTrue(p.expect("hello"), p.transcript)
        XCTAssertTrue(p.expect("llx> "), p.transcript)
        p.send("type(xs)\n")
        XCTAssertTrue(p.expect("undefined name 'xs'"), p.transcript)
    }

    /// `llx run`: Ctrl-C stops the script, nothing after the interrupted statement runs (no
    /// file written), and the exit status is 130 (issue 14: it went on and exited 0).
    func testRunStopsOnCtrlCWithStatus130() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else { throw XCTSkip("build llx first") }
        let script = tmp.appendingPathComponent("sweep.llx"), marker = tmp.appendingPathComponent("saved.txt")
        try """
        print("started")
        let n = 0
        for i in range(2000000000) { n += 1 }
        write_text("\(marker.path)", "should not be written")
        """.write(to: script, atomically: true, encoding: .utf8)
        let p = try PTYProcess(binary: Self.binary, args: ["run", script.path], env: ["TERM": "dumb"])
        defer { p.close() }
        XCTAssertTrue(p.expect("started"), p.transcript)
        Thread.sleep(forTimeInterval: 0.5)
        p.send("\u{03}")
        XCTAssertEqual(p.waitExit(timeout: 20), 130, p.transcript)
        XCTAssertTrue(p.transcript.contains("interrupted"), p.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker.path))
    }

    /// Ctrl-C during an evaluation in the REPL (issue 14: "an interrupted evaluation returns
    /// nothing"): the entry stops, `r` holds the windows scored so far, marked interrupted.
    func testCtrlCDuringAnEvaluationKeepsItsFinishedUnits() throws {
        let p = try startREPL(); defer { p.close() }
        p.send("let tok = tokenizer.bytes()\n")
        XCTAssertTrue(p.expect("llx> "), p.transcript)
        p.send("let m = llama.init(llama.config(\"tiny\", num_hidden_layers: 1), seed: 0)\n")
        XCTAssertTrue(p.expect("llx> "), p.transcript)
        // about 31K windows: minutes of work, stopped after a second
        p.send("let r = eval.ppl(m, tok, [\"the grass is green. \" * 100000], window: 64, stride: 64)\n")
        Thread.sleep(forTimeInterval: 1.5)
        p.send("\u{03}")
        XCTAssertTrue(p.expect("eval.ppl interrupted: the result holds the finished windows only"), p.transcript)
        XCTAssertTrue(p.expect("llx> "), p.transcript)
        p.send("print(r.interrupted, len(r.window_n_l_l) > 0, len(r.window_n_l_l) < 31250, r.ppl > 1)\n")
        XCTAssertTrue(p.expect("true true true true"), p.transcript)
    }

    /// `llx run`: Ctrl-C during an evaluation that is the script's last statement still ends the
    /// script with status 130, and one with statements after it runs none of them.
    func testRunStopsOnCtrlCDuringAnEvaluationWithStatus130() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else { throw XCTSkip("build llx first") }
        let marker = tmp.appendingPathComponent("saved.txt")
        for after in ["", "write_text(\"\(marker.path)\", \"should not be written\")\n"] {
            let script = tmp.appendingPathComponent("ev.llx")
            try """
            let tok = tokenizer.bytes()
            let m = llama.init(llama.config("tiny", num_hidden_layers: 1), seed: 0)
            print("started")
            let r = eval.ppl(m, tok, ["the grass is green. " * 100000], window: 64, stride: 64)
            \(after)
            """.write(to: script, atomically: true, encoding: .utf8)
            let p = try PTYProcess(binary: Self.binary, args: ["run", script.path], env: ["TERM": "dumb"])
            defer { p.close() }
            XCTAssertTrue(p.expect("started"), p.transcript)
            Thread.sleep(forTimeInterval: 1.0)
            p.send("\u{03}")
            XCTAssertEqual(p.waitExit(timeout: 30), 130, p.transcript)
            XCTAssertTrue(p.transcript.contains("eval.ppl interrupted"), p.transcript)
            XCTAssertTrue(p.transcript.contains("error: interrupted"), p.transcript)
            XCTAssertFalse(FileManager.default.fileExists(atPath: marker.path))
        }
    }

    /// The history file follows $HOME (a test or sandbox HOME isolates it), or
    /// $XDG_STATE_HOME/llx/history where that is set; $LLX_HISTORY still wins.
    func testHistoryFileFollowsHomeAndXDGStateHome() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else { throw XCTSkip("build llx first") }
        let home = tmp.appendingPathComponent("home"), state = tmp.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        for (env, file) in [(["HOME": home.path, "XDG_STATE_HOME": "", "LLX_HISTORY": ""], home.appendingPathComponent(".llx_history")),
                            (["HOME": home.path, "XDG_STATE_HOME": state.path, "LLX_HISTORY": ""], state.appendingPathComponent("llx/history"))] {
            var e = env
            e["TERM"] = "dumb"
            let p = try PTYProcess(binary: Self.binary, env: e)
            XCTAssertTrue(p.expect("llx> "), p.transcript)
            p.send("let marker_\(file.lastPathComponent.count) = 1\n")
            XCTAssertTrue(p.expect("llx> "))
            p.send(":quit\n")
            XCTAssertEqual(p.waitExit(), 0)
            p.close()
            let saved = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
            XCTAssertTrue(saved.contains("let marker_\(file.lastPathComponent.count) = 1"), "\(file.path): \(saved)")
        }
        XCTAssertEqual(ReadlineReader.historyPath(["LLX_HISTORY": "/x/h", "HOME": "/home/u"]), "/x/h")
        XCTAssertEqual(ReadlineReader.historyPath(["HOME": "/home/u"]), "/home/u/.llx_history")
    }

    /// generate streams its text to the terminal and the REPL does not show it a second time.
    func testGenerateStreamsOnce() throws {
        let p = try startREPL(); defer { p.close() }
        p.send("let m = llama.init(llama.config(\"tiny\", num_hidden_layers: 1), seed: 0)\n")
        XCTAssertTrue(p.expect("llx> "))
        p.send("let tok = tokenizer.bytes()\n")
        XCTAssertTrue(p.expect("llx> "))
        p.send("let out = generate(m, tok, \"ab\", max_tokens: 4)\n")
        XCTAssertTrue(p.expect("llx> "), p.transcript)
        p.send("generate(m, tok, \"ab\", max_tokens: 4) == out\n")
        XCTAssertTrue(p.expect("true"), p.transcript)
        p.send("len(out) > 0\n")
        XCTAssertTrue(p.expect("true"), p.transcript)
        XCTAssertFalse(p.transcript.contains("\"\r\n"), "the streamed text was shown again as a value: \(p.transcript)")
    }

    func testMetaCommands() throws {
        let script = tmp.appendingPathComponent("lib.llx")
        try "let loaded_value = 99\n".write(to: script, atomically: true, encoding: .utf8)
        let p = try startREPL(); defer { p.close() }
        p.send(":load \(script.path)\n")
        XCTAssertTrue(p.expect("llx> "))
        p.send(":vars\n")
        XCTAssertTrue(p.expect("loaded_value: int = 99"), p.transcript)
        p.send(":time\n")
        XCTAssertTrue(p.expect("timing on"), p.transcript)
        p.send("1 + 1\n")
        XCTAssertTrue(p.expect(" s)"), p.transcript)
        p.send(":help\n")
        XCTAssertTrue(p.expect(":load f.llx"), p.transcript)
    }

    // MARK: without a terminal

    func runBinary(_ args: [String], stdin: String = "", cwd: URL? = nil) throws -> (Int32, String, String) {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else { throw XCTSkip("build llx first") }
        let proc = Process()
        if let d = cwd { proc.currentDirectoryURL = d }
        proc.executableURL = URL(fileURLWithPath: Self.binary)
        proc.arguments = args
        let inp = Pipe(), out = Pipe(), err = Pipe()
        proc.standardInput = inp; proc.standardOutput = out; proc.standardError = err
        try proc.run()
        inp.fileHandleForWriting.write(Data(stdin.utf8))
        try inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        proc.waitUntilExit()
        return (proc.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func testPipedInputHasNoPrompts() throws {
        let (rc, out, _) = try runBinary([], stdin: "print(1+1)\n")
        XCTAssertEqual(rc, 0)
        XCTAssertEqual(out, "2\n")
        let (rc2, out2, err2) = try runBinary([], stdin: "let x = [1,\n2]\nx\nbad_name\n")
        XCTAssertEqual(rc2, 1)
        XCTAssertEqual(out2, "[1, 2]\n")
        XCTAssertTrue(err2.contains("<stdin>:4:1: error: undefined name 'bad_name'"), err2)
    }

    func testRunExitStatusAndErrorLocation() throws {
        let ok = tmp.appendingPathComponent("ok.llx"), bad = tmp.appendingPathComponent("bad.llx")
        try "print(\"fine\")\n".write(to: ok, atomically: true, encoding: .utf8)
        try "let a = 1\nprint(a +  b)\n".write(to: bad, atomically: true, encoding: .utf8)
        let (rc, out, _) = try runBinary(["run", ok.path])
        XCTAssertEqual(rc, 0); XCTAssertEqual(out, "fine\n")
        let (rc2, _, err2) = try runBinary(["run", bad.path])
        XCTAssertNotEqual(rc2, 0)
        XCTAssertEqual(err2, "\(bad.path):2:12: error: undefined name 'b' (did you mean 'a'?)\nprint(a +  b)\n           ^\n")
    }

    func testNotebookReport() throws {
        let nb = tmp.appendingPathComponent("nb.llx")
        try """
        # %% md
        # # A title
        # Some text.
        # %%
        let x = 41
        print("hello")
        x + 1
        # %%
        missing_name(1)
        # %%
        {done: true}
        """.write(to: nb, atomically: true, encoding: .utf8)
        let out = tmp.appendingPathComponent("nb.md").path
        let failed = try Notebook.run(path: nb.path, out: out, interpreter: Commands.makeInterpreter())
        XCTAssertEqual(failed, 1)
        let md = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(md.hasPrefix("# A title\nSome text.\n\n```llx\nlet x = 41\n"), md)
        XCTAssertTrue(md.contains("```text\nhello\n42\n```"), md)
        XCTAssertTrue(md.contains("nb.llx:9:1: error: undefined name 'missing_name'"), md)
        XCTAssertTrue(md.contains("```text\n{done: true}\n```"), md)
    }

    /// The quickstart notebook (README's first command) runs without a failing cell.
    func testQuickstartNotebookRuns() throws {
        let nb = Self.root.appendingPathComponent("notebooks/quickstart.llx").path
        let out = tmp.appendingPathComponent("quickstart.md").path
        let failed = try Notebook.run(path: nb, out: out, interpreter: Commands.makeInterpreter())
        let md = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertEqual(failed, 0, md)
        XCTAssertTrue(md.contains("![figure](quickstart_files/fig1.svg)"), md)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("quickstart_files/fig1.svg").path))
        XCTAssertFalse(md.contains("**Error:**"), md)
    }

    func testNotebookCells() {
        let cells = Notebook.cells("let a = 1\n# %%\n\nprint(a)\n# %% md\n# hi\n")
        XCTAssertEqual(cells.count, 3)
        XCTAssertEqual(cells[1].text, "print(a)"); XCTAssertEqual(cells[1].firstLine, 4)
        XCTAssertEqual(cells[2].kind, .markdown); XCTAssertEqual(cells[2].text, "hi")
    }

    // MARK: parameters (-p name=value, args)

    static let paramNotebook = """
    # %% md
    # # Sweep
    # %% parameters
    let lr = 1e-3
    let steps = 100
    let model = "small"
    let flags = [1, 2]
    let verbose = false
    # %%
    print("lr=\\(lr) \\(type(lr)) steps=\\(steps) \\(type(steps)) model=\\(model) flags=\\(flags) verbose=\\(verbose)")
    """

    func writeParamNotebook(_ marker: String = "# %% parameters") throws -> String {
        let nb = tmp.appendingPathComponent("sweep.llx")
        try Self.paramNotebook.replacingOccurrences(of: "# %% parameters", with: marker)
            .write(to: nb, atomically: true, encoding: .utf8)
        return nb.path
    }

    func testParameterValues() throws {
        func v(_ s: String) -> String { let x = Parameters.parseValue(s); return "\(x.typeName) \(x.repr)" }
        XCTAssertEqual(v("8"), "int 8")
        XCTAssertEqual(v("200M"), "int 200000000")
        XCTAssertEqual(v("1.5k"), "int 1500")
        XCTAssertEqual(v("-3"), "int -3")
        XCTAssertEqual(v("5e-5"), "float 5e-05")
        XCTAssertEqual(v("0.25"), "float 0.25")
        XCTAssertEqual(v("true"), "bool true")
        XCTAssertEqual(v("nil"), "nil nil")
        XCTAssertEqual(v("\"a b\""), "string \"a b\"")
        XCTAssertEqual(v("[1, \"x\", [2.5]]"), "list [1, \"x\", [2.5]]")
        XCTAssertEqual(v("{rank: 8}"), "record {rank: 8}")
        // not a literal: the text itself
        XCTAssertEqual(v("tiny"), "string \"tiny\"")
        XCTAssertEqual(v("/tmp/a b.txt"), "string \"/tmp/a b.txt\"")
        XCTAssertEqual(v("12abc"), "string \"12abc\"")
        XCTAssertEqual(v("[1, x]"), "string \"[1, x]\"")
        XCTAssertEqual(v("\"\\(1 + 1)\""), "string \"\\\"\\\\(1 + 1)\\\"\"")
        XCTAssertEqual(v(""), "string \"\"")

        let inv = try Invocation.parse(["nb.llx", "-p", "a=1", "--parameter", "b=x", "-p", "a=2", "-o", "r.md", "--", "-p"], allowOutput: true)
        XCTAssertEqual(inv.positional, ["nb.llx", "-p"])
        XCTAssertEqual(inv.output, "r.md")
        XCTAssertEqual(inv.parameters.map { $0.assignment }, ["a = 2", "b = \"x\""])
        XCTAssertThrowsError(try Invocation.parse(["-p", "novalue"], allowOutput: true)) { XCTAssertTrue("\($0)".contains("name=value"), "\($0)") }
        XCTAssertThrowsError(try Invocation.parse(["-p", "let=1"], allowOutput: true)) { XCTAssertTrue("\($0)".contains("not a valid name"), "\($0)") }
        XCTAssertThrowsError(try Invocation.parse(["s.llx", "-o", "x"], allowOutput: false))
        XCTAssertThrowsError(try Invocation.parse(["s.llx", "-q"], allowOutput: false)) { XCTAssertTrue("\($0)".contains("unknown option '-q'"), "\($0)") }

        let cells = Notebook.cells("# %% parameters\nlet a = 1\n# %% [parameters]\nlet b = 2\n# %% tags=[\"parameters\"]\nlet c = 3\n# %%\nlet d = 4\n")
        XCTAssertEqual(cells.map { $0.isParameters }, [true, true, true, false])
    }

    func testNotebookParameterDefaults() throws {
        let nb = try writeParamNotebook()
        let out = tmp.appendingPathComponent("sweep.md").path
        let failed = try Notebook.run(path: nb, out: out, interpreter: Commands.makeInterpreter())
        XCTAssertEqual(failed, 0)
        let md = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(md.contains("lr=0.001 float steps=100 int model=small flags=[1, 2] verbose=false"), md)
        XCTAssertFalse(md.contains("injected parameters"), md)
    }

    func testNotebookParameterOverrides() throws {
        let nb = try writeParamNotebook("# %% [parameters]")
        let out = tmp.appendingPathComponent("sweep.md").path
        let ps = try ["lr=5e-5", "steps=200M", "model=tiny", "flags=[3, \"a\", -1.5]", "verbose=true"].map(Parameters.parse)
        let failed = try Notebook.run(path: nb, out: out, interpreter: Commands.makeInterpreter(), parameters: ps)
        XCTAssertEqual(failed, 0)
        let md = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(md.contains("lr=5e-05 float steps=200000000 int model=tiny flags=[3, \"a\", -1.5] verbose=true"), md)
        // the injected cell comes right after the parameters cell and echoes the values
        XCTAssertTrue(md.contains("let verbose = false\n```\n\n```llx\n# injected parameters\nlr = 5e-05\nsteps = 200000000\nmodel = \"tiny\"\nflags = [3, \"a\", -1.5]\nverbose = true\n```\n\n```llx\nprint("), md)
    }

    func testNotebookParameterErrors() throws {
        let nb = try writeParamNotebook()
        let out = tmp.appendingPathComponent("sweep.md").path
        // an unknown name: named, the known ones listed, nothing run or written
        XCTAssertThrowsError(try Notebook.run(path: nb, out: out, interpreter: Commands.makeInterpreter(),
                                              parameters: [Parameters.parse("lr=1"), Parameters.parse("batch=4")])) { e in
            XCTAssertTrue(e is UsageError)
            XCTAssertTrue("\(e)".contains("unknown parameter 'batch'"), "\(e)")
            XCTAssertTrue("\(e)".contains("known parameters: lr, steps, model, flags, verbose"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        // -p for a notebook without a parameters cell
        let plain = tmp.appendingPathComponent("plain.llx")
        try "# %%\nlet a = 1\nprint(\"ran\")\n".write(to: plain, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Notebook.run(path: plain.path, out: out, interpreter: Commands.makeInterpreter(),
                                              parameters: [Parameters.parse("a=2")])) { e in
            XCTAssertTrue("\(e)".contains("has no parameters cell"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        // a parameters cell that fails at run time: the overrides are not applied and the run stops
        let failing = tmp.appendingPathComponent("failing.llx")
        try "# %% parameters\nlet a = 1\nlet b = missing_name\n# %%\nprint(\"after\")\n".write(to: failing, atomically: true, encoding: .utf8)
        let failed = try Notebook.run(path: failing.path, out: out, interpreter: Commands.makeInterpreter(),
                                      parameters: [Parameters.parse("a=2")])
        XCTAssertEqual(failed, 1)
        let md = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(md.contains("Parameters not applied"), md)
        XCTAssertFalse(md.contains("print(\"after\")"), md)
    }

    /// The command line end to end: `llx notebook nb.llx -p ... -o out.md` and its errors.
    func testNotebookParametersCommandLine() throws {
        let nb = try writeParamNotebook()
        let out = tmp.appendingPathComponent("report.md").path
        let (rc, _, err) = try runBinary(["notebook", nb, "-p", "steps=7", "-p", "model=\"big one\"", "-o", out])
        XCTAssertEqual(rc, 0, err)
        let md = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(md.contains("# injected parameters\nsteps = 7\nmodel = \"big one\"\n"), md)
        XCTAssertTrue(md.contains("lr=0.001 float steps=7 int model=big one"), md)

        let (rc2, _, err2) = try runBinary(["notebook", nb, "-p", "stpes=7", "-o", out])
        XCTAssertEqual(rc2, 2)
        XCTAssertTrue(err2.contains("unknown parameter 'stpes'") && err2.contains("known parameters: lr, steps, model, flags, verbose"), err2)
        XCTAssertFalse(err2.contains("[notebook] cell"), err2)   // nothing ran

        let plain = tmp.appendingPathComponent("plain.llx")
        try "print(1)\n".write(to: plain, atomically: true, encoding: .utf8)
        let (rc3, _, err3) = try runBinary(["notebook", plain.path, "-p", "x=1"])
        XCTAssertEqual(rc3, 2)
        XCTAssertTrue(err3.contains("has no parameters cell"), err3)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("plain.md").path))
    }

    func testRunParametersAndArgs() throws {
        let withBlock = tmp.appendingPathComponent("train.llx")
        try """
        let base = 10
        # %% parameters
        let steps = 3
        let tag = "run"
        # %%
        print("steps=\\(steps + base) tag=\\(tag) args=\\(args)")
        """.write(to: withBlock, atomically: true, encoding: .utf8)
        var (rc, out, err) = try runBinary(["run", withBlock.path])
        XCTAssertEqual(rc, 0, err); XCTAssertEqual(out, "steps=13 tag=run args=[]\n")
        (rc, out, err) = try runBinary(["run", withBlock.path, "-p", "steps=5", "a", "-p", "tag=v2", "b", "--", "-p", "c"])
        XCTAssertEqual(rc, 0, err); XCTAssertEqual(out, "steps=15 tag=v2 args=[\"a\", \"b\", \"-p\", \"c\"]\n")
        (rc, out, err) = try runBinary([withBlock.path, "-p", "steps=1k"])   // `llx file.llx` too
        XCTAssertEqual(rc, 0, err); XCTAssertEqual(out, "steps=1010 tag=run args=[]\n")
        (rc, out, err) = try runBinary(["run", withBlock.path, "-p", "base=1"])
        XCTAssertEqual(rc, 2); XCTAssertEqual(out, "")
        XCTAssertTrue(err.contains("unknown parameter 'base'") && err.contains("known parameters: steps, tag"), err)
        (rc, _, err) = try runBinary(["run", withBlock.path, "-x"])
        XCTAssertEqual(rc, 2); XCTAssertTrue(err.contains("unknown option '-x'"), err)

        // without a parameters block the values are globals from the start
        let noBlock = tmp.appendingPathComponent("plain.llx")
        try "print(\"n=\\(n) \\(type(n)) args=\\(args)\")\n".write(to: noBlock, atomically: true, encoding: .utf8)
        (rc, out, err) = try runBinary(["run", noBlock.path, "-p", "n=2.5", "x.txt"])
        XCTAssertEqual(rc, 0, err); XCTAssertEqual(out, "n=2.5 float args=[\"x.txt\"]\n")
        // ... and a script that binds the name itself is refused rather than overwriting it
        let clobber = tmp.appendingPathComponent("clobber.llx")
        try "print(1)\nlet n = 1\n".write(to: clobber, atomically: true, encoding: .utf8)
        (rc, out, err) = try runBinary(["run", clobber.path, "-p", "n=2"])
        XCTAssertEqual(rc, 2); XCTAssertEqual(out, "")
        XCTAssertTrue(err.contains("parameter 'n' is also set by the script itself (\(clobber.path):2)"), err)
    }

    // MARK: run_script(path, params: {...})

    /// An interpreter as the REPL builds it, its output collected.
    func scriptSession() -> (Interpreter, () -> String) {
        let interp = RunScript.makeInterpreter()
        var printed = ""
        interp.output = { printed += $0 }
        return (interp, { defer { printed = "" }; return printed })
    }

    func write(_ name: String, _ text: String) throws -> String {
        let url = tmp.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    static let trainScript = """
    let base = 10
    # %% parameters
    let seed = 0
    let out = "default"
    # %%
    print("seed=\\(seed) out=\\(out)")
    let result = seed * base
    fn twice(x) { return 2 * x }
    """

    func testRunScriptParamsOverride() throws {
        let path = try write("train.llx", Self.trainScript)
        let (interp, printed) = scriptSession()
        try interp.run("let r = run_script(\"\(path)\", params: {seed: 2, out: \"/tmp/x\"})", file: "c.llx")
        XCTAssertEqual(printed(), "seed=2 out=/tmp/x\n")   // the script prints where the caller prints
        XCTAssertEqual(try interp.run("r.result", file: "c.llx")?.repr, "20")
        XCTAssertEqual(try interp.run("r.out", file: "c.llx")?.repr, "\"/tmp/x\"")
        // without params: the defaults
        XCTAssertEqual(try interp.run("run_script(\"\(path)\").result", file: "c.llx")?.repr, "0")
        XCTAssertEqual(printed(), "seed=0 out=default\n")
        // any value, not only literals: a list built by the caller
        try interp.run("let xs = [1, 2]\nlet r2 = run_script(\"\(path)\", params: {seed: len(xs) + 1})", file: "c.llx")
        XCTAssertEqual(try interp.run("r2.result", file: "c.llx")?.repr, "30")
    }

    func testRunScriptUnknownParameter() throws {
        let path = try write("train.llx", Self.trainScript)
        let (interp, printed) = scriptSession()
        XCTAssertThrowsError(try interp.run("let r = run_script(\"\(path)\", params: {sed: 2})", file: "c.llx")) { e in
            guard let d = e as? Diagnostic else { return XCTFail("\(e)") }
            XCTAssertEqual(d.location.description, "c.llx:1:9")   // the call
            XCTAssertTrue(d.message.contains("unknown parameter 'sed'"), d.message)
            XCTAssertTrue(d.message.contains("known parameters: seed, out"), d.message)
        }
        XCTAssertEqual(printed(), "")   // nothing ran
        XCTAssertThrowsError(try interp.run("r", file: "c.llx"))   // nor was r bound
        XCTAssertThrowsError(try interp.run("run_script(\"\(path)\", params: {args: 1})", file: "c.llx")) { e in
            XCTAssertTrue("\(e)".contains("'args' holds the script's extra arguments"), "\(e)")
        }
        XCTAssertThrowsError(try interp.run("run_script(\"\(tmp.path)/missing.llx\")", file: "c.llx")) { e in
            XCTAssertTrue("\(e)".contains("cannot read"), "\(e)")
        }
        // the session goes on
        XCTAssertEqual(try interp.run("run_script(\"\(path)\", params: {seed: 1}).result", file: "c.llx")?.repr, "10")
    }

    func testRunScriptWithoutParametersBlock() throws {
        let path = try write("plain.llx", "let y = n * 2\nprint(\"n=\\(n) args=\\(args)\")\n")
        let (interp, printed) = scriptSession()
        XCTAssertEqual(try interp.run("run_script(\"\(path)\", params: {n: 21}, args: [\"a\"]).y", file: "c.llx")?.repr, "42")
        XCTAssertEqual(printed(), "n=21 args=[\"a\"]\n")
        // a name the script binds itself is refused, as with llx run -p
        XCTAssertThrowsError(try interp.run("run_script(\"\(path)\", params: {y: 1, n: 1})", file: "c.llx")) { e in
            XCTAssertTrue("\(e)".contains("parameter 'y' is also set by the script itself (\(path):1)"), "\(e)")
        }
        XCTAssertEqual(printed(), "")
    }

    func testRunScriptReturnsGlobals() throws {
        let path = try write("train.llx", Self.trainScript)
        let (interp, _) = scriptSession()
        try interp.run("let r = run_script(\"\(path)\", params: {seed: 3})", file: "c.llx")
        // in the order the script binds them; `args` is not one of them; block-local names neither
        XCTAssertEqual(try interp.run("keys(r)", file: "c.llx")?.repr, "[\"base\", \"seed\", \"out\", \"result\", \"twice\"]")
        XCTAssertEqual(try interp.run("r.twice(r.result)", file: "c.llx")?.repr, "60")
        let loops = try write("loops.llx", "let total = 0\nfor i in 1..4 { let sq = i * i\n total = total + sq }\nlet m = {dim: 8}\n")
        XCTAssertEqual(try interp.run("run_script(\"\(loops)\")", file: "c.llx")?.repr, "{total: 14, m: {dim: 8}}")
        // no parameters block: the params come first, as they were bound first
        let plain = try write("plain.llx", "let y = n + 1\n")
        XCTAssertEqual(try interp.run("run_script(\"\(plain)\", params: {n: 1})", file: "c.llx")?.repr, "{n: 1, y: 2}")
    }

    func testRunScriptErrorLocation() throws {
        let bad = try write("bad.llx", "let a = 1\nprint(a +  b)\n")
        let (interp, printed) = scriptSession()
        XCTAssertThrowsError(try interp.run("let x = 5\nlet r = run_script(\"\(bad)\")", file: "c.llx")) { e in
            guard let d = e as? Diagnostic else { return XCTFail("\(e)") }
            XCTAssertEqual(d.location.description, "\(bad):2:12")   // in the script
            XCTAssertEqual(d.message, "undefined name 'b' (did you mean 'a'?) (in run_script(\"\(bad)\") at c.llx:2:9)")
            XCTAssertEqual(d.formatted(source: nil), "\(bad):2:12: error: \(d.message)\nprint(a +  b)\n           ^")
        }
        // a syntax error in the script
        let syntax = try write("syntax.llx", "let a = (1 +\n")
        XCTAssertThrowsError(try interp.run("run_script(\"\(syntax)\")", file: "c.llx")) { e in
            XCTAssertTrue("\(e)".contains("\(syntax):"), "\(e)")
            XCTAssertTrue("\(e)".contains("(in run_script(\"\(syntax)\") at c.llx:1:1)"), "\(e)")
        }
        // nested scripts: located in the innermost, the chain of calls named
        let outer = try write("outer.llx", "print(\"outer\")\nlet inner = run_script(\"\(bad)\")\n")
        XCTAssertThrowsError(try interp.run("run_script(\"\(outer)\")", file: "c.llx")) { e in
            guard let d = e as? Diagnostic else { return XCTFail("\(e)") }
            XCTAssertEqual(d.location.description, "\(bad):2:12")
            XCTAssertTrue(d.message.hasSuffix("(in run_script(\"\(bad)\") at \(outer):2:13, in run_script(\"\(outer)\") at c.llx:1:1)"), d.message)
        }
        // a script that runs itself stops at the call-depth limit instead of crashing
        let loop = try write("loop.llx", "let here = \"x\"\nrun_script(\"\(tmp.path)/loop.llx\")\n")
        XCTAssertThrowsError(try interp.run("run_script(\"\(loop)\")", file: "c.llx")) { e in
            XCTAssertTrue("\(e)".contains("too many nested calls"), "\(e)")
            XCTAssertTrue("\(e)".contains("more ..."), "\(e)")
        }
        // the session survives and x was bound before the failing statement
        _ = printed()
        XCTAssertEqual(try interp.run("x", file: "c.llx")?.repr, "5")
        let good = try write("good.llx", "let ok = 1\n")
        XCTAssertEqual(try interp.run("run_script(\"\(good)\")", file: "c.llx")?.repr, "{ok: 1}")
    }

    func testRunScriptLeavesCallerScopeAlone() throws {
        let path = try write("clobber.llx", "let x = \"script\"\nlet lr = 7\nfn helper() { return x }\nlet seen = helper()\n")
        let peek = try write("peek.llx", "let y = secret\n")
        let (interp, _) = scriptSession()
        try interp.run("let x = \"mine\"\nlet lr = 1\nlet secret = 42\nfn helper() { return \"caller\" }", file: "c.llx")
        XCTAssertEqual(try interp.run("run_script(\"\(path)\").seen", file: "c.llx")?.repr, "\"script\"")
        XCTAssertEqual(try interp.run("[x, lr, helper()]", file: "c.llx")?.repr, "[\"mine\", 1, \"caller\"]")
        // the script does not see the caller's variables
        XCTAssertThrowsError(try interp.run("run_script(\"\(peek)\")", file: "c.llx")) { e in
            XCTAssertTrue("\(e)".contains("undefined name 'secret'"), "\(e)")
        }
        XCTAssertEqual(interp.globals.lookup("y")?.repr, nil)
        XCTAssertNil(interp.globals.lookup("args"))
        // the script's seed() reaches the shared generators, but the caller's seed value is its own
        let seeded = try write("seeded.llx", "seed(5)\n")
        try interp.run("seed(3)\nrun_script(\"\(seeded)\")", file: "c.llx")
        XCTAssertEqual(interp.seedValue, 3)
    }

    /// run_script from a notebook cell (output in the cell, tensors work) and from `llx run`
    /// (a relative path is relative to the current directory).
    func testRunScriptInNotebookAndRun() throws {
        _ = try write("child.llx", "# %% parameters\nlet n = 2\n# %%\nlet t = tensor([1.0, 2.0]) * n\nprint(\"child n=\\(n)\")\n")
        let nb = try write("nb.llx", "# %%\nlet r = run_script(\"\(tmp.path)/child.llx\", params: {n: 3})\nprint(r.t.tolist())\n")
        let out = tmp.appendingPathComponent("nb.md").path
        let failed = try Notebook.run(path: nb, out: out, interpreter: Commands.makeInterpreter())
        let md = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertEqual(failed, 0, md)
        XCTAssertTrue(md.contains("```text\nchild n=3\n[3.0, 6.0]\n```"), md)

        _ = try write("main.llx", "let r = run_script(\"child.llx\", params: {n: 5})\nprint(r.n, args)\n")
        let (rc, o, err) = try runBinary(["run", "main.llx", "z"], cwd: tmp)
        XCTAssertEqual(rc, 0, err)
        XCTAssertEqual(o, "child n=5\n5 [\"z\"]\n")
        let (rc2, o2, err2) = try runBinary([], stdin: "run_script(\"child.llx\").n\n", cwd: tmp)
        XCTAssertEqual(rc2, 0, err2)
        XCTAssertEqual(o2, "child n=2\n2\n")
    }

    func testCompletionLogic() throws {
        let interp = Commands.makeInterpreter()
        interp.output = { _ in }
        try interp.run("let rec = {rank: 8, rope: 1}\nfn ff(a, zscale: 1) { return a }", file: "c.llx")
        XCTAssertEqual(Completion.candidates(line: "rec.r", cursor: 5, interp: interp), ["rec.rank", "rec.rope"])
        XCTAssertEqual(Completion.candidates(line: "print(rec", cursor: 9, interp: interp), ["rec"])
        XCTAssertEqual(Completion.candidates(line: "llama.i", cursor: 7, interp: interp), ["llama.init"])
        XCTAssertEqual(Completion.candidates(line: "ff(1, zs", cursor: 8, interp: interp), ["zscale:"])
        XCTAssertEqual(Completion.candidates(line: "range(1, st", cursor: 11, interp: interp), ["step:", "str"])
        // named arguments first, then the other names (issue 15: train(m, d, l<Tab> offered len, let, list...)
        try interp.run("let zz_local = 1", file: "c2.llx")
        XCTAssertEqual(Completion.candidates(line: "ff(1, z", cursor: 7, interp: interp), ["zscale:", "zeros", "zip", "zz_local"])
        let trainL = Completion.candidates(line: "train(m, d, l", cursor: 13, interp: interp)
        XCTAssertEqual(trainL.first, "lr:", "\(trainL)")
        XCTAssertTrue(trainL.contains("len"), "\(trainL)")
        XCTAssertEqual(Completion.candidates(line: "\"rec.r", cursor: 6, interp: interp), [])
    }
}
