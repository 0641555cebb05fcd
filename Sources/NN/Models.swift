// Models: what the libraries above a model ask of it. `TrainableModel` is what the trainer
// needs (parameters, forward + backward of a next-token loss); `EvalModel` is what the
// evaluators need (greedy generation, token log-probabilities). A model module declares its
// own conformances (Llama does in LlamaModel+Conformances.swift), so Train and Eval never see it.
// `NextTokenLabels` is the loss convention both sides share.

/// What the trainer needs from a model.
public protocol TrainableModel: AnyObject {
    /// Every parameter; the trainer updates those whose `trainable` is true.
    var parameters: [Parameter] { get }
    /// Runs one sequence forward and backward. `labels` are unshifted (Hugging Face
    /// convention, -100 = no loss; nil = the ids). Adds lossScale * d(mean loss)/dp into
    /// `grad` of every trainable parameter, and returns the mean loss over the positions with
    /// a label and their count.
    func forwardBackward(_ ids: [Int], labels: [Int]?, checkpointing: Bool, lossScale: Float) throws -> (loss: Float, tokens: Int)
    /// The same over a micro-batch of sequences: adds lossScale * d(mean loss over all their
    /// labelled positions)/dp; returns that mean and the positions counted.
    func forwardBackward(sequences: [(ids: [Int], labels: [Int]?)], checkpointing: Bool, lossScale: Float) throws -> (loss: Float, tokens: Int)
    /// The random state a training forward draws from (LoRA dropout: each adapter's mask seed
    /// and forward counter), by name. The trainer saves it with the training state and gives it
    /// back on resume, so a resumed run draws the masks the uninterrupted run would have.
    var trainingRandomState: [String: UInt64] { get }
    /// Restores what `trainingRandomState` returned; throws when a name is unknown.
    func restoreTrainingRandomState(_ state: [String: UInt64]) throws
    /// Training mode on or off (torch's `model.train()` / `model.eval()`): random layers such
    /// as LoRA dropout act only in training mode. The trainer turns it on for its run.
    func setTrainingMode(_ on: Bool)
}

extension TrainableModel {
    /// A model without random training layers has no state to keep, and no training mode.
    public var trainingRandomState: [String: UInt64] { [:] }
    public func setTrainingMode(_ on: Bool) {}
    public func restoreTrainingRandomState(_ state: [String: UInt64]) throws {
        if let k = state.keys.sorted().first {
            throw NNError.state("the training state holds random state '\(k)' that this model has no use for")
        }
    }

    /// One sequence at a time, each weighted by its share of the labelled positions.
    public func forwardBackward(sequences: [(ids: [Int], labels: [Int]?)], checkpointing: Bool,
                                lossScale: Float) throws -> (loss: Float, tokens: Int) {
        let counts = sequences.map { NextTokenLabels.count(ids: $0.ids, labels: $0.labels) }
        let total = counts.reduce(0, +)
        if total == 0 { return (0, 0) }
        var sum = 0.0
        for (s, n) in zip(sequences, counts) where n > 0 {
            let l = try forwardBackward(s.ids, labels: s.labels, checkpointing: checkpointing,
                                        lossScale: lossScale * Float(n) / Float(total)).loss
            sum += Double(l) * Double(n)
        }
        return (Float(sum / Double(total)), total)
    }
}

/// A causal language model as the evaluators use it.
public protocol EvalModel: AnyObject {
    /// Greedy continuation of `prompt`: at most `maxTokens` new ids, stopping after (and without
    /// returning) an id in `stop`.
    func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>) throws -> [Int]
    /// The same, for a model that can stop in the middle of an answer: it asks `cancel`
    /// between tokens and returns what it has once the token is set. By default the token
    /// is not asked (the evaluators ask it between answers anyway).
    func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>, cancel: CancellationToken?) throws -> [Int]
    /// `log p(ids[i] | ids[..<i])` for i in 1..<ids.count (ids.count - 1 values).
    func logProbs(ids: [Int]) throws -> [Float]
    /// For each continuation c: `log p(c[i] | prefix + c[..<i])` (c.count values). A model with a
    /// KV cache runs the shared prefix once; by default each prefix + c goes through `logProbs`.
    func logProbs(prefix: [Int], continuations: [[Int]]) throws -> [[Float]]
}

extension EvalModel {
    public func logProbs(prefix: [Int], continuations: [[Int]]) throws -> [[Float]] {
        try continuations.map { c in
            if c.isEmpty { return [] }
            let lp = try logProbs(ids: prefix + c)
            return Array(lp.suffix(c.count))
        }
    }

    public func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>, cancel: CancellationToken?) throws -> [Int] {
        try generate(prompt: prompt, maxTokens: maxTokens, stop: stop)
    }
}

/// The next-token loss convention (Hugging Face): labels default to the ids, are shifted
/// inside (position t predicts labels[t + 1]), and -100 marks a position without loss.
public enum NextTokenLabels {
    /// The number of positions that count in the loss.
    public static func count(ids: [Int], labels: [Int]? = nil) -> Int {
        let lab = labels ?? ids
        if lab.count < 2 { return 0 }
        return lab[1...].reduce(0) { $0 + ($1 == -100 ? 0 : 1) }
    }
}
