// CheckpointTests: HDF5 checkpoints: bit-identical round trips of every dtype and kind,
// attributes, h5.ls/read/write, files written by h5py load, files llx writes pass h5py.
import Foundation
import XCTest
import Tensor
import Checkpoint

func bits(_ d: [Double]) -> [UInt64] { d.map { $0.bitPattern } }

func assertSameContent(_ a: CheckpointContent, _ b: CheckpointContent, line: UInt = #line) {
    XCTAssertEqual(a.kind, b.kind, line: line)
    XCTAssertEqual(a.attributes, b.attributes, line: line)
    XCTAssertEqual(a.tensors.map { $0.0 }, b.tensors.map { $0.0 }, "tensor order", line: line)
    for ((n, x), (_, y)) in zip(a.tensors, b.tensors) {
        XCTAssertEqual(x.dtype, y.dtype, n, line: line)
        XCTAssertEqual(x.shape, y.shape, n, line: line)
        XCTAssertEqual(x.rawBytes(), y.rawBytes(), n, line: line)
    }
    XCTAssertEqual(a.doubles.map { $0.0 }, b.doubles.map { $0.0 }, line: line)
    for ((n, x), (_, y)) in zip(a.doubles, b.doubles) { XCTAssertEqual(bits(x), bits(y), n, line: line) }
    XCTAssertEqual(a.datasetAttributes, b.datasetAttributes, line: line)
    XCTAssertEqual(a.groupAttributes, b.groupAttributes, line: line)
}

/// A model-like checkpoint exercising every feature of the schema.
func sampleContent(kind: String = "model") throws -> CheckpointContent {
    var c = CheckpointContent(kind: kind)
    c.attributes = [
        "config": try AttrValue.json(["hidden_size": 8, "rope_theta": 500000.0, "rope_scaling": ["rope_type": "llama3", "factor": 8]] as [String: Any]),
        "step": .int(42), "lr": .double(5e-5), "rng_state": .ints([Int(bitPattern: 0xDEAD_BEEF_CAFE_F00D), -1, 0]),
        "betas": .doubles([0.9, 0.999]), "targets": .strings(["q_proj", "v_proj", "ünïcödé ✓"]),
        "empty_ints": .ints([]), "empty_strings": .strings([]), "note": .string(""),
    ]
    // Deliberately not in name order, with groups interleaved.
    c.tensors = sampleTensors().map { ("tensors/" + $0.0, $0.1) }
    c.tensors.insert(("optimizer/exp_avg/model.embed_tokens.weight", Tensor(shape: [3, 4], floats: (0..<12).map { Float($0) * 1e-3 })), at: 2)
    c.tensors.append(("optimizer/exp_avg_sq/model.embed_tokens.weight", Tensor(shape: [3, 4], floats: (0..<12).map { Float($0) * 1e-6 })))
    c.tensors.append(("a_first_by_name", Tensor(shape: [2], floats: [1, 2], dtype: .bf16)))
    // NF4 state (sizes consistent: 8x16 values, blocksize 64 -> 2 blocks).
    let base = "tensors/model.layers.0.self_attn.q_proj.weight"
    c.tensors.append((base + ".codes", Tensor(shape: [64, 1], ints: (0..<64).map { ($0 * 37) & 255 }, dtype: .u8)))
    c.tensors.append((base + ".absmax", Tensor(shape: [2], floats: [0.5, 1.25])))
    c.tensors.append(("tensors/model.layers.0.self_attn.q_proj.lora_A.weight", Tensor(shape: [2, 16], floats: (0..<32).map { Float($0) / 7 })))
    c.datasetAttributes[base + ".codes"] = ["quant_type": .string("nf4"), "blocksize": .int(64), "shape": .ints([8, 16])]
    c.doubles = [("history/loss", [2.5, 2.25, .nan, -0.0, 1e-300]), ("history/lr", []), ("history/step", [1, 2, 3])]
    c.groupAttributes = ["optimizer": ["name": .string("adamw"), "eps": .double(1e-8)], "history": ["every": .int(1)]]
    return c
}

