// GradCheckTests: every differentiable Tensor op's backward rule against central finite
// differences taken in double precision. Each check gives the op twice: as llx computes it
// (f32, whose backward is under test) and as a float64 reference written here (`D` below).
// The reference forward must agree with llx's forward (so the reference is the same function),
// and the numeric gradient of the reference, with step 1e-6 in float64 (truncation and
// rounding errors both near 1e-10), must agree with llx's analytic gradient to a relative 1e-4:
// what is left is f32 rounding in the backward itself. (The previous checks took f32 steps of
// 1e-2 through the f32 forward with a tolerance of 1e-2, which a wrong rule of small effect passed.)
import Foundation
import XCTest
import Tensor

/// A float64 array with a shape: the reference side of a gradient check.
struct D {
    var shape: [Int]
    var v: [Double]
    var rank: Int { shape.count }
    init(_ shape: [Int], _ v: [Double]) { self.shape = shape; self.v = v }
    init(_ t: Tensor) { shape = t.shape; v = t.floats().map(Double.init) }

    /// Where each element of `view(x)` comes from in x, for a view-only op (reshape, permute,
    /// slicing, expand, ...): the op applied to a tensor holding each element's own index.
    static func indexMap(_ shape: [Int], _ view: (Tensor) throws -> Tensor) throws -> (shape: [Int], idx: [Int]) {
        let n = shape.reduce(1, *)
        let ids = try Tensor.from((0..<n).map { Float($0) }, shape: shape)
        let out = try Autograd.noGrad { try view(ids) }
        return (out.shape, out.ints())
    }

    /// A view-only op on the reference values.
    func view(_ f: (Tensor) throws -> Tensor) throws -> D {
        let (s, idx) = try D.indexMap(shape, f)
        return D(s, idx.map { v[$0] })
    }

    func map(_ f: (Double) -> Double) -> D { D(shape, v.map(f)) }

    /// NumPy broadcasting of two arrays through `f`.
    static func zip(_ a: D, _ b: D, _ f: (Double, Double) -> Double) throws -> D {
        let s = try Shape.broadcast(a.shape, b.shape)
        let ia = try D.indexMap(a.shape) { try $0.expand(s) }.idx, ib = try D.indexMap(b.shape) { try $0.expand(s) }.idx
        return D(s, (0..<ia.count).map { f(a.v[ia[$0]], b.v[ib[$0]]) })
    }

    /// The axis moved last (as rows), applied `f` to each row, moved back.
    func rows(axis: Int, _ f: ([Double]) -> [Double]) throws -> D {
        let ax = axis < 0 ? axis + rank : axis
        var perm = Array(0..<rank); perm.remove(at: ax); perm.append(ax)
        let moved = try view { try $0.permute(perm) }
        let n = shape[ax]
        var out = [Double](); out.reserveCapacity(v.count)
        for r in 0..<(n == 0 ? 0 : moved.v.count / n) { out += f(Array(moved.v[(r * n)..<((r + 1) * n)])) }
        var inv = [Int](repeating: 0, count: rank)
        for (i, p) in perm.enumerated() { inv[p] = i }
        // move back: out has shape `moved.shape`; its inverse permutation restores the order
        let back = try D.indexMap(moved.shape) { try $0.permute(inv) }.idx
        return D(shape, back.map { out[$0] })
    }

    /// A reduction over one axis (or all of them).
    func reduce(axis: Int?, _ f: ([Double]) -> Double) throws -> D {
        guard let axis else { return D([], [f(v)]) }
        let ax = axis < 0 ? axis + rank : axis
        var perm = Array(0..<rank); perm.remove(at: ax); perm.append(ax)
        let moved = try view { try $0.permute(perm) }
        let n = shape[ax]
        var s = shape; s.remove(at: ax)
        return D(s, (0..<(moved.v.count / max(n, 1))).map { r in f(Array(moved.v[(r * n)..<((r + 1) * n)])) })
    }

