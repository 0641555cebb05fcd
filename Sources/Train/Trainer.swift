// Trainer: the fine-tuning loop. Batches of tokenized examples, gradient accumulation over
// micro-batches with a token-weighted mean loss, gradient clipping, AdamW with an LR
// schedule, progress reports through a callback, cancellation between micro-steps,
// periodic training-state checkpoints and exact resume, and a clean stop on a non-finite
// loss or gradient (the parameters stay those of the last good step).
//
// The loss of a step is the token-weighted mean over the whole batch: each sequence's mean
// loss is scaled by (its labelled positions / the batch's labelled positions) before its
// backward, so the accumulated gradient is that of (sum of token losses) / (batch tokens),
// the same number a padded [batch, T] forward with -100 labels gives, and what Hugging Face's
// Trainer computes with num_items_in_batch. For sequences of equal length and labels this is
// exactly the plain mean of the per-sequence means (the older HF behaviour: loss / accumulation
// steps); when lengths differ it weights every token alike instead of every sequence.
import Foundation
import Tensor
import NN

/// The settings of a run (the options of llx's `train`).
public struct TrainConfig: Sendable {
    public var lr: Double = 5e-5
    /// The LR schedule; `constant` with a `warmup` means constant with warmup.
    public var schedule: LRSchedule.Kind = .linear
    public var warmup: Int = 0
    /// Sequences per optimizer step.
    public var batch: Int = 8
    /// Sequences per forward/backward pass (Llama packs them into one pass: faster GEMMs, and
    /// activation memory for all of them at once); cancellation is checked between passes.
    public var microBatch: Int = 1
    public var epochs: Int = 1
    /// Optimizer steps; when set it overrides `epochs` (the data repeats as needed).
    public var steps: Int? = nil
    /// Longest sequence: text is cut to it, longer conversations are dropped.
    public var maxLen: Int? = nil
    /// Recompute activations layer by layer in the backward pass (less memory).
    public var checkpointing: Bool = true
    /// Max total gradient norm (clip_grad_norm_); nil or 0 = no clipping.
    public var clip: Double? = 1.0
    public var weightDecay: Double = 0
    public var betas: (Double, Double) = (0.9, 0.999)
    public var eps: Double = 1e-8
    /// Write the training state to `out` every this many steps (and at the end / on cancel).
    public var saveEvery: Int? = nil
    /// Training-state file written atomically (safetensors, kind "training_state").
    public var out: String? = nil
    /// Training-state file to continue from.
    public var resume: String? = nil
    /// Seeds the data order; the same seed gives the same run.
    public var seed: UInt64 = 0
    /// Shuffle the examples each epoch (as Hugging Face's Trainer does).
    public var shuffle: Bool = true
    /// The forward and backward passes multiply in bf16 (operands rounded to bf16, products
    /// summed in f32: QLoRA's compute dtype bfloat16, torch's autocast; see BLAS.bf16Compute:
    /// on AMX where the CPU has it). Weights, gradients and the optimizer stay f32.
    public var bf16Compute: Bool = false

    public init() {}
}

/// What `run` returns.
public struct TrainResult: Sendable {
    public var history: [TrainStep]
    /// True when the cancellation token stopped the run early.
    public var cancelled: Bool
    /// True when the step callback asked to stop.
    public var stopped: Bool = false
    /// Optimizer steps done, out of totalSteps.
    public var steps: Int
    public var totalSteps: Int
    /// Records left out of training: conversations longer than max_len, and records with no
    /// token that carries a loss; text records cut to max_len.
    public var droppedTooLong: Int
    public var truncated: Int
    public var droppedNoLoss: Int = 0
    /// The total steps of the run a resume continued, when it had another total (a resume may
    /// extend a run: steps: N on a state of a shorter run); nil otherwise.
    public var resumedFromTotal: Int? = nil
}

public final class Trainer {
    public let model: TrainableModel
    public let config: TrainConfig
    public let examples: [TrainExample]
    public let prepared: PreparedData
    /// The history so far (also readable after `run` throws).
    public private(set) var history: [TrainStep] = []
    /// The optimizer of the last run (for inspection).
    public private(set) var optimizer: AdamW?

