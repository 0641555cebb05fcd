// Options: a command's options declared once, in a table next to the settings they fill. Each
// entry is the option's parameter (name, type, default, doc: the registry takes the signature,
// help() and tab completion from it, and checks the type when binding) and where the value goes
// in the settings (a library config such as TrainConfig, whose library checks the values, e.g.
// Trainer.init), or a function that parses and checks it (a schedule name through Settings).
// The defaults are read from the settings' own initial values, so a library's default is the
// llx default without being written twice.
//
//     static let options = OptionTable(PasskeyConfig(lengths: [], depths: [])) { t in [
//         t.int("trials", \.trials), t.seed(\.seed), t.int("max_tokens", \.maxTokens), t.bool("chat", \.chat),
//     ] }
//     r.register("eval.passkey", [m, tok, ...] + options.params, help: "...") { a, interp in
//         var c = PasskeyConfig(lengths: ..., depths: ...)
//         try options.apply(to: &c, a, interp)
import Lang

/// One option: its parameter and how its value sets the settings.
struct Option<Settings> {
    let param: Param
    let apply: (inout Settings, BoundArguments, Interpreter) throws -> Void
}

/// The options of a command that fills `Settings`, in signature order.
struct OptionTable<Settings> {
    /// The settings the defaults are read from.
    let defaults: Settings
    private(set) var options: [Option<Settings>] = []

    init(_ defaults: Settings, _ build: (OptionTable) -> [Option<Settings>]) {
        self.defaults = defaults
        options = build(self)
    }

    /// The parameters, for the command's signature.
    var params: [Param] { options.map { $0.param } }

    /// Sets every option's value, in table order (so errors come in signature order).
    func apply(to settings: inout Settings, _ a: BoundArguments, _ interp: Interpreter) throws {
        for o in options { try o.apply(&settings, a, interp) }
    }

    /// The settings from the defaults with every option applied.
    func settings(_ a: BoundArguments, _ interp: Interpreter) throws -> Settings {
        var s = defaults
        try apply(to: &s, a, interp)
        return s
    }

    // MARK: entries

    /// Any option: a parameter and a function that sets the settings from the arguments.
    func custom(_ param: Param, _ apply: @escaping (inout Settings, BoundArguments, Interpreter) throws -> Void) -> Option<Settings> {
        Option(param: param, apply: apply)
    }

    func int(_ name: String, _ key: WritableKeyPath<Settings, Int>, doc: String = "") -> Option<Settings> {
        custom(.named(name, .int, default: .int(defaults[keyPath: key]), doc: doc)) { s, a, _ in s[keyPath: key] = try a.int(name) }
    }

    /// An int option that may be left out (nil).
    func optionalInt(_ name: String, _ key: WritableKeyPath<Settings, Int?>, doc: String = "") -> Option<Settings> {
        custom(.named(name, .int, optional: true, doc: doc)) { s, a, _ in s[keyPath: key] = try a.optionalInt(name) }
    }

    func double(_ name: String, _ key: WritableKeyPath<Settings, Double>, doc: String = "") -> Option<Settings> {
        custom(.named(name, .number, default: .double(defaults[keyPath: key]), doc: doc)) { s, a, _ in s[keyPath: key] = try a.double(name) }
    }

    func bool(_ name: String, _ key: WritableKeyPath<Settings, Bool>, doc: String = "") -> Option<Settings> {
        custom(.named(name, .bool, default: .bool(defaults[keyPath: key]), doc: doc)) { s, a, _ in s[keyPath: key] = try a.bool(name) }
    }

    /// A string option that may be left out (nil).
    func optionalString(_ name: String, _ key: WritableKeyPath<Settings, String?>, doc: String = "") -> Option<Settings> {
        custom(.named(name, .string, optional: true, doc: doc)) { s, a, _ in s[keyPath: key] = try a.optionalString(name) }
    }

    /// `seed:`, optional; when left out, the session's `seed(n)` or 0 (Convert.seed).
    func seed(_ key: WritableKeyPath<Settings, UInt64>, doc: String = "") -> Option<Settings> {
        custom(.named("seed", .int, optional: true, doc: doc)) { s, a, interp in s[keyPath: key] = try Convert.seed(a, interp) }
    }
}
