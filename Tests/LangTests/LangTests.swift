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
}
