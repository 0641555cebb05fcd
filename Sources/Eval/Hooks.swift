// Hooks: the typed errors of the Eval module, and the progress / cancellation hooks every
// evaluator takes. The model an evaluator drives is an `NN.EvalModel`; Eval never sees Llama.
import Foundation
import NN

public enum EvalError: Error, CustomStringConvertible, Equatable {
    /// An argument was wrong: its name and why.
    case argument(String, String)
    /// A file could not be read or written or has the wrong content: the path and why.
    case file(String, String)
    /// A saved result could not be decoded: why.
    case format(String)
    /// The model returned something unusable: why.
    case model(String)
    /// The cancellation token asked to stop (inside the evaluators, which catch it and return
    /// the finished units marked interrupted).
    case cancelled

    public var description: String {
        switch self {
        case .argument(let name, let why): return "argument '\(name)': \(why)"
        case .file(let path, let why): return "\(path): \(why)"
        case .format(let why): return "eval result: \(why)"
        case .model(let why): return "model: \(why)"
        case .cancelled: return "evaluation cancelled"
        }
    }
}

/// One progress report: `done` of `total` units (cells, items, windows) and what just finished.
public struct EvalProgress: Sendable {
    public var evaluator: String
    public var done: Int
    public var total: Int
    public var message: String

    public init(evaluator: String, done: Int, total: Int, message: String) {
        self.evaluator = evaluator
        self.done = done
        self.total = total
        self.message = message
    }
}

/// Progress callback and cancellation token shared by the evaluators. The token is asked
/// between units of work (cells, items, windows) and handed to the model's generation (asked
/// between tokens); when it is set the evaluator stops and returns the units that finished,
/// marked `interrupted: true` (an answer cut short by the stop is not a finished unit: it is
/// neither scored nor saved). The token stays set: whoever called the evaluator decides what
/// stops next (llx stops the entry or script around it) and resets it.
public struct EvalHooks {
    public var progress: ((EvalProgress) -> Void)?
    public var cancel: CancellationToken?

    public init(progress: ((EvalProgress) -> Void)? = nil, cancel: CancellationToken? = nil) {
        self.progress = progress
        self.cancel = cancel
    }

    public static let none = EvalHooks()

    func report(_ evaluator: String, _ done: Int, _ total: Int, _ message: String) {
        progress?(EvalProgress(evaluator: evaluator, done: done, total: total, message: message))
    }

    func checkCancelled() throws {
        if cancel?.isCancelled == true { throw EvalError.cancelled }
    }
}

extension SplitMix64 {
    /// The evaluators' seeded generator: SplitMix64 one draw further than `seed`, so that
    /// evaluations are reproducible (and draw what they always drew).
    init(evalSeed seed: UInt64) { self.init(seed: seed &+ SplitMix64.gamma) }
}
