// Schedule: learning-rate multipliers as transformers' get_*_schedule_with_warmup build them
// (constant, constant with warmup, linear, cosine), with torch LambdaLR semantics: the lr
// used by optimizer step k (k = 0, 1, ...) is base_lr * lambda(k).
import Foundation

/// A learning-rate schedule: `multiplier(step)` is transformers' lr_lambda.
public struct LRSchedule: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, CaseIterable, Sendable {
        /// lambda = 1 (warmup is ignored, as get_constant_schedule does).
        case constant
        /// get_constant_schedule_with_warmup.
        case constantWithWarmup = "constant_with_warmup"
        /// get_linear_schedule_with_warmup.
        case linear
        /// get_cosine_schedule_with_warmup (num_cycles 0.5 by default).
        case cosine
    }

    public var kind: Kind
    public var warmup: Int
    /// num_training_steps (needed by linear and cosine).
    public var totalSteps: Int
    /// Cosine only: the number of waves (0.5 = decrease from the max to 0 following half a cosine).
    public var numCycles: Double

    public init(kind: Kind, warmup: Int = 0, totalSteps: Int = 0, numCycles: Double = 0.5) {
        self.kind = kind
        self.warmup = max(0, warmup)
        self.totalSteps = totalSteps
        self.numCycles = numCycles
    }

    /// A checked schedule: the warmup must be >= 0, linear and cosine need the number of
    /// training steps, and with a warmup `constant` means constant with warmup (as the llx
    /// `train(schedule:, warmup:)` option expects).
    public init(checking kind: Kind, warmup: Int = 0, totalSteps: Int = 0) throws {
        var k = kind
        if warmup < 0 { throw NNError.argument("warmup", "must be >= 0, got \(warmup)") }
        if k == .constant && warmup > 0 { k = .constantWithWarmup }
        if (k == .linear || k == .cosine) && totalSteps <= 0 {
            throw NNError.argument("total_steps", "the \(k.rawValue) schedule needs the number of training steps (> 0)")
        }
        self.init(kind: k, warmup: warmup, totalSteps: totalSteps)
    }

    public var description: String { "\(kind.rawValue)(warmup: \(warmup), total: \(totalSteps))" }

    /// The multiplier of the base lr at optimizer step `step` (0-based), computed in double
    /// precision as Python does.
    public func multiplier(_ step: Int) -> Double {
        let s = Double(step), w = Double(warmup), t = Double(totalSteps)
        switch kind {
        case .constant:
            return 1
        case .constantWithWarmup:
            if step < warmup { return s / max(1, w) }
            return 1
        case .linear:
            if step < warmup { return s / max(1, w) }
            return max(0, (t - s) / max(1, t - w))
        case .cosine:
            if step < warmup { return s / max(1, w) }
            let progress = (s - w) / max(1, t - w)
            return max(0, 0.5 * (1 + cos(Double.pi * numCycles * 2 * progress)))
        }
    }
}
