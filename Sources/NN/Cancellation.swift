// Cancellation: the one token that asks long work to stop. The program's SIGINT handler sets
// it (REPL/REPLMain.swift, REPL/LineEditor.swift); the interpreter asks it between statements
// (through Lang's CancellationSignal, which Commands makes this token conform to), and the
// commands pass it down: to Trainer.run (checked between micro-steps), to the evaluators
// (EvalHooks.cancel, between cells, items and windows) and to generation (between tokens).
// Whoever reports the stop resets it.

/// A stop request, settable from a signal handler (one aligned word, no lock, no allocation).
public final class CancellationToken: @unchecked Sendable {
    private let flag: UnsafeMutablePointer<Int32>

    public init() {
        flag = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        flag.initialize(to: 0)
    }

    deinit { flag.deallocate() }

    /// Whether a stop was requested (and not yet reset).
    public var isCancelled: Bool { flag.pointee != 0 }

    /// Requests a stop.
    public func cancel() { flag.pointee = 1 }

    /// Clears the request (after the stop was reported).
    public func reset() { flag.pointee = 0 }

    /// The flag itself (non-zero: a stop was requested), for a caller that asks very often
    /// (the interpreter, between statements) and wants one load, not a call.
    public var flagAddress: UnsafePointer<Int32> { UnsafePointer(flag) }
}
