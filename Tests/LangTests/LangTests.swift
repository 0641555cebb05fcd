// LangTests: the language's script tests (Tests/Scripts/lang/*.llx, annotated with the
// output or errors they must produce) plus unit tests of the lexer, parser and diagnostics.
import XCTest
import Foundation
import Lang

final class LangTests: XCTestCase {
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Scripts/lang")

    func testScripts() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.scripts.path).filter { $0.hasSuffix(".llx") }.sorted()
        XCTAssertGreaterThan(files.count, 20)
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("llx-lang-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        for f in files {
            let interp = Interpreter(registry: Registry.withCore())
            interp.globals.define("tmpdir", .string(tmp.path))
            let outcome = ScriptTest.run(path: Self.scripts.appendingPathComponent(f).path, interpreter: interp)
            for failure in outcome.failures { XCTFail("\(f): \(failure)") }
        }
    }

    func testDiagnosticFormat() throws {
        let interp = Interpreter(registry: Registry.withCore())
        interp.output = { _ in }
        let src = "let x = 1\nprint(x, y)\n"
        do {
            try interp.run(src, file: "t.llx")
            XCTFail("expected an error")
        } catch let d as Diagnostic {
            XCTAssertEqual(d.formatted(source: SourceFile(name: "t.llx", text: src)),
                           "t.llx:2:10: error: undefined name 'y' (did you mean 'x'?)\nprint(x, y)\n         ^")
        }
    }

    func testIncompleteInputIsDetected() {
        for text in ["let x = [1,", "fn f(a) {", "let s = \"\"\"abc", "print(1 +", "if x {\n  print(1)", "f(a,\n b"] {
            do { _ = try Parser.parse(text, file: "<stdin>"); XCTFail("\(text) parsed") }
            catch let d as DiagnosticList { XCTAssertTrue(d.isIncomplete, "\(text): \(d)") }
            catch { XCTFail("\(error)") }
        }
        for text in ["let x = ]", "print(1))", "let = 2", "let = [1,"] {
            do { _ = try Parser.parse(text, file: "<stdin>"); XCTFail("\(text) parsed") }
            catch let d as DiagnosticList { XCTAssertFalse(d.isIncomplete, "\(text): \(d)") }
            catch { XCTFail("\(error)") }
        }
    }

    func testDeepNestingIsAnErrorNotACrash() {
        for text in [String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000),
                     String(repeating: "-", count: 5000) + "1",
                     String(repeating: "[", count: 5000),
                     String(repeating: "if true { ", count: 3000)] {
            XCTAssertThrowsError(try Parser.parse(text, file: "deep.llx"))
        }
    }

    func testLexerNumbers() {
        let (toks, errs) = Lexer.tokenize("80Ki 200M 1.5k 5e-5 1_000 0..10", file: "t")
        XCTAssertTrue(errs.isEmpty)
        XCTAssertEqual(toks.map { $0.kind }, [.int(81920), .int(200_000_000), .int(1500), .double(5e-5), .int(1000),
                                              .int(0), .op(".."), .int(10), .eof])
    }

    func testLocationsOnNodes() throws {
        let prog = try Parser.parse("let a = 1\n  print(a + 2)", file: "f.llx")
        XCTAssertEqual(prog[1].location, SourceLocation(file: "f.llx", line: 2, column: 3))
        guard case .expression(let call) = prog[1].kind, case .call(_, let args) = call.kind,
              case .binary(.add, let l, _) = args[0].value.kind else { return XCTFail("shape") }
        XCTAssertEqual(args[0].value.location.column, 11)
        XCTAssertEqual(l.location.column, 9)
    }

    func testForLoopNamesAreAList() throws {
        let prog = try Parser.parse("for k, v in items({x: 1}) { print(k) }\nfor i in [1] { }", file: "f.llx")
        guard case .forStmt(let two, _, _) = prog[0].kind, case .forStmt(let one, _, _) = prog[1].kind else { return XCTFail("shape") }
        XCTAssertEqual(two, ["k", "v"])
        XCTAssertEqual(one, ["i"])
    }

    func testHostObjectsAndHooks() throws {
        final class Box: HostObject {
            var v: Double
            init(_ v: Double) { self.v = v }
            var typeName: String { "Box" }
            var description: String { "Box(\(v))" }
            var fieldNames: [String] { ["v", "double"] }
            func getField(_ name: String) throws -> Value {
                switch name {
                case "v": return .double(v)
                case "double": return .command(Command("Box.double", [], help: "") { _, _ in .host(Box(self.v * 2)) })
                default: throw LangRuntimeError(.name, "Box has no field '\(name)'")
                }
            }
            func setField(_ name: String, _ value: Value) throws {
                guard name == "v", let d = value.asDouble else { throw LangRuntimeError(.name, "Box: cannot set '\(name)'") }
                v = d
            }
        }
        let r = Registry.withCore()
        r.register("box", [Param("v", .number)], help: "a box") { a, _ in .host(Box(try a.double("v"))) }
        let interp = Interpreter(registry: r)
        interp.binaryHook = { op, a, b in
            guard op == .add, case .host(let x as Box) = a, let y = b.asDouble else { return nil }
            return .host(Box(x.v + y))
        }
        var out = ""
        interp.output = { out += $0 }
        try interp.run("let b = box(2)\nb.v = 3\nprint(b + 1, b.double(), type(b), b.v)", file: "h.llx")
        XCTAssertEqual(out, "Box(4.0) Box(6.0) Box 3.0\n")
        XCTAssertThrowsError(try interp.run("b - 1", file: "h2.llx")) { e in
            XCTAssertEqual((e as? Diagnostic)?.location.column, 3)
        }
    }

    /// A stop request the test sets itself (what the SIGINT handler does in the program).
    final class Flag: CancellationSignal {
        var isCancelled = false
        func cancel() { isCancelled = true }
        func reset() { isCancelled = false }
    }

    /// Ctrl-C during a loop over a huge range stops it (the range is not built first) and
    /// leaves the variables as they were when it stopped, as Python's KeyboardInterrupt does.
    func testStopRequestEndsLoopOverHugeRange() throws {
        let r = Registry.withCore()
        let flag = Flag()
        var ticks = 0
        r.register("tick", [], help: "") { _, _ in
            ticks += 1
            if ticks == 1000 { flag.cancel() }
            return .null
        }
        let interp = Interpreter(registry: r)
        interp.cancellation = flag
        try interp.run("let n = 0", file: "a.llx")
        XCTAssertThrowsError(try interp.run("for i in range(2000000000) {\n  n += 1\n  tick()\n}\nlet after = 1", file: "b.llx")) { e in
            XCTAssertEqual((e as? Diagnostic)?.kind, .interrupted, "\(e)")
        }
        XCTAssertEqual(interp.globals.lookup("n")?.asInt, 1000)
        XCTAssertNil(interp.globals.lookup("after"))
        XCTAssertFalse(flag.isCancelled, "the interpreter clears the request it reported")
    }

    /// Ranges near the ends of Int: their length is computed without overflow (it trapped, ending
    /// the process), one longer than Int.max is refused where it is made, and turning a huge range
    /// into a list is a memory error naming the size, not a failed allocation (fuzz finding
    /// script-6c3d260f7d09: abs(range(2, 2 ** 62, 65536))).
    func testRangesNearIntLimitsAndHugeRangesAsLists() throws {
        let interp = Interpreter(registry: Registry.withCore())
        var out = ""
        interp.output = { out += $0 }
        try interp.run("""
        let lo = -9223372036854775807 - 1
        let r = range(lo, 9223372036854775807, 4611686018427387904)
        print(len(r), list(r))
        print(len(range(9223372036854775807, lo, -3)), range(0, 9223372036854775807)[9223372036854775806])
        """, file: "r.llx")
        XCTAssertEqual(out, "4 [-9223372036854775808, -4611686018427387904, 0, 4611686018427387904]\n6148914691236517205 9223372036854775806\n")
        for (code, want) in [("len(range(lo, 9223372036854775807))", "has more than 2^63 - 1 elements"),
                             ("lo..9223372036854775807", "has more than 2^63 - 1 elements"),
                             ("list(range(2, 2 ** 62, 65536))", "range(2, 4611686018427387904, 65536) needs"),
                             ("sorted(range(0, 2 ** 62))", "needs more than 2^63 bytes"),
                             // slicing a lazy range lists it after the memory check (it took 3 GB, found by llx fuzz)
                             ("range(2, 9223372036854775807, 65536)[:]", "a slice of 140737488355328 elements of range(2, 9223372036854775807, 65536) needs")] {
            XCTAssertThrowsError(try interp.run(code, file: "e.llx"), code) { e in
                XCTAssertTrue("\(e)".contains(want), "\(code): \(e)")
            }
        }
    }

    /// Did-you-mean skips names whose length alone puts them too far: a 36 MB name (help() of
    /// a huge string, found by llx fuzz) was compared with every command name, for minutes.
    func testClosestNameOfAHugeNameIsQuick() {
        let t0 = Date()
        XCTAssertNil(closestName(String(repeating: "a", count: 200_000), (0..<300).map { "command\($0)" }))
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5, "closestName took too long")
        XCTAssertEqual(closestName("rnak", ["rank", "seed"]), "rank")
        XCTAssertEqual(closestName("prnt", ["print", "printf_long_name"]), "print")
    }

    /// A slice with a step near Int.max does not overflow while listing its positions.
    func testSliceWithHugeStep() throws {
        let interp = Interpreter(registry: Registry.withCore())
        var out = ""
        interp.output = { out += $0 }
        try interp.run("print(\"abcdef\"[2::4611686018427387904], [1, 2, 3][::-4611686018427387904], range(10)[1::9223372036854775807])", file: "s.llx")
        XCTAssertEqual(out, "c [3] [1]\n")
    }

    /// The text of a long list stops early at a stop request (Ctrl-C): printing a list of 2M
    /// tensors ran for minutes without a way to stop it (found by llx fuzz); `print` then
    /// reports the interruption rather than printing half.
    func testLongListTextStopsAtAStopRequest() throws {
        let flag = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        defer { flag.deallocate() }
        flag.pointee = 1
        let saved = ReprStop.flag
        ReprStop.flag = UnsafePointer(flag)
        defer { ReprStop.flag = saved }
        let text: String = Value.list((0..<5000).map { Value.int($0) }).repr
        // the text built so far is dropped at once (joining it could take longer than Ctrl-C may)
        XCTAssertEqual(text, "[...]")
        flag.pointee = 0
        let digits: Int = (0..<5000).reduce(0) { (n: Int, k: Int) -> Int in n + String(k).count }
        let whole: String = Value.list((0..<5000).map { Value.int($0) }).repr
        XCTAssertEqual(whole.count, 10000 + digits)
    }

    /// A command that comes back with a stop request pending (train after Ctrl-C returns its
    /// history) stops what surrounds it: the loop does not go on, nor the statements after.
    func testPendingStopRequestStopsSurroundingLoopAndScript() throws {
        let r = Registry.withCore()
        let flag = Flag()
        r.register("work", [], help: "") { _, _ in flag.cancel(); return .string("partial") }
        let interp = Interpreter(registry: r)
        var out = ""
        interp.output = { out += $0 }
        interp.cancellation = flag
        let script = """
        let runs = []
        fn sweep() {
            for rank in [4, 16, 64] {
                let h = work()
                runs.push(h)
                print("saved", rank)
            }
        }
        sweep()
        print("after the sweep")
        """
        XCTAssertThrowsError(try interp.run(script, file: "sweep.llx")) { e in
            XCTAssertEqual((e as? Diagnostic)?.kind, .interrupted, "\(e)")
            XCTAssertEqual((e as? Diagnostic)?.location.line, 5, "\(e)")
        }
        XCTAssertEqual(out, "")
        XCTAssertEqual(interp.globals.lookup("runs")?.repr, "[]")
        // a single statement that finishes keeps its result (the REPL's `let h = train(...)`)
        flag.reset()
        try interp.run("let h = work()", file: "one.llx")
        XCTAssertEqual(interp.globals.lookup("h")?.repr, "\"partial\"")
        XCTAssertThrowsError(try interp.run("print(h)", file: "two.llx"))
        XCTAssertEqual(out, "")
    }

    /// `format(x, digits)` writes numbers itself (no printf) where the scaled value fits 63
    /// bits: the text must be C's printf("%.*f") exactly (the exact binary value rounded half to
    /// even), checked on random magnitudes, exact ties (k / 2^j), decimal-looking values,
    /// signs and zeros, subnormals, and the limits of the shortcut.
    func testFormatMatchesPrintf() {
        var g = SystemRandomNumberGenerator()
        var mismatches: [String] = []
        func check(_ x: Double, _ d: Int) {
            let ours = CoreCommands.formatFixed(x, digits: d), c = String(format: "%.\(d)f", x)
            if ours != c && mismatches.count < 10 { mismatches.append("\(x) digits \(d): \(ours) != \(c)") }
        }
        for d in 0...20 {
            for x in [0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 0.125, 0.375, 2.675, 1e-5, 0.00005, .leastNonzeroMagnitude, -Double.leastNormalMagnitude / 4,
                      8.99e17, 9.1e17, 1e18, 123456789.987654321, 0.1, 0.7, 1e300, -.infinity, .nan] { check(x, d) }
            for _ in 0..<2000 {
                let x = (Bool.random(using: &g) ? 1 : -1) * pow(10, Double.random(in: -12...19, using: &g)) * Double.random(in: 1...10, using: &g)
                check(x, d)
                check(Double(Int.random(in: -100_000...100_000, using: &g)) / pow(2, Double(Int.random(in: 0...12, using: &g))), d)
                check(Double(Int.random(in: -1_000_000...1_000_000, using: &g)) * 0.001, d)
                check((Double(Int.random(in: -1_000_000...1_000_000, using: &g)) + 0.5) / pow(10, Double(min(d, 15))), d)
            }
        }
        XCTAssertEqual(mismatches, [])
    }

    /// `xs = append(xs, x)` and `xs.push(x)` append in place when nothing else holds the list:
    /// the list keeps its storage (a copy would move it), so building a list is linear.
    func testAppendKeepsStorageWhenNotShared() throws {
        let interp = Interpreter(registry: Registry.withCore())
        try interp.run("let xs = []\nfor i in range(100) { xs = append(xs, i) }", file: "a.llx")
        func address() -> UInt? {
            guard case .list(let l)? = interp.globals.lookup("xs") else { return nil }
            return l.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        }
        let before = address()
        XCTAssertNotNil(before)
        try interp.run("xs = append(xs, 100)", file: "b.llx")
        XCTAssertEqual(address(), before, "append copied the list")
        try interp.run("xs.push(101)", file: "c1.llx")
        XCTAssertEqual(address(), before, "push copied the list")
        try interp.run("xs[0] = -1", file: "c2.llx")
        XCTAssertEqual(address(), before, "element assignment copied the list")
        try interp.run("xs += [102]", file: "c3.llx")
        XCTAssertEqual(address(), before, "+= copied the list")
        // a second holder makes the next append copy, and leaves that holder alone
        try interp.run("let ys = xs\nxs = append(xs, 103)", file: "d.llx")
        XCTAssertNotEqual(address(), before)
        XCTAssertEqual(interp.globals.lookup("ys")?.asList?.count, 103)
        XCTAssertEqual(interp.globals.lookup("xs")?.asList?.count, 104)
        // inside a function too, on a local variable
        try interp.run("fn build(n) {\n  let out = []\n  for i in range(n) { out = append(out, i) }\n  return out\n}", file: "e.llx")
        XCTAssertEqual(try interp.run("len(build(1000)) + build(10)[9]", file: "f.llx")?.asInt, 1009)
    }

    /// A misspelt named argument gets a suggestion (a swap of two letters counts as one edit)
    /// and the caret under the argument, for commands and user functions.
    func testUnknownNamedArgumentIsShownAtTheArgument() throws {
        let r = Registry.withCore()
        r.register("qlora", [Param("m"), .named("rank", .int, default: .int(8)), .named("alpha", .number, default: .double(16))], help: "") { _, _ in .null }
        let interp = Interpreter(registry: r)
        interp.output = { _ in }
        for (src, col, msg) in [("qlora(1, rnak: 4)", 10, "qlora: unknown argument 'rnak' (did you mean 'rank'?)"),
                                ("fn g(a, scale: 1) { }\ng(1, sacle: 2)", 6, "g: unknown argument 'sacle' (did you mean 'scale'?)")] {
            do {
                try interp.run(src, file: "q.llx")
                XCTFail("\(src) ran")
            } catch let d as Diagnostic {
                XCTAssertEqual(d.message, msg)
                XCTAssertEqual(d.location.column, col, src)
            }
        }
    }

    /// A stream holds a character split across tokens until it is complete, gives up holding
    /// after 4 tokens (invalid for good), and escapes control characters.
    func testTextStreamerHoldsIncompleteCharactersAndEscapesControls() {
        // "é" is C3 A9: the first byte alone decodes to U+FFFD
        let bytes: [[UInt8]] = [Array("Caf".utf8), [0xC3], [0xA9], Array(" ok\n".utf8), [0x1D, 0x1B], Array("[31m!".utf8)]
        var all: [UInt8] = []
        var st = TextStreamer()
        var written: [String] = []
        for b in bytes {
            all += b
            written.append(st.next(String(decoding: all, as: UTF8.self)))
        }
        XCTAssertEqual(written, ["Caf", "", "é", " ok\n", "\\x1d\\x1b", "[31m!"])
        XCTAssertEqual(st.finish(String(decoding: all, as: UTF8.self)), "")
        // an invalid byte is written as U+FFFD once held for 4 more tokens
        var st2 = TextStreamer()
        var text = "a"
        XCTAssertEqual(st2.next(text), "a")
        text += "\u{FFFD}"
        var out = ""
        for _ in 0..<TextStreamer.maxHeld { out += st2.next(text) }
        XCTAssertEqual(out, "")
        XCTAssertEqual(st2.next(text), "\u{FFFD}")
        // held text still comes out at the end
        var st3 = TextStreamer()
        XCTAssertEqual(st3.next("x\u{FFFD}"), "")
        XCTAssertEqual(st3.finish("x\u{FFFD}"), "x\u{FFFD}")
        // a progress line: newlines escaped too; C1 controls and DEL as \x..
        XCTAssertEqual(TextStreamer.escapeControls("a\nb\t\u{7F}\u{85}é", keepNewlines: false), "a\\nb\\t\\x7f\\x85é")
        XCTAssertEqual(TextStreamer.escapeControls("a\nb\tc\r", keepNewlines: true), "a\nb\tc\\r")
    }

    /// `fn f(x {` is reported at the parenthesis left open, and the parse goes on below it:
    /// a later error in the same file is reported too (and nothing the open paren explains).
    func testUnclosedParenIsReportedWhereItOpensAndParsingRecovers() {
        let src = "fn f(x {\n    return x\n}\nlet y = 2\nlet = 3\nprint(y)\n"
        do {
            _ = try Parser.parse(src, file: "u.llx")
            XCTFail("parsed")
        } catch let d as DiagnosticList {
            let got = d.diagnostics.map { "\($0.location.line):\($0.location.column): \($0.message)" }
            XCTAssertEqual(got, ["1:5: unclosed '('",
                                 "1:8: expected ',' or ')' in the parameters of 'f', found '{'",
                                 "5:5: expected a name after 'let', found '='"])
            XCTAssertFalse(d.isIncomplete)
        } catch { XCTFail("\(error)") }
        // a REPL entry that is only unfinished still asks for more lines
        for text in ["fn f(a,", "print(f(1,\n2,", "let xs = [1,\n2"] {
            do { _ = try Parser.parse(text, file: "<stdin>"); XCTFail("\(text) parsed") }
            catch let d as DiagnosticList { XCTAssertTrue(d.isIncomplete, "\(text): \(d)") }
            catch { XCTFail("\(error)") }
        }
        // brackets closed on a later line keep their newlines dropped
        XCTAssertNoThrow(try Parser.parse("let a = f(1,\n  2)\nlet b = [3,\n4]\n", file: "ok.llx"))
    }

    /// help() lines are wrapped at the width, continuation lines hanging under the summary.
    func testWrapAndDisplay() throws {
        let line = "  eval.passkey(m, tok, lengths:, depths: 5)      " + String(repeating: "word ", count: 30)
        let wrapped = Terminal.wrap(line, width: 80)
        XCTAssertGreaterThan(wrapped.count, 1)
        for l in wrapped { XCTAssertLessThanOrEqual(l.count, 80, l) }
        XCTAssertTrue(wrapped[0].hasPrefix("  eval.passkey(m, tok, lengths:, depths: 5)      word"))
        let hang = wrapped[0].range(of: "word")!.lowerBound.utf16Offset(in: wrapped[0])
        for l in wrapped.dropFirst() { XCTAssertEqual(l.prefix { $0 == " " }.count, hang, l) }
        XCTAssertEqual(Terminal.wrap("short", width: 80), ["short"])
        // help() output: no line longer than the width
        let interp = Interpreter(registry: Registry.withCore())
        var out = ""
        interp.output = { out += $0 }
        setenv("COLUMNS", "70", 1)
        defer { unsetenv("COLUMNS") }
        try interp.run("help()\nhelp(\"print\")", file: "h.llx")
        for l in out.split(separator: "\n") { XCTAssertLessThanOrEqual(l.count, 70, String(l)) }
        XCTAssertTrue(out.contains("  print("))
        // the REPL shows a long list of records one per line, floats to 6 digits
        let hist = Value.list((1...3).map { i in .record(Record([("step", .int(i)), ("loss", .double(2.0 / 3.0 + Double(i))), ("lr", .double(0.00019999999))])) })
        XCTAssertEqual(hist.display(width: 60), """
        [
          {step: 1, loss: 1.66667, lr: 0.0002},
          {step: 2, loss: 2.66667, lr: 0.0002},
          {step: 3, loss: 3.66667, lr: 0.0002}
        ]
        """)
        XCTAssertEqual(Value.list([.double(0.1), .int(2)]).display(width: 60), "[0.1, 2]")
    }

    /// Entries run one after another in one interpreter, as the REPL runs them: a recursion
    /// that failed deep down leaves no frame behind (the next call starts clean), a function
    /// rebound by an entry while an earlier definition is on the stack keeps running as it
    /// began, and the host's own calls (`interp.call`) see the current definitions.
    func testCallStackAcrossEntriesErrorsAndRebinding() throws {
        let interp = Interpreter(registry: Registry.withCore())
        var out = ""
        interp.output = { out += $0 }
        try interp.run("fn walk(n, xs) {\n if n == 0 { return [xs[5]] }\n let here = [n]\n return walk(n - 1, xs) + here\n}", file: "a.llx")
        XCTAssertThrowsError(try interp.run("walk(50, [1])", file: "b.llx")) { e in
            XCTAssertTrue("\(e)".contains("index"), "\(e)")
        }
        XCTAssertEqual(try interp.run("walk(3, [0, 1, 2, 3, 4, 5])", file: "c.llx")?.repr, "[5, 1, 2, 3]")
        try interp.run("fn f(n) {\n if n == 0 {\n  f = fn (k) { return k * 100 }\n  return 0\n }\n return f(n - 1) + n\n}", file: "d.llx")
        XCTAssertEqual(try interp.run("[f(3), f(3)]", file: "e.llx")?.repr, "[6, 300]")
        try interp.run("fn f(n) { return -n }", file: "f.llx")
        let f = try XCTUnwrap(interp.globals.lookup("f"))
        XCTAssertEqual(try interp.call(f, Arguments([.int(4)])).repr, "-4")
        XCTAssertThrowsError(try interp.run("fn deep(n) { return deep(n + 1) }\ndeep(0)", file: "g.llx")) { e in
            XCTAssertTrue("\(e)".contains("too many nested calls"), "\(e)")
        }
        XCTAssertEqual(interp.callDepth, 0)
        XCTAssertEqual(try interp.run("fn deep(n) { if n == 0 { return 0 }\n return deep(n - 1) + 1 }\ndeep(150)", file: "h.llx")?.repr, "150")
    }
}