    static func matmul(_ a0: D, _ b0: D) throws -> D {
        let a = a0.rank == 1 ? D([1] + a0.shape, a0.v) : a0
        let b = b0.rank == 1 ? D(b0.shape + [1], b0.v) : b0
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1], n = b.shape[b.rank - 1]
        let batch = try Shape.broadcast(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)))
        let ia = try D.indexMap(a.shape) { try $0.expand(batch + [m, k]) }.idx
        let ib = try D.indexMap(b.shape) { try $0.expand(batch + [k, n]) }.idx
        let nb = batch.reduce(1, *)
        var out = [Double](repeating: 0, count: nb * m * n)
        for bi in 0..<nb { for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += a.v[ia[bi * m * k + i * k + p]] * b.v[ib[bi * k * n + p * n + j]] }
            out[bi * m * n + i * n + j] = s
        } } }
        var shape = batch + [m, n]
        if a0.rank == 1 { shape.remove(at: shape.count - 2) }
        if b0.rank == 1 { shape.removeLast() }
        return D(shape, out)
    }

    static func softmax(_ r: [Double]) -> [Double] {
        let mx = r.max() ?? 0
        let e = r.map { Foundation.exp($0 - mx) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
    static func logSoftmax(_ r: [Double]) -> [Double] {
        let mx = r.max() ?? 0
        let l = Foundation.log(r.map { Foundation.exp($0 - mx) }.reduce(0, +)) + mx
        return r.map { $0 - l }
    }
    static func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }
}

/// Checks d sum(f(inputs) * w) / d inputs from llx's backward (f32) against central finite
/// differences of the float64 `reference` (step `eps`), after checking that the reference
/// computes what f computes. Each failure is reported.
func gradCheck(_ name: String, _ inputs: [Tensor], eps: Double = 1e-6, tol: Double = 1e-4,
               file: StaticString = #filePath, line: UInt = #line,
               _ f: ([Tensor]) throws -> Tensor, reference: ([D]) throws -> D) throws {
    for failure in try gradCheckFailures(name, inputs, eps: eps, tol: tol, f, reference: reference) {
        XCTFail(failure, file: file, line: line)
    }
}

/// The failures of a check (empty when it passes): the first wrong forward value, a missing
/// gradient, or the first gradient element of each input off by more than `tol`.
func gradCheckFailures(_ name: String, _ inputs: [Tensor], eps: Double = 1e-6, tol: Double = 1e-4,
                       _ f: ([Tensor]) throws -> Tensor, reference: ([D]) throws -> D) throws -> [String] {
    let xs = inputs.map { t -> Tensor in let c = t.toF32().clone(); c.requiresGrad = true; return c }
    let out = try f(xs)
    var rng = SplitMix(seed: 99)
    let w = try Tensor.from((0..<out.count).map { _ in rng.normal() }, shape: out.shape)
    try (out * w).sum().backward()
    let wv = w.floats().map(Double.init)
    var ds = xs.map { D($0) }
    // the reference is the same function (to f32 rounding)
    let ref = try reference(ds)
    guard ref.v.count == out.count else { return ["\(name): reference has \(ref.v.count) values, llx \(out.count)"] }
    let fwd = out.floats()
    for i in 0..<fwd.count where !(Swift.abs(Double(fwd[i]) - ref.v[i]) <= 1e-5 * (1 + Swift.abs(ref.v[i]))) {
        return ["\(name): forward element \(i): llx \(fwd[i]), float64 reference \(ref.v[i])"]
    }
    func lossValue() throws -> Double { zip(try reference(ds).v, wv).reduce(0.0) { $0 + $1.0 * $1.1 } }
    var failures: [String] = []
    for (k, x) in xs.enumerated() {
        guard let g = x.grad, g.shape == x.shape else { failures.append("\(name): no gradient of shape \(x.shape) for input \(k)"); continue }
        let ga = g.floats()
        for i in 0..<x.count {
            let v = ds[k].v[i]
            ds[k].v[i] = v + eps; let lp = try lossValue()
            ds[k].v[i] = v - eps; let lm = try lossValue()
            ds[k].v[i] = v
            let num = (lp - lm) / (2 * eps)
            let err = Swift.abs(num - Double(ga[i])) / (1 + Swift.abs(num))
            if !(err <= tol) {
                failures.append("\(name): input \(k) element \(i): analytic \(ga[i]) numeric (float64) \(num)")
                break
            }
        }
    }
    return failures
}

