// PTY: runs the built `llx` in a pseudo-terminal (forkpty), so tests can type at it as a user
// would (keys, Tab, Ctrl-C) and read what the terminal shows.
import Foundation
import Glibc

final class PTYProcess {
    let pid: pid_t
    let master: Int32
    private(set) var transcript = ""
    private var mark: String.Index

    /// Starts `binary` with `args` and the given extra environment in a new pseudo-terminal.
    init(binary: String, args: [String] = [], env: [String: String]) throws {
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        let argv: [UnsafeMutablePointer<CChar>?] = ([binary] + args).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        var m: Int32 = -1
        var ws = winsize(ws_row: 40, ws_col: 200, ws_xpixel: 0, ws_ypixel: 0)
        let p = forkpty(&m, nil, nil, &ws)
        if p == 0 {
            execve(binary, argv, envp)
            _exit(127)
        }
        guard p > 0 else { throw NSError(domain: "pty", code: Int(errno)) }
        pid = p; master = m
        mark = transcript.startIndex
        for a in argv { free(a) }
        for e in envp { free(e) }
    }

    func send(_ s: String) {
        let bytes = Array(s.utf8)
        _ = bytes.withUnsafeBufferPointer { write(master, $0.baseAddress, bytes.count) }
    }

    /// Reads what is available within `timeout` seconds.
    @discardableResult
    func pump(_ timeout: Double) -> Bool {
        var fds = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        let r = poll(&fds, 1, Int32(timeout * 1000))
        guard r > 0 else { return false }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = read(master, &buf, buf.count)
        guard n > 0 else { return false }
        transcript += String(decoding: buf[0..<n], as: UTF8.self)
        return true
    }

    /// Waits until `text` appears after the previous match; true when it did in time.
    func expect(_ text: String, timeout: Double = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let r = transcript.range(of: text, range: mark..<transcript.endIndex) {
                mark = r.upperBound
                return true
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            if !pump(min(left, 0.5)) {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid { pump(0.1); return transcript.range(of: text, range: mark..<transcript.endIndex) != nil }
            }
        }
    }

    /// Waits for the process to end; its exit status, or nil on timeout.
    func waitExit(timeout: Double = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while Date() < deadline {
            pump(0.1)
            if waitpid(pid, &status, WNOHANG) == pid { return (status >> 8) & 0xff }
        }
        return nil
    }

    func close() {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == 0 {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
        Glibc.close(master)
    }
}
