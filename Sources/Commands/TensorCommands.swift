// TensorCommands: tensor factories (`tensor zeros ones full randn rand arange eye`), math
// (`sum mean max min argmax exp log sqrt tanh silu abs softmax matmul allclose maxabs`),
// `backward`, and the operator hook that gives tensors NumPy broadcasting arithmetic, `@` and
// comparisons. Math functions accept plain numbers too.
import Foundation
import Lang
import Tensor
import Train

enum TensorCommands {
    static let tensorType = ParamType("a tensor") { v in (v.asHost as? TensorValue) != nil }
    /// A tensor or anything a tensor can be made from.
    static let tensorLike = ParamType("a tensor, a number or a list of numbers") { v in
        switch v {
        case .int, .double, .list, .range: return true
        case .host(let h): return h is TensorValue
        default: return false
        }
    }

    static func t(_ a: BoundArguments, _ name: String) throws -> Tensor { try Convert.tensor(a[name], a.command, name) }
    static func wrap(_ t: Tensor) -> Value { .host(TensorValue(t)) }
    static func shape(_ a: BoundArguments, _ name: String = "shape") throws -> [Int] {
        let s = try a.ints(name)
        if let bad = s.first(where: { $0 < 0 }) { throw a.error(name, "has a negative extent \(bad)") }
        return s
    }
    static func dtype(_ a: BoundArguments) throws -> DType {
        let n = try a.string("dtype")
        guard let d = DType(name: n) else { throw a.error("dtype", "must be one of \"f32\" \"f16\" \"bf16\" \"i32\" \"i64\" \"u8\", got \"\(n)\"") }
        return d
    }
    static func axis(_ a: BoundArguments) throws -> Int? { try a.optionalInt("axis") }

    static func configure(_ interp: Interpreter) {
        interp.seedHooks.append { n in RandomGenerator.global.reseed(UInt64(bitPattern: Int64(n))) }
        interp.binaryHook = { op, a, b in try binary(op, a, b) }
        interp.unaryHook = { op, v in
            guard case .host(let h) = v, let x = h as? TensorValue else { return nil }
            switch op {
            case .neg: return wrap(try TensorMath.unary(x.tensor, "neg"))
            case .pos: return v
            case .not: return nil
            }
        }
    }

    /// Operators with a tensor operand; datasets concatenate with `+`.
    static func binary(_ op: BinaryOp, _ a: Value, _ b: Value) throws -> Value? {
        if case .host(let x as DatasetValue) = a, case .host(let y as DatasetValue) = b, op == .add {
            return .host(DatasetValue(x.dataset + y.dataset))
        }
        let aT = (a.asHost as? TensorValue) != nil, bT = (b.asHost as? TensorValue) != nil
        guard aT || bT else { return nil }
        if (op == .eq || op == .ne), !(a.asDouble != nil || aT || a.asList != nil) || !(b.asDouble != nil || bT || b.asList != nil) {
            return .bool(op == .ne)
        }
        let x = try Convert.tensor(a, "operator \(op.rawValue)", "left operand")
        let y = try Convert.tensor(b, "operator \(op.rawValue)", "right operand")
        let sym = op == .floorDiv ? "//" : op.rawValue
        if op == .matmul { return wrap(try TensorMath.matmul(x, y)) }
        return wrap(try TensorMath.zip(x, y, sym))
    }

    /// Registers this area's commands.
    static func register(into r: Registry) {
        registerFactories(into: r)
        registerMath(into: r)
    }

