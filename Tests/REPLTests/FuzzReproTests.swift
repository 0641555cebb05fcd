// FuzzReproTests: every finding of the fuzzing harness (scripts/fuzz.sh), kept under
// Tests/Fuzz/crashes/<kind>-<hash>/ as `entry.llx` (one llx entry, "CASE" standing for the case
// file or folder) and `case*` (the script or the mutated file), runs through the release binary
// with commands piped in: it must end by itself within 10 s with status 0 or 1 (an error is
// fine), never by a signal or a Swift runtime failure. `finding.txt` says what it did when found.
import XCTest
import Foundation

final class FuzzReproTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let crashes = root.appendingPathComponent("Tests/Fuzz/crashes")

    func testEveryReproducerEndsCleanly() throws {
        // LLX_BIN: another build of llx (the AddressSanitizer one: .build-asan/debug/llx)
        let binary = ProcessInfo.processInfo.environment["LLX_BIN"].flatMap { $0.isEmpty ? nil : $0 }
            ?? Self.root.appendingPathComponent(".build/release/llx").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("build llx first: swift build -c release (\(binary) missing)")
        }
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: Self.crashes.path).sorted()) ?? []
        XCTAssertFalse(dirs.isEmpty, "Tests/Fuzz/crashes holds the reproducers")
        for name in dirs {
            let dir = Self.crashes.appendingPathComponent(name)
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            guard let c = files.sorted().first(where: { $0.hasPrefix("case") }) else { XCTFail("\(name): no case file"); continue }
            let casePath = dir.appendingPathComponent(c).path
            let entry = try String(contentsOf: dir.appendingPathComponent("entry.llx"), encoding: .utf8)
                .replacingOccurrences(of: "\"CASE\"", with: "\"\(casePath)\"")
            let (status, signaled, err) = try run(binary, stdin: entry, timeout: 10)
            XCTAssertFalse(signaled, "\(name): killed by signal \(status)\n\(err.prefix(800))")
            XCTAssertTrue(status == 0 || status == 1, "\(name): exit status \(status)\n\(err.prefix(800))")
            XCTAssertFalse(err.contains("Fatal error") || err.contains("runtime failure"), "\(name): \(err.prefix(800))")
        }
    }

    /// Runs the binary with `stdin`; kills it after `timeout` seconds (then reported as signaled).
    func run(_ binary: String, stdin: String, timeout: Double) throws -> (Int32, Bool, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        var env = ProcessInfo.processInfo.environment
        env["LLX_MEMORY_LIMIT"] = "2G"
        p.environment = env
        let inPipe = Pipe(), errPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = FileHandle.nullDevice
        p.standardError = errPipe
        try p.run()
        inPipe.fileHandleForWriting.write(Data(stdin.utf8))
        try inPipe.fileHandleForWriting.close()
        var errData = Data()
        let reader = Thread { errData = errPipe.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { p.terminate(); p.waitUntilExit(); return (-1, true, "timed out after \(timeout) s") }
        p.waitUntilExit()
        while !reader.isFinished { usleep(5_000) }
        return (p.terminationStatus, p.terminationReason == .uncaughtSignal, String(decoding: errData, as: UTF8.self))
    }
}
