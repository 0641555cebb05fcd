// GradCheckTests: every differentiable Tensor op's backward rule against central finite
// differences (loss = sum(out * w) for fixed random w; the numeric side is accumulated in Double).
import Foundation
import XCTest
import Tensor

/// Checks d sum(f(inputs) * w) / d inputs from backward against finite differences.
func gradCheck(_ name: String, _ inputs: [Tensor], eps: Float = 1e-2, tol: Double = 1e-2,
               file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) throws -> Tensor) throws {
    let xs = inputs.map { t -> Tensor in let c = t.toF32().clone(); c.requiresGrad = true; return c }
    let out = try f(xs)
    var rng = SplitMix(seed: 99)
    let w = try Tensor.from((0..<out.count).map { _ in rng.normal() }, shape: out.shape)
    try (out * w).sum().backward()
    let wv = w.floats().map(Double.init)
    func lossValue() throws -> Double {
        let o = try Autograd.noGrad { try f(xs) }
        return zip(o.floats(), wv).reduce(0.0) { $0 + Double($1.0) * $1.1 }
    }
    var worst = 0.0
    for (k, x) in xs.enumerated() {
        guard let g = x.grad else { XCTFail("\(name): no gradient for input \(k)", file: file, line: line); continue }
        XCTAssertEqual(g.shape, x.shape, "\(name): grad shape", file: file, line: line)
        let ga = g.floats()
        let p = x.floatPointer
        for i in 0..<x.count {
            let v = p[i]
            p[i] = v + eps; let lp = try lossValue()
            p[i] = v - eps; let lm = try lossValue()
            p[i] = v
            let num = (lp - lm) / (2 * Double(eps))
            let err = Swift.abs(num - Double(ga[i])) / (1 + Swift.abs(num))
            worst = Swift.max(worst, err)
            if err > tol {
                XCTFail("\(name): input \(k) element \(i): analytic \(ga[i]) numeric \(num)", file: file, line: line)
                return
            }
        }
    }
}

func randT(_ shape: [Int], seed: UInt64, scale: Float = 1, shift: Float = 0) -> Tensor {
    var r = SplitMix(seed: seed)
    return Tensor(shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in r.normal() * scale + shift })
}

final class GradCheckTests: XCTestCase {
    func testBinaryBroadcast() throws {
        let a = randT([2, 3, 4], seed: 1), b = randT([3, 1], seed: 2)
        let pos = randT([2, 3, 4], seed: 3, scale: 0.2, shift: 1.5), e = randT([4], seed: 4, scale: 0.3, shift: 1)
        try gradCheck("add", [a, b]) { try $0[0] + $0[1] }
        try gradCheck("sub", [a, b]) { try $0[0] - $0[1] }
        try gradCheck("mul", [a, b]) { try $0[0] * $0[1] }
        try gradCheck("div", [a, pos]) { try $0[0] / $0[1] }
        try gradCheck("pow", [pos, e]) { try $0[0].pow($0[1]) }
        try gradCheck("maximum", [a, b]) { try $0[0].maximum($0[1]) }
        try gradCheck("minimum", [a, b]) { try $0[0].minimum($0[1]) }
        try gradCheck("scalar ops", [a]) { try (2.0 - $0[0] * 3.0) / 4.0 + 1.0 }
    }

    func testUnary() throws {
        let a = randT([3, 5], seed: 5), pos = randT([3, 5], seed: 6, scale: 0.3, shift: 1.5)
        for op in [UnaryOp.neg, .exp, .tanh, .sigmoid, .silu, .relu, .abs, .sin, .cos, .square] {
            try gradCheck(op.rawValue, [a]) { try $0[0].unary(op) }
        }
        for op in [UnaryOp.log, .sqrt, .rsqrt] { try gradCheck(op.rawValue, [pos]) { try $0[0].unary(op) } }
    }

    func testViews() throws {
        let a = randT([3, 4, 5], seed: 7)
        try gradCheck("reshape", [a]) { try $0[0].reshape([4, -1]) * $0[0].reshape([4, 15]) }
        try gradCheck("permute", [a]) { try $0[0].permute([2, 0, 1]).exp() }
        try gradCheck("transpose", [a]) { try $0[0].transpose(0, 2).sin() }
        try gradCheck("slice", [a]) { try $0[0].index([.slice(nil, nil, -1), .slice(1, -1, nil), .slice(nil, nil, 2)]).square() }
        try gradCheck("select", [a]) { try $0[0][.at(-1), .all, .at(2)].exp() }
        try gradCheck("expand", [randT([3, 1], seed: 8)]) { try $0[0].expand([2, 3, 4]).sin() }
        try gradCheck("unsqueeze/squeeze", [a]) { try $0[0].unsqueeze(1).squeeze(1).cos() }
        try gradCheck("cat", [a, randT([3, 2, 5], seed: 9)]) { try Tensor.cat([$0[0], $0[1]], axis: 1).square() }
    }

