// Support: shared helpers of the Checkpoint tests (fixture paths, temp folders, hex, python).
import Foundation
import XCTest
import Tensor
import Checkpoint

enum TestPaths {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = repoRoot.appendingPathComponent("Tests/Fixtures/checkpoint")

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    /// A fresh temporary folder, removed at the end of the test.
    static func tempDir(_ test: XCTestCase) throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("llx-ckpt-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// The python of the CI venv (LLX_VENV or .venv), if present.
    static var venvPython: String? {
        let env = ProcessInfo.processInfo.environment
        let venv = env["LLX_VENV"].map { $0.hasPrefix("/") ? $0 : repoRoot.appendingPathComponent($0).path }
            ?? repoRoot.appendingPathComponent(".venv").path
        let py = venv + "/bin/python"
        return FileManager.default.isExecutableFile(atPath: py) ? py : nil
    }

    /// Runs a program, returning (status, stdout+stderr).
    static func run(_ exe: String, _ args: [String], env: [String: String]? = nil) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        if let e = env { p.environment = e }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func readJSON(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw CheckpointError(.format, file: path, "not a JSON object")
    }
    return obj
}

/// Asserts that `body` throws a CheckpointError of `kind` whose text names `file` (and `object`).
func assertCheckpointError(_ kind: CheckpointError.Kind?, file: String, object: String? = nil,
                           line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected an error for \(file)", line: line)
    } catch let e as CheckpointError {
        if let k = kind { XCTAssertEqual(e.kind, k, "\(e)", line: line) }
        XCTAssertTrue(e.description.contains(file), "error does not name the file: \(e)", line: line)
        if let o = object { XCTAssertTrue(e.description.contains(o), "error does not name '\(o)': \(e)", line: line) }
    } catch {
        XCTFail("unexpected error type: \(error)", line: line)
    }
}

/// Tensors of every dtype with awkward values, for round trips.
func sampleTensors() -> [(String, Tensor)] {
    let specials: [Float] = [0, -0.0, 1, -2.5, 65504, 1e-7, .infinity, -.infinity, .nan, 3.0e38, -Float.leastNormalMagnitude, Float.leastNonzeroMagnitude]
    var out: [(String, Tensor)] = []
    out.append(("model.embed_tokens.weight", Tensor(shape: [3, 4], floats: (0..<12).map { Float($0) * 0.37 - 2 })))
    out.append(("specials.f32", Tensor(shape: [specials.count], floats: specials)))
    out.append(("specials.f16", Tensor(shape: [specials.count], floats: specials, dtype: .f16)))
    out.append(("specials.bf16", Tensor(shape: [specials.count], floats: specials, dtype: .bf16)))
    out.append(("ids.i32", Tensor(shape: [2, 2], ints: [1, -2, Int(Int32.max), Int(Int32.min)], dtype: .i32)))
    out.append(("ids.i64", Tensor(shape: [3], ints: [128000, -1, 9007199254740993], dtype: .i64)))
    out.append(("codes.u8", Tensor(shape: [5], ints: [0, 1, 127, 128, 255], dtype: .u8)))
    out.append(("scalar", Tensor(shape: [], floats: [3.25])))
    out.append(("empty", Tensor(zeros: [0, 4])))
    // A transposed (non-contiguous) view: written in row-major order of its shape.
    let base = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
    out.append(("transposed", Tensor(storage: base.storage, dtype: .f32, shape: [3, 2], strides: [1, 3])))
    return out
}
