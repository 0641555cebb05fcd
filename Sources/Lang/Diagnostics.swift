// Source locations and diagnostics: every token, AST node and runtime error carries a
// `SourceLocation`; `LangError` formats as `file:line:col: error: message`, the source line and a
// caret under the column, the way compilers print them.
import Foundation

/// A place in a source text: file name, 1-based line and column (in characters).
public struct SourceLocation: Equatable, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int
    public var column: Int
    public init(file: String, line: Int, column: Int) {
        self.file = file; self.line = line; self.column = column
    }
    public static let unknown = SourceLocation(file: "<unknown>", line: 0, column: 0)
    public var description: String { "\(file):\(line):\(column)" }
}

/// A source text that diagnostics can quote lines from.
public final class SourceFile {
    public let name: String
    public let text: String
    public let lines: [Substring]
    public init(name: String, text: String) {
        self.name = name; self.text = text
        self.lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    }
    public func line(_ n: Int) -> String? {
        guard n >= 1, n <= lines.count else { return nil }
        var s = String(lines[n - 1])
        if s.hasSuffix("\r") { s.removeLast() }
        return s
    }
}

/// What went wrong, by kind; tests and the REPL look at the kind (e.g. an incomplete input).
public enum ErrorKind: String, Sendable {
    case syntax        // lexer or parser
    case name          // undefined variable / command / field
    case type          // wrong type of a value or argument
    case value         // right type, bad value (range, shape, ...)
    case argument      // unknown / missing / duplicate argument
    case index         // index out of range, bad key
    case io            // files
    case interrupted   // Ctrl-C
    case runtime       // anything else raised by a command
}

/// One diagnostic: a located error message. Several may come from one parse.
public struct Diagnostic: Error, CustomStringConvertible {
    public var kind: ErrorKind
    public var message: String
    public var location: SourceLocation
    /// True when the error is "unexpected end of input": the REPL then reads another line.
    public var atEndOfInput: Bool
    public init(_ kind: ErrorKind, _ message: String, at location: SourceLocation, atEndOfInput: Bool = false) {
        self.kind = kind; self.message = message; self.location = location; self.atEndOfInput = atEndOfInput
    }
    public var description: String { "\(location): error: \(message)" }

    /// `file:line:col: error: message`, the source line and a caret under the column.
    public func formatted(source: SourceFile?) -> String {
        var out = "\(location): error: \(message)"
        if let src = source, src.name == location.file, let text = src.line(location.line) {
            out += "\n" + text + "\n"
            let pad = text.prefix(max(0, location.column - 1)).map { $0 == "\t" ? "\t" : " " }.joined()
            out += pad + "^"
        } else if let text = SourceRegistry.shared.line(file: location.file, line: location.line) {
            out += "\n" + text + "\n"
            let pad = text.prefix(max(0, location.column - 1)).map { $0 == "\t" ? "\t" : " " }.joined()
            out += pad + "^"
        }
        return out
    }
}

/// All errors of one run of the lexer + parser.
public struct DiagnosticList: Error, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public init(_ d: [Diagnostic]) { diagnostics = d }
    public var description: String { diagnostics.map { $0.description }.joined(separator: "\n") }
    /// True when the only problem is that the input ended too early (REPL continuation).
    /// (An error before the end, e.g. `let = [1,`, is reported at once instead.)
    public var isIncomplete: Bool { !diagnostics.isEmpty && diagnostics.allSatisfy { $0.atEndOfInput } }
    public func formatted(source: SourceFile?) -> String {
        diagnostics.map { $0.formatted(source: source) }.joined(separator: "\n")
    }
}

/// Remembers the texts of the sources an interpreter has run, so a runtime error raised in a
/// function defined in another file (or an earlier REPL line) can still quote its line.
public final class SourceRegistry: @unchecked Sendable {
    public static let shared = SourceRegistry()
    private var files: [String: SourceFile] = [:]
    private let lock = NSLock()
    public func add(_ f: SourceFile) { lock.lock(); files[f.name] = f; lock.unlock() }
    public func file(_ name: String) -> SourceFile? { lock.lock(); defer { lock.unlock() }; return files[name] }
    public func line(file: String, line: Int) -> String? { self.file(file)?.line(line) }
}

/// Errors thrown by host code (commands, host objects) before a location is known; the
/// interpreter attaches the location of the call or expression that raised it.
public struct LangRuntimeError: Error, CustomStringConvertible {
    public var kind: ErrorKind
    public var message: String
    /// The argument the error is about, when it is an unknown or repeated named argument (the
    /// interpreter then points the caret at it).
    public var argument: String? = nil
    public init(_ kind: ErrorKind, _ message: String) { self.kind = kind; self.message = message }
    public init(_ kind: ErrorKind, _ message: String, argument: String) { self.kind = kind; self.message = message; self.argument = argument }
    public init(_ message: String) { self.kind = .runtime; self.message = message }
    public var description: String { message }
}
