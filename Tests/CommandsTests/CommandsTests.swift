// CommandsTests: the command bindings through annotated `.llx` scripts
// (Tests/Scripts/commands), a check that every command of the reference is registered and
// listed by help(), and the quickstart notebook running end to end.
import XCTest
import Foundation
import Lang
import Commands

final class CommandsTests: XCTestCase {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let scripts = tests.appendingPathComponent("Scripts/commands")

    /// Every command name of docs' reference contract (llx-reference.md).
    static let referenceCommands = """
    print show help type len range keys values items seed threads
    tensor zeros ones full randn rand arange eye sum mean max min argmax exp log sqrt tanh silu abs softmax matmul
    allclose maxabs backward
    llama.config llama.init llama.load logits loss generate tokenizer.load tokenizer.llama3 tokenizer.bytes tokenizer.train
    nf4 dequantize qlora lora merge
    data.jsonl synth.needle_qa synth.multi_detail synth.summary synth.retrieval synth.passkey synth.short_text synth.short_instructions synth.filler shuffle train grads adamw
    eval.niah eval.passkey eval.topics eval.ppl eval.mc eval.qa score.f1 score.rouge_l score.edit_sim
    save load h5.ls h5.read h5.values h5.write read_json read_jsonl write_json write_jsonl export.peft lora.load_peft export.hf
    plot.heatmap plot.line plot.grid
    """.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)

    func testEveryReferenceCommandIsRegisteredAndListed() throws {
        let interp = Commands.makeInterpreter()
        var out = ""
        interp.output = { out += $0 }
        try interp.run("help()", file: "help.llx")
        for name in Self.referenceCommands {
            XCTAssertNotNil(interp.registry[name], "command \(name) is not registered")
            XCTAssertTrue(out.contains("  \(name)("), "help() does not list \(name)")
            if let c = interp.registry[name] { XCTAssertFalse(c.help.isEmpty, "\(name) has no help text") }
        }
    }

    /// synth.recall from a script: records of the asked count, `pairs` as a number or [lo, hi];
    /// bad arguments are errors naming the command and the argument.
    func testSynthRecallCommand() throws {
        let interp = Commands.makeInterpreter()
        var out = ""
        interp.output = { out += $0 }
        try interp.run("""
        let tok = tokenizer.bytes()
        let r = synth.recall(tok, count: 3, length: 400, pairs: [2, 6], queries: 2, seed: 1)
        print(len(r), len(synth.recall(tok, count: 2, length: 600, pairs: 5, seed: 1)))
        """, file: "recall.llx")
        XCTAssertEqual(out, "3 2\n")
        for (call, words) in [("synth.recall(tok, pairs: [6, 2])", ["synth.recall", "pairs", "lo <= hi"]),
                              ("synth.recall(tok, pairs: \"many\")", ["synth.recall", "pairs"]),
                              ("synth.recall(tok, length: 40, pairs: 8)", ["length", "8 pairs"]),
                              ("synth.recall(tok, pairs: [3, 8], queries: 4)", ["queries"])] {
            XCTAssertThrowsError(try interp.run(call, file: "bad.llx"), call) { e in
                for w in words { XCTAssertTrue("\(e)".contains(w), "\(call): \(e)") }
            }
        }
    }

    /// docs/language.md ends with the command reference generated from the registry
    /// (`llx docs --write docs/language.md` after changing a command).
    func testLanguageReferenceIsCurrent() throws {
        let path = Self.tests.deletingLastPathComponent().appendingPathComponent("docs/language.md").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let committed = Reference.extract(text)
        XCTAssertNotNil(committed, "docs/language.md has no generated section")
        XCTAssertEqual(committed, Reference.section(), "docs/language.md is out of date: run llx docs --write docs/language.md")
        // help(cmd) prints the same text as the reference
        let interp = Commands.makeInterpreter()
        var out = ""
        interp.output = { out += $0 }
        setenv("COLUMNS", "1000", 1)
        defer { unsetenv("COLUMNS") }
        try interp.run("help(\"plot.line\")", file: "h.llx")
        XCTAssertTrue(Reference.section().contains("```\n" + out + "```\n"))
    }

    /// The user's reference is one file: README and docs link only to Markdown files that exist
    /// (docs/commands.md was folded into docs/language.md), and every `file.md#anchor` names a
    /// heading of that file (GitHub's anchors: lowercase, punctuation dropped, spaces as `-`,
    /// a repeated heading numbered `-1`, `-2`...).
    func testDocumentationLinksResolve() throws {
        let root = Self.tests.deletingLastPathComponent()
        let docs = root.appendingPathComponent("docs")
        let files = ["README.md"] + (try FileManager.default.contentsOfDirectory(atPath: docs.path))
            .filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
        func anchors(_ path: String) throws -> Set<String> {
            let text = try String(contentsOfFile: root.appendingPathComponent(path).path, encoding: .utf8)
            var out = Set<String>(), seen: [String: Int] = [:], fence = false
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("```") { fence.toggle(); continue }
                guard !fence, line.hasPrefix("#") else { continue }
                let title = line.drop(while: { $0 == "#" }).trimmingCharacters(in: .whitespaces)
                var slug = ""
                for c in title.lowercased() where c.isLetter || c.isNumber || c == " " || c == "-" || c == "_" {
                    slug.append(c == " " ? "-" : c)
                }
                let n = seen[slug, default: 0]
                seen[slug] = n + 1
                out.insert(n == 0 ? slug : "\(slug)-\(n)")
            }
            return out
        }
        var checked = 0
        for file in files {
            let text = try String(contentsOfFile: root.appendingPathComponent(file).path, encoding: .utf8)
            let dir = (file as NSString).deletingLastPathComponent
            // [text](target.md#anchor) and [text](#anchor)
            let link = try NSRegularExpression(pattern: #"\]\(([^)\s]*?)(?:#([^)\s]+))?\)"#)
            for m in link.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let target = Range(m.range(at: 1), in: text).map { String(text[$0]) } ?? ""
                let anchor = Range(m.range(at: 2), in: text).map { String(text[$0]) }
                guard target.isEmpty || target.hasSuffix(".md") else { continue }
                let path = target.isEmpty ? file : (dir.isEmpty ? target : dir + "/" + target)
                XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent(path).path), "\(file) links to \(target), which does not exist")
                if let a = anchor, FileManager.default.fileExists(atPath: root.appendingPathComponent(path).path) {
                    XCTAssertTrue(try anchors(path).contains(a), "\(file) links to \(path)#\(a), which has no such heading")
                }
                checked += 1
            }
            // `docs/name.md` written as code
            let mention = try NSRegularExpression(pattern: #"`(docs/[A-Za-z0-9_-]+\.md)`"#)
            for m in mention.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let p = String(text[Range(m.range(at: 1), in: text)!])
                XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent(p).path), "\(file) names \(p), which does not exist")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 10)
    }

    func testScripts() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.scripts.path).filter { $0.hasSuffix(".llx") }.sorted()
        XCTAssertGreaterThan(files.count, 8)
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("llx-cmd-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        for f in files {
            let interp = Commands.makeInterpreter()
            interp.globals.define("tmpdir", .string(tmp.path))
            interp.globals.define("fixtures", .string(Self.tests.appendingPathComponent("Fixtures").path))
            let outcome = ScriptTest.run(path: Self.scripts.appendingPathComponent(f).path, interpreter: interp)
            for failure in outcome.failures { XCTFail("\(f): \(failure)") }
        }
    }

    /// tokenizer.llama3() once scripts/install_vocab.sh has installed the vocabulary.
    func testLlama3TokenizerWhenInstalled() throws {
        let interp = Commands.makeInterpreter()
        var out = ""
        interp.output = { out += $0 }
        do {
            try interp.run("let tok = tokenizer.llama3()", file: "l3.llx")
        } catch {
            throw XCTSkip("Llama-3 vocabulary not installed: \(error)")
        }
        try interp.run("print(tok.vocab_size, tok.encode(\"Hello world\", bos: true), tok.decode(tok.encode(\"Hello world\", bos: false)))", file: "l3b.llx")
        XCTAssertEqual(out, "128256 [128000, 9906, 1917] Hello world\n")
    }

    /// The interpreter's cancellation token (what Ctrl-C sets) reaches training: set while
    /// `train` runs (here when the first progress line is written), it stops the run after the
    /// current step; `train` returns its history and leaves the request pending, so what
    /// surrounds it stops too (issue 14: a sweep went on to evaluate and save after Ctrl-C).
    func testCancellationTokenStopsTrainingAndTheLoopAroundIt() throws {
        let interp = Commands.makeInterpreter()
        var out = ""
        interp.output = { s in
            out += s
            if s.hasPrefix("[") && s.contains("] 1/6 ") { interp.cancellation?.cancel() }
        }
        try interp.run("""
        let tok = tokenizer.bytes()
        let m = llama.init(llama.config("tiny", num_hidden_layers: 1), seed: 0)
        let d = data.from(["hello world", "second text"])
        let runs = 0
        """, file: "setup.llx")
        XCTAssertThrowsError(try interp.run("""
        for lr in [1e-3, 2e-3, 3e-3] {
            runs += 1
            let h = train(m, d, tok: tok, steps: 6, batch: 1, lr: lr)
            print("evaluated", len(h))
        }
        print("saved")
        """, file: "sweep.llx")) { e in
            XCTAssertEqual((e as? Diagnostic)?.kind, .interrupted, "\(e)")
        }
        XCTAssertTrue(out.contains("training interrupted after step 1/6\n"), out)
        XCTAssertFalse(out.contains("evaluated") || out.contains("saved"), out)
        XCTAssertEqual(interp.globals.lookup("runs")?.asInt, 1)
        XCTAssertEqual(interp.cancellation?.isCancelled, false, "the interpreter clears the request it reported")
        // an entry that is only the training call keeps its history (the REPL then clears the request)
        out = ""
        try interp.run("let h = train(m, d, tok: tok, steps: 6, batch: 1, lr: 1e-3)", file: "one.llx")
        XCTAssertTrue(out.contains("training interrupted after step 1/6\n"), out)
        XCTAssertEqual(interp.globals.lookup("h")?.asList?.count, 1)
        interp.cancellation?.reset()
        try interp.run("print(len(h), h[-1].step)", file: "two.llx")
        XCTAssertTrue(out.hasSuffix("1 1\n"), out)
    }

    /// copy(m) gives an independent model: same outputs, and training it leaves the original.
    func testCopyOfAModelIsIndependent() throws {
        let interp = Commands.makeInterpreter()
        var out = ""
        interp.output = { out += $0 }
        try interp.run("""
        let tok = tokenizer.bytes()
        let m = llama.init(llama.config("tiny", num_hidden_layers: 1), seed: 0)
        lora(m, rank: 2)
        let ids = tok.encode("hello world")
        let before = loss(m, ids).item()
        let m2 = copy(m)
        print(loss(m2, ids).item() == before, type(m2))
        train(m2, data.from(["hello world", "second text"]), tok: tok, steps: 2, batch: 1, lr: 1e-2, progress: false)
        print(loss(m, ids).item() == before, loss(m2, ids).item() != before)
        let t = tensor([1.0, 2.0])
        let u = copy(t)
        u[0] = 5
        print(t, copy([1, 2]))
        """, file: "copy.llx")
        XCTAssertEqual(out.split(separator: "\n").map(String.init).filter { !$0.isEmpty }.count, 3, out)
        XCTAssertTrue(out.hasPrefix("true LlamaModel\ntrue true\n"), out)
        XCTAssertTrue(out.contains("[1, 2]"), out)
        XCTAssertThrowsError(try interp.run("copy(tok)", file: "c2.llx"))
    }

    func testHelpOfACommandShowsSignature() throws {
        let interp = Commands.makeInterpreter()
        var out = ""
        interp.output = { out += $0 }
        try interp.run("help(eval.niah)", file: "h.llx")
        XCTAssertTrue(out.hasPrefix("eval.niah(m, tok, lengths:, depths: 5"), out)
    }
}
