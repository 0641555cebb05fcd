// Serve: `llx serve --jsonl`, the machine-readable mode the Jupyter kernel (python/llx_kernel)
// drives. One session (as the REPL: variables kept between requests, values shown, generate
// streams) reads one JSON request a line on stdin and answers with JSON lines on stdout:
//
//   {"type": "execute", "code": "...", "count": 3}
//       -> {"type": "stream", "name": "stdout", "text": "..."}      as print writes, at once
//          {"type": "display", "data": {"text/plain": ..., "image/svg+xml": ...}}   show(x), figures
//          {"type": "result", "data": {...}}                           the final bare expression
//          {"type": "error", "ename": "NameError", "evalue": "...", "traceback": [lines]}
//          {"type": "done", "status": "ok" | "error"}                  always last
//   {"type": "complete", "code": "...", "cursor": n}
//       -> {"type": "complete", "matches": [...], "cursor_start": a, "cursor_end": n}
//   {"type": "inspect", "code": "...", "cursor": n}
//       -> {"type": "inspect", "found": true, "name": "train", "text": "help text"}
//   {"type": "is_complete", "code": "..."} -> {"type": "is_complete", "status": "complete" | "incomplete" | "invalid"}
//
// Cursors count Unicode scalars (Python string indices, as Jupyter's protocol since 5.2). An
// "id" in a request is copied into each of its answers. The cell of execute request `count` is
// the source `In[count]` in error locations. SIGINT stops the running request (it ends with an
// `Interrupted` error; the session and its variables stay). The protocol has stdout to itself:
// anything else the program writes to file descriptor 1 goes to stderr. End of input ends it.
import Foundation
import Lang
import Commands

public enum Serve {
    /// Runs the loop until end of input; the exit status.
    public static func run(interpreter: Interpreter? = nil) -> Int32 {
        // the protocol gets its own descriptor; stray writes to stdout go to stderr
        fflush(stdout)
        let proto = dup(1)
        guard proto >= 0 else { Runner.printError("llx serve: cannot duplicate stdout"); return 1 }
        dup2(2, 1)
        let interp = interpreter ?? RunScript.makeInterpreter()
        interp.isInteractive = true
        RunScript.install(interp)
        installServeInterruptHandler()
        var count = 0
        func send(_ r: Record) {
            guard let text = try? JSON.serialize(.record(r)) else { return }
            let bytes = Array((text + "\n").utf8)
            var off = 0
            while off < bytes.count {
                let n = bytes[off...].withUnsafeBufferPointer { write(proto, $0.baseAddress, $0.count) }
                if n <= 0 { if errno == EINTR { continue }; return }
                off += n
            }
        }
        while let line = Swift.readLine(strippingNewline: true) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            var answer = Record()
            func reply(_ r: Record) {
                var r = r
                if let id = answer["id"] { r["id"] = id }
                send(r)
            }
            guard case .record(let req)? = try? JSON.parse(line), case .string(let type)? = req["type"] else {
                send(Record([("type", .string("protocol_error")), ("message", .string("not a JSON request with a \"type\": \(line.prefix(80))"))]))
                continue
            }
            answer["id"] = req["id"]
            let code: String
            if case .string(let c)? = req["code"] { code = c } else { code = "" }
            var cursor = code.unicodeScalars.count
            if case .int(let c)? = req["cursor"] { cursor = max(0, min(c, cursor)) }
            switch type {
            case "execute":
                if case .int(let c)? = req["count"] { count = c } else { count += 1 }
                let file = "In[\(count)]"
                let source = SourceFile(name: file, text: code)
                SourceRegistry.shared.add(source)
                interp.cancellation?.reset()
                let ok = CellRunner.run(code, file: file, line: 1, source: source, in: interp) { o in
                    switch o {
                    case .stream(let s): reply(Record([("type", .string("stream")), ("name", .string("stdout")), ("text", .string(s))]))
                    case .display(let b): reply(Record([("type", .string("display")), ("data", bundle(b))]))
                    case .result(let b): reply(Record([("type", .string("result")), ("data", bundle(b))]))
                    case .error(let name, let message, let tb):
                        reply(Record([("type", .string("error")), ("ename", .string(name)), ("evalue", .string(message)),
                                      ("traceback", .list(tb.map { .string($0) }))]))
                    }
                }
                interp.cancellation?.reset()
                reply(Record([("type", .string("done")), ("status", .string(ok ? "ok" : "error"))]))
            case "complete":
                let start = Completion.wordStart(line: code, cursor: cursor)
                let matches = Completion.candidates(line: code, cursor: cursor, interp: interp)
                reply(Record([("type", .string("complete")), ("matches", .list(matches.map { .string($0) })),
                              ("cursor_start", .int(start)), ("cursor_end", .int(cursor))]))
            case "inspect":
                var r = Record([("type", .string("inspect"))])
                if let (name, text) = Completion.inspect(code: code, cursor: cursor, interp: interp) {
                    r["found"] = .bool(true); r["name"] = .string(name); r["text"] = .string(text)
                } else {
                    r["found"] = .bool(false)
                }
                reply(r)
            case "is_complete":
                var status = "complete"
                do { _ = try Parser.parse(code, file: "<is_complete>") }
                catch let d as DiagnosticList where d.isIncomplete { status = "incomplete" }
                catch { status = "invalid" }
                reply(Record([("type", .string("is_complete")), ("status", .string(status))]))
            default:
                reply(Record([("type", .string("protocol_error")), ("message", .string("unknown request type '\(type)'"))]))
            }
        }
        return 0
    }

    static func bundle(_ b: [String: String]) -> Value {
        var r = Record()
        for k in b.keys.sorted() { r[k] = .string(b[k]!) }
        return .record(r)
    }

    /// SIGINT asks the running request to stop; the session goes on (an idle one ignores it:
    /// the request is reset before each execute).
    static func installServeInterruptHandler() {
        _ = Interrupt.token   // created before a signal can arrive
        signal(SIGINT) { _ in Interrupt.token.cancel() }
    }
}
