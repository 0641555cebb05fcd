// Progress: what the trainer reports after each optimizer step, the history it returns,
// and a ProgressBar that renders the reports as one
// live line on a terminal or as plain lines in a log. The trainer itself never prints.
import Foundation

/// One report, sent after every optimizer step.
public struct TrainProgress: Sendable {
    /// Optimizer steps done (1-based), out of totalSteps.
    public var step: Int
    public var totalSteps: Int
    public var epoch: Int
    /// Mean loss of this step's batch (token-weighted).
    public var loss: Double
    /// The lr this step used.
    public var lr: Double
    /// Gradient norm before clipping.
    public var gradNorm: Double
    /// Tokens (inputs) processed per second in this step.
    public var tokensPerSecond: Double
    /// Seconds since the run (or the resumed part of it) started.
    public var elapsed: Double
    /// Estimated seconds left.
    public var eta: Double

    public init(step: Int, totalSteps: Int, epoch: Int, loss: Double, lr: Double, gradNorm: Double,
                tokensPerSecond: Double, elapsed: Double, eta: Double) {
        self.step = step; self.totalSteps = totalSteps; self.epoch = epoch; self.loss = loss; self.lr = lr
        self.gradNorm = gradNorm; self.tokensPerSecond = tokensPerSecond; self.elapsed = elapsed; self.eta = eta
    }
}

/// One entry of the training history.
public struct TrainStep: Equatable, Sendable {
    public var step: Int
    public var loss: Double
    public var lr: Double
    public var tokensPerSecond: Double
    public var gradNorm: Double

    public init(step: Int, loss: Double, lr: Double, tokensPerSecond: Double, gradNorm: Double) {
        self.step = step; self.loss = loss; self.lr = lr; self.tokensPerSecond = tokensPerSecond; self.gradNorm = gradNorm
    }
}

/// Renders TrainProgress: on a terminal one line redrawn in place ("\r"), otherwise one plain
/// line every `every` steps (and on the last step).
public final class ProgressBar {
    public let isTerminal: Bool
    public let width: Int
    /// The terminal's width: the bar shrinks (and the line is cut) so that the line never
    /// wraps, which would break redrawing it in place. Nil: the fixed `width`.
    public var columns: Int? = nil
    public let every: Int
    private let write: (String) -> Void
    private var drewLine = false

    /// - write: where text goes (stdout by default). isTerminal defaults to isatty(stdout).
    public init(isTerminal: Bool? = nil, width: Int = 24, every: Int = 1, write: ((String) -> Void)? = nil) {
        self.isTerminal = isTerminal ?? (isatty(1) == 1)
        self.width = max(4, width)
        self.every = max(1, every)
        self.write = write ?? { s in FileHandle.standardOutput.write(Data(s.utf8)) }
    }

    /// The text of one report, without line control characters.
    public func line(_ p: TrainProgress) -> String {
        let frac = p.totalSteps > 0 ? min(1, Double(p.step) / Double(p.totalSteps)) : 0
        let loss = p.loss.isFinite ? String(format: "%.4f", p.loss) : "\(p.loss)"
        let rest = "\(p.step)/\(p.totalSteps) loss \(loss) lr \(String(format: "%.3g", p.lr)) "
            + "\(String(format: "%.0f", p.tokensPerSecond)) tok/s ETA \(ProgressBar.clock(p.eta))"
        var w = width
        if let cols = columns {
            // room left on the line for the bar (at least 4, at most 40 characters)
            w = max(4, min(40, cols - 1 - rest.count - 3))
        }
        let filled = Int((frac * Double(w)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: w - filled)
        let line = "[\(bar)] " + rest
        if let cols = columns, line.count > cols - 1 { return String(line.prefix(max(cols - 1, 1))) }
        return line
    }

    /// Renders one report.
    public func callAsFunction(_ p: TrainProgress) {
        if isTerminal {
            write("\r\u{1B}[K" + line(p) + (p.step >= p.totalSteps ? "\n" : ""))
            drewLine = p.step < p.totalSteps
        } else if p.step % every == 0 || p.step >= p.totalSteps || p.step == 1 {
            write(line(p) + "\n")
        }
    }

    /// Ends a line left open on a terminal (after a cancelled or failed run).
    public func finish() {
        if isTerminal && drewLine { write("\n"); drewLine = false }
    }

    /// "m:ss" or "h:mm:ss".
    public static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
