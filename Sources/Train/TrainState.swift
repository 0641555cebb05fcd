// TrainState: everything a run needs to continue exactly where it stopped (trainable
// tensors, AdamW moments and per-parameter steps, the optimizer step, schedule, RNG state,
// data position and the history so far), and its file form: kind "training_state", an llx
// HDF5 checkpoint through Checkpoint.save/load (TrainStateH5.swift), or safetensors with the
// scalar fields in its metadata when the path ends in ".safetensors".
import Foundation
import Tensor
import NN
import Checkpoint

public struct TrainState {
    /// Optimizer steps done.
    public var step: Int
    public var totalSteps: Int
    /// The RNG state after the last data permutation drawn.
    public var rngState: UInt64
    /// Epoch and position (in examples) within it of the next batch.
    public var epoch: Int
    public var position: Int
    /// A fingerprint of the prepared data and the run settings that must not change on resume.
    public var fingerprint: String
    public var schedule: String
    /// Trainable tensors by name, with their AdamW state.
    public var params: [(name: String, value: Tensor)]
    public var optimizer: [String: AdamW.State]
    public var history: [TrainStep]
    /// The model's training random state (LoRA dropout seeds and counters) at `step`.
    public var randomState: [String: UInt64] = [:]

    public static let kind = "training_state"

    /// Writes the state atomically: HDF5 (Checkpoint.save), or safetensors for a ".safetensors" path.
    public func save(to path: String) throws {
        if path.lowercased().hasSuffix(".safetensors") { try saveSafetensors(to: path) } else { try Checkpoint.save(try content(), to: path) }
    }

    /// Reads a state written by `save` (either form, told apart by the file's first bytes).
    public static func load(from path: String) throws -> TrainState {
        guard let fh = FileHandle(forReadingAtPath: path) else {
            throw TrainError.checkpoint("cannot open \(path)\(FileManager.default.fileExists(atPath: path) ? "" : ": no such file")")
        }
        let head = [UInt8](fh.readData(ofLength: 9))
        try? fh.close()
        // safetensors: an 8-byte header length, then the JSON header's "{"
        if head.count == 9 && head[8] == UInt8(ascii: "{") { return try loadSafetensors(from: path) }
        return try TrainState(content: try Checkpoint.load(path), path: path)
    }

    func saveSafetensors(to path: String) throws {
        var tensors: [(String, Tensor)] = []
        var paramSteps: [String: Int] = [:]
        for (n, v) in params { tensors.append(("model/" + n, v)) }
        for (n, _) in params {
            guard let st = optimizer[n] else { continue }
            tensors.append(("optimizer/exp_avg/" + n, st.expAvg))
            tensors.append(("optimizer/exp_avg_sq/" + n, st.expAvgSq))
            paramSteps[n] = st.step
        }
        let hist = history.map { [Double($0.step), $0.loss, $0.lr, $0.tokensPerSecond, $0.gradNorm] }
        let meta: [String: String] = [
            "kind": TrainState.kind,
            "step": String(step), "total_steps": String(totalSteps),
            "rng_state": String(rngState), "epoch": String(epoch), "position": String(position),
            "fingerprint": fingerprint, "schedule": schedule,
            "param_order": try jsonString(params.map { $0.name }),
            "param_steps": try jsonString(paramSteps),
            "history": try jsonString(hist.map { $0.map { String($0.bitPattern, radix: 16) } }),
            "random_state": try jsonString(randomState.mapValues { String($0) }),
        ]
        try SafetensorsFile.write(tensors, metadata: meta, to: path)
    }

    static func loadSafetensors(from path: String) throws -> TrainState {
        let f = try SafetensorsFile.open(path)
        let m = f.metadata
        guard m["kind"] == kind else {
            throw TrainError.checkpoint("\(path) is not a training-state checkpoint (kind: \(m["kind"] ?? "none"))")
        }
        func int(_ k: String) throws -> Int {
            guard let s = m[k], let v = Int(s) else { throw TrainError.checkpoint("\(path): missing or bad '\(k)'") }
            return v
        }
        guard let rs = m["rng_state"], let rng = UInt64(rs) else { throw TrainError.checkpoint("\(path): missing or bad 'rng_state'") }
        let order: [String] = try decode(m["param_order"], path: path, key: "param_order")
        let steps: [String: Int] = try decode(m["param_steps"], path: path, key: "param_steps")
        let hist: [[String]] = try decode(m["history"], path: path, key: "history")
        var params: [(name: String, value: Tensor)] = []
        var opt: [String: AdamW.State] = [:]
        for n in order {
            params.append((n, try f.tensor("model/" + n)))
            if let s = steps[n] {
                opt[n] = AdamW.State(expAvg: try f.tensor("optimizer/exp_avg/" + n),
                                     expAvgSq: try f.tensor("optimizer/exp_avg_sq/" + n), step: s)
            }
        }
        let history = try hist.map { h -> TrainStep in
            let bits = h.compactMap { UInt64($0, radix: 16) }
            guard bits.count == 5 else { throw TrainError.checkpoint("\(path): bad history entry") }
            let d = bits.map { Double(bitPattern: $0) }
            return TrainStep(step: Int(d[0]), loss: d[1], lr: d[2], tokensPerSecond: d[3], gradNorm: d[4])
        }
        var random: [String: UInt64] = [:]
        if m["random_state"] != nil {
            let r: [String: String] = try decode(m["random_state"], path: path, key: "random_state")
            for (k, v) in r {
                guard let u = UInt64(v) else { throw TrainError.checkpoint("\(path): bad 'random_state' value for '\(k)'") }
                random[k] = u
            }
        }
        return TrainState(step: try int("step"), totalSteps: try int("total_steps"), rngState: rng,
                          epoch: try int("epoch"), position: try int("position"),
                          fingerprint: m["fingerprint"] ?? "", schedule: m["schedule"] ?? "",
                          params: params, optimizer: opt, history: history, randomState: random)
    }
}

private func jsonString<T: Encodable>(_ v: T) throws -> String {
    String(decoding: try JSONEncoder().encode(v), as: UTF8.self)
}

private func decode<T: Decodable>(_ s: String?, path: String, key: String) throws -> T {
    guard let s, let v = try? JSONDecoder().decode(T.self, from: Data(s.utf8)) else {
        throw TrainError.checkpoint("\(path): missing or bad '\(key)'")
    }
    return v
}
