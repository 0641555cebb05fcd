// Lexer: turns llx source text into tokens with their locations. Handles number scale
// suffixes (k K M B Ki Mi), `_` digit separators, strings with escapes and `\(expr)`
// interpolation, `"""` multi-line strings, `#` comments, and newlines (dropped inside `(` `[`).
import Foundation

public enum TokenKind: Equatable {
    case identifier(String)
    case keyword(String)
    case int(Int)
    case double(Double)
    case string([StringPart])
    case op(String)          // operators and punctuation
    case newline
    case eof
}

/// A piece of a string literal: literal text or an interpolated expression's source.
public enum StringPart: Equatable {
    case text(String)
    case code(String, SourceLocation)
}

public struct Token: Equatable {
    public var kind: TokenKind
    public var location: SourceLocation
    public var text: String { Token.describe(kind) }
    static func describe(_ k: TokenKind) -> String {
        switch k {
        case .identifier(let s): return "'\(s)'"
        case .keyword(let s): return "'\(s)'"
        case .int(let i): return "'\(i)'"
        case .double(let d): return "'\(d)'"
        case .string: return "string"
        case .op(let s): return "'\(s)'"
        case .newline: return "end of line"
        case .eof: return "end of input"
        }
    }
}

public let keywords: Set<String> = ["let", "fn", "if", "else", "for", "in", "while", "break",
                                    "continue", "return", "true", "false", "nil", "not", "and", "or"]

public struct Lexer {
    let chars: [Unicode.Scalar]
    let file: String
    var pos = 0
    var line: Int
    var col: Int
    var tokens: [Token] = []
    var errors: [Diagnostic] = []
    var brackets: [Unicode.Scalar] = []   // open ( [ { stack: newlines are dropped inside ( and [
    var bracketOpen: [(id: Int, location: SourceLocation)] = []   // parallel to `brackets`
    var nextBracketID = 0
    /// Newlines dropped inside ( or [: where the token would have gone and the bracket it was in.
    var dropped: [(index: Int, location: SourceLocation, bracket: Int)] = []
    /// Put back the newlines dropped inside a bracket never closed, so that a parse after
    /// `fn f(x {` still sees the statements below it line by line (error recovery).
    var restoreUnclosed = false
    /// The locations of the newline tokens put back.
    var restored: Set<Int> = []   // indices into tokens
    /// Whether a ( [ or { was left open.
    public private(set) var unclosed = false

    public init(_ text: String, file: String, line: Int = 1, column: Int = 1) {
        chars = Array(text.unicodeScalars); self.file = file; self.line = line; self.col = column
    }

    /// Tokenizes the whole text. Errors (bad characters, unterminated strings) are collected.
    public static func tokenize(_ text: String, file: String, line: Int = 1, column: Int = 1) -> ([Token], [Diagnostic]) {
        var lx = Lexer(text, file: file, line: line, column: column)
        lx.run()
        return (lx.tokens, lx.errors)
    }

    /// Tokenizes for the parser: also whether a bracket was left open, and (with
    /// `restoreUnclosed`) the locations of the newline tokens put back inside it.
    static func tokenizeForParse(_ text: String, file: String, line: Int, column: Int, restoreUnclosed: Bool)
        -> (tokens: [Token], errors: [Diagnostic], unclosed: Bool, restored: [SourceLocation]) {
        var lx = Lexer(text, file: file, line: line, column: column)
        lx.restoreUnclosed = restoreUnclosed
        lx.run()
        let locs = lx.tokens.enumerated().filter { lx.restored.contains($0.offset) }.map { $0.element.location }
        return (lx.tokens, lx.errors, lx.unclosed, locs)
    }

