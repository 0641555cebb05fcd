// Script tests: runs an annotated `.llx` script and compares what it printed and the errors
// it raised with its annotations, the way craftinginterpreters' test suite works.
//   `# expect: text`        the next line of output must be exactly `text`
//   `# expect-error: 3:7: message`  running stops with an error at line 3, column 7 whose
//                           message contains `message` (several for one parse)
// Output lines are compared in order; a script without expect-error must run without error.
import Foundation

public enum ScriptTest {
    public struct Outcome {
        public var output: [String]
        public var errors: [Diagnostic]
        public var failures: [String]
    }

    public struct Expectations {
        public var output: [String] = []
        public var errors: [(line: Int, column: Int, message: String)] = []
    }

    public static func expectations(_ text: String) -> Expectations {
        var e = Expectations()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let r = line.range(of: "# expect") else { continue }
            let rest = line[r.upperBound...]
            if rest.hasPrefix(": ") || rest == ":" {
                e.output.append(String(rest.dropFirst(rest.hasPrefix(": ") ? 2 : 1)))
            } else if rest.hasPrefix("-error: ") {
                let spec = rest.dropFirst(8)
                let parts = spec.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                if parts.count == 3, let l = Int(parts[0]), let c = Int(parts[1]) {
                    e.errors.append((l, c, parts[2].trimmingCharacters(in: .whitespaces)))
                } else {
                    e.errors.append((0, 0, spec.trimmingCharacters(in: .whitespaces)))
                }
            }
        }
        return e
    }

    /// Runs the script at `path` in `interpreter` and checks it against its annotations.
    public static func run(path: String, interpreter: Interpreter) -> Outcome {
        guard let data = FileManager.default.contents(atPath: path) else {
            return Outcome(output: [], errors: [], failures: ["cannot read \(path)"])
        }
        let text = String(decoding: data, as: UTF8.self)
        var printed = ""
        interpreter.output = { printed += $0 }
        var errors: [Diagnostic] = []
        do {
            let v = try interpreter.run(text, file: URL(fileURLWithPath: path).lastPathComponent)
            _ = v
        } catch let d as DiagnosticList {
            errors = d.diagnostics
        } catch let d as Diagnostic {
            errors = [d]
        } catch {
            errors = [Diagnostic(.runtime, "\(error)", at: .unknown)]
        }
        var out = printed.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if out.last == "" { out.removeLast() }
        let exp = expectations(text)
        var failures: [String] = []
        if out != exp.output {
            var msg = "output differs:\n"
            for i in 0..<max(out.count, exp.output.count) {
                let got = i < out.count ? out[i] : "<none>"
                let want = i < exp.output.count ? exp.output[i] : "<none>"
                msg += (got == want ? "   " : " ! ") + "line \(i + 1): expected \(Value.quote(want)), got \(Value.quote(got))\n"
            }
            failures.append(msg)
        }
        if exp.errors.isEmpty {
            for e in errors { failures.append("unexpected error: \(e.formatted(source: nil))") }
        } else {
            if errors.count != exp.errors.count {
                failures.append("expected \(exp.errors.count) error(s), got \(errors.count): " + errors.map { $0.description }.joined(separator: " | "))
            }
            for (want, got) in zip(exp.errors, errors) {
                if (want.line != 0 && (want.line != got.location.line || want.column != got.location.column)) || !got.message.contains(want.message) {
                    failures.append("expected error \(want.line):\(want.column): \(want.message)\n  got \(got.location.line):\(got.location.column): \(got.message)")
                }
            }
        }
        return Outcome(output: out, errors: errors, failures: failures)
    }
}