final class FrameCycleTests: XCTestCase {
    /// A closure kept in the frame it was defined in refers back to that frame; reference counting
    /// alone never frees the pair, so each call of a function that defines a helper leaked its
    /// frame (~3 KB; 8.5 KB with a recursive one), and a fuzz worker grew past 3 GB.
    func testFinishedFramesWithTheirClosuresAreFreed() throws {
        let interp = Interpreter(registry: Registry.withCore())
        var out = ""
        interp.output = { out += $0 }
        let before = Interpreter.liveFrames
        try interp.run("""
        fn outer(x) {
          fn inner(y) { return x + y }
          fn twice(y) { return inner(inner(y)) }
          let h = fn(z) { return twice(z) * 2 }
          return h(1)
        }
        fn make_adder(n) {
          fn add(x) { return x + n }
          return add
        }
        fn blocks(k) {
          let s = 0
          for i in range(k) {
            fn g() { return i }
            s = s + g()
          }
          if k > 0 {
            let y = k
            fn hy() { return y }
            s = s + hy()
          }
          return s
        }
        let total = 0
        for i in range(2000) {
          total = total + outer(i) + make_adder(i)(1) + blocks(3)
        }
        print(total)
        """, file: "cycles.llx")
        // outer(i) = (2i + 1) * 2, make_adder(i)(1) = i + 1, blocks(3) = 0 + 1 + 2 + 3
        var expect = 0
        for i in 0..<2000 { expect += (2 * i + 1) * 2 + (i + 1) + 6 }
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "\(expect)")
        // 2000 iterations of 3 calls with closures: before the fix ~10,000 frames stayed alive
        XCTAssertLessThan(Interpreter.liveFrames - before, 20, "finished frames kept alive by their own closures")
    }

    /// Closures that escape keep their frame (and see its later changes) until they are dropped.
    func testEscapedClosuresKeepTheirFrame() throws {
        let interp = Interpreter(registry: Registry.withCore())
        var out = ""
        interp.output = { out += $0 }
        try interp.run("""
        fn counter() {
          let n = 0
          fn bump() { n = n + 1; return n }
          fn read() { return n }
          return [bump, read]
        }
        let c = counter()
        c[0](); c[0]()
        print(c[1]())
        fn pair() {
          fn a(k) { if k == 0 { return 0 } ; return b(k - 1) + 1 }
          fn b(k) { if k == 0 { return 0 } ; return a(k - 1) + 1 }
          return a
        }
        let f = pair()
        print(f(9))
        let fs = []
        for i in range(3) { fn g() { return i * 10 }; fs.push(g) }
        print(fs[0](), fs[1](), fs[2]())
        """, file: "escape.llx")
        XCTAssertEqual(out, "2\n9\n0 10 20\n")
        let before = Interpreter.liveFrames
        try interp.run("c = nil\nf = nil\nfs = nil\n", file: "drop.llx")
        XCTAssertLessThan(Interpreter.liveFrames, before, "dropping the escaped closures frees their frames")
    }
}
