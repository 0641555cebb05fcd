// Settings: the user's spelling of a library setting (a string in llx) parsed once, here at the
// command boundary, into the enum the library takes; the error names the argument and the
// accepted values.
import Foundation
import Lang
import NN
import Quant
import Llama

enum Settings {
    /// An LR schedule as transformers' SchedulerType spells it ("constant",
    /// "constant_with_warmup", "linear", "cosine"; any case, '-' for '_').
    static func schedule(_ name: String) throws -> LRSchedule.Kind {
        let n = name.lowercased().replacingOccurrences(of: "-", with: "_")
        guard let k = LRSchedule.Kind(rawValue: n) else {
            throw NNError.argument("schedule", "unknown schedule '\(name)'; expected one of \(LRSchedule.Kind.allCases.map { $0.rawValue }.joined(separator: ", "))")
        }
        return k
    }

    /// `quant:` of llama.load: "none" or "nf4" in any case.
    static func modelQuant(_ name: String) throws -> QuantKind {
        guard let q = QuantKind(rawValue: name.lowercased()) else {
            throw LlamaError.argument("quant must be \"none\", \"nf4\" or \"bf16\", got \"\(name)\"")
        }
        return q
    }

    /// `quant:` of qlora: "nf4" or "none", as written.
    static func adapterQuant(_ name: String, command: String) throws -> QuantKind {
        guard let q = QuantKind(rawValue: name) else {
            throw LangRuntimeError(.value, "\(command): argument 'quant' must be \"nf4\" or \"none\", got \"\(name)\"")
        }
        return q
    }
}
