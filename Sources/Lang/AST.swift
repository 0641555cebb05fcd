// AST: the syntax tree the parser builds and the interpreter walks. Every node carries the
// source location of its first token (for operators: the operator's location).

public final class Expr {
    public let kind: ExprKind
    public let location: SourceLocation
    public init(_ kind: ExprKind, _ location: SourceLocation) { self.kind = kind; self.location = location }
}

public enum BinaryOp: String, Sendable {
    case add = "+", sub = "-", mul = "*", div = "/", floorDiv = "//", mod = "%", pow = "**", matmul = "@"
    case range = ".."
    case eq = "==", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">="
    case isIn = "in", notIn = "not in"
    case and = "and", or = "or"
}

public enum UnaryOp: String, Sendable {
    case neg = "-", pos = "+", not = "not"
}

/// One component of a subscript: `xs[i]` or `t[1:3, :, -1]`.
public enum SubscriptItem {
    case index(Expr)
    case slice(start: Expr?, stop: Expr?, step: Expr?)
}

public struct Argument {
    public var name: String?          // nil for positional
    public var value: Expr
    public var location: SourceLocation
}

/// A parameter of a user-defined function (`fn f(a, b = 2)`): its name and default.
public struct FunctionParameter {
    public var name: String
    public var defaultValue: Expr?
    public var location: SourceLocation
}

public indirect enum ExprKind {
    case int(Int)
    case double(Double)
    case string([InterpolationPart])
    case bool(Bool)
    case nilLiteral
    case identifier(String)
    case list([Expr])
    case record([(String, Expr)])
    case unary(UnaryOp, Expr)
    case binary(BinaryOp, Expr, Expr)
    case call(Expr, [Argument])
    case field(Expr, String)
    case subscriptAccess(Expr, [SubscriptItem])
    case function(FunctionDecl)     // anonymous `fn (a, b) { ... }`
}

public enum InterpolationPart {
    case text(String)
    case expr(Expr)
}

public final class FunctionDecl {
    public let name: String
    public let parameters: [FunctionParameter]
    public let body: [Stmt]
    public let location: SourceLocation
    public init(name: String, parameters: [FunctionParameter], body: [Stmt], location: SourceLocation) {
        self.name = name; self.parameters = parameters; self.body = body; self.location = location
    }
}

public final class Stmt {
    public let kind: StmtKind
    public let location: SourceLocation
    public init(_ kind: StmtKind, _ location: SourceLocation) { self.kind = kind; self.location = location }
}

public indirect enum StmtKind {
    case expression(Expr)
    case letBinding(String, Expr)
    case assign(Expr, Expr)                   // target: identifier, field or subscript
    case compoundAssign(BinaryOp, Expr, Expr) // x += e
    case function(FunctionDecl)
    case ifStmt([(Expr, [Stmt])], [Stmt]?)    // if / else if ... / else
    /// `for a in seq` or `for a, b in seq` (each element unpacked into the names).
    case forStmt([String], Expr, [Stmt])
    case whileStmt(Expr, [Stmt])
    case breakStmt
    case continueStmt
    case returnStmt(Expr?)
}