    /// Tokenizes `data` (see Examples.prepare) and checks the settings.
    public init(model: TrainableModel, data: TrainDataset, tokenizer: TrainTokenizer?, config: TrainConfig) throws {
        try Trainer.validate(config)
        self.model = model
        self.config = config
        self.prepared = try Examples.prepare(data, tokenizer: tokenizer, maxLen: config.maxLen)
        self.examples = prepared.examples
        guard !examples.isEmpty else {
            throw TrainError.argument("data", "no usable examples in \(data.source) (\(data.count) records; \(prepared.droppedTooLong) longer than max_len, \(prepared.droppedNoLoss) without loss tokens)")
        }
    }

    static func validate(_ c: TrainConfig) throws {
        guard c.lr >= 0, c.lr.isFinite else { throw TrainError.argument("lr", "must be a finite number >= 0, got \(c.lr)") }
        guard c.batch >= 1 else { throw TrainError.argument("batch", "must be >= 1, got \(c.batch)") }
        guard c.microBatch >= 1 else { throw TrainError.argument("micro_batch", "must be >= 1, got \(c.microBatch)") }
        guard c.batch % c.microBatch == 0 else {
            throw TrainError.argument("micro_batch", "batch \(c.batch) must be a multiple of micro_batch \(c.microBatch)")
        }
        guard c.epochs >= 1 else { throw TrainError.argument("epochs", "must be >= 1, got \(c.epochs)") }
        if let s = c.steps, s < 1 { throw TrainError.argument("steps", "must be >= 1, got \(s)") }
        guard c.warmup >= 0 else { throw TrainError.argument("warmup", "must be >= 0, got \(c.warmup)") }
        if let k = c.clip, !(k >= 0) { throw TrainError.argument("clip", "must be >= 0, got \(k)") }
        guard c.weightDecay >= 0 else { throw TrainError.argument("weight_decay", "must be >= 0, got \(c.weightDecay)") }
        if let s = c.saveEvery {
            guard s >= 1 else { throw TrainError.argument("save_every", "must be >= 1, got \(s)") }
            guard c.out != nil else { throw TrainError.argument("save_every", "needs out: (the training-state file)") }
        }
    }

    /// Optimizer steps per epoch (the last batch of an epoch may be smaller).
    public var stepsPerEpoch: Int { (examples.count + config.batch - 1) / config.batch }
    public var totalSteps: Int { config.steps ?? config.epochs * stepsPerEpoch }