final class CheckpointTests: XCTestCase {
    func testRoundTripEveryDtypeAndKindIsBitIdentical() throws {
        let dir = try TestPaths.tempDir(self)
        for kind in ["model", "record", "eval_result", "training_state", "custom_kind"] {
            let path = "\(dir)/\(kind).h5"
            let c = try sampleContent(kind: kind)
            try Checkpoint.save(c, to: path)
            assertSameContent(try Checkpoint.load(path), c)
        }
        // The single-tensor kind.
        for (name, t) in sampleTensors() {
            let path = "\(dir)/t.h5"
            try Checkpoint.save(CheckpointContent(kind: "tensor", tensors: [("tensor", t)]), to: path)
            let back = try XCTUnwrap(try Checkpoint.load(path).tensor("tensor"))
            XCTAssertEqual(back.dtype, t.dtype, name)
            XCTAssertEqual(back.shape, t.shape, name)
            XCTAssertEqual(back.rawBytes(), t.rawBytes(), name)
        }
        // Only the final files remain (no temporary files).
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(),
                       ["custom_kind.h5", "eval_result.h5", "model.h5", "record.h5", "t.h5", "training_state.h5"])
    }

    func testReaderStreamsTensorsAndReportsInfo() throws {
        let path = try TestPaths.tempDir(self) + "/m.h5"
        let c = try sampleContent()
        try Checkpoint.save(c, to: path)
        let r = try Checkpoint.open(path)
        XCTAssertEqual(r.kind, "model")
        XCTAssertEqual(r.formatVersion, 1)
        XCTAssertEqual(r.names, c.tensors.map { $0.0 } + c.doubles.map { $0.0 })
        XCTAssertEqual(try r.info("tensors/specials.bf16").dtype, "bf16")
        XCTAssertEqual(try r.info("tensors/specials.f16").dtype, "f16")
        XCTAssertEqual(try r.info("history/loss").dtype, "f64")
        XCTAssertEqual(try r.info("tensors/ids.i32").shape, [2, 2])
        XCTAssertEqual(try r.tensor("tensors/ids.i64").ints(), [128000, -1, 9007199254740993])
        XCTAssertEqual(r.attributes["step"], .int(42))
        let cfg = try XCTUnwrap(r.attributes["config"]?.jsonObject() as? [String: Any])
        XCTAssertEqual(cfg["rope_theta"] as? Double, 500000)
        assertCheckpointError(.missing, file: path, object: "nope") { _ = try r.tensor("nope") }
    }

    func testSaveRejectsBadContentAndKeepsOldFile() throws {
        let dir = try TestPaths.tempDir(self)
        let path = dir + "/x.h5"
        let good = CheckpointContent(kind: "tensor", tensors: [("tensor", Tensor(shape: [2], floats: [1, 2]))])
        try Checkpoint.save(good, to: path)
        let bad: [CheckpointContent] = [
            CheckpointContent(kind: "record", tensors: [("a", Tensor(zeros: [1])), ("a", Tensor(zeros: [1]))]),
            CheckpointContent(kind: "record", tensors: [("a", Tensor(zeros: [1])), ("a/b", Tensor(zeros: [1]))]),
            CheckpointContent(kind: "record", attributes: ["format": .string("x")]),
            CheckpointContent(kind: "record", tensors: [("/abs", Tensor(zeros: [1]))]),
            CheckpointContent(kind: "record", tensors: [("../up", Tensor(zeros: [1]))]),
            CheckpointContent(kind: ""),
        ]
        for c in bad { assertCheckpointError(.argument, file: path) { try Checkpoint.save(c, to: path) } }
        assertSameContent(try Checkpoint.load(path), good)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["x.h5"])
        assertCheckpointError(.io, file: dir + "/missing/x.h5") { try Checkpoint.save(good, to: dir + "/missing/x.h5") }
    }

    func testLargeAttributeAndManyNames() throws {
        // dataset_order for thousands of long names exceeds HDF5's 64 KiB compact attribute limit.
        let path = try TestPaths.tempDir(self) + "/many.h5"
        var c = CheckpointContent(kind: "record")
        for i in 0..<1500 { c.tensors.append(("tensors/model.layers.\(i).self_attn.q_proj.lora_A.weight.with.a.long.suffix", Tensor(shape: [1], floats: [Float(i)]))) }
        c.attributes["big"] = .string(String(repeating: "x", count: 100_000))
        var t0 = Date()
        try Checkpoint.save(c, to: path)
        print("save of 1500 datasets: \(Date().timeIntervalSince(t0)) s")
        t0 = Date()
        let back = try Checkpoint.load(path)
        print("load of 1500 datasets: \(Date().timeIntervalSince(t0)) s")
        XCTAssertEqual(back.tensors.map { $0.0 }, c.tensors.map { $0.0 })
        XCTAssertEqual(back.attributes["big"], c.attributes["big"])
    }

    func testLoadsCheckpointWrittenByH5py() throws {
        let path = TestPaths.fixture("h5py_checkpoint.h5")
        let json = try readJSON(TestPaths.fixture("h5py_checkpoint.json"))
        let c = try Checkpoint.load(path)
        XCTAssertEqual(c.kind, "model")
        let attrs = try XCTUnwrap(json["attributes"] as? [String: Any])
        XCTAssertEqual(c.attributes["config"]?.stringValue, attrs["config"] as? String)
        XCTAssertEqual(c.attributes["step"], .int(12))
        XCTAssertEqual(c.attributes["lr"], .double(5e-5))
        XCTAssertEqual(c.attributes["rng_state"], .ints([1, 2, -3]))
        XCTAssertEqual(c.attributes["targets"], .strings(["q_proj", "v_proj"]))
        let tensors = try XCTUnwrap(json["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(Set(c.tensors.map { $0.0 }), Set(tensors.keys))
        // Without dataset_order, datasets come in HDF5 name order.
        XCTAssertEqual(try Checkpoint.open(path).names, (c.tensors.map { $0.0 } + c.doubles.map { $0.0 }).sorted())
        for (name, t) in c.tensors {
            let e = try XCTUnwrap(tensors[name])
            XCTAssertEqual(t.dtype.rawValue, e["dtype"] as? String, name)
            XCTAssertEqual(t.shape, e["shape"] as? [Int], name)
            XCTAssertEqual(hex(t.rawBytes()), e["hex"] as? String, name)
        }
        let doubles = try XCTUnwrap(json["doubles"] as? [String: String])
        for (name, v) in c.doubles {
            let raw = v.withUnsafeBytes { Array($0) }
            XCTAssertEqual(hex(raw), doubles[name], name)
        }
        let codes = "tensors/model.layers.0.self_attn.v_proj.weight.codes"
        XCTAssertEqual(c.datasetAttributes[codes]?["shape"], .ints([8, 16]))
        XCTAssertEqual(c.datasetAttributes[codes]?["quant_type"], .string("nf4"))
        XCTAssertEqual(c.groupAttributes["optimizer"]?["betas"], .doubles([0.9, 0.999]))
        XCTAssertNil(c.datasetAttributes["tensors/lm_head.weight"], "the bf16 tag is not a user attribute")
    }

    func testH5LsReadWrite() throws {
        let plain = TestPaths.fixture("h5py_plain.h5")
        let ls = try H5.ls(plain)
        XCTAssertEqual(ls, [
            H5Entry(name: "/big_endian", dtype: "f32", shape: [2]),
            H5Entry(name: "/grp/ids", dtype: "i16", shape: [3]),
            H5Entry(name: "/grp/tokens", dtype: "i64", shape: [2]),
            H5Entry(name: "/half", dtype: "f16", shape: [2]),
            H5Entry(name: "/names", dtype: "str", shape: [2]),
            H5Entry(name: "/x", dtype: "f64", shape: [2, 3]),
        ])
        XCTAssertEqual(try H5.read(plain, "/big_endian").floats(), [1, 2])
        let ids = try H5.read(plain, "/grp/ids")
        XCTAssertEqual(ids.dtype, .i32)
        XCTAssertEqual(ids.ints(), [5, -6, 7])
        let tokens = try H5.read(plain, "grp/tokens")
        XCTAssertEqual(tokens.dtype, .i64)
        XCTAssertEqual(tokens.ints(), [128000, 9906])
        XCTAssertEqual(try H5.read(plain, "/half").dtype, .f16)
        XCTAssertEqual(try H5.read(plain, "/half").floats(), [1.5, -0.25])
        // float64 is refused unless narrowing is asked for (issue 14: never narrowed silently)
        assertCheckpointError(.dtype, file: plain, object: "/x") { _ = try H5.read(plain, "/x") }
        let x = try H5.read(plain, "/x", narrow: true)
        XCTAssertEqual(x.dtype, .f32)
        XCTAssertEqual(x.floats(), (0..<6).map { Float(Double($0) / 3) })
        XCTAssertEqual(try H5.readDoubles(plain, "/x").values, (0..<6).map { Double($0) / 3 })
        assertCheckpointError(.dtype, file: plain, object: "/names") { _ = try H5.read(plain, "/names") }
        assertCheckpointError(.missing, file: plain, object: "/nope") { _ = try H5.read(plain, "/nope") }
        assertCheckpointError(.missing, file: plain, object: "/grp") { _ = try H5.read(plain, "/grp") }

        // write: creates, adds, replaces; into an llx checkpoint too (load still works).
        let dir = try TestPaths.tempDir(self)
        let path = dir + "/w.h5"
        try H5.write(path, "/a", Tensor(shape: [2], floats: [1, 2]))
        try H5.write(path, "/g/ids", Tensor(shape: [3], ints: [7, 8, 9], dtype: .i64))
        try H5.write(path, "/a", Tensor(shape: [1, 2], floats: [3, 4], dtype: .bf16))
        XCTAssertEqual(try H5.ls(path), [H5Entry(name: "/a", dtype: "bf16", shape: [1, 2]), H5Entry(name: "/g/ids", dtype: "i64", shape: [3])])
        XCTAssertEqual(try H5.read(path, "/a").floats(), [3, 4])
        XCTAssertEqual(try H5.read(path, "/g/ids").ints(), [7, 8, 9])
        assertCheckpointError(.argument, file: path) { try H5.write(path, "/g", Tensor(zeros: [1])) }
        let ck = dir + "/ck.h5"
        let c = try sampleContent()
        try Checkpoint.save(c, to: ck)
        try H5.write(ck, "/extra/ids", Tensor(shape: [2], ints: [1, 2], dtype: .i32))
        let back = try Checkpoint.load(ck)
        XCTAssertEqual(back.tensors.map { $0.0 }.last, "extra/ids")
        XCTAssertEqual(back.tensors.count, c.tensors.count + 1)
        // Adding to a file written by h5py keeps its datasets.
        let copy = dir + "/plain.h5"
        try FileManager.default.copyItem(atPath: plain, toPath: copy)
        try H5.write(copy, "/added", Tensor(shape: [2], ints: [3, 4], dtype: .u8))
        XCTAssertEqual(try H5.ls(copy).map { $0.name }, ["/added"] + ls.map { $0.name })
        XCTAssertEqual(try H5.readDoubles(copy, "/x").values, (0..<6).map { Double($0) / 3 })
        XCTAssertEqual(try H5.read(copy, "/added").ints(), [3, 4])
        // A foreign file is reported and left untouched.
        let foreign = dir + "/foreign.h5"
        try "not hdf5".write(toFile: foreign, atomically: true, encoding: .utf8)
        assertCheckpointError(.format, file: foreign) { try H5.write(foreign, "/a", Tensor(zeros: [1])) }
        XCTAssertEqual(try String(contentsOfFile: foreign, encoding: .utf8), "not hdf5")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["ck.h5", "foreign.h5", "plain.h5", "w.h5"])
    }

    /// Files llx writes open in h5py with the documented names, dtypes and values.
    func testH5pyReadsWhatLlxWrites() throws {
        guard let py = TestPaths.venvPython else { throw XCTSkip("no python in LLX_VENV / .venv") }
        let path = try TestPaths.tempDir(self) + "/m.h5"
        let c = try sampleContent()
        try Checkpoint.save(c, to: path)
        let script = TestPaths.repoRoot.appendingPathComponent("scripts/check_h5py.py").path
        let (status, out) = try TestPaths.run(py, [script, path])
        XCTAssertEqual(status, 0, out)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], out)
        let attrs = try XCTUnwrap(obj["attributes"] as? [String: Any])
        XCTAssertEqual(attrs["format"] as? String, "llx")
        XCTAssertEqual(attrs["format_version"] as? Int, 1)
        XCTAssertEqual(attrs["kind"] as? String, "model")
        XCTAssertEqual(attrs["step"] as? Int, 42)
        XCTAssertEqual(attrs["targets"] as? [String], ["q_proj", "v_proj", "ünïcödé ✓"])
        XCTAssertEqual(attrs["rng_state"] as? [Int], [Int(bitPattern: 0xDEAD_BEEF_CAFE_F00D), -1, 0])
        XCTAssertEqual(attrs["config"] as? String, c.attributes["config"]?.stringValue)
        XCTAssertEqual(attrs["dataset_order"] as? [String], c.tensors.map { $0.0 } + c.doubles.map { $0.0 })
        let ds = try XCTUnwrap(obj["datasets"] as? [String: [String: Any]])
        XCTAssertEqual(Set(ds.keys), Set(c.tensors.map { $0.0 } + c.doubles.map { $0.0 }))
        let numpy: [DType: String] = [.f32: "float32", .f16: "float16", .bf16: "uint16", .i32: "int32", .i64: "int64", .u8: "uint8"]
        for (name, t) in c.tensors {
            let e = try XCTUnwrap(ds[name], name)
            XCTAssertEqual(e["numpy"] as? String, numpy[t.dtype], name)
            XCTAssertEqual(e["llx"] as? String, t.dtype.rawValue, name)
            XCTAssertEqual(e["shape"] as? [Int], t.shape, name)
            XCTAssertEqual(e["hex"] as? String, hex(t.rawBytes()), name)
        }
        for (name, v) in c.doubles {
            let e = try XCTUnwrap(ds[name], name)
            XCTAssertEqual(e["numpy"] as? String, "float64", name)
            XCTAssertEqual(e["hex"] as? String, hex(v.withUnsafeBytes { Array($0) }), name)
        }
        let codes = try XCTUnwrap(ds["tensors/model.layers.0.self_attn.q_proj.weight.codes"]?["attributes"] as? [String: Any])
        XCTAssertEqual(codes["blocksize"] as? Int, 64)
        let groups = try XCTUnwrap(obj["groups"] as? [String: [String: Any]])
        XCTAssertEqual(groups["optimizer"]?["name"] as? String, "adamw")
    }

    /// The thin layer: groups, datasets and every attribute type; a writable file dropped
    /// without close() still renews its seal, so it stays loadable.
    func testThinLayerAndSealRenewal() throws {
        let path = try TestPaths.tempDir(self) + "/thin.h5"
        do {
            let f = try H5File.create(path)
            let g = try f.root.requireGroup("a/b")
            try g.createDataset("x", Tensor(shape: [2, 2], floats: [1, 2, 3, 4], dtype: .f16))
            let values: [String: AttrValue] = ["s": .string("é"), "i": .int(-7), "d": .double(0.25), "is": .ints([1, 2]),
                                               "ds": .doubles([0.5]), "ss": .strings(["a", ""])]
            for (k, v) in values { try g.setAttribute(k, v) }
            try g.setAttribute("i", .int(8))  // replace
            XCTAssertEqual(Set(try g.attributeNames()), Set(values.keys))
            XCTAssertEqual(try g.attribute("i"), .int(8))
            XCTAssertEqual(try g.attribute("ss"), .strings(["a", ""]))
            XCTAssertNil(try g.attribute("none"))
            XCTAssertEqual(try f.root.kind(of: "a/b/x"), .dataset)
            XCTAssertNil(try f.root.kind(of: "a/zz/x"))
            try f.close()
        }
        XCTAssertEqual(try Integrity.verify(path), .intact)
        do {
            let f = try H5File.open(path, writable: true)
            try f.root.dataset("a/b/x").setAttribute("note", .string("added"))
            // dropped without close()
        }
        XCTAssertEqual(try Integrity.verify(path), .intact)
        XCTAssertEqual(try H5.read(path, "a/b/x").floats(), [1, 2, 3, 4])
        XCTAssertEqual(try H5File.open(path).root.dataset("a/b/x").attribute("note"), .string("added"))
        XCTAssertTrue(try H5File.open(path).root.dataset("a/b/x").hasChecksum)
    }
}
