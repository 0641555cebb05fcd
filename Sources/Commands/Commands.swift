// Commands: the only place that binds the ML libraries to the language. `registerAll` fills a
// registry with the core commands (Lang) and every area's commands; each area lives in its own
// file `Sources/Commands/<Area>Commands.swift` with `static func register(into: Registry)`
// (see the comment at the top of Sources/Lang/Registry.swift for how to write one).
import Lang

public enum Commands {
    /// Registers every command: core first, then each area (later ones may replace core names).
    public static func registerAll(into r: Registry) {
        CoreCommands.register(into: r)
    }

    /// Installs per-session hooks (host operators, seeding) on a fresh interpreter.
    public static func configure(_ interp: Interpreter) {
    }

    /// A ready-to-use interpreter with every command registered.
    public static func makeInterpreter() -> Interpreter {
        let r = Registry()
        registerAll(into: r)
        let interp = Interpreter(registry: r)
        configure(interp)
        return interp
    }
}
