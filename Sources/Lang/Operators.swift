// Operators: arithmetic (Int stays Int where Python keeps it, `/` gives a float), comparison,
// `..` ranges, string/list concatenation and repetition. Host operands go to the hooks first.
import Foundation
import LLXSystem

extension Interpreter {
    func unary(_ op: UnaryOp, _ v: Value, _ loc: SourceLocation) throws -> Value {
        if op == .not { return .bool(!v.isTruthy) }
        if case .host = v, let hook = unaryHook {
            if let r = try located(loc, { try hook(op, v) }) { return r }
        }
        switch (op, v) {
        case (.neg, .int(let i)):
            let (r, o) = (0).subtractingReportingOverflow(i)
            if o { throw Diagnostic(.value, "integer overflow", at: loc) }
            return .int(r)
        case (.neg, .double(let d)): return .double(-d)
        case (.pos, .int), (.pos, .double): return v
        default:
            throw Diagnostic(.type, "unary '\(op.rawValue)' cannot take \(v.typeNameWithArticle)", at: loc)
        }
    }

    func binary(_ op: BinaryOp, _ a: Value, _ b: Value, _ loc: SourceLocation) throws -> Value {
        var hostInvolved = false
        if case .host = a { hostInvolved = true }
        if case .host = b { hostInvolved = true }
        if hostInvolved, let hook = binaryHook {
            if let r = try located(loc, { try hook(op, a, b) }) { return r }
        }
        switch op {
        case .eq: return .bool(valuesEqual(a, b))
        case .ne: return .bool(!valuesEqual(a, b))
        case .lt, .le, .gt, .ge:
            guard let c = try compare(a, b, loc) else {
                throw Diagnostic(.type, "cannot compare \(a.typeNameWithArticle) with \(b.typeNameWithArticle) using '\(op.rawValue)'", at: loc)
            }
            switch op {
            case .lt: return .bool(c < 0)
            case .le: return .bool(c <= 0)
            case .gt: return .bool(c > 0)
            default: return .bool(c >= 0)
            }
        case .range:
            guard case .int(let x) = a, case .int(let y) = b else {
                throw Diagnostic(.type, "'..' needs two ints, got \(a.typeNameWithArticle) and \(b.typeNameWithArticle)", at: loc)
            }
            let r = RangeValue(start: x, stop: y)
            guard r.countFitsInt else { throw Diagnostic(.value, "\(x)..\(y) \(RangeValue.tooLong)", at: loc) }
            return .range(r)
        case .isIn, .notIn:
            let found = try contains(b, a, loc)
            return .bool(op == .isIn ? found : !found)
        case .and: return a.isTruthy ? b : a
        case .or: return a.isTruthy ? a : b
        default: break
        }
        // numbers
        if case .int(let x) = a, case .int(let y) = b {
            return try intArithmetic(op, x, y, loc)
        }
        if let x = a.asDouble, let y = b.asDouble, !(a.isBool || b.isBool) {
            return try doubleArithmetic(op, x, y, loc)
        }
        switch (op, a, b) {
        case (.add, .string(let x), .string(let y)): return .string(x + y)
        case (.add, .list, .list), (.add, .range, .list), (.add, .list, .range):
            return .list(try located(loc) { (try a.listElements() ?? []) + (try b.listElements() ?? []) })
        case (.add, .record(let x), .record(let y)):
            var r = x
            for (k, v) in y.pairs { r[k] = v }
            return .record(r)
        case (.mul, .string(let s), .int(let n)), (.mul, .int(let n), .string(let s)):
            try Memory.require(count: max(0, n), elementSize: max(s.utf8.count, 1), "\"...\" * \(n): a string of \(n) copies")
            return .string(String(repeating: s, count: max(0, n)))
        case (.mul, .list(let l), .int(let n)), (.mul, .int(let n), .list(let l)):
            try Memory.require(count: max(0, n), elementSize: max(l.count, 1) * 48, "[...] * \(n): a list of \(n) copies")
            return .list(Array([[Value]](repeating: l, count: max(0, n)).joined()))
        case (.mod, .string(let fmt), _):
            return .string(try Builtins.percentFormat(fmt, b))
        default: break
        }
        var msg = "unsupported operand types for '\(op.rawValue)': \(a.typeName) and \(b.typeName)"
        if op == .add, a.asString != nil || b.asString != nil { msg += " (use str(x) or \"\\(x)\" to build strings)" }
        if hostInvolved && binaryHook == nil { msg += " (no host operators are loaded)" }
        throw Diagnostic(.type, msg, at: loc)
    }

