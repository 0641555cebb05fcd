// EvalModel: what an evaluator needs from a language model (greedy generation and token
// log-probabilities), the typed errors of the Eval module, and the progress / cancellation hooks
// every evaluator takes. Eval never sees the Llama module: Commands makes the model conform.
import Foundation

/// A causal language model as the evaluators use it.
public protocol EvalModel: AnyObject {
    /// Greedy continuation of `prompt`: at most `maxTokens` new ids, stopping after (and without
    /// returning) an id in `stop`.
    func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>) throws -> [Int]
    /// `log p(ids[i] | ids[..<i])` for i in 1..<ids.count (ids.count - 1 values).
    func logProbs(ids: [Int]) throws -> [Float]
}

public enum EvalError: Error, CustomStringConvertible, Equatable {
    /// An argument was wrong: its name and why.
    case argument(String, String)
    /// A file could not be read or written or has the wrong content: the path and why.
    case file(String, String)
    /// A saved result could not be decoded: why.
    case format(String)
    /// The model returned something unusable: why.
    case model(String)
    /// The cancellation closure asked to stop.
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

/// Progress callback and cancellation check shared by the evaluators. The cancellation closure
/// is asked between units of work (cells, items, windows); when it answers true the evaluator
/// throws `EvalError.cancelled` (after saving partial results where it keeps them).
public struct EvalHooks {
    public var progress: ((EvalProgress) -> Void)?
    public var isCancelled: (() -> Bool)?

    public init(progress: ((EvalProgress) -> Void)? = nil, isCancelled: (() -> Bool)? = nil) {
        self.progress = progress
        self.isCancelled = isCancelled
    }

    public static let none = EvalHooks()

    func report(_ evaluator: String, _ done: Int, _ total: Int, _ message: String) {
        progress?(EvalProgress(evaluator: evaluator, done: done, total: total, message: message))
    }

    func checkCancelled() throws {
        if let c = isCancelled, c() { throw EvalError.cancelled }
    }
}

/// A seeded SplitMix64 generator so that evaluations are reproducible.
public struct EvalRNG: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
