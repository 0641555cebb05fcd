// NNError: the errors of the NN module (optimizer and schedule arguments, optimizer state).
// Their text is that of the training errors they replace ("argument 'lr': ...").

public enum NNError: Error, CustomStringConvertible, Equatable {
    /// A bad argument: (argument name, why).
    case argument(String, String)
    /// Optimizer state (from a training-state file) that does not fit the parameters.
    case state(String)

    public var description: String {
        switch self {
        case .argument(let a, let why): return "argument '\(a)': \(why)"
        case .state(let s): return "training state: \(s)"
        }
    }
}