    var loc: SourceLocation { SourceLocation(file: file, line: line, column: col) }
    func peek(_ o: Int = 0) -> Unicode.Scalar? { pos + o < chars.count ? chars[pos + o] : nil }
    mutating func advance() -> Unicode.Scalar {
        let c = chars[pos]; pos += 1
        if c == "\n" { line += 1; col = 1 } else { col += 1 }
        return c
    }
    static func isIdentStart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || CharacterSet.letters.contains(c)
    }
    static func isIdentChar(_ c: Unicode.Scalar) -> Bool {
        c == "_" || CharacterSet.alphanumerics.contains(c)
    }
    static func isDigit(_ c: Unicode.Scalar?) -> Bool {
        guard let c = c else { return false }
        return c.value >= 48 && c.value <= 57
    }

    mutating func run() {
        while let c = peek() {
            let start = loc
            if c == " " || c == "\t" || c == "\r" { _ = advance(); continue }
            if c == "#" { while let d = peek(), d != "\n" { _ = advance() }; continue }
            if c == "\\" && peek(1) == "\n" { _ = advance(); _ = advance(); continue } // explicit continuation
            if c == "\n" {
                _ = advance()
                let top = brackets.last
                if top == "(" || top == "[" {
                    dropped.append((tokens.count, start, bracketOpen[bracketOpen.count - 1].id))
                    continue
                }
                if case .newline? = tokens.last?.kind { continue }
                if tokens.isEmpty { continue }
                tokens.append(Token(kind: .newline, location: start)); continue
            }
            if Lexer.isDigit(c) || (c == "." && Lexer.isDigit(peek(1)) && !(tokens.last.map(Lexer.endsOperand) ?? false)) {
                lexNumber(start); continue
            }
            if Lexer.isIdentStart(c) {
                var s = ""
                while let d = peek(), Lexer.isIdentChar(d) { s.unicodeScalars.append(advance()) }
                tokens.append(Token(kind: keywords.contains(s) ? .keyword(s) : .identifier(s), location: start))
                continue
            }
            if c == "\"" { lexString(start); continue }
            lexOperator(start)
        }
        if let open = brackets.last {
            // at the bracket left open (the end of the input is where it was noticed)
            unclosed = true
            errors.append(Diagnostic(.syntax, "unclosed '\(open)'", at: bracketOpen[bracketOpen.count - 1].location, atEndOfInput: true))
            if restoreUnclosed {
                let open = Set(bracketOpen.map { $0.id })
                var offset = 0
                for d in dropped where open.contains(d.bracket) {
                    let i = d.index + offset
                    if i == 0 { continue }
                    if case .newline = tokens[i - 1].kind { continue }
                    if i < tokens.count, case .newline = tokens[i].kind { continue }
                    tokens.insert(Token(kind: .newline, location: d.location), at: i)
                    restored.insert(i)
                    offset += 1
                }
            }
        }
        tokens.append(Token(kind: .eof, location: loc))
    }

    static func endsOperand(_ t: Token) -> Bool {
        switch t.kind {
        case .identifier, .int, .double, .string: return true
        case .op(let o): return o == ")" || o == "]" || o == "}"
        case .keyword(let k): return k == "true" || k == "false" || k == "nil"
        default: return false
        }
    }

    mutating func lexNumber(_ start: SourceLocation) {
        var digits = ""
        var isFloat = false
        while let d = peek(), Lexer.isDigit(d) || d == "_" { let x = advance(); if x != "_" { digits.unicodeScalars.append(x) } }
        if peek() == ".", Lexer.isDigit(peek(1)) {
            isFloat = true; digits.unicodeScalars.append(advance())
            while let d = peek(), Lexer.isDigit(d) || d == "_" { let x = advance(); if x != "_" { digits.unicodeScalars.append(x) } }
        }
        if let e = peek(), e == "e" || e == "E",
           Lexer.isDigit(peek(1)) || ((peek(1) == "-" || peek(1) == "+") && Lexer.isDigit(peek(2))) {
            isFloat = true
            digits.unicodeScalars.append(advance())
            if peek() == "-" || peek() == "+" { digits.unicodeScalars.append(advance()) }
            while let d = peek(), Lexer.isDigit(d) { digits.unicodeScalars.append(advance()) }
        }
        // scale suffix
        var scale: Int? = nil
        var suffixLen = 0
        if let s = peek() {
            let next = peek(1)
            if (s == "K" || s == "M") && next == "i" && !(peek(2).map(Lexer.isIdentChar) ?? false) {
                scale = s == "K" ? 1024 : 1024 * 1024; suffixLen = 2
            } else if "kKMB".unicodeScalars.contains(s) && !(next.map(Lexer.isIdentChar) ?? false) {
                switch s { case "k", "K": scale = 1_000; case "M": scale = 1_000_000; default: scale = 1_000_000_000 }
                suffixLen = 1
            }
        }
        if let next = peek(suffixLen), scale != nil || true, Lexer.isIdentStart(next) {
            // a letter glued to a number that is not a known suffix
            var bad = ""
            while let d = peek(), Lexer.isIdentChar(d) { bad.unicodeScalars.append(advance()) }
            errors.append(Diagnostic(.syntax, "invalid number suffix '\(bad)' (use k, K, M, B, Ki or Mi)", at: start))
            tokens.append(Token(kind: .int(0), location: start)); return
        }
        for _ in 0..<suffixLen { _ = advance() }
        if isFloat {
            guard var v = Double(digits) else {
                errors.append(Diagnostic(.syntax, "invalid number '\(digits)'", at: start)); tokens.append(Token(kind: .int(0), location: start)); return
            }
            if let sc = scale {
                v *= Double(sc)
                if v == v.rounded(), abs(v) < 9.0e18 { tokens.append(Token(kind: .int(Int(v)), location: start)); return }
            }
            tokens.append(Token(kind: .double(v), location: start))
        } else {
            guard let v = Int(digits) else {
                errors.append(Diagnostic(.syntax, "integer literal '\(digits)' is too large", at: start)); tokens.append(Token(kind: .int(0), location: start)); return
            }
            let (r, o) = v.multipliedReportingOverflow(by: scale ?? 1)
            if o { errors.append(Diagnostic(.syntax, "integer literal is too large", at: start)) }
            tokens.append(Token(kind: .int(r), location: start))
        }
    }

    mutating func lexString(_ start: SourceLocation) {
        let triple = peek(1) == "\"" && peek(2) == "\""
        _ = advance(); if triple { _ = advance(); _ = advance() }
        // a triple-quoted string starting with a newline drops that newline
        if triple, peek() == "\n" { _ = advance() }
        var parts: [StringPart] = []
        var cur = ""
        while true {
            guard let c = peek() else {
                errors.append(Diagnostic(.syntax, "unterminated string", at: start, atEndOfInput: true))
                break
            }
            if triple {
                if c == "\"" && peek(1) == "\"" && peek(2) == "\"" { _ = advance(); _ = advance(); _ = advance(); break }
            } else {
                if c == "\"" { _ = advance(); break }
                if c == "\n" { errors.append(Diagnostic(.syntax, "unterminated string (use \"\"\" for a multi-line string)", at: start)); break }
            }
            if c == "\\" {
                let escLoc = loc
                _ = advance()
                guard let e = peek() else { continue }
                if e == "(" {
                    _ = advance()
                    let codeLoc = loc
                    var depth = 1
                    var code = ""
                    var inStr = false
                    while let d = peek() {
                        if !triple && d == "\n" { break }
                        if inStr {
                            if d == "\\" { code.unicodeScalars.append(advance()); if peek() != nil { code.unicodeScalars.append(advance()) }; continue }
                            if d == "\"" { inStr = false }
                        } else {
                            if d == "\"" { inStr = true }
                            if d == "(" { depth += 1 }
                            if d == ")" { depth -= 1; if depth == 0 { break } }
                        }
                        code.unicodeScalars.append(advance())
                    }
                    if peek() == ")" { _ = advance() } else {
                        errors.append(Diagnostic(.syntax, "unterminated interpolation '\\('", at: escLoc, atEndOfInput: peek() == nil))
                    }
                    if !cur.isEmpty { parts.append(.text(cur)); cur = "" }
                    parts.append(.code(code, codeLoc))
                    continue
                }
                _ = advance()
                switch e {
                case "n": cur += "\n"
                case "t": cur += "\t"
                case "r": cur += "\r"
                case "0": cur += "\0"
                case "\"": cur += "\""
                case "\\": cur += "\\"
                case "\n": break // line continuation inside """
                default:
                    errors.append(Diagnostic(.syntax, "unknown escape '\\\(e)' in string", at: escLoc))
                }
                continue
            }
            cur.unicodeScalars.append(advance())
        }
        if !cur.isEmpty || parts.isEmpty { parts.append(.text(cur)) }
        if triple, case .text(let last)? = parts.last, let nl = last.lastIndex(of: "\n"),
           last[last.index(after: nl)...].allSatisfy({ $0 == " " || $0 == "\t" }) {
            // Swift-style: the closing """ on its own line drops the last newline, and its
            // indentation is removed from every line.
            let indent = String(last[last.index(after: nl)...])
            parts[parts.count - 1] = .text(String(last[..<nl]))
            if !indent.isEmpty {
                parts = parts.enumerated().map { i, p in
                    guard case .text(var s) = p else { return p }
                    if i == 0 && s.hasPrefix(indent) { s.removeFirst(indent.count) }
                    return .text(s.replacingOccurrences(of: "\n" + indent, with: "\n"))
                }
            }
        }
        tokens.append(Token(kind: .string(parts), location: start))
    }

    static let threeCharOps: [String] = []
    static let twoCharOps: Set<String> = ["**", "..", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "//", "->"]
    static let oneCharOps: Set<Unicode.Scalar> = ["+", "-", "*", "/", "%", "@", "<", ">", "=", ".", ",", ":", "(", ")", "[", "]", "{", "}", ";"]

    mutating func lexOperator(_ start: SourceLocation) {
        let c = peek()!
        if let d = peek(1) {
            var two = ""; two.unicodeScalars.append(c); two.unicodeScalars.append(d)
            if Lexer.twoCharOps.contains(two) {
                _ = advance(); _ = advance()
                tokens.append(Token(kind: .op(two), location: start)); return
            }
        }
        if Lexer.oneCharOps.contains(c) {
            _ = advance()
            switch c {
            case "(", "[", "{":
                brackets.append(c)
                bracketOpen.append((nextBracketID, start))
                nextBracketID += 1
            case ")", "]", "}":
                let want: Unicode.Scalar = c == ")" ? "(" : c == "]" ? "[" : "{"
                if brackets.last == want { brackets.removeLast(); bracketOpen.removeLast() }
                else if let i = brackets.lastIndex(of: want) { brackets.removeSubrange(i...); bracketOpen.removeSubrange(i...) }
            default: break
            }
            if c == ";" { tokens.append(Token(kind: .newline, location: start)); return }
            tokens.append(Token(kind: .op(String(c)), location: start)); return
        }
        _ = advance()
        if c == "!" {
            errors.append(Diagnostic(.syntax, "unexpected character '!' (use 'not')", at: start))
        } else {
            errors.append(Diagnostic(.syntax, "unexpected character '\(c)'", at: start))
        }
    }
}
