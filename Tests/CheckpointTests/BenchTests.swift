// BenchTests: save/load time and file size of a model-sized checkpoint (the `small` preset
// shape, ~33M f32 parameters). Runs only with LLX_CKPT_BENCH=1 (numbers for the report).
import Foundation
import XCTest
import Tensor
import Checkpoint

final class BenchTests: XCTestCase {
    func testModelSizedCheckpointTiming() throws {
        guard ProcessInfo.processInfo.environment["LLX_CKPT_BENCH"] == "1" else { throw XCTSkip("set LLX_CKPT_BENCH=1") }
        let hidden = 512, inter = 1376, vocab = 8192, layers = 8
        var tensors: [(String, Tensor)] = []
        var seed: UInt64 = 1
        func rand(_ shape: [Int]) -> Tensor {
            let n = shape.reduce(1, *)
            var v = [Float](repeating: 0, count: n)
            for i in 0..<n { seed = seed &* 6364136223846793005 &+ 1442695040888963407; v[i] = Float(Int64(bitPattern: seed >> 11) % 1000) * 1e-4 }
            return Tensor(shape: shape, floats: v)
        }
        tensors.append(("tensors/model.embed_tokens.weight", rand([vocab, hidden])))
        for l in 0..<layers {
            let p = "tensors/model.layers.\(l)."
            for n in ["q_proj", "k_proj", "v_proj", "o_proj"] { tensors.append((p + "self_attn.\(n).weight", rand([hidden, hidden]))) }
            tensors.append((p + "mlp.gate_proj.weight", rand([inter, hidden])))
            tensors.append((p + "mlp.up_proj.weight", rand([inter, hidden])))
            tensors.append((p + "mlp.down_proj.weight", rand([hidden, inter])))
            tensors.append((p + "input_layernorm.weight", rand([hidden])))
            tensors.append((p + "post_attention_layernorm.weight", rand([hidden])))
        }
        tensors.append(("tensors/model.norm.weight", rand([hidden])))
        tensors.append(("tensors/lm_head.weight", rand([vocab, hidden])))
        let params = tensors.reduce(0) { $0 + $1.1.count }
        let content = CheckpointContent(kind: "model", attributes: ["config": .string("{\"hidden_size\":512}")], tensors: tensors)
        let dir = try TestPaths.tempDir(self)
        let path = dir + "/small.h5"
        var best = (save: 1e9, load: 1e9, stSave: 1e9, stLoad: 1e9)
        for _ in 0..<3 {
            var t = Date()
            try Checkpoint.save(content, to: path)
            best.save = min(best.save, Date().timeIntervalSince(t))
            t = Date()
            let back = try Checkpoint.load(path)
            best.load = min(best.load, Date().timeIntervalSince(t))
            XCTAssertEqual(back.tensors.count, tensors.count)
            t = Date()
            try SafetensorsFile.write(tensors.map { (String($0.0.dropFirst(8)), $0.1) }, metadata: nil, to: dir + "/small.safetensors")
            best.stSave = min(best.stSave, Date().timeIntervalSince(t))
            t = Date()
            let st = try SafetensorsFile.open(dir + "/small.safetensors")
            for n in st.names { _ = try st.tensor(n) }
            best.stLoad = min(best.stLoad, Date().timeIntervalSince(t))
        }
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        print(String(format: "BENCH %d params (%.1f MB f32): h5 save %.3f s, load %.3f s, file %.1f MB; safetensors save %.3f s, load %.3f s",
                     params, Double(params * 4) / 1e6, best.save, best.load, Double(size) / 1e6, best.stSave, best.stLoad))
        if let py = TestPaths.venvPython {
            let script = """
            import h5py, numpy as np, time, sys
            f = h5py.File(sys.argv[1], "r"); names = []; f.visit(lambda n: names.append(n) if isinstance(f[n], h5py.Dataset) else None)
            data = {n: f[n][()] for n in names}; f.close()
            best = [1e9, 1e9]
            for _ in range(3):
                t = time.time()
                with h5py.File(sys.argv[1] + ".py.h5", "w") as g:
                    for n, a in data.items(): g.create_dataset(n, data=a, chunks=True if a.ndim else None, fletcher32=bool(a.ndim))
                    g.flush()
                best[0] = min(best[0], time.time() - t)
                t = time.time()
                with h5py.File(sys.argv[1] + ".py.h5", "r") as g:
                    for n in names: g[n][()]
                best[1] = min(best[1], time.time() - t)
            print("h5py save %.3f s load %.3f s" % tuple(best))
            """
            let (_, out) = try TestPaths.run(py, ["-c", script, path])
            print("BENCH", out.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}