func randT(_ shape: [Int], seed: UInt64, scale: Float = 1, shift: Float = 0) -> Tensor {
    var r = SplitMix(seed: seed)
    return Tensor(shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in r.normal() * scale + shift })
}

final class GradCheckTests: XCTestCase {
    func testBinaryBroadcast() throws {
        let a = randT([2, 3, 4], seed: 1), b = randT([3, 1], seed: 2)
        let pos = randT([2, 3, 4], seed: 3, scale: 0.2, shift: 1.5), e = randT([4], seed: 4, scale: 0.3, shift: 1)
        try gradCheck("add", [a, b], { try $0[0] + $0[1] }) { try D.zip($0[0], $0[1], +) }
        try gradCheck("sub", [a, b], { try $0[0] - $0[1] }) { try D.zip($0[0], $0[1], -) }
        try gradCheck("mul", [a, b], { try $0[0] * $0[1] }) { try D.zip($0[0], $0[1], *) }
        try gradCheck("div", [a, pos], { try $0[0] / $0[1] }) { try D.zip($0[0], $0[1], /) }
        try gradCheck("pow", [pos, e], { try $0[0].pow($0[1]) }) { try D.zip($0[0], $0[1]) { Foundation.pow($0, $1) } }
        try gradCheck("maximum", [a, b], { try $0[0].maximum($0[1]) }) { try D.zip($0[0], $0[1]) { Swift.max($0, $1) } }
        try gradCheck("minimum", [a, b], { try $0[0].minimum($0[1]) }) { try D.zip($0[0], $0[1]) { Swift.min($0, $1) } }
        try gradCheck("scalar ops", [a], { try (2.0 - $0[0] * 3.0) / 4.0 + 1.0 }) { $0[0].map { (2 - $0 * 3) / 4 + 1 } }
    }

    func testUnary() throws {
        let a = randT([3, 5], seed: 5), pos = randT([3, 5], seed: 6, scale: 0.3, shift: 1.5)
        let ref: [UnaryOp: (Double) -> Double] = [
            .neg: { -$0 }, .exp: { Foundation.exp($0) }, .tanh: { Foundation.tanh($0) }, .sigmoid: D.sigmoid,
            .silu: { $0 * D.sigmoid($0) }, .relu: { Swift.max(0, $0) }, .abs: { Swift.abs($0) },
            .sin: { Foundation.sin($0) }, .cos: { Foundation.cos($0) }, .square: { $0 * $0 },
            .log: { Foundation.log($0) }, .sqrt: { $0.squareRoot() }, .rsqrt: { 1 / $0.squareRoot() },
        ]
        for op in [UnaryOp.neg, .exp, .tanh, .sigmoid, .silu, .relu, .abs, .sin, .cos, .square] {
            try gradCheck(op.rawValue, [a], { try $0[0].unary(op) }) { $0[0].map(ref[op]!) }
        }
        for op in [UnaryOp.log, .sqrt, .rsqrt] { try gradCheck(op.rawValue, [pos], { try $0[0].unary(op) }) { $0[0].map(ref[op]!) } }
    }