    func intArithmetic(_ op: BinaryOp, _ x: Int, _ y: Int, _ loc: SourceLocation) throws -> Value {
        func check(_ r: (partialValue: Int, overflow: Bool)) throws -> Value {
            if r.overflow { throw Diagnostic(.value, "integer overflow in '\(op.rawValue)'", at: loc) }
            return .int(r.partialValue)
        }
        switch op {
        case .add: return try check(x.addingReportingOverflow(y))
        case .sub: return try check(x.subtractingReportingOverflow(y))
        case .mul: return try check(x.multipliedReportingOverflow(by: y))
        case .div:
            if y == 0 { throw Diagnostic(.value, "division by zero", at: loc) }
            return .double(Double(x) / Double(y))
        case .floorDiv, .mod:
            if y == 0 { throw Diagnostic(.value, "division by zero", at: loc) }
            var q = x / y, r = x % y
            if r != 0 && ((r < 0) != (y < 0)) { q -= 1; r += y }
            return .int(op == .floorDiv ? q : r)
        case .pow:
            if y < 0 { return .double(pow(Double(x), Double(y))) }
            var result = 1, base = x, e = y
            while e > 0 {
                if e & 1 == 1 {
                    let (r, o) = result.multipliedReportingOverflow(by: base)
                    if o { throw Diagnostic(.value, "integer overflow in '**' (use a float: \(x).0 ** \(y))", at: loc) }
                    result = r
                }
                e >>= 1
                if e > 0 {
                    let (b2, o) = base.multipliedReportingOverflow(by: base)
                    if o { throw Diagnostic(.value, "integer overflow in '**' (use a float: \(x).0 ** \(y))", at: loc) }
                    base = b2
                }
            }
            return .int(result)
        case .matmul:
            throw Diagnostic(.type, "'@' needs tensors, got int and int", at: loc)
        default:
            throw Diagnostic(.type, "unsupported operator '\(op.rawValue)' on ints", at: loc)
        }
    }

    func doubleArithmetic(_ op: BinaryOp, _ x: Double, _ y: Double, _ loc: SourceLocation) throws -> Value {
        switch op {
        case .add: return .double(x + y)
        case .sub: return .double(x - y)
        case .mul: return .double(x * y)
        case .div:
            if y == 0 { throw Diagnostic(.value, "division by zero", at: loc) }
            return .double(x / y)
        case .floorDiv:
            if y == 0 { throw Diagnostic(.value, "division by zero", at: loc) }
            return .double((x / y).rounded(.down))
        case .mod:
            if y == 0 { throw Diagnostic(.value, "division by zero", at: loc) }
            let r = x.truncatingRemainder(dividingBy: y)
            return .double(r != 0 && ((r < 0) != (y < 0)) ? r + y : r)
        case .pow: return .double(pow(x, y))
        default:
            throw Diagnostic(.type, "'\(op.rawValue)' needs tensors, got numbers", at: loc)
        }
    }

    /// `x in c`: an element of a list or range, a substring, a record's field name.
    func contains(_ c: Value, _ x: Value, _ loc: SourceLocation) throws -> Bool {
        switch c {
        case .string(let s):
            guard case .string(let sub) = x else { throw Diagnostic(.type, "'in <string>' needs a string on the left, got \(x.typeNameWithArticle)", at: loc) }
            return s.contains(sub)
        case .record(let r):
            guard case .string(let k) = x else { return false }
            return r[k] != nil
        case .range(let r):
            guard let i = x.asInt, !x.isBool else { return false }
            // arithmetic, not a walk: a range is never built as a list
            let n = r.count
            guard n > 0 else { return false }
            let d = i - r.start
            return d % r.step == 0 && d / r.step >= 0 && d / r.step < n
        default:
            return try iterate(c, loc).contains { valuesEqual($0, x) }
        }
    }

    /// -1, 0, 1; nil when the values are not ordered.
    func compare(_ a: Value, _ b: Value, _ loc: SourceLocation) throws -> Int? {
        if case .int(let x) = a, case .int(let y) = b { return x < y ? -1 : (x > y ? 1 : 0) }
        if let x = a.asDouble, let y = b.asDouble { return x < y ? -1 : (x > y ? 1 : 0) }
        if case .string(let x) = a, case .string(let y) = b { return x < y ? -1 : (x > y ? 1 : 0) }
        if let x = a.asList, let y = b.asList, a.isSequence, b.isSequence {
            for (p, q) in zip(x, y) {
                guard let c = try compare(p, q, loc) else { return nil }
                if c != 0 { return c }
            }
            return x.count < y.count ? -1 : (x.count > y.count ? 1 : 0)
        }
        return nil
    }
}

extension Value {
    var isBool: Bool { if case .bool = self { return true }; return false }
    var isSequence: Bool {
        switch self { case .list, .range: return true; default: return false }
    }
}
