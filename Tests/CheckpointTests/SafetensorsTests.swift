// SafetensorsTests: reading files written by the python `safetensors` package and by
// huggingface_hub (sharded), round trips, and rejection of corrupted files.
import Foundation
import XCTest
import Tensor
import Checkpoint

final class SafetensorsTests: XCTestCase {
    func checkExpected(_ json: [String: Any], read: (String) throws -> Tensor, names: [String]) throws {
        let tensors = try XCTUnwrap(json["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(Set(names), Set(tensors.keys))
        XCTAssertEqual(names.count, tensors.count)
        for (name, e) in tensors {
            let t = try read(name)
            XCTAssertEqual(t.dtype.rawValue, e["dtype"] as? String, name)
            XCTAssertEqual(t.shape, e["shape"] as? [Int], name)
            XCTAssertEqual(hex(t.rawBytes()), e["hex"] as? String, name)
        }
    }

    func testReadsPythonSafetensors() throws {
        let path = TestPaths.fixture("st_basic.safetensors")
        let f = try SafetensorsFile.open(path)
        let json = try readJSON(TestPaths.fixture("st_basic.json"))
        XCTAssertEqual(f.metadata, json["metadata"] as? [String: String])
        try checkExpected(json, read: { try f.tensor($0, narrow: true) }, names: f.names)
        XCTAssertEqual(f.info("values.f64")?.dtype, .f32)
        XCTAssertEqual(f.info("model.layers.0.mlp.up_proj.weight")?.dtype, .bf16)
        XCTAssertEqual(f.info("model.layers.0.mlp.up_proj.weight")?.shape, [4, 2])
        XCTAssertNil(f.info("nope"))
        // F64 is refused, naming the file and the tensor (narrowing would make -1e300 -inf and
        // 1e-40 a subnormal), unless narrow: true asks for the f32 values knowingly.
        assertCheckpointError(.dtype, file: path, object: "values.f64") { _ = try f.tensor("values.f64") }
        XCTAssertEqual(try f.tensor("values.f64", narrow: true).floats(), [Float(0.1), Float(-1e300), 3.5, Float(1e-40)])
        assertCheckpointError(.missing, file: path, object: "nope") { _ = try f.tensor("nope") }
    }

    func testReadsShardedCheckpoint() throws {
        let dir = TestPaths.fixture("sharded")
        let ck = try SafetensorsCheckpoint.open(dir)
        XCTAssertEqual(ck.files.count, 3)
        try checkExpected(try readJSON(TestPaths.fixture("sharded.json")), read: { try ck.tensor($0) }, names: ck.names)
        XCTAssertEqual(ck.info("model.norm.weight")?.dtype, .bf16)
        // The index file itself and a single shard also open.
        XCTAssertEqual(try SafetensorsCheckpoint.open(dir + "/model.safetensors.index.json").names.count, 5)
        XCTAssertEqual(try SafetensorsCheckpoint.open(dir + "/model-00001-of-00003.safetensors").names,
                       ["model.layers.0.mlp.down_proj.weight"])
    }

    func testShardedIndexNamingAMissingTensorFails() throws {
        let dir = try TestPaths.tempDir(self)
        for f in try FileManager.default.contentsOfDirectory(atPath: TestPaths.fixture("sharded")) {
            try FileManager.default.copyItem(atPath: TestPaths.fixture("sharded/\(f)"), toPath: "\(dir)/\(f)")
        }
        let index = "\(dir)/model.safetensors.index.json"
        var text = try String(contentsOfFile: index, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"lm_head.weight\": \"model-00003", with: "\"lm_head.weight\": \"model-00001")
        try text.write(toFile: index, atomically: true, encoding: .utf8)
        assertCheckpointError(.missing, file: "model-00001-of-00003.safetensors", object: "lm_head.weight") {
            _ = try SafetensorsCheckpoint.open(dir)
        }
        try FileManager.default.removeItem(atPath: "\(dir)/model-00002-of-00003.safetensors")
        assertCheckpointError(.io, file: "model-00002-of-00003.safetensors") { _ = try SafetensorsCheckpoint.open(dir) }
    }

    func testRoundTripIsBitIdentical() throws {
        let dir = try TestPaths.tempDir(self)
        let path = dir + "/rt.safetensors"
        let tensors = sampleTensors()
        try SafetensorsFile.write(tensors, metadata: ["format": "pt", "x": "a\"b\\c\n"], to: path)
        let f = try SafetensorsFile.open(path)
        XCTAssertEqual(f.names, tensors.map { $0.0 })
        XCTAssertEqual(f.metadata, ["format": "pt", "x": "a\"b\\c\n"])
        for (name, t) in tensors {
            let r = try f.tensor(name)
            XCTAssertEqual(r.dtype, t.dtype, name)
            XCTAssertEqual(r.shape, t.shape, name)
            XCTAssertEqual(r.rawBytes(), t.rawBytes(), name)
        }
        XCTAssertEqual(try f.tensor("transposed").floats(), [1, 4, 2, 5, 3, 6])
        // Overwriting is atomic and leaves no temporary file behind.
        try SafetensorsFile.write([("a", Tensor(shape: [1], floats: [1]))], metadata: nil, to: path)
        XCTAssertEqual(try SafetensorsFile.open(path).names, ["a"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["rt.safetensors"])
        assertCheckpointError(.argument, file: path, object: "a") {
            try SafetensorsFile.write([("a", Tensor(zeros: [1])), ("a", Tensor(zeros: [1]))], metadata: nil, to: path)
        }
        assertCheckpointError(.io, file: dir + "/no/such/dir/x.safetensors") {
            try SafetensorsFile.write([("a", Tensor(zeros: [1]))], metadata: nil, to: dir + "/no/such/dir/x.safetensors")
        }
    }

    /// Files llx writes load in the python `safetensors` package (skipped when it is not installed).
    func testPythonReadsWhatLlxWrites() throws {
        let env = ProcessInfo.processInfo.environment
        let candidates = [env["LLX_REF_VENV"].map { $0 + "/bin/python" }, TestPaths.venvPython,
                          TestPaths.repoRoot.appendingPathComponent(".venv-ref/bin/python").path].compactMap { $0 }
        var python: String?
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) {
            if (try? TestPaths.run(c, ["-c", "import safetensors, numpy"]))?.0 == 0 { python = c; break }
        }
        guard let py = python else { throw XCTSkip("no python with safetensors + numpy") }
        let dir = try TestPaths.tempDir(self)
        let path = dir + "/w.safetensors"
        let tensors = sampleTensors().filter { $0.1.dtype != .bf16 }  // numpy has no bfloat16
        try SafetensorsFile.write(tensors, metadata: ["format": "np"], to: path)
        let script = """
        import sys, json
        from safetensors.numpy import load_file
        from safetensors import safe_open
        d = load_file(sys.argv[1])
        with safe_open(sys.argv[1], "np") as f: meta = f.metadata()
        print(json.dumps({"meta": meta, "t": {k: [str(v.dtype), list(v.shape), v.tobytes().hex()] for k, v in d.items()}}))
        """
        let (status, out) = try TestPaths.run(py, ["-c", script, path])
        XCTAssertEqual(status, 0, out)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        XCTAssertEqual(obj["meta"] as? [String: String], ["format": "np"])
        let t = try XCTUnwrap(obj["t"] as? [String: [Any]])
        let npName: [DType: String] = [.f32: "float32", .f16: "float16", .i32: "int32", .i64: "int64", .u8: "uint8"]
        for (name, tensor) in tensors {
            let e = try XCTUnwrap(t[name], name)
            XCTAssertEqual(e[0] as? String, npName[tensor.dtype], name)
            XCTAssertEqual(e[1] as? [Int], tensor.shape, name)
            XCTAssertEqual(e[2] as? String, hex(tensor.rawBytes()), name)
        }
    }

    // MARK: corrupted files

    func craft(_ dir: String, _ name: String, header: String, data: [UInt8], lengthOverride: UInt64? = nil) throws -> String {
        var bytes: [UInt8] = []
        let h = Array(header.utf8)
        var n = (lengthOverride ?? UInt64(h.count)).littleEndian
        withUnsafeBytes(of: &n) { bytes.append(contentsOf: $0) }
        bytes += h + data
        let path = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testRejectsCorruptedFiles() throws {
        let dir = try TestPaths.tempDir(self)
        let good = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixture("st_basic.safetensors")))
        // Truncated: the data buffer is shorter than the header says.
        let trunc = dir + "/trunc.safetensors"
        try good.prefix(good.count - 5).write(to: URL(fileURLWithPath: trunc))
        assertCheckpointError(.corrupt, file: trunc) { _ = try SafetensorsFile.open(trunc) }
        // Truncated inside the header.
        let trunc2 = dir + "/trunc2.safetensors"
        try good.prefix(40).write(to: URL(fileURLWithPath: trunc2))
        assertCheckpointError(.corrupt, file: trunc2) { _ = try SafetensorsFile.open(trunc2) }
        // Empty and tiny files.
        let empty = try craft(dir, "empty.safetensors", header: "", data: [])
        try Data().write(to: URL(fileURLWithPath: empty))
        assertCheckpointError(.corrupt, file: empty) { _ = try SafetensorsFile.open(empty) }
        // Foreign file (text).
        let foreign = dir + "/foreign.safetensors"
        try "hello, this is not a safetensors file at all".write(toFile: foreign, atomically: true, encoding: .utf8)
        assertCheckpointError(nil, file: foreign) { _ = try SafetensorsFile.open(foreign) }
        // Bad JSON.
        let badJSON = try craft(dir, "badjson.safetensors", header: "{\"a\": {\"dtype\": \"F32\",", data: [])
        assertCheckpointError(.format, file: badJSON) { _ = try SafetensorsFile.open(badJSON) }
        // Unknown dtype.
        let badDT = try craft(dir, "baddtype.safetensors",
                              header: #"{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        assertCheckpointError(.dtype, file: badDT, object: "w") { _ = try SafetensorsFile.open(badDT) }
        // Overlapping offsets.
        let overlap = try craft(dir, "overlap.safetensors",
                                header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                                data: [UInt8](repeating: 0, count: 12))
        assertCheckpointError(.corrupt, file: overlap, object: "b") { _ = try SafetensorsFile.open(overlap) }
        // Out of range.
        let oor = try craft(dir, "oor.safetensors",
                            header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [UInt8](repeating: 0, count: 8))
        assertCheckpointError(.corrupt, file: oor, object: "a") { _ = try SafetensorsFile.open(oor) }
        // Shape and byte range disagree.
        let size = try craft(dir, "size.safetensors",
                             header: #"{"a":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))
        assertCheckpointError(.corrupt, file: size, object: "a") { _ = try SafetensorsFile.open(size) }
        // Header length far beyond the file.
        let huge = try craft(dir, "huge.safetensors", header: "{}", data: [], lengthOverride: UInt64.max)
        assertCheckpointError(.corrupt, file: huge) { _ = try SafetensorsFile.open(huge) }
        // Negative shape, missing offsets, bad metadata.
        let neg = try craft(dir, "neg.safetensors", header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#, data: [])
        assertCheckpointError(.format, file: neg, object: "a") { _ = try SafetensorsFile.open(neg) }
        let noOff = try craft(dir, "nooff.safetensors", header: #"{"a":{"dtype":"F32","shape":[1]}}"#, data: [0, 0, 0, 0])
        assertCheckpointError(.format, file: noOff, object: "a") { _ = try SafetensorsFile.open(noOff) }
        let meta = try craft(dir, "meta.safetensors", header: #"{"__metadata__":{"a":1}}"#, data: [])
        assertCheckpointError(.format, file: meta) { _ = try SafetensorsFile.open(meta) }
        // Missing file and a folder.
        assertCheckpointError(.io, file: dir + "/absent.safetensors") { _ = try SafetensorsFile.open(dir + "/absent.safetensors") }
        assertCheckpointError(.io, file: dir) { _ = try SafetensorsFile.open(dir) }
        // Valid crafted file (sanity check of the crafting).
        let ok = try craft(dir, "ok.safetensors", header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 128, 63])
        XCTAssertEqual(try SafetensorsFile.open(ok).tensor("a").floats(), [1])
    }
}