    func testViews() throws {
        let a = randT([3, 4, 5], seed: 7)
        try gradCheck("reshape", [a], { try $0[0].reshape([4, -1]) * $0[0].reshape([4, 15]) }) { x in
            try D.zip(try x[0].view { try $0.reshape([4, -1]) }, try x[0].view { try $0.reshape([4, 15]) }, *)
        }
        try gradCheck("permute", [a], { try $0[0].permute([2, 0, 1]).exp() }) { try $0[0].view { try $0.permute([2, 0, 1]) }.map { Foundation.exp($0) } }
        try gradCheck("transpose", [a], { try $0[0].transpose(0, 2).sin() }) { try $0[0].view { try $0.transpose(0, 2) }.map { Foundation.sin($0) } }
        let items: [TensorIndex] = [.slice(nil, nil, -1), .slice(1, -1, nil), .slice(nil, nil, 2)]
        try gradCheck("slice", [a], { try $0[0].index(items).square() }) { try $0[0].view { try $0.index(items) }.map { $0 * $0 } }
        try gradCheck("select", [a], { try $0[0][.at(-1), .all, .at(2)].exp() }) { try $0[0].view { try $0[.at(-1), .all, .at(2)] }.map { Foundation.exp($0) } }
        try gradCheck("expand", [randT([3, 1], seed: 8)], { try $0[0].expand([2, 3, 4]).sin() }) { try $0[0].view { try $0.expand([2, 3, 4]) }.map { Foundation.sin($0) } }
        try gradCheck("unsqueeze/squeeze", [a], { try $0[0].unsqueeze(1).squeeze(1).cos() }) { $0[0].map { Foundation.cos($0) } }
        try gradCheck("cat", [a, randT([3, 2, 5], seed: 9)], { try Tensor.cat([$0[0], $0[1]], axis: 1).square() }) { x in
            // both inputs' values side by side, gathered through cat of their index tensors
            let both = D([x[0].v.count + x[1].v.count], x[0].v + x[1].v)
            let n0 = x[0].v.count
            let i0 = try Tensor.from((0..<n0).map { Float($0) }, shape: x[0].shape)
            let i1 = try Tensor.from((0..<x[1].v.count).map { Float(n0 + $0) }, shape: x[1].shape)
            let c = try Autograd.noGrad { try Tensor.cat([i0, i1], axis: 1) }
            return D(c.shape, c.ints().map { both.v[$0] * both.v[$0] })
        }
    }

    func testReductions() throws {
        let a = randT([3, 4, 5], seed: 10)
        func sum(_ r: [Double]) -> Double { r.reduce(0, +) }
        for axis in [nil, 0, 1, -1] as [Int?] {
            try gradCheck("sum \(String(describing: axis))", [a], { try $0[0].sum(axis: axis).square() }) { try $0[0].reduce(axis: axis, sum).map { $0 * $0 } }
            try gradCheck("mean \(String(describing: axis))", [a], { try $0[0].mean(axis: axis, keepDim: true).square() }) {
                try $0[0].reduce(axis: axis) { sum($0) / Double($0.count) }.map { $0 * $0 }
            }
            try gradCheck("max \(String(describing: axis))", [a], { try $0[0].max(axis: axis) }) { try $0[0].reduce(axis: axis) { $0.max()! } }
            try gradCheck("min \(String(describing: axis))", [a], { try $0[0].min(axis: axis, keepDim: true) }) { try $0[0].reduce(axis: axis) { $0.min()! } }
        }
    }

    func testMatmul() throws {
        let a = randT([2, 3, 4], seed: 11), b = randT([4, 5], seed: 12), v = randT([4], seed: 13)
        try gradCheck("matmul batched x 2d", [a, b], { try Tensor.matmul($0[0], $0[1]) }) { try D.matmul($0[0], $0[1]) }
        try gradCheck("matmul transposed views", [randT([4, 3], seed: 14), randT([5, 4], seed: 15)], { try Tensor.matmul($0[0].T, $0[1].T) }) { x in
            try D.matmul(try x[0].view { $0.T }, try x[1].view { $0.T })
        }
        try gradCheck("matmul vector", [a, v], { try Tensor.matmul($0[0], $0[1]) }) { try D.matmul($0[0], $0[1]) }
        try gradCheck("vector matmul", [v, b], { try Tensor.matmul($0[0], $0[1]) }) { try D.matmul($0[0], $0[1]) }
        try gradCheck("batch broadcast", [randT([2, 1, 3, 4], seed: 16), randT([3, 4, 2], seed: 17)], { try Tensor.matmul($0[0], $0[1]) }) {
            try D.matmul($0[0], $0[1])
        }
    }

    /// Cross-entropy over the last axis with -100 ignored, as torch's F.cross_entropy.
    static func crossEntropy(_ x: D, _ targets: [Int], _ red: Reduction) -> D {
        let V = x.shape.last!
        var losses: [Double] = []
        for (r, t) in targets.enumerated() {
            if t == -100 { losses.append(0); continue }
            losses.append(-D.logSoftmax(Array(x.v[(r * V)..<((r + 1) * V)]))[t])
        }
        let n = targets.filter { $0 != -100 }.count
        switch red {
        case .none: return D(Array(x.shape.dropLast()), losses)
        case .sum: return D([], [losses.reduce(0, +)])
        case .mean: return D([], [losses.reduce(0, +) / Double(n)])
        }
    }

