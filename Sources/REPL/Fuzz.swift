// Fuzz: `llx fuzz --scripts N --files M [--seed S] [--jobs J] [--timeout 10] [--memory 256M]`,
// the in-process fuzzing harness for long runs (scripts/fuzz.py starts one piped llx per run
// and reaches ~150 scripts/s; this runs the cases inside a worker process, with no pipe, file
// or parse round trip per case beyond the case's own).
//
// The supervisor (this process) starts J worker processes (`llx fuzz --worker ...`, the same
// binary), each running a slice of the case indices in order. Case i is made from (seed, i)
// alone (FuzzGen.swift): indices below N are scripts, the next M are files. A worker runs each
// case in a fresh child interpreter (as `run_script` does), with LLX_MEMORY_LIMIT (every
// allocation from user input checked against it) and an 8 GB address-space limit, and
// publishes the case it is on in a small shared file (index, start time, count done). Its
// watchdog thread sets the interpreter's stop request (the one Ctrl-C sets) when a case uses
// more CPU time than the timeout (or 30x the timeout in wall-clock time: a blocked case): the
// case ends with "interrupted" and is reported as a hang (finding). CPU time, because on a
// loaded machine a worker at nice 19 may get a fraction of a core.
// The supervisor polls the workers: a worker that ends by a signal or a Swift runtime failure
// (a crash), uses 5 s of CPU past the timeout on one case, or stays on it 30x the timeout
// (a hang the stop request did not end; CPU time read from /proc/<pid>/stat),
// or grows past the RSS limit (unbounded memory) is stopped, the case is written to
// Tests/Fuzz/crashes/<kind>-<hash>/ (entry.llx, the case, finding.txt; FuzzReproTests runs it
// through llx), and a new worker goes on from the next index. At the end: counts, rate, the
// largest worker RSS seen, the findings; exit status 1 when there were any.
import Foundation
import Lang
import Commands
import NN
import LLXSystem

public enum Fuzz {
    struct Options {
        var scripts = 0
        var files = 0
        var seed: UInt64 = 1
        var jobs = 1
        var timeout = 10.0
        var memory = "256M"
        var rssLimitMB = 3072
        /// The workers' address-space limit in GB (0: none; an AddressSanitizer build needs none,
        /// its shadow memory is a large reservation).
        var addressSpaceGB = 8
        var corpus = "Tests/Fuzz/corpus"
        var out = "Tests/Fuzz/crashes"
        var worker = false
        var from = 0
        var to = 0
        var progress = ""
        var findings = ""
        var report = 100_000
    }

    public static let usage = """
    usage: llx fuzz --scripts N --files M [--seed S] [--jobs J] [--timeout SECONDS] [--memory SIZE]
                    [--rss-limit MB] [--address-space GB] [--corpus DIR] [--out DIR] [--report N]
      Runs N generated llx scripts and M mutated files (indices 0..<N are scripts, N..<N+M files;
      case i depends on the seed and i only). Findings (a crash, a case over the timeout, a worker
      over the RSS limit) are saved under --out (Tests/Fuzz/crashes) as reproducers; the exit
      status is 1 when there were any. Run from the repository root (the corpus is read from
      --corpus, default Tests/Fuzz/corpus).
    """

