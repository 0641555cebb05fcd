// Settings: the user's spelling of a library setting (a string in llx) parsed once, here at the
// command boundary, into the enum the library takes; the error names the argument and the
// accepted values.
import Foundation
import NN

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
}