    /// HF rotate-half RoPE of x [.., T, H, D] at positions, cos/sin scaled by `scaling`.
    static func rope(_ x: D, positions: [Int], invFreq: [Double], scaling: Double = 1) -> D {
        let r = x.rank, T = x.shape[r - 3], H = x.shape[r - 2], Dh = x.shape[r - 1], half = Dh / 2
        let B = x.v.count / (T * H * Dh)
        var out = x.v
        for b in 0..<B { for t in 0..<T { for h in 0..<H {
            let base = ((b * T + t) * H + h) * Dh
            for i in 0..<half {
                let ang = Double(positions[t]) * invFreq[i]
                let c = Foundation.cos(ang) * scaling, s = Foundation.sin(ang) * scaling
                let x1 = x.v[base + i], x2 = x.v[base + i + half]
                out[base + i] = x1 * c - x2 * s
                out[base + i + half] = x2 * c + x1 * s
            }
        } } }
        return D(x.shape, out)
    }

    /// Causal grouped-query attention: q [.., Tq, Hq, D], k and v [.., Tk, Hkv, D]; query i sits
    /// at position Tk - Tq + i.
    static func attention(_ q: D, _ k: D, _ v: D, scale: Double? = nil) -> D {
        let r = q.rank, Tq = q.shape[r - 3], Hq = q.shape[r - 2], Dh = q.shape[r - 1]
        let Tk = k.shape[r - 3], Hkv = k.shape[r - 2]
        let B = q.v.count / (Tq * Hq * Dh), g = Hq / Hkv
        let sc = scale ?? 1 / Double(Dh).squareRoot()
        var out = [Double](repeating: 0, count: q.v.count)
        for b in 0..<B { for h in 0..<Hq { for i in 0..<Tq {
            let kh = h / g, last = Tk - Tq + i
            let qi = ((b * Tq + i) * Hq + h) * Dh
            var scores: [Double] = []
            for j in 0...last {
                let kj = ((b * Tk + j) * Hkv + kh) * Dh
                var s = 0.0
                for d in 0..<Dh { s += q.v[qi + d] * k.v[kj + d] }
                scores.append(s * sc)
            }
            let p = D.softmax(scores)
            for j in 0...last {
                let vj = ((b * Tk + j) * Hkv + kh) * Dh
                for d in 0..<Dh { out[qi + d] += p[j] * v.v[vj + d] }
            }
        } } }
        return D(q.shape, out)
    }