    static func parse(_ args: [String]) throws -> Options {
        var o = Options()
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < args.count else { throw UsageError("llx fuzz: \(args[i - 1]) needs a value") }
            return args[i]
        }
        func int(_ s: String, _ name: String) throws -> Int {
            guard let v = Int(s.replacingOccurrences(of: "_", with: "")), v >= 0 else { throw UsageError("llx fuzz: \(name) must be a non-negative integer, got '\(s)'") }
            return v
        }
        while i < args.count {
            let a = args[i]
            switch a {
            case "--scripts": o.scripts = try int(try value(), a)
            case "--files": o.files = try int(try value(), a)
            case "--seed": o.seed = UInt64(try int(try value(), a))
            case "--jobs": o.jobs = max(1, try int(try value(), a))
            case "--timeout":
                let s = try value()
                guard let t = Double(s), t > 0 else { throw UsageError("llx fuzz: --timeout must be a positive number of seconds, got '\(s)'") }
                o.timeout = t
            case "--memory": o.memory = try value()
            case "--rss-limit": o.rssLimitMB = try int(try value(), a)
            case "--address-space": o.addressSpaceGB = try int(try value(), a)
            case "--corpus": o.corpus = try value()
            case "--out": o.out = try value()
            case "--report": o.report = max(1, try int(try value(), a))
            case "--worker": o.worker = true
            case "--from": o.from = try int(try value(), a)
            case "--to": o.to = try int(try value(), a)
            case "--progress": o.progress = try value()
            case "--findings": o.findings = try value()
            default: throw UsageError("llx fuzz: unknown argument '\(a)'\n\(usage)")
            }
            i += 1
        }
        if !o.worker && o.scripts + o.files == 0 { throw UsageError("llx fuzz: nothing to run (give --scripts N and/or --files M)\n\(usage)") }
        return o
    }

    public static func main(_ args: [String]) -> Int32 {
        let o: Options
        do { o = try parse(args) } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            return 2
        }
        return o.worker ? worker(o) : supervise(o)
    }

    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// CPU time of this process (all its threads), ns.
    static func cpuNow() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// A case that runs this many times the timeout in wall-clock time is a hang even when it
    /// used little CPU (blocked); below that, the timeout is CPU time, so a run on a loaded
    /// machine (a worker at nice 19 beside builds) does not report slow scheduling as hangs.
    static let wallFactor = 30.0

    /// CPU seconds a case may take to end after the stop request (the Ctrl-C bound).
    static let stopLimit = 0.5

    /// The shared progress record of one worker: [0] case index, [1] 1 while a case runs,
    /// [2] its start (CLOCK_MONOTONIC ns), [3] cases done, [4] the process CPU time at its start.
    static func mapProgress(_ path: String, create: Bool) -> UnsafeMutablePointer<Int64>? {
        let fd = open(path, create ? (O_RDWR | O_CREAT | O_TRUNC) : O_RDWR, 0o600)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if create { guard ftruncate(fd, 64) == 0 else { return nil } }
        guard let p = mmap(nil, 64, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }
        let q = p.bindMemory(to: Int64.self, capacity: 8)
        if create { for k in 0..<8 { q[k] = 0 } }
        return q
    }

    // MARK: the worker

    static func worker(_ o: Options) -> Int32 {
        if o.addressSpaceGB > 0 {
            var lim = rlimit(rlim_cur: rlim_t(o.addressSpaceGB) << 30, rlim_max: rlim_t(o.addressSpaceGB) << 30)
            _ = setrlimit(Int32(RLIMIT_AS.rawValue), &lim)
        }
        setenv("LLX_MEMORY_LIMIT", o.memory, 1)
        setenv("OPENBLAS_NUM_THREADS", "1", 1)
        guard let prog = mapProgress(o.progress, create: false) else {
            FileHandle.standardError.write(Data("llx fuzz: cannot map the progress file '\(o.progress)'\n".utf8))
            return 2
        }
        let corpus: [String], seeds: [FuzzSeed]
        do {
            let sdir = o.corpus + "/scripts"
            corpus = try FileManager.default.contentsOfDirectory(atPath: sdir).sorted().filter { $0.hasSuffix(".llx") }
                .map { try String(contentsOfFile: sdir + "/" + $0, encoding: .utf8) }
            seeds = try FuzzCase.loadSeeds(o.corpus + "/files")
        } catch {
            FileHandle.standardError.write(Data("llx fuzz: cannot read the corpus in '\(o.corpus)': \(error)\n".utf8))
            return 2
        }
        if o.to > o.scripts && seeds.isEmpty {
            FileHandle.standardError.write(Data("llx fuzz: no file seeds in '\(o.corpus)/files'\n".utf8))
            return 2
        }
        let base = RunScript.makeInterpreter()
        base.output = { _ in }
        base.displayHook = { _ in }
        let token = CancellationToken()
        base.cancellation = token
        let tmpRoot = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let work = tmpRoot + "/llx-fuzz-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: work) }
        // the watchdog: a case over the timeout gets the stop request Ctrl-C would give
        let timeoutNs = Int64(o.timeout * 1e9)
        let hung = UnsafeMutablePointer<Int64>.allocate(capacity: 2)
        hung.initialize(to: -1)
        (hung + 1).initialize(to: 0)   // the process CPU time at the stop request
        let watchdog = Thread {
            while true {
                usleep(50_000)
                let i = prog[0]
                if prog[1] == 1 && hung.pointee != i
                    && (cpuNow() - prog[4] > timeoutNs || Double(now() - prog[2]) > Double(timeoutNs) * wallFactor) {
                    hung.pointee = i
                    hung[1] = cpuNow()
                    token.cancel()
                }
            }
        }
        watchdog.start()
        let dumpDir = ProcessInfo.processInfo.environment["LLX_FUZZ_DUMP"].flatMap { $0.isEmpty ? nil : $0 }
        for i in o.from..<o.to {
            prog[0] = Int64(i)
            prog[2] = now()
            prog[4] = cpuNow()
            prog[1] = 1
            let c = FuzzCase.make(seed: o.seed, index: i, scripts: o.scripts, corpus: corpus, seeds: seeds)
            // LLX_FUZZ_DUMP=DIR writes each script case as DIR/<index>.llx before it runs (to find
            // which earlier case of a worker left the state a later crash needs)
            if let d = dumpDir, c.kind == .script { try? c.text.write(toFile: "\(d)/\(i).llx", atomically: false, encoding: .utf8) }
            token.reset()
            do {
                let child = try RunScript.child(of: base)
                defer { child.globals.removeAll() }
                child.cancellation = token
                if c.kind == .script {
                    _ = try child.run(c.text, file: "fuzz-case.llx")
                } else {
                    let dir = work + "/c"
                    let path = try c.write(in: dir)
                    defer { try? FileManager.default.removeItem(atPath: dir) }
                    let q = "\"" + path + "\""
                    _ = try child.run(c.entry.replacingOccurrences(of: "\"CASE\"", with: q), file: "fuzz-entry.llx")
                }
            } catch {}
            // the case's end, before the malloc_trim below (whose time is the worker's, not the case's)
            let endCPU = cpuNow(), endWall = now()
            prog[1] = 0
            // Memory a case freed stays in malloc's arenas (one per thread that allocated), so a
            // worker's RSS climbs with the cases it ran, not with what is live; give it back
            // before the supervisor's RSS guard reads it as this case's.
            if i % 16 == 0 || Double(now() - prog[2]) > 0.05e9, rssMB(getpid()) > 512 { Memory.trimFreed() }
            if hung.pointee == Int64(i) {
                // A case that runs past the timeout (a script's own endless loop, a huge print)
                // gets the stop request Ctrl-C gives. Stopping within half a second of CPU time,
                // as Ctrl-C must, is counted but is no finding; stopping later is a hang.
                let secs = Double(endWall - prog[2]) / 1e9, cpu = Double(endCPU - prog[4]) / 1e9
                let after = Double(endCPU - hung[1]) / 1e9
                let what = "ran \(String(format: "%.1f", secs)) s (\(String(format: "%.1f", cpu)) s of CPU), over the \(o.timeout) s timeout; the stop request ended it after \(String(format: "%.2f", after)) s of CPU"
                appendLine(o.findings, "\(i)\t" + (after <= stopLimit ? "stopped: " : "hang: ") + what)
            }
            prog[3] += 1
        }
        return 0
    }

    static func appendLine(_ path: String, _ line: String) {
        guard let h = FileHandle(forWritingAtPath: path) ?? {
            FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)
        }() else { return }
        h.seekToEndOfFile()
        h.write(Data((line + "\n").utf8))
        try? h.close()
    }

    // MARK: the supervisor

    final class Slot {
        let id: Int
        var next: Int
        let end: Int
        var proc: Process?
        var prog: UnsafeMutablePointer<Int64>?
        var errPath: String
        var progPath: String
        var findPath: String
        var doneBefore = 0
        init(id: Int, from: Int, to: Int, dir: String) {
            self.id = id; next = from; end = to
            errPath = dir + "/stderr-\(id)"; progPath = dir + "/progress-\(id)"; findPath = dir + "/findings-\(id)"
        }
    }

    /// What a worker that died said last: from its first runtime-failure line ("Fatal error",
    /// a sanitizer report, "crashed") on, else its last lines (warnings the cases print come first).
    static func errorTail(_ path: String) -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? h.close() }
        let size = h.seekToEndOfFile()
        h.seek(toFileOffset: size > 65536 ? size - 65536 : 0)
        let lines = String(decoding: h.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
            .filter { !$0.hasPrefix("0x") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        let markers = ["Fatal error", "runtime failure", "Sanitizer", "crashed", "Illegal instruction", "Segmentation"]
        if let k = lines.firstIndex(where: { l in markers.contains { l.contains($0) } }) {
            return lines[k...].prefix(6).joined(separator: " | ")
        }
        return lines.suffix(6).joined(separator: " | ")
    }

    /// CPU time (user + system) of a process, ns, from /proc/<pid>/stat; nil when unreadable.
    static func cpuNs(_ pid: Int32) -> Int64? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = s.lastIndex(of: ")") else { return nil }
        let f = s[s.index(after: close)...].split(separator: " ")
        // after the command: state is field 3, utime 14 and stime 15 (1-based)
        guard f.count > 12, let u = Int64(f[11]), let st = Int64(f[12]) else { return nil }
        let hz = Int64(sysconf(Int32(_SC_CLK_TCK)))
        return (u + st) * 1_000_000_000 / max(hz, 1)
    }

    /// How a worker ended, read with waitid(WNOWAIT) (the zombie stays for Foundation to reap):
    /// nil while it runs. Foundation's `Process.isRunning` alone is not enough: under the
    /// AddressSanitizer build a worker that ASan aborted stayed a zombie while `isRunning` kept
    /// returning true, and the run stalled on that case for good (case 208 of seed 301: the
    /// supervisor polled a dead worker until the session's deadline).
    static func ended(_ pid: Int32) -> (signaled: Bool, status: Int32)? {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0,
              info._sifields._sigchld.si_pid == pid else { return nil }
        let code = Int(info.si_code)
        let signaled = code == Int(CLD_KILLED) || code == Int(CLD_DUMPED)
        return (signaled, info._sifields._sigchld.si_status)
    }

    static func rssMB(_ pid: Int32) -> Int {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let f = line.split(separator: " ")
            if f.count >= 2, let kb = Int(f[1]) { return kb / 1024 }
        }
        return 0
    }

    static func supervise(_ opts: Options) -> Int32 {
        var o = opts
        let total = o.scripts + o.files
        let fm = FileManager.default
        // the workers run elsewhere: absolute paths
        let cwd = fm.currentDirectoryPath
        if !o.corpus.hasPrefix("/") { o.corpus = cwd + "/" + o.corpus }
        if !o.out.hasPrefix("/") { o.out = cwd + "/" + o.out }
        guard fm.fileExists(atPath: o.corpus + "/scripts"), fm.fileExists(atPath: o.corpus + "/files") else {
            FileHandle.standardError.write(Data("llx fuzz: no corpus at '\(o.corpus)' (run from the repository root or pass --corpus)\n".utf8))
            return 2
        }
        let corpus = (try? fm.contentsOfDirectory(atPath: o.corpus + "/scripts").sorted().filter { $0.hasSuffix(".llx") }
            .compactMap { try? String(contentsOfFile: o.corpus + "/scripts/" + $0, encoding: .utf8) }) ?? []
        let seeds = (try? FuzzCase.loadSeeds(o.corpus + "/files")) ?? []
        let exe = (try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let dir = NSTemporaryDirectory() + "llx-fuzz-sup-\(getpid())"
        try? fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: dir) }
        let jobs = min(o.jobs, max(1, total))
        var slots: [Slot] = []
        for j in 0..<jobs {
            slots.append(Slot(id: j, from: total * j / jobs, to: total * (j + 1) / jobs, dir: dir))
        }
        var findings: [(Int, String, String)] = []
        var maxRSS = 0
        var restarts = 0
        let t0 = Date()
        var lastReport = 0

        func start(_ s: Slot) {
            guard s.next < s.end else { s.proc = nil; return }
            s.prog = mapProgress(s.progPath, create: true)
            s.prog?[0] = Int64(s.next)
            fm.createFile(atPath: s.errPath, contents: nil)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["fuzz", "--worker", "--scripts", "\(o.scripts)", "--files", "\(o.files)", "--seed", "\(o.seed)",
                           "--from", "\(s.next)", "--to", "\(s.end)", "--timeout", "\(o.timeout)", "--memory", o.memory,
                           "--address-space", "\(o.addressSpaceGB)",
                           "--corpus", o.corpus, "--progress", s.progPath, "--findings", s.findPath]
            // in the supervisor's scratch folder: a case that writes a file writes it there
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            // an AddressSanitizer build reports memory errors; leaks at exit (Foundation's) are not findings
            var env = ProcessInfo.processInfo.environment
            if env["ASAN_OPTIONS"] == nil { env["ASAN_OPTIONS"] = "detect_leaks=0" }
            p.environment = env
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle(forWritingAtPath: s.errPath)
            do { try p.run() } catch {
                FileHandle.standardError.write(Data("llx fuzz: cannot start a worker (\(exe)): \(error)\n".utf8))
                exit(2)
            }
            s.proc = p
        }

        func save(_ index: Int, _ finding: String) {
            let c = FuzzCase.make(seed: o.seed, index: index, scripts: o.scripts, corpus: corpus, seeds: seeds)
            let d = o.out + "/\(c.label)-\(c.hash)"
            do {
                _ = try c.write(in: d)
                try Data((c.entry + "\n").utf8).write(to: URL(fileURLWithPath: d + "/entry.llx"))
                try Data("llx fuzz --seed \(o.seed) --scripts \(o.scripts) --files \(o.files): case \(index)\n\(finding)\n".utf8)
                    .write(to: URL(fileURLWithPath: d + "/finding.txt"))
            } catch {
                FileHandle.standardError.write(Data("llx fuzz: cannot save the reproducer in \(d): \(error)\n".utf8))
            }
            findings.append((index, finding, d))
            print("[\(index)] \(c.label): \(finding)\n  saved in \(d)")
            fflush(stdout)
        }

        var stopped = 0, stoppedExample: (Int, String)? = nil
        func collectHangs(_ s: Slot) {
            guard let text = try? String(contentsOfFile: s.findPath, encoding: .utf8) else { return }
            try? fm.removeItem(atPath: s.findPath)
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "\t", maxSplits: 1)
                guard parts.count == 2, let i = Int(parts[0]) else { continue }
                if parts[1].hasPrefix("stopped: ") { stopped += 1; stoppedExample = (i, String(parts[1])) } else { save(i, String(parts[1])) }
            }
        }

        func doneCount() -> Int { slots.reduce(0) { $0 + $1.doneBefore + Int($1.prog?[3] ?? 0) } }

        for s in slots { start(s) }
        let graceNs = Int64((o.timeout * wallFactor + 5) * 1e9)
        while slots.contains(where: { $0.proc != nil }) {
            usleep(100_000)
            for s in slots {
                guard let p = s.proc, let prog = s.prog else { continue }
                let cur = Int(prog[0])
                // ended: as Foundation saw it, or as waitid sees it when Foundation did not notice
                var end: (signaled: Bool, status: Int32)? = nil
                if !p.isRunning {
                    p.waitUntilExit()
                    end = (p.terminationReason == .uncaughtSignal, p.terminationStatus)
                } else if let e = ended(p.processIdentifier) {
                    end = e
                }
                if let e = end {
                    let signaled = e.signaled, status = e.status
                    collectHangs(s)
                    s.doneBefore += Int(prog[3]); prog[3] = 0
                    let clean = !signaled && status == 0
                    if clean { s.proc = nil; continue }
                    // a worker that ends before it began its first case did not start: no finding
                    if (!signaled && status == 2) || (prog[1] == 0 && prog[3] == 0) {
                        FileHandle.standardError.write(Data("llx fuzz: a worker could not start (\(signaled ? "signal" : "exit status") \(status)): \(errorTail(s.errPath))\n".utf8))
                        for o in slots { if let q = o.proc, q.isRunning, ended(q.processIdentifier) == nil { kill(q.processIdentifier, SIGKILL) } }
                        return 2
                    }
                    let err = errorTail(s.errPath)
                    let how = signaled ? "killed by signal \(status)" : "exit status \(status)"
                    save(cur, "crash: worker \(how): \(err.prefix(600))")
                    restarts += 1
                    s.next = cur + 1
                    start(s)
                    continue
                }
                let rss = rssMB(p.processIdentifier)
                maxRSS = max(maxRSS, rss)
                var why: String? = nil
                let cpuGraceNs = Int64((o.timeout + 5) * 1e9)
                if prog[1] == 1, let cpu = cpuNs(p.processIdentifier), cpu - prog[4] > cpuGraceNs {
                    why = "hang: \(Int(o.timeout + 5)) s of CPU on one case (the stop request did not end it)"
                } else if prog[1] == 1 && now() - prog[2] > graceNs {
                    why = "hang: no end \(Int(o.timeout * wallFactor + 5)) s after the case started (the stop request did not end it)"
                } else if rss > o.rssLimitMB {
                    why = "memory: worker RSS \(rss) MB over the \(o.rssLimitMB) MB limit"
                }
                if let why {
                    kill(p.processIdentifier, SIGKILL)
                    // (not waitUntilExit: it would wait for good where Foundation misses the end)
                    while p.isRunning && ended(p.processIdentifier) == nil { usleep(10_000) }
                    collectHangs(s)
                    s.doneBefore += Int(prog[3]); prog[3] = 0
                    save(cur, why)
                    restarts += 1
                    s.next = cur + 1
                    start(s)
                }
            }
            let done = doneCount()
            if done / o.report > lastReport / o.report {
                lastReport = done
                let el = Date().timeIntervalSince(t0)
                print(String(format: "%d of %d cases, %d findings, %.0f s, %.0f cases/s, worker RSS max %d MB", done, total, findings.count, el, Double(done) / max(el, 1e-9), maxRSS))
                fflush(stdout)
            }
        }
        let el = Date().timeIntervalSince(t0)
        let done = doneCount()
        print(String(format: "llx fuzz: %d scripts and %d files (seed %llu, %d jobs): %d cases done in %.0f s (%.0f cases/s), %d findings, %d worker restarts, worker RSS max %d MB",
                     o.scripts, o.files, o.seed, jobs, done, el, Double(done) / max(el, 1e-9), findings.count, restarts, maxRSS))
        if stopped > 0, let (i, w) = stoppedExample {
            print("  \(stopped) cases ran past the \(o.timeout) s timeout and ended within \(stopLimit) s of CPU at the stop request (not findings; e.g. case \(i): \(w.dropFirst("stopped: ".count)))")
        }
        for (i, f, d) in findings { print("  case \(i): \(f) (\(d))") }
        return findings.isEmpty ? 0 : 1
    }
}