    /// The order of the examples in an epoch: depends only on the seed and the epoch.
    func order(epoch: Int) -> (perm: [Int], rng: UInt64) {
        if !config.shuffle { return (Array(0..<examples.count), 0) }
        var rng = SplitMix64(seed: config.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        let p = rng.permutation(examples.count)
        return (p, rng.state)
    }

    /// The examples (indices into `examples`) of every optimizer step of a fresh run, in the
    /// order `run` uses them: the batches of each epoch's order, the last batch of an epoch
    /// smaller when the batch does not divide the examples.
    public func stepBatches() -> [[Int]] {
        var out: [[Int]] = []
        var epoch = 0, position = 0
        var perm = order(epoch: 0).perm
        while out.count < totalSteps {
            out.append(Array(perm[position..<min(examples.count, position + config.batch)]))
            position += config.batch
            if position >= examples.count { epoch += 1; position = 0; perm = order(epoch: epoch).perm }
        }
        return out
    }

    /// Identifies the data and the settings a resumed run must share with the original.
    var fingerprint: String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ x: Int) { h = (h ^ UInt64(bitPattern: Int64(x))) &* 0x100_0000_01B3 }
        for e in examples { mix(e.ids.count); for t in e.ids { mix(t) }; for l in e.labels { mix(l) } }
        let c = config
        // The total steps are not in it: a resume may extend a run (see run).
        let settings = "n=\(examples.count) batch=\(c.batch) seed=\(c.seed) shuffle=\(c.shuffle) lr=\(c.lr) schedule=\(c.schedule.rawValue) warmup=\(c.warmup) wd=\(c.weightDecay) clip=\(c.clip.map { "\($0)" } ?? "none")"
        return settings + " data=" + String(h, radix: 16)
    }

    /// A state's fingerprint without the "total=N" field that states of earlier versions held.
    static func withoutTotal(_ f: String) -> String {
        f.split(separator: " ").filter { !$0.hasPrefix("total=") }.joined(separator: " ")
    }

    /// Trains. Reports every optimizer step through `progress`; returns early (with the model
    /// at its last complete step) when `cancel` is set; throws TrainError.nonFinite when a
    /// loss or the gradient norm is NaN or infinite, leaving the last good parameters.
    /// `onStep` runs after every optimizer step with that step's record; returning false stops
    /// the run there (the model keeps that step; the result says `stopped`). Its errors end the
    /// run the same way and propagate.
    public func run(progress: ((TrainProgress) -> Void)? = nil, cancel: CancellationToken? = nil,
                    onStep: ((TrainStep) throws -> Bool)? = nil) throws -> TrainResult {
        // the steps' buffers are reused from step to step; what is kept goes back when the run ends
        try Recycled.keepingBlocks { try runSteps(progress: progress, cancel: cancel, onStep: onStep) }
    }

    private func runSteps(progress: ((TrainProgress) -> Void)?, cancel: CancellationToken?,
                          onStep: ((TrainStep) throws -> Bool)?) throws -> TrainResult {
        let c = config
        let trainables = model.parameters.filter { $0.trainable }
        guard !trainables.isEmpty else { throw TrainError.argument("model", "has no trainable parameters (use lora/qlora, or mark some trainable)") }
        let total = totalSteps
        let schedule = try LRSchedule(checking: c.schedule, warmup: c.warmup, totalSteps: total)
        let opt = try AdamW(params: trainables.map { (name: $0.name, tensor: $0.value) }, lr: c.lr, betas: c.betas,
                            eps: c.eps, weightDecay: c.weightDecay, schedule: schedule)
        optimizer = opt
        for p in trainables { p.zeroGrad() }
        // LoRA dropout (and any other random training layer) acts during the run only.
        model.setTrainingMode(true)
        defer { model.setTrainingMode(false) }

        var step = 0, epoch = 0, position = 0
        var resumedFromTotal: Int? = nil
        history = []
        if let path = c.resume {
            let st = try TrainState.load(from: path)
            let stFingerprint = Trainer.withoutTotal(st.fingerprint)
            guard stFingerprint == fingerprint else {
                // Name the settings that differ ("lr=0.001" in the state, "0.002" here).
                let old = stFingerprint.split(separator: " "), new = fingerprint.split(separator: " ")
                let diff = old.count == new.count
                    ? zip(old, new).filter { $0 != $1 }.map { "\($0) in the state, \($1.split(separator: "=").last ?? "") here" }
                    : ["\(st.fingerprint) vs \(fingerprint)"]
                throw TrainError.checkpoint("\(path) was written by a run with other data or settings: " + diff.joined(separator: "; ")
                                            + " (the data fingerprint covers the tokenized examples)")
            }
            let byName = Dictionary(uniqueKeysWithValues: trainables.map { ($0.name, $0) })
            guard Set(st.params.map { $0.name }) == Set(byName.keys) else {
                throw TrainError.checkpoint("\(path) holds trainable tensors \(st.params.map { $0.name }.sorted()), the model has \(byName.keys.sorted())")
            }
            for (n, v) in st.params {
                guard let p = byName[n], p.value.count == v.count, v.dtype == .f32 else {
                    throw TrainError.checkpoint("\(path): tensor '\(n)' has shape \(v.shape), the model's is \(byName[n]?.shape ?? [])")
                }
                let src = v.contiguous()
                p.value.floatPointer.update(from: src.floatPointer, count: v.count)
            }
            // A resume may extend the run (more steps than the state's run had), never shorten
            // it below the steps already done. The schedule is that of the new total from here on.
            if st.totalSteps != total {
                guard total >= st.step else {
                    throw TrainError.argument("steps", "\(path) has already done \(st.step) steps; a resume needs at least that many (got \(total))")
                }
                resumedFromTotal = st.totalSteps
            }
            do { try model.restoreTrainingRandomState(st.randomState) } catch {
                throw TrainError.checkpoint("\(path): \(error)")
            }
            try opt.restore(stepCount: st.step, state: st.optimizer)
            step = st.step; epoch = st.epoch; position = st.position
            history = st.history
        }
        // The model's random state at the last complete step (a cancel mid-step saves this one).
        var randomAtStep = model.trainingRandomState
        var perm = order(epoch: epoch)
        let start = DispatchTime.now().uptimeNanoseconds
        let startStep = step

        func zeroGrads() { for p in trainables { p.zeroGrad() } }
        func save() throws {
            guard let out = c.out else { return }
            try TrainState(step: step, totalSteps: total, rngState: perm.rng, epoch: epoch, position: position,
                           fingerprint: fingerprint, schedule: schedule.description,
                           params: trainables.map { (name: $0.name, value: $0.value) },
                           optimizer: opt.state, history: history, randomState: randomAtStep).save(to: out)
        }
        func result(_ cancelled: Bool, stopped: Bool = false) -> TrainResult {
            TrainResult(history: history, cancelled: cancelled, stopped: stopped, steps: step, totalSteps: total,
                        droppedTooLong: prepared.droppedTooLong, truncated: prepared.truncated,
                        droppedNoLoss: prepared.droppedNoLoss, resumedFromTotal: resumedFromTotal)
        }

        while step < total {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let idx = perm.perm[position..<min(examples.count, position + c.batch)]
            let batch = idx.map { examples[$0] }
            let weights = batch.map { $0.lossTokens }
            let totalWeight = weights.reduce(0, +)
            var loss = 0.0, tokens = 0
            for g0 in stride(from: 0, to: batch.count, by: c.microBatch) {
                if cancel?.isCancelled == true {
                    zeroGrads()
                    // The step's forwards advanced the dropout counters: back to the last step's.
                    try? model.restoreTrainingRandomState(randomAtStep)
                    if c.out != nil { try save() }
                    return result(true)
                }
                let group = batch[g0..<min(batch.count, g0 + c.microBatch)]
                let scale = Double(weights[g0..<(g0 + group.count)].reduce(0, +)) / Double(totalWeight)
                let saved = BLAS.bf16Compute
                BLAS.bf16Compute = c.bf16Compute
                defer { BLAS.bf16Compute = saved }
                let l = try model.forwardBackward(sequences: group.map { ($0.ids, $0.labels) }, checkpointing: c.checkpointing,
                                                  lossScale: Float(scale)).loss
                if !l.isFinite {
                    zeroGrads()
                    throw TrainError.nonFinite(step: step + 1, "the loss (\(l))")
                }
                loss += Double(l) * scale
                tokens += group.reduce(0) { $0 + $1.ids.count }
            }
            let named = trainables.compactMap { p in p.grad.map { (p.name, $0) } }
            let grads = named.map { $0.1 }
            let norm: Double
            if let maxNorm = c.clip, maxNorm > 0 {
                norm = GradClip.clipGradNorm(grads, maxNorm: maxNorm)
            } else {
                norm = GradClip.totalNorm(grads)
            }
            if !norm.isFinite {
                zeroGrads()
                throw TrainError.nonFinite(step: step + 1, "the gradient norm (\(norm))")
            }
            let lr = opt.lr
            try opt.step(Dictionary(uniqueKeysWithValues: named))
            zeroGrads()
            step += 1
            randomAtStep = model.trainingRandomState
            position += c.batch
            if position >= examples.count {
                epoch += 1; position = 0
                perm = order(epoch: epoch)
            }
            let now = DispatchTime.now().uptimeNanoseconds
            let dt = Double(now - t0) / 1e9
            let elapsed = Double(now - start) / 1e9
            let tps = dt > 0 ? Double(tokens) / dt : 0
            history.append(TrainStep(step: step, loss: loss, lr: lr, tokensPerSecond: tps, gradNorm: norm))
            let eta = elapsed / Double(step - startStep) * Double(total - step)
            progress?(TrainProgress(step: step, totalSteps: total, epoch: epoch, loss: loss, lr: lr, gradNorm: norm,
                                    tokensPerSecond: tps, elapsed: elapsed, eta: eta))
            if let every = c.saveEvery, step % every == 0, step < total { try save() }
            if let onStep {
                let goOn: Bool
                do { goOn = try onStep(history[history.count - 1]) } catch { try? save(); throw error }
                if !goOn {
                    try save()
                    return result(false, stopped: true)
                }
            }
        }
        try save()
        return result(false)
    }
}
