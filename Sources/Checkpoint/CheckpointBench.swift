// CheckpointBench (`llx bench checkpoint`): save/load time and file size of a model-sized
// checkpoint (the `small` preset's shape, ~33M f32 parameters) as an llx HDF5 checkpoint and as
// safetensors, best of 3. The files go to $LLX_BENCH_DIR when set (kept there, for
// scripts/bench_checkpoint.py, which times h5py on the same file), else to a temporary folder
// that is removed. (Formerly CheckpointTests.BenchTests, an opt-in test that asserted nothing.)
import Foundation
import Tensor

public enum CheckpointBench {
    public static func run(_ log: (String) -> Void) {
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
        let keep = ProcessInfo.processInfo.environment["LLX_BENCH_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let dir = keep ?? NSTemporaryDirectory() + "llx-ckpt-bench-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let path = dir + "/small.h5"
        var best = (save: 1e9, load: 1e9, stSave: 1e9, stLoad: 1e9)
        do {
            for _ in 0..<3 {
                var t = Date()
                try Checkpoint.save(content, to: path)
                best.save = min(best.save, Date().timeIntervalSince(t))
                t = Date()
                let back = try Checkpoint.load(path)
                best.load = min(best.load, Date().timeIntervalSince(t))
                guard back.tensors.count == tensors.count else {
                    log("checkpoint bench: error: read \(back.tensors.count) tensors back, wrote \(tensors.count)")
                    return
                }
                t = Date()
                try SafetensorsFile.write(tensors.map { (String($0.0.dropFirst(8)), $0.1) }, metadata: nil, to: dir + "/small.safetensors")
                best.stSave = min(best.stSave, Date().timeIntervalSince(t))
                t = Date()
                let st = try SafetensorsFile.open(dir + "/small.safetensors")
                for n in st.names { _ = try st.tensor(n) }
                best.stLoad = min(best.stLoad, Date().timeIntervalSince(t))
            }
        } catch {
            log("checkpoint bench: error: \(error)")
            return
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        log(String(format: "checkpoint bench: %d params (%.1f MB f32): h5 save %.3f s, load %.3f s, file %.1f MB; safetensors save %.3f s, load %.3f s%@",
                   params, Double(params * 4) / 1e6, best.save, best.load, Double(size) / 1e6, best.stSave, best.stLoad,
                   keep == nil ? "" : " (files in \(dir))"))
    }
}
