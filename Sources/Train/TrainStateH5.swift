// TrainStateH5: the training state as an llx HDF5 checkpoint of kind "training_state"
// (docs/checkpoint-format.md): tensors/<name>, optimizer/exp_avg|exp_avg_sq/<name> (with the
// parameter's own AdamW step as the dataset attribute `step`), root step / schedule /
// rng_state / seed / epoch / data_position / train_args, and float64 history series.
import Foundation
import Tensor
import NN
import Checkpoint

extension TrainState {
    func content() throws -> CheckpointContent {
        var tensors: [(String, Tensor)] = []
        var dsAttrs: [String: [String: AttrValue]] = [:]
        for (n, v) in params { tensors.append(("tensors/" + n, v)) }
        for (n, _) in params {
            guard let st = optimizer[n] else { continue }
            tensors.append(("optimizer/exp_avg/" + n, st.expAvg))
            tensors.append(("optimizer/exp_avg_sq/" + n, st.expAvgSq))
            dsAttrs["optimizer/exp_avg/" + n] = ["step": .int(st.step)]
        }
        let attrs: [String: AttrValue] = [
            "step": .int(step), "total_steps": .int(totalSteps),
            "rng_state": .ints([Int(bitPattern: UInt(rngState))]),
            "epoch": .int(epoch), "data_position": .int(position),
            "schedule": .string(schedule), "train_args": .string(fingerprint),
            "param_order": .strings(params.map { $0.name }),
        ]
        var attrs2 = attrs
        if !randomState.isEmpty {
            let keys = randomState.keys.sorted()
            attrs2["random_state_names"] = .strings(keys)
            attrs2["random_state_values"] = .ints(keys.map { Int(bitPattern: UInt(randomState[$0]!)) })
        }
        let doubles: [(String, [Double])] = [
            ("history/step", history.map { Double($0.step) }), ("history/loss", history.map { $0.loss }),
            ("history/lr", history.map { $0.lr }), ("history/tokens_per_s", history.map { $0.tokensPerSecond }),
            ("history/grad_norm", history.map { $0.gradNorm }),
        ]
        return CheckpointContent(kind: TrainState.kind, attributes: attrs2, tensors: tensors, doubles: doubles,
                                 datasetAttributes: dsAttrs)
    }

    init(content c: CheckpointContent, path: String) throws {
        guard c.kind == TrainState.kind else {
            throw TrainError.checkpoint("\(path) holds a \(c.kind), not a training state")
        }
        func int(_ k: String) throws -> Int {
            guard let v = c.attributes[k]?.intValue else { throw TrainError.checkpoint("\(path): missing or bad attribute '\(k)'") }
            return v
        }
        func str(_ k: String) throws -> String {
            guard let v = c.attributes[k]?.stringValue else { throw TrainError.checkpoint("\(path): missing or bad attribute '\(k)'") }
            return v
        }
        guard case .ints(let rs)? = c.attributes["rng_state"], rs.count == 1 else {
            throw TrainError.checkpoint("\(path): missing or bad attribute 'rng_state'")
        }
        guard case .strings(let order)? = c.attributes["param_order"] else {
            throw TrainError.checkpoint("\(path): missing or bad attribute 'param_order'")
        }
        var params: [(name: String, value: Tensor)] = []
        var opt: [String: AdamW.State] = [:]
        for n in order {
            guard let v = c.tensor("tensors/" + n) else { throw TrainError.checkpoint("\(path): missing tensor 'tensors/\(n)'") }
            params.append((n, v))
            if let m = c.tensor("optimizer/exp_avg/" + n) {
                guard let v2 = c.tensor("optimizer/exp_avg_sq/" + n),
                      let s = c.datasetAttributes["optimizer/exp_avg/" + n]?["step"]?.intValue else {
                    throw TrainError.checkpoint("\(path): incomplete optimizer state for '\(n)'")
                }
                opt[n] = AdamW.State(expAvg: m, expAvgSq: v2, step: s)
            }
        }
        let steps = c.series("history/step") ?? [], loss = c.series("history/loss") ?? []
        let lr = c.series("history/lr") ?? [], tps = c.series("history/tokens_per_s") ?? []
        let gn = c.series("history/grad_norm") ?? []
        guard [loss.count, lr.count, tps.count, gn.count].allSatisfy({ $0 == steps.count }) else {
            throw TrainError.checkpoint("\(path): history series of different lengths")
        }
        let history = steps.indices.map { i in
            TrainStep(step: Int(steps[i]), loss: loss[i], lr: lr[i], tokensPerSecond: tps[i], gradNorm: gn[i])
        }
        var random: [String: UInt64] = [:]
        if case .strings(let names)? = c.attributes["random_state_names"] {
            guard case .ints(let vals)? = c.attributes["random_state_values"], vals.count == names.count else {
                throw TrainError.checkpoint("\(path): missing or bad attribute 'random_state_values'")
            }
            for (n, v) in zip(names, vals) { random[n] = UInt64(UInt(bitPattern: v)) }
        }
        self.init(step: try int("step"), totalSteps: try int("total_steps"), rngState: UInt64(UInt(bitPattern: rs[0])),
                  epoch: try int("epoch"), position: try int("data_position"), fingerprint: try str("train_args"),
                  schedule: try str("schedule"), params: params, optimizer: opt, history: history, randomState: random)
    }
}
