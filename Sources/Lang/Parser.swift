// Parser: recursive descent from tokens to the AST. Reports several syntax errors per parse by
// resynchronizing at statement boundaries; an error at the end of the input is marked
// `atEndOfInput` so the REPL can read another line instead.

public struct Parser {
    var tokens: [Token]
    var pos = 0
    var errors: [Diagnostic] = []
    var noRecord = false      // inside if/while/for headers `{` starts the body, not a record
    var depth = 0             // nesting of expressions and blocks (bounded: the REPL must survive any input)
    static let maxDepth = 150
    let file: String

    /// Parses a whole program. Throws a `DiagnosticList` with every syntax error found.
    public static func parse(_ text: String, file: String, line: Int = 1, column: Int = 1) throws -> [Stmt] {
        var lexed = Lexer.tokenizeForParse(text, file: file, line: line, column: column, restoreUnclosed: false)
        var p = Parser(tokens: lexed.tokens, file: file)
        var stmts = p.parseProgram()
        if lexed.unclosed && p.errors.contains(where: { !$0.atEndOfInput }) {
            // A bracket left open swallowed the newlines after it (`fn f(x {`), so the rest of
            // the input parsed as one line. Not a REPL entry waiting for its end: parse again
            // with those newlines put back, to report the errors below it too.
            lexed = Lexer.tokenizeForParse(text, file: file, line: line, column: column, restoreUnclosed: true)
            p = Parser(tokens: lexed.tokens, file: file)
            stmts = p.parseProgram()
        }
        var all = lexed.errors
        // what the open bracket explains (a parse error at a newline put back or at the end)
        // is left to its "unclosed" error
        let eofLoc = lexed.tokens.last?.location
        let explained = Set(lexed.restored.map { "\($0)" })
        for e in p.errors where !all.contains(where: { $0.location == e.location }) {
            if lexed.unclosed && (e.location == eofLoc || explained.contains("\(e.location)")) { continue }
            all.append(e)
        }
        if !all.isEmpty {
            all.sort { ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column) }
            throw DiagnosticList(all)
        }
        return stmts
    }

    init(tokens: [Token], file: String) { self.tokens = tokens; self.file = file }

    struct ParseFailure: Error {}

    var current: Token { tokens[min(pos, tokens.count - 1)] }
    var atEOF: Bool { if case .eof = current.kind { return true }; return false }

    func isOp(_ s: String) -> Bool { if case .op(let o) = current.kind, o == s { return true }; return false }
    func isKeyword(_ s: String) -> Bool { if case .keyword(let k) = current.kind, k == s { return true }; return false }
    var isNewline: Bool { if case .newline = current.kind { return true }; return false }

    @discardableResult mutating func advance() -> Token { let t = current; if pos < tokens.count - 1 { pos += 1 }; return t }
    mutating func skipNewlines() { while isNewline { advance() } }

    mutating func fail(_ message: String, at t: Token? = nil) -> ParseFailure {
        let tok = t ?? current
        var eof = false
        if case .eof = tok.kind { eof = true }
        errors.append(Diagnostic(.syntax, message, at: tok.location, atEndOfInput: eof))
        return ParseFailure()
    }

    mutating func expectOp(_ s: String, _ context: String) throws {
        if isOp(s) { advance(); return }
        throw fail("expected '\(s)' \(context), found \(current.text)")
    }

    mutating func identifier(_ context: String) throws -> String {
        if case .identifier(let s) = current.kind { advance(); return s }
        if case .keyword(let k) = current.kind {
            throw fail("'\(k)' is a keyword and cannot be used as a name \(context)")
        }
        throw fail("expected a name \(context), found \(current.text)")
    }

    // MARK: statements

    mutating func parseProgram() -> [Stmt] {
        var out: [Stmt] = []
        skipNewlines()
        while !atEOF {
            if isOp("}") { _ = fail("unexpected '}'"); advance(); skipNewlines(); continue }
            if let s = statementRecovering() { out.append(s) }
            skipNewlines()
        }
        return out
    }

    mutating func statementRecovering() -> Stmt? {
        do {
            let s = try statement()
            if !(isNewline || atEOF || isOp("}")) {
                throw fail("expected end of line after statement, found \(current.text)")
            }
            return s
        } catch {
            synchronize()
            return nil
        }
    }

    /// Skips to the end of the current statement (a newline at this brace depth).
    mutating func synchronize() {
        var depth = 0
        while !atEOF {
            if isOp("{") { depth += 1 }
            if isOp("}") { if depth == 0 { return }; depth -= 1 }
            if isNewline && depth == 0 { return }
            advance()
        }
    }

    mutating func block(_ context: String) throws -> [Stmt] {
        guard isOp("{") else { throw fail("expected '{' \(context), found \(current.text)") }
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxDepth { throw fail("blocks nested too deeply (more than \(Parser.maxDepth) levels)") }
        advance()
        var out: [Stmt] = []
        skipNewlines()
        while !isOp("}") {
            if atEOF { throw fail("expected '}' to close the block \(context)") }
            if let s = statementRecovering() { out.append(s) }
            skipNewlines()
        }
        advance()
        return out
    }

    mutating func statement() throws -> Stmt {
        let t = current
        if case .keyword(let k) = t.kind {
            switch k {
            case "let":
                advance()
                let name = try identifier("after 'let'")
                try expectOp("=", "after 'let \(name)'")
                skipNewlines()
                return Stmt(.letBinding(name, try expression()), t.location)
            case "fn":
                if case .identifier = tokens[min(pos + 1, tokens.count - 1)].kind {
                    advance()
                    let name = try identifier("after 'fn'")
                    return Stmt(.function(try functionRest(name: name, at: t.location)), t.location)
                }
            case "if": return try ifStatement()
            case "for":
                advance()
                var names = [try identifier("after 'for'")]
                if isOp(",") { advance(); names.append(try identifier("after ','")) }
                guard isKeyword("in") else { throw fail("expected 'in' after 'for \(names.joined(separator: ","))', found \(current.text)") }
                advance()
                let seq = try headerExpression()
                return Stmt(.forStmt(names, seq, try block("of the 'for' loop")), t.location)
            case "while":
                advance()
                let c = try headerExpression()
                return Stmt(.whileStmt(c, try block("of the 'while' loop")), t.location)
            case "break": advance(); return Stmt(.breakStmt, t.location)
            case "continue": advance(); return Stmt(.continueStmt, t.location)
            case "return":
                advance()
                if isNewline || atEOF || isOp("}") { return Stmt(.returnStmt(nil), t.location) }
                return Stmt(.returnStmt(try expression()), t.location)
            case "else": throw fail("'else' without 'if'")
            default: break
            }
        }
        let e = try expression()
        if isOp("=") {
            let eq = advance()
            try checkTarget(e, eq)
            skipNewlines()
            return Stmt(.assign(e, try expression()), eq.location)
        }
        for (o, b) in [("+=", BinaryOp.add), ("-=", .sub), ("*=", .mul), ("/=", .div)] where isOp(o) {
            let eq = advance()
            try checkTarget(e, eq)
            skipNewlines()
            return Stmt(.compoundAssign(b, e, try expression()), eq.location)
        }
        return Stmt(.expression(e), e.location)
    }

    mutating func checkTarget(_ e: Expr, _ eq: Token) throws {
        switch e.kind {
        case .identifier, .field, .subscriptAccess: return
        default: throw fail("cannot assign to this expression (expected a name, a field or an element)", at: Token(kind: eq.kind, location: e.location))
        }
    }

    mutating func headerExpression() throws -> Expr {
        let saved = noRecord; noRecord = true
        defer { noRecord = saved }
        return try expression()
    }

    mutating func ifStatement() throws -> Stmt {
        let t = advance()
        var branches: [(Expr, [Stmt])] = []
        let c = try headerExpression()
        branches.append((c, try block("of the 'if'")))
        var elseBody: [Stmt]? = nil
        while true {
            // `else` may follow on the next line
            let save = pos
            skipNewlines()
            guard isKeyword("else") else { pos = save; break }
            advance()
            if isKeyword("if") {
                advance()
                let c2 = try headerExpression()
                branches.append((c2, try block("of the 'else if'")))
            } else {
                elseBody = try block("of the 'else'")
                break
            }
        }
        return Stmt(.ifStmt(branches, elseBody), t.location)
    }

    mutating func functionRest(name: String, at loc: SourceLocation) throws -> FunctionDecl {
        try expectOp("(", "to start the parameters of '\(name)'")
        var params: [FunctionParameter] = []
        var sawDefault = false
        skipNewlines()
        while !isOp(")") {
            let pt = current
            let pname = try identifier("for a parameter")
            var def: Expr? = nil
            if isOp(":") || isOp("=") {
                advance(); skipNewlines()
                def = try expression(); sawDefault = true
            } else if sawDefault {
                throw fail("parameter '\(pname)' without a default follows a parameter with one", at: pt)
            }
            if params.contains(where: { $0.name == pname }) { throw fail("duplicate parameter '\(pname)'", at: pt) }
            params.append(FunctionParameter(name: pname, defaultValue: def, location: pt.location))
            skipNewlines()
            if isOp(",") { advance(); skipNewlines() } else if !isOp(")") {
                throw fail("expected ',' or ')' in the parameters of '\(name)', found \(current.text)")
            }
        }
        advance()
        let saved = noRecord; noRecord = false
        defer { noRecord = saved }
        let body = try block("of function '\(name)'")
        return FunctionDecl(name: name, parameters: params, body: body, location: loc)
    }

    // MARK: expressions (lowest precedence first)

    public mutating func expression() throws -> Expr {
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxDepth { throw fail("expression nested too deeply (more than \(Parser.maxDepth) levels)") }
        return try orExpr()
    }

    mutating func binaryLevel(_ ops: [String: BinaryOp], keywordOps: [String: BinaryOp] = [:], next: (inout Parser) throws -> Expr) throws -> Expr {
        var lhs = try next(&self)
        while true {
            var op: BinaryOp? = nil
            if case .op(let o) = current.kind { op = ops[o] }
            if case .keyword(let k) = current.kind { op = keywordOps[k] }
            guard let bop = op else { return lhs }
            let t = advance()
            skipNewlines()
            let rhs = try next(&self)
            lhs = Expr(.binary(bop, lhs, rhs), t.location)
        }
    }

    mutating func orExpr() throws -> Expr { try binaryLevel([:], keywordOps: ["or": .or]) { try $0.andExpr() } }
    mutating func andExpr() throws -> Expr { try binaryLevel([:], keywordOps: ["and": .and]) { try $0.comparison() } }
    /// Comparisons chain as in Python: `a < b < c` is `a < b and b < c`; `x in xs`, `x not in xs`.
    mutating func comparison() throws -> Expr {
        let ops: [String: BinaryOp] = ["==": .eq, "!=": .ne, "<": .lt, "<=": .le, ">": .gt, ">=": .ge]
        let first = try rangeExpr()
        var operands = [first]
        var opsSeen: [(BinaryOp, SourceLocation)] = []
        while true {
            var op: BinaryOp? = nil
            if case .op(let o) = current.kind { op = ops[o] }
            if isKeyword("in") { op = .isIn }
            if isKeyword("not"), case .keyword("in") = tokens[min(pos + 1, tokens.count - 1)].kind { op = .notIn }
            guard let bop = op else { break }
            let t = advance()
            if bop == .notIn { advance() }
            skipNewlines()
            opsSeen.append((bop, t.location))
            operands.append(try rangeExpr())
        }
        if opsSeen.isEmpty { return first }
        var result: Expr? = nil
        for (i, (op, loc)) in opsSeen.enumerated() {
            let cmp = Expr(.binary(op, operands[i], operands[i + 1]), loc)
            result = result.map { Expr(.binary(.and, $0, cmp), loc) } ?? cmp
        }
        return result!
    }
    mutating func rangeExpr() throws -> Expr { try binaryLevel(["..": .range]) { try $0.additive() } }
    mutating func additive() throws -> Expr { try binaryLevel(["+": .add, "-": .sub]) { try $0.multiplicative() } }
    mutating func multiplicative() throws -> Expr {
        try binaryLevel(["*": .mul, "/": .div, "//": .floorDiv, "%": .mod, "@": .matmul]) { try $0.unary() }
    }

    mutating func unary() throws -> Expr {
        let t = current
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxDepth { throw fail("expression nested too deeply (more than \(Parser.maxDepth) levels)") }
        if isOp("-") { advance(); return Expr(.unary(.neg, try unary()), t.location) }
        if isOp("+") { advance(); return Expr(.unary(.pos, try unary()), t.location) }
        if isKeyword("not") { advance(); return Expr(.unary(.not, try unary()), t.location) }
        return try power()
    }

    mutating func power() throws -> Expr {
        let base = try postfix()
        if isOp("**") {
            let t = advance()
            skipNewlines()
            let exp = try unary()   // right-associative; allows 2 ** -1
            return Expr(.binary(.pow, base, exp), t.location)
        }
        return base
    }

    mutating func postfix() throws -> Expr {
        var e = try primary()
        while true {
            if isOp("(") {
                let t = advance()
                let saved = noRecord; noRecord = false
                defer { noRecord = saved }
                _ = t
                e = Expr(.call(e, try arguments()), Parser.start(of: e))
            } else if isOp(".") {
                advance()
                let t = current
                var name: String
                switch t.kind {
                case .identifier(let s): name = s
                case .keyword(let k): name = k
                case .int(let i): name = String(i)
                default: throw fail("expected a field name after '.', found \(t.text)")
                }
                advance()
                _ = name
                e = Expr(.field(e, name), t.location)
                name = ""
            } else if isOp("[") {
                let t = advance()
                let saved = noRecord; noRecord = false
                defer { noRecord = saved }
                e = Expr(.subscriptAccess(e, try subscriptItems()), t.location)
            } else {
                return e
            }
        }
    }

    /// Where an expression starts: `llama.config(...)` starts at `llama`.
    static func start(of e: Expr) -> SourceLocation {
        switch e.kind {
        case .field(let o, _), .subscriptAccess(let o, _), .call(let o, _): return start(of: o)
        default: return e.location
        }
    }

    mutating func arguments() throws -> [Argument] {
        var args: [Argument] = []
        var sawNamed = false
        while !isOp(")") {
            if atEOF { throw fail("expected ')' to close the call") }
            let t = current
            if case .identifier(let n) = t.kind, case .op(":") = tokens[min(pos + 1, tokens.count - 1)].kind {
                advance(); advance()
                if args.contains(where: { $0.name == n }) { throw fail("argument '\(n)' given twice", at: t) }
                args.append(Argument(name: n, value: try expression(), location: t.location))
                sawNamed = true
            } else {
                let v = try expression()
                if sawNamed { throw fail("positional argument after a named argument", at: Token(kind: t.kind, location: v.location)) }
                args.append(Argument(name: nil, value: v, location: v.location))
            }
            if isOp(",") { advance() } else if !isOp(")") {
                throw fail("expected ',' or ')' in the argument list, found \(current.text)")
            }
        }
        advance()
        return args
    }

    mutating func subscriptItems() throws -> [SubscriptItem] {
        var items: [SubscriptItem] = []
        while !isOp("]") {
            if atEOF { throw fail("expected ']' to close the subscript") }
            var start: Expr? = nil
            if !isOp(":") { start = try expression() }
            if isOp(":") {
                advance()
                var stop: Expr? = nil, step: Expr? = nil
                if !isOp(":") && !isOp(",") && !isOp("]") { stop = try expression() }
                if isOp(":") {
                    advance()
                    if !isOp(",") && !isOp("]") { step = try expression() }
                }
                items.append(.slice(start: start, stop: stop, step: step))
            } else if let s = start {
                items.append(.index(s))
            }
            if isOp(",") { advance() } else if !isOp("]") {
                throw fail("expected ',' or ']' in the subscript, found \(current.text)")
            }
        }
        advance()
        if items.isEmpty { throw fail("empty subscript '[]'") }
        return items
    }

    mutating func primary() throws -> Expr {
        let t = current
        switch t.kind {
        case .int(let i): advance(); return Expr(.int(i), t.location)
        case .double(let d): advance(); return Expr(.double(d), t.location)
        case .string(let parts):
            advance()
            var out: [InterpolationPart] = []
            for p in parts {
                switch p {
                case .text(let s): out.append(.text(s))
                case .code(let code, let loc):
                    let (toks, lexErrs) = Lexer.tokenize(code, file: loc.file, line: loc.line, column: loc.column)
                    errors.append(contentsOf: lexErrs)
                    var sub = Parser(tokens: toks, file: file)
                    if case .eof = sub.current.kind {
                        errors.append(Diagnostic(.syntax, "empty interpolation '\\()'", at: loc)); continue
                    }
                    if let e = try? sub.expression() {
                        if !sub.atEOF { _ = sub.fail("unexpected \(sub.current.text) in interpolation") }
                        out.append(.expr(e))
                    }
                    errors.append(contentsOf: sub.errors.map { var d = $0; d.atEndOfInput = false; return d })
                }
            }
            return Expr(.string(out), t.location)
        case .identifier(let s): advance(); return Expr(.identifier(s), t.location)
        case .keyword(let k):
            switch k {
            case "true": advance(); return Expr(.bool(true), t.location)
            case "false": advance(); return Expr(.bool(false), t.location)
            case "nil": advance(); return Expr(.nilLiteral, t.location)
            case "fn":
                advance()
                if case .identifier(let n) = current.kind {
                    throw fail("a named function 'fn \(n)' must be a statement of its own; use 'fn (...) { }' for an anonymous one")
                }
                return Expr(.function(try functionRest(name: "<anonymous>", at: t.location)), t.location)
            default:
                throw fail("expected an expression, found keyword '\(k)'")
            }
        case .op(let o):
            switch o {
            case "(":
                advance()
                let saved = noRecord; noRecord = false
                defer { noRecord = saved }
                let e = try expression()
                guard isOp(")") else { throw fail("expected ')' to close '(', found \(current.text)") }
                advance()
                return e
            case "[":
                advance()
                let saved = noRecord; noRecord = false
                defer { noRecord = saved }
                var items: [Expr] = []
                while !isOp("]") {
                    if atEOF { throw fail("expected ']' to close the list") }
                    items.append(try expression())
                    if isOp(",") { advance() } else if !isOp("]") {
                        throw fail("expected ',' or ']' in the list, found \(current.text)")
                    }
                }
                advance()
                return Expr(.list(items), t.location)
            case "{":
                if noRecord && !looksLikeRecord() { throw fail("expected an expression before '{'") }
                return try recordLiteral()
            default:
                throw fail("expected an expression, found '\(o)'")
            }
        case .newline:
            throw fail("expected an expression, found end of line")
        case .eof:
            throw fail("unexpected end of input")
        }
    }

    /// In an `if`/`for`/`while` header, `{` starts a record only when `{ name:` follows.
    func looksLikeRecord() -> Bool {
        var k = pos + 1
        while k < tokens.count, case .newline = tokens[k].kind { k += 1 }
        guard k + 1 < tokens.count else { return false }
        switch tokens[k].kind {
        case .identifier, .string: if case .op(":") = tokens[k + 1].kind { return true }
        default: break
        }
        return false
    }

    mutating func recordLiteral() throws -> Expr {
        let t = advance()
        var fields: [(String, Expr)] = []
        skipNewlines()
        while !isOp("}") {
            if atEOF { throw fail("expected '}' to close the record") }
            let kt = current
            var key: String
            switch kt.kind {
            case .identifier(let s): key = s
            case .keyword(let s): key = s
            case .string(let parts):
                guard parts.count == 1, case .text(let s) = parts[0] else { throw fail("a record key cannot be interpolated") }
                key = s
            default: throw fail("expected a field name in the record, found \(kt.text)")
            }
            advance()
            try expectOp(":", "after the record field '\(key)'")
            skipNewlines()
            let v = try expression()
            if fields.contains(where: { $0.0 == key }) { throw fail("duplicate field '\(key)' in the record", at: kt) }
            fields.append((key, v))
            skipNewlines()
            if isOp(",") { advance(); skipNewlines() } else if !isOp("}") {
                throw fail("expected ',' or '}' in the record, found \(current.text)")
            }
        }
        advance()
        return Expr(.record(fields), t.location)
    }
}