    func testReductions() throws {
        let a = randT([3, 4, 5], seed: 10)
        for axis in [nil, 0, 1, -1] as [Int?] {
            try gradCheck("sum \(String(describing: axis))", [a]) { try $0[0].sum(axis: axis).square() }
            try gradCheck("mean \(String(describing: axis))", [a]) { try $0[0].mean(axis: axis, keepDim: true).square() }
            try gradCheck("max \(String(describing: axis))", [a]) { try $0[0].max(axis: axis) }
            try gradCheck("min \(String(describing: axis))", [a]) { try $0[0].min(axis: axis, keepDim: true) }
        }
    }

    func testMatmul() throws {
        let a = randT([2, 3, 4], seed: 11), b = randT([4, 5], seed: 12), v = randT([4], seed: 13)
        try gradCheck("matmul batched x 2d", [a, b]) { try Tensor.matmul($0[0], $0[1]) }
        try gradCheck("matmul transposed views", [randT([4, 3], seed: 14), randT([5, 4], seed: 15)]) {
            try Tensor.matmul($0[0].T, $0[1].T)
        }
        try gradCheck("matmul vector", [a, v]) { try Tensor.matmul($0[0], $0[1]) }
        try gradCheck("vector matmul", [v, b]) { try Tensor.matmul($0[0], $0[1]) }
        try gradCheck("batch broadcast", [randT([2, 1, 3, 4], seed: 16), randT([3, 4, 2], seed: 17)]) { try Tensor.matmul($0[0], $0[1]) }
    }

    func testNNOps() throws {
        let x = randT([3, 4, 6], seed: 20)
        try gradCheck("softmax", [x]) { try $0[0].softmax(axis: 1) }
        try gradCheck("log_softmax", [x]) { try $0[0].logSoftmax(axis: -1) }
        let targets = try Tensor.from(ints: [1, 5, -100, 0, 2, 3, 5, -100, 4, 0, 1, 2], shape: [3, 4])
        for red in [Reduction.mean, .sum, .none] {
            try gradCheck("cross_entropy \(red)", [x]) { try Tensor.crossEntropy($0[0], targets, reduction: red, chunkRows: 5) }
        }
        try gradCheck("rms_norm", [x, randT([6], seed: 21, scale: 0.3, shift: 1)]) { try Tensor.rmsNorm($0[0], weight: $0[1], eps: 1e-5) }
        try gradCheck("swiglu", [x, randT([3, 4, 6], seed: 22)]) { try Tensor.swiglu($0[0], $0[1]) }
        try gradCheck("rope", [randT([3, 2, 6], seed: 23)]) {
            try Tensor.rope($0[0], positions: [4, 0, 9], invFreq: [1, 0.3, 0.01], attentionScaling: 1.1)
        }
        try gradCheck("rope batched", [randT([2, 3, 1, 4], seed: 24)]) {
            try Tensor.rope($0[0], positions: [1, 2, 3], invFreq: [0.5, 0.05])
        }
        let ids = try Tensor.from(ints: [2, 0, 2, 4], shape: [2, 2])
        try gradCheck("embedding", [randT([5, 3], seed: 25)]) { try Tensor.embedding($0[0], ids) }
        try gradCheck("attention", [randT([7, 4, 3], seed: 26), randT([7, 2, 3], seed: 27), randT([7, 2, 3], seed: 28)]) {
            try Tensor.attention($0[0], $0[1], $0[2])
        }
        try gradCheck("attention kv cache", [randT([2, 2, 4], seed: 29), randT([5, 1, 4], seed: 30), randT([5, 1, 4], seed: 31)]) {
            try Tensor.attention($0[0], $0[1], $0[2], scale: 0.7)
        }
        try gradCheck("attention batched", [randT([2, 3, 2, 2], seed: 32), randT([2, 3, 2, 2], seed: 33), randT([2, 3, 2, 2], seed: 34)]) {
            try Tensor.attention($0[0], $0[1], $0[2])
        }
    }

    func testCustomOp() throws {
        // f(x) = x^3 computed outside the tape, gradient supplied by hand.
        try gradCheck("custom", [randT([4], seed: 40)]) { xs in
            let x = xs[0]
            let y = Tensor(shape: x.shape, floats: x.floats().map { $0 * $0 * $0 })
            return try Tensor.customOp(name: "cube", output: y, inputs: [x]) { g in
                [try g * (try x.square() * 3.0)]
            }
        }
    }
}