    /// Threads and tensor factories: threads, tensor, zeros, ones, full, randn, rand, arange, eye.
    static func registerFactories(into r: Registry) {
        r.register("threads", [Param("n", .int, optional: true)], help: "Sets the number of compute threads (llx's loops and BLAS); returns the number in use.") { a, _ in
            if let n = try a.optionalInt("n") {
                guard n >= 1 else { throw a.error("n", "must be at least 1, got \(n)") }
                Parallel.threads = n
                BLAS.threads = n
            }
            return .int(Parallel.threads)
        }
        r.register("tensor", [Param("data", tensorLike), .named("dtype", .string, default: .string("f32")), .named("requires_grad", .bool, default: .bool(false))],
                   help: "A tensor from a (nested) list of numbers.") { a, _ in
            let d = try dtype(a)
            let x = try Convert.tensor(a["data"], "tensor", "data", dtype: d)
            let out = x === (a["data"].asHost as? TensorValue)?.tensor ? x.to(.f32).to(d) : x
            if try a.bool("requires_grad") { out.requiresGrad = true }
            return wrap(out)
        }
        let dt = Param.named("dtype", .string, default: .string("f32"))
        r.register("zeros", [Param("shape", .shape), dt], help: "A tensor of zeros.") { a, _ in wrap(try Tensor.zeros(try shape(a), dtype: try dtype(a))) }
        r.register("ones", [Param("shape", .shape), dt], help: "A tensor of ones.") { a, _ in
            wrap(try Tensor.ones(try shape(a), dtype: try dtype(a)))
        }
        r.register("full", [Param("shape", .shape), Param("value", .number), dt], help: "A tensor filled with value.") { a, _ in
            wrap(try Tensor.filled(try shape(a), Float(try a.double("value")), dtype: try dtype(a)))
        }
        r.register("randn", [Param("shape", .shape), .named("seed", .int, optional: true), dt],
                   help: "Standard normal samples (seeded by seed:, else by the global generator).") { a, _ in
            let s = try shape(a)
            return wrap(try Tensor.randn(s, seed: try a.optionalInt("seed").map { UInt64(bitPattern: Int64($0)) }, dtype: try dtype(a)))
        }
        r.register("rand", [Param("shape", .shape), .named("seed", .int, optional: true), dt],
                   help: "Uniform samples in [0, 1) (seeded by seed:, else by the global generator).") { a, _ in
            let s = try shape(a)
            return wrap(try Tensor.rand(s, seed: try a.optionalInt("seed").map { UInt64(bitPattern: Int64($0)) }, dtype: try dtype(a)))
        }
        r.register("arange", [Param("a", .number), Param("b", .number, optional: true), Param("step", .number, default: .int(1)), .named("dtype", .string, optional: true)],
                   help: "arange(n) is 0, 1, ..., n-1; arange(a, b, step) counts from a up to (not including) b. Integer arguments give an i64 tensor.") { a, _ in
            var start = try a.double("a"), stop = 0.0
            if a.has("b") { stop = try a.double("b") } else { stop = start; start = 0 }
            let step = try a.double("step")
            guard step != 0 else { throw a.error("step", "must not be zero") }
            let nd = max(0, ((stop - start) / step).rounded(.up))
            guard nd.isFinite, nd <= Double(1 << 40) else { throw a.error("step", "gives \(nd) elements, too many") }
            let n = Int(nd)
            try Memory.require(count: n, elementSize: 24, "arange: \(n) elements")
            let allInt: Bool = { if case .int = a["a"], (a["b"].isNil || a["b"].asInt != nil && { if case .int = a["b"] { return true }; return false }()), case .int = a["step"] { return true }; return false }()
            var d: DType = allInt ? .i64 : .f32
            if a.has("dtype") { d = try dtype(a) }
            let vals = (0..<n).map { start + Double($0) * step }
            return wrap(d.isFloatingPoint ? Tensor(shape: [n], floats: vals.map { Float($0) }, dtype: d) : Tensor(shape: [n], ints: vals.map { Int($0) }, dtype: d))
        }
        r.register("eye", [Param("n", .int), Param("m", .int, optional: true), dt], help: "An identity matrix [n, m].") { a, _ in
            let n = try a.int("n"), m = try a.optionalInt("m") ?? n
            _ = try Tensor.validShape([n, m], "eye", dtype: try dtype(a))
            var f = [Float](repeating: 0, count: n * m)
            for i in 0..<min(n, m) { f[i * m + i] = 1 }
            return wrap(Tensor(shape: [n, m], floats: f, dtype: try dtype(a)))
        }
        // reductions
    }