    func testNNOps() throws {
        let x = randT([3, 4, 6], seed: 20)
        try gradCheck("softmax", [x], { try $0[0].softmax(axis: 1) }) { try $0[0].rows(axis: 1, D.softmax) }
        try gradCheck("log_softmax", [x], { try $0[0].logSoftmax(axis: -1) }) { try $0[0].rows(axis: -1, D.logSoftmax) }
        let tv = [1, 5, -100, 0, 2, 3, 5, -100, 4, 0, 1, 2]
        let targets = try Tensor.from(ints: tv, shape: [3, 4])
        for red in [Reduction.mean, .sum, .none] {
            try gradCheck("cross_entropy \(red)", [x], { try Tensor.crossEntropy($0[0], targets, reduction: red, chunkRows: 5) }) {
                Self.crossEntropy($0[0], tv, red)
            }
        }
        try gradCheck("rms_norm", [x, randT([6], seed: 21, scale: 0.3, shift: 1)], { try Tensor.rmsNorm($0[0], weight: $0[1], eps: 1e-5) }) { xs in
            let Dm = 6
            var out = xs[0].v
            for r in 0..<(out.count / Dm) {
                let row = xs[0].v[(r * Dm)..<((r + 1) * Dm)]
                let rstd = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(Dm) + 1e-5).squareRoot()
                for j in 0..<Dm { out[r * Dm + j] = xs[0].v[r * Dm + j] * rstd * xs[1].v[j] }
            }
            return D(xs[0].shape, out)
        }
        try gradCheck("swiglu", [x, randT([3, 4, 6], seed: 22)], { try Tensor.swiglu($0[0], $0[1]) }) { xs in
            D(xs[0].shape, (0..<xs[0].v.count).map { i in xs[0].v[i] * D.sigmoid(xs[0].v[i]) * xs[1].v[i] })
        }
        // inverse frequencies exactly representable in f32 (0.3 and 0.01 are not: the
        // reference would compute another rotation)
        let f3: [Float] = [1, 0.3, 0.01]
        try gradCheck("rope", [randT([3, 2, 6], seed: 23)], {
            try Tensor.rope($0[0], positions: [4, 0, 9], invFreq: f3, attentionScaling: 1.1)
        }) { Self.rope($0[0], positions: [4, 0, 9], invFreq: f3.map(Double.init), scaling: Double(Float(1.1))) }
        try gradCheck("rope batched", [randT([2, 3, 1, 4], seed: 24)], {
            try Tensor.rope($0[0], positions: [1, 2, 3], invFreq: [0.5, 0.05])
        }) { Self.rope($0[0], positions: [1, 2, 3], invFreq: [0.5, Double(Float(0.05))]) }
        let ids = try Tensor.from(ints: [2, 0, 2, 4], shape: [2, 2])
        try gradCheck("embedding", [randT([5, 3], seed: 25)], { try Tensor.embedding($0[0], ids) }) { xs in
            D([2, 2, 3], [2, 0, 2, 4].flatMap { r in Array(xs[0].v[(r * 3)..<(r * 3 + 3)]) })
        }
        try gradCheck("attention", [randT([7, 4, 3], seed: 26), randT([7, 2, 3], seed: 27), randT([7, 2, 3], seed: 28)], {
            try Tensor.attention($0[0], $0[1], $0[2])
        }) { Self.attention($0[0], $0[1], $0[2]) }
        try gradCheck("attention kv cache", [randT([2, 2, 4], seed: 29), randT([5, 1, 4], seed: 30), randT([5, 1, 4], seed: 31)], {
            try Tensor.attention($0[0], $0[1], $0[2], scale: 0.7)
        }) { Self.attention($0[0], $0[1], $0[2], scale: Double(Float(0.7))) }
        try gradCheck("attention batched", [randT([2, 3, 2, 2], seed: 32), randT([2, 3, 2, 2], seed: 33), randT([2, 3, 2, 2], seed: 34)], {
            try Tensor.attention($0[0], $0[1], $0[2])
        }) { Self.attention($0[0], $0[1], $0[2]) }
    }

    func testCustomOp() throws {
        // f(x) = x^3 computed outside the tape, gradient supplied by hand.
        try gradCheck("custom", [randT([4], seed: 40)], { xs in
            let x = xs[0]
            let y = Tensor(shape: x.shape, floats: x.floats().map { $0 * $0 * $0 })
            return try Tensor.customOp(name: "cube", output: y, inputs: [x]) { g in
                [try g * (try x.square() * 3.0)]
            }
        }) { $0[0].map { $0 * $0 * $0 } }
    }

    /// The check catches a wrong rule of small effect that the old f32 checks (step 1e-2,
    /// tolerance 1e-2) let through: a cube whose hand-written gradient is 0.5% too large.
    func testCheckCatchesASmallError() throws {
        let wrong = { (xs: [Tensor]) throws -> Tensor in
            let x = xs[0]
            let y = Tensor(shape: x.shape, floats: x.floats().map { $0 * $0 * $0 })
            return try Tensor.customOp(name: "cube", output: y, inputs: [x]) { g in [try g * (try x.square() * 3.015)] }
        }
        let failures = try gradCheckFailures("cube 0.5% off", [randT([4], seed: 40)], wrong) { $0[0].map { $0 * $0 * $0 } }
        XCTAssertFalse(failures.isEmpty, "a gradient 0.5% off must fail the float64 check")
        // and a forward that differs from the reference is caught before the gradients
        let shifted = try gradCheckFailures("shifted", [randT([4], seed: 40)], { try $0[0].exp() }) { $0[0].map { Foundation.exp($0) * 1.001 } }
        XCTAssertTrue(shifted.first?.contains("forward element 0") == true, "\(shifted)")
    }
}
