// TrainError: the errors of the Train module (arguments, data files, non-finite losses,
// training-state files).

public enum TrainError: Error, CustomStringConvertible {
    /// A bad argument or option: (argument name, why).
    case argument(String, String)
    /// A data file problem: (file, line (1-based, 0 when unknown), why).
    case data(String, Int, String)
    /// A loss or gradient that is NaN or infinite: the step and what was non-finite.
    case nonFinite(step: Int, String)
    /// A training-state checkpoint that does not fit the model or run.
    case checkpoint(String)

    public var description: String {
        switch self {
        case .argument(let a, let why): return "argument '\(a)': \(why)"
        case .data(let f, let line, let why): return line > 0 ? "\(f):\(line): \(why)" : "\(f): \(why)"
        case .nonFinite(let step, let what):
            return "training stopped at step \(step): \(what) is not finite (NaN or infinity); the parameters are those of the last good step"
        case .checkpoint(let s): return "training state: \(s)"
        }
    }
}
