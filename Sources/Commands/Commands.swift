// Commands: the only place that binds the ML libraries to the language. `registerAll` fills a
// registry with the core commands (Lang) and every area's commands; each area lives in its own
// file `Sources/Commands/<Area>Commands.swift` with `static func register(into: Registry)`
// calling one short function per group of commands (see the comment at the top of
// Sources/Lang/Registry.swift for how to write one). A command that fills a library config
// declares its options once, in an OptionTable (Options.swift).
import Foundation
import Lang
import Tokenizer
import Tensor
import Llama
import Train
import Checkpoint
import Quant
import NN

/// The language and the tensors both name their operators BinaryOp / UnaryOp; here they are the language's.
typealias BinaryOp = Lang.BinaryOp
typealias UnaryOp = Lang.UnaryOp

public enum Commands {
    /// Registers every command: core first, then each area (later ones may replace core names).
    public static func registerAll(into r: Registry) {
        CoreCommands.register(into: r)
        TensorCommands.register(into: r)
        ModelCommands.register(into: r)
        TrainCommands.register(into: r)
        EvalCommands.register(into: r)
        QuantCommands.register(into: r)
        CheckpointCommands.register(into: r)
        ExportCommands.register(into: r)
        PlanCommands.register(into: r)
    }

    /// Installs per-session hooks (host operators, seeding) on a fresh interpreter, and a
    /// cancellation token when it has none (the program replaces it with the one its SIGINT
    /// handler sets).
    public static func configure(_ interp: Interpreter) {
        TensorCommands.configure(interp)
        if interp.cancellation == nil { interp.cancellation = CancellationToken() }
    }

    /// A ready-to-use interpreter with every command registered.
    public static func makeInterpreter() -> Interpreter {
        let r = Registry()
        registerAll(into: r)
        let interp = Interpreter(registry: r)
        configure(interp)
        return interp
    }

    /// The benchmarks `llx bench [name]` runs, by name; each writes its lines through `log`.
    public static let benches: [(String, ((String) -> Void) -> Void)] = [
        ("tensor", { TensorBench.run($0) }),
        ("llama", { LlamaBench.run($0) }),
        // The small preset's prefill and decode with f32, bf16 and NF4 weights (scripts/bench_llamacpp.py).
        ("decode", { LlamaBench.runDecode($0) }),
        ("train", { TrainBench.run($0) }),
        ("tokenizer", { TokenizerBench.run($0) }),
        // the language's own speed beside CPython (scripts/bench_lang.py)
        ("lang", { LangBench.run($0) }),
        // checkpoint save/load (HDF5 and safetensors) at the small preset's size (scripts/bench_checkpoint.py adds h5py)
        ("checkpoint", { CheckpointBench.run($0) }),
        // NF4 quantize/dequantize/forward against dense f32 at 4096 x 4096
        ("nf4", { QuantBench.run($0) }),
        // Only by name: the llama3-8b shape from a sharded HF directory through llama.load's NF4 path (LLX_8B_*).
        ("memory8b", { LlamaBench.runMemory8B($0) }),
    ]
    public static var benchNames: [String] { benches.map { $0.0 } }
    static let onlyByName: Set<String> = ["memory8b"]

    /// Runs one benchmark, or all but the ones run only by name when `name` is nil; false when
    /// the name is unknown.
    public static func runBench(_ name: String?, log: @escaping (String) -> Void) -> Bool {
        let chosen = benches.filter { name == nil ? !onlyByName.contains($0.0) : $0.0 == name }
        if chosen.isEmpty {
            log("unknown bench '\(name ?? "")'; benches: " + benchNames.joined(separator: ", "))
            return false
        }
        for (n, b) in chosen { log("== \(n)"); b(log) }
        return true
    }
}

/// NN's token is the interpreter's stop request (Lang names only the protocol).
extension CancellationToken: CancellationSignal {
    public var stopFlag: UnsafePointer<Int32>? { flagAddress }
}

extension Interpreter {
    /// The interpreter's cancellation token, which the commands pass down to training,
    /// evaluation and generation (a token nothing sets when the interpreter has another kind).
    var cancellationToken: CancellationToken {
        if let t = cancellation as? CancellationToken { return t }
        let t = CancellationToken()
        if cancellation == nil { cancellation = t }
        return t
    }
}