    /// Reductions, elementwise functions, softmax, matmul, comparisons and backward.
    static func registerMath(into r: Registry) {
        for (name, op) in [("sum", TensorMath.Reduce.sum), ("mean", .mean), ("max", .max), ("min", .min), ("argmax", .argmax), ("argmin", .argmin)] {
            let core = r[name]
            r.register(name, [.variadic("values"), .named("axis", .int, optional: true), .named("keepdim", .bool, default: .bool(false))],
                       help: "\(name) of a tensor (over all elements as a 0-d tensor, or along axis:); on numbers or a list of numbers as in Python.") { a, interp in
                if a.rest.count == 1, case .host(let h) = a.rest[0], let x = h as? TensorValue {
                    return wrap(try TensorMath.reduce(x.tensor, op, axis: try axis(a), keepDim: try a.bool("keepdim")))
                }
                if a.rest.count == 2, name == "max" || name == "min", a.rest.contains(where: { ($0.asHost as? TensorValue) != nil }) {
                    let x = try Convert.tensor(a.rest[0], name, "a"), y = try Convert.tensor(a.rest[1], name, "b")
                    return wrap(try TensorMath.zip(x, y, name))
                }
                if a.has("axis") { throw a.error("axis", "needs a tensor") }
                if name == "argmax" || name == "argmin" || name == "mean" {
                    // numbers, as Python's statistics.mean and the index of the first extreme
                    guard a.rest.count == 1 else { throw LangRuntimeError(.argument, "\(name) takes one argument") }
                    let xs = try interp.iterate(a.rest[0], a.location).map { v -> Double in
                        guard let d = v.asDouble else { throw LangRuntimeError(.type, "\(name): expected numbers, got \(v.typeNameWithArticle)") }
                        return d
                    }
                    guard !xs.isEmpty else { throw LangRuntimeError(.value, "\(name): no values") }
                    if name == "mean" { return .double(xs.reduce(0, +) / Double(xs.count)) }
                    let target = name == "argmax" ? xs.max()! : xs.min()!
                    return .int(xs.firstIndex(of: target)!)
                }
                guard let c = core else { throw LangRuntimeError(.type, "\(name): expected a tensor") }
                if name == "sum" && a.rest.count != 1 { throw LangRuntimeError(.argument, "sum takes one argument") }
                return try c.implementation(try c.bind(Arguments(a.rest, location: a.location)), interp)
            }
        }
        // elementwise math on tensors or numbers
        let unary: [(String, (Float) -> Float, (Double) -> Double)] = [
            ("exp", { Foundation.exp($0) }, { Foundation.exp($0) }), ("log", { Foundation.log($0) }, { Foundation.log($0) }),
            ("sqrt", { $0.squareRoot() }, { $0.squareRoot() }), ("tanh", { Foundation.tanh($0) }, { Foundation.tanh($0) }),
            ("silu", { $0 / (1 + Foundation.exp(-$0)) }, { $0 / (1 + Foundation.exp(-$0)) }),
            ("sigmoid", { 1 / (1 + Foundation.exp(-$0)) }, { 1 / (1 + Foundation.exp(-$0)) }),
            ("relu", { Swift.max($0, 0) }, { Swift.max($0, 0) }),
        ]
        for (name, f, g) in unary {
            r.register(name, [Param("x", tensorLike)], help: "\(name), elementwise on a tensor; on a number gives a number.") { a, _ in
                if let d = a["x"].asDouble { return .double(g(d)) }
                return wrap(try TensorMath.unary(try t(a, "x"), name))
            }
        }
        r.register("abs", [Param("x", tensorLike)], help: "Absolute value (elementwise on tensors).") { a, _ in
            if case .int(let i) = a["x"] { return .int(Swift.abs(i)) }
            if let d = a["x"].asDouble { return .double(Swift.abs(d)) }
            return wrap(try TensorMath.unary(try t(a, "x"), "abs"))
        }
        r.register("softmax", [Param("x", tensorLike), .named("axis", .int, default: .int(-1))], help: "Softmax along axis (the last by default).") { a, _ in
            wrap(try TensorMath.softmax(try t(a, "x"), axis: try a.int("axis")))
        }
        r.register("matmul", [Param("a", tensorLike), Param("b", tensorLike)], help: "Matrix product (batched over leading axes, as torch.matmul).") { a, _ in
            wrap(try TensorMath.matmul(try t(a, "a"), try t(a, "b")))
        }
        r.register("allclose", [Param("a", tensorLike), Param("b", tensorLike), .named("atol", .number, default: .double(1e-5)), .named("rtol", .number, default: .double(1e-5))],
                   help: "True when |a - b| <= atol + rtol * |b| everywhere (broadcasting).") { a, _ in
            let atol = Float(try a.double("atol")), rtol = Float(try a.double("rtol"))
            let x = try t(a, "a"), y = try t(a, "b")
            let shape = try Autograd.noGrad { try x.detach().toF32().binary(.add, y.detach().toF32()) }.shape
            let xs = try x.detach().expand(shape).floats(), ys = try y.detach().expand(shape).floats()
            return .bool(Swift.zip(xs, ys).allSatisfy { Swift.abs($0 - $1) <= atol + rtol * Swift.abs($1) || ($0 == $1) })
        }
        r.register("maxabs", [Param("x", tensorLike)], help: "The largest absolute value, as a number (maxabs(a - b) for the largest difference).") { a, _ in
            .double(Double(try t(a, "x").floats().reduce(Float(0)) { Swift.max($0, Swift.abs($1)) }))
        }
        r.register("backward", [Param("x", tensorType)], help: "Reverse-mode gradients of a scalar into every tensor with requires_grad (and a model's trainable parameters for loss(m, ids)).") { a, _ in
            guard case .host(let h) = a["x"], let x = h as? TensorValue else { throw a.error("x", "must be a tensor") }
            try TensorMath.backward(x.tensor)
            return .null
        }
    }
}

