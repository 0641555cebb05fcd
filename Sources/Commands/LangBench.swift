// LangBench: `llx bench lang`, microbenchmarks of the language itself (loops, arithmetic, calls,
// list and record building, string formatting, a JSON-like transform of records), each timed
// around one call of an llx function (best of 3), beside the same programs in CPython
// (scripts/bench_lang.py, run by this command in the same run) with the ratio llx / CPython.
// Each program returns a value that both languages must agree on (the `check` column).
import Foundation
import Lang

public enum LangBench {
    /// The llx programs; scripts/bench_lang.py has the same ones in Python.
    static let programs = """
    fn loop(n) {
        let s = 0
        for i in range(n) { s = s + 1 }
        return s
    }
    fn while_loop(n) {
        let i = 0
        let s = 0
        while i < n {
            s = s + i
            i = i + 1
        }
        return s
    }
    fn arith(n) {
        let acc = 0.0
        for i in range(n) { acc = acc + (i % 7) * 1.5 - i / 3.0 }
        return round(acc, 3)
    }
    fn fib(n) {
        if n < 2 { return n }
        return fib(n - 1) + fib(n - 2)
    }
    fn list_build(n) {
        let xs = []
        for i in range(n) { xs = append(xs, i * 2) }
        return len(xs) + xs[n // 2]
    }
    fn record_build(n) {
        let rs = []
        for i in range(n) { rs.push({id: i, name: "r\\(i)", score: i * 0.5}) }
        return len(rs) + len(rs[n - 1].name)
    }
    fn string_format(n) {
        let total = 0
        for i in range(n) {
            let s = "step \\(i): loss \\(format(i * 0.001, 4))"
            total = total + len(s)
        }
        return total
    }
    fn make_records(n) {
        let rs = []
        for i in range(n) {
            let tags = ["c"]
            if i % 3 == 0 { tags = ["a", "b"] }
            rs.push({id: i, name: "item\\(i)", score: (i * 37) % 101, tags: tags})
        }
        return rs
    }
    fn json_transform(rs) {
        let out = []
        for r in rs {
            if r.score > 20 {
                out.push({key: r.name.upper(), value: r.score * 2, even: r.id % 2 == 0, ntags: len(r.tags)})
            }
        }
        let total = 0
        for o in out { total = total + o.value + o.ntags }
        return total
    }
    """

    /// Top-level code (globals, as a user types it into the REPL or a script).
    static let toplevel = """
    let s = 0
    for i in range(1000000) {
        s = s + 1
    }
    """

    /// (name, the argument's expression, the function)
    static let benches: [(String, String, String)] = [
        ("loop", "1000000", "loop"),
        ("while", "1000000", "while_loop"),
        ("arith", "300000", "arith"),
        ("fib", "24", "fib"),
        ("list_build", "100000", "list_build"),
        ("record_build", "50000", "record_build"),
        ("string_format", "100000", "string_format"),
        ("json_transform", "make_records(50000)", "json_transform"),
    ]

    struct Timing { var seconds: Double; var check: Value }

    /// LLX_BENCH_CPU=1: time by the thread's CPU time instead of the wall clock (and CPython by
    /// time.thread_time()), for a shared machine whose other work makes wall times noisy.
    static let cpuTime = ProcessInfo.processInfo.environment["LLX_BENCH_CPU"] == "1"

    static func now() -> Double {
        if cpuTime {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        }
        return Double(DispatchTime.now().uptimeNanoseconds) / 1e9
    }
    struct BenchFailure: Error { var why: String }

    /// Times every benchmark in a fresh interpreter (best of `repeat`).
    static func measure(times: Int = 3) throws -> [(String, Timing)] {
        let interp = Commands.makeInterpreter()
        interp.output = { _ in }
        try interp.run(programs, file: "<bench lang>")
        var out: [(String, Timing)] = []
        for (name, arg, fn) in benches {
            guard let f = interp.globals.lookup(fn) else { continue }
            var best = Double.infinity
            var check: Value = .null
            for _ in 0..<times {
                let x = try interp.run(arg, file: "<bench lang>") ?? .null
                let t0 = now()
                check = try interp.call(f, Arguments([x]))
                best = min(best, now() - t0)
            }
            out.append((name, Timing(seconds: best, check: check)))
        }
        var best = Double.infinity
        var check: Value = .null
        for _ in 0..<times {
            let fresh = Commands.makeInterpreter()
            fresh.output = { _ in }
            let t0 = now()
            try fresh.run(toplevel, file: "<bench lang>")
            best = min(best, now() - t0)
            check = fresh.globals.lookup("s") ?? .null
        }
        out.append(("toplevel_loop", Timing(seconds: best, check: check)))
        return out
    }

    /// scripts/bench_lang.py beside the binary (../../scripts from .build/release), in the
    /// current directory, or under $LLX_ROOT.
    static func pythonScript(_ file: String = "bench_lang.py") -> String? {
        let env = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let root = env["LLX_ROOT"] { candidates.append(root + "/scripts/" + file) }
        candidates.append(FileManager.default.currentDirectoryPath + "/scripts/" + file)
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(exe.deletingLastPathComponent().appendingPathComponent("../../../scripts/" + file).standardized.path)
        candidates.append(exe.deletingLastPathComponent().appendingPathComponent("../../scripts/" + file).standardized.path)
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The same programs in Lua (scripts/bench_lang.lua) when a `lua` (5.4, or $LLX_LUA) runs:
    /// name -> seconds; empty when there is none.
    static func lua(times: Int) -> [String: Double] {
        guard let script = pythonScript("bench_lang.lua") else { return [:] }
        let env = ProcessInfo.processInfo.environment
        let lua = env["LLX_LUA"] ?? "lua"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [lua, script, "--repeat", String(times)]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return [:] }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return [:] }
        var out: [String: Double] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let name = obj["name"] as? String, let s = obj["seconds"] as? Double else { continue }
            out[name] = s
        }
        return out
    }

    /// Runs the CPython side: name -> (seconds, check as JSON), or why it could not.
    static func python(times: Int) -> Result<[String: (Double, Any)], BenchFailure> {
        guard let script = pythonScript() else { return .failure(BenchFailure(why: "scripts/bench_lang.py not found (run from the repository or set LLX_ROOT)")) }
        let env = ProcessInfo.processInfo.environment
        var python = env["LLX_PYTHON"] ?? "python3"
        if env["LLX_PYTHON"] == nil, let venv = env["LLX_VENV"], FileManager.default.fileExists(atPath: venv + "/bin/python") {
            python = venv + "/bin/python"
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, script, "--repeat", String(times)] + (cpuTime ? ["--cpu"] : [])
        let pipe = Pipe()
        p.standardOutput = pipe
        do { try p.run() } catch { return .failure(BenchFailure(why: "cannot run \(python): \(error)")) }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return .failure(BenchFailure(why: "\(python) \(script) exited with status \(p.terminationStatus)")) }
        var out: [String: (Double, Any)] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let name = obj["name"] as? String, let s = obj["seconds"] as? Double else { continue }
            out[name] = (s, obj["check"] ?? NSNull())
        }
        return .success(out)
    }

    /// Whether llx's result equals Python's (numbers to 1e-9 relative).
    static func agrees(_ v: Value, _ py: Any) -> Bool {
        guard let n = py as? NSNumber else { return false }
        switch v {
        case .int(let i): return n.doubleValue == Double(i)
        case .double(let d): return abs(d - n.doubleValue) <= 1e-9 * max(1, abs(d))
        default: return false
        }
    }

    public static func run(_ log: (String) -> Void) {
        let ours: [(String, Timing)]
        do { ours = try measure() } catch {
            log("bench lang failed: \(error)")
            return
        }
        let py = python(times: 3)
        let luaTimes = lua(times: 3)
        log("language microbenchmarks: best of 3, \(cpuTime ? "CPU" : "wall-clock") seconds (llx / CPython: below 1 means llx is faster)")
        log("  " + "benchmark".padding(toLength: 16, withPad: " ", startingAt: 0) + "      llx s   CPython s    ratio  check"
            + (luaTimes.isEmpty ? "" : "   Lua s (CPU)  llx/Lua"))
        var ratios: [Double] = []
        for (name, t) in ours {
            var line = "  " + name.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: " %10.4f", t.seconds)
            if case .success(let table) = py, let (s, check) = table[name] {
                ratios.append(t.seconds / s)
                line += String(format: "  %10.4f  %7.2fx  ", s, t.seconds / s) + (agrees(t.check, check) ? "ok   " : "MISMATCH (llx \(t.check.repr), CPython \(check))")
            }
            if let l = luaTimes[name], l > 0 { line += String(format: "  %11.4f  %6.1fx", l, t.seconds / l) }
            log(line)
        }
        switch py {
        case .success:
            if !ratios.isEmpty {
                let geo = Foundation.exp(ratios.map { Foundation.log($0) }.reduce(0, +) / Double(ratios.count))
                log(String(format: "  geometric mean of llx / CPython: %.2fx", geo))
            }
        case .failure(let f):
            log("  (no CPython comparison: \(f.why))")
        }
    }
}
