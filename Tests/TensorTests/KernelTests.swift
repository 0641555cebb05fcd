// KernelTests: the raw kernels against torch goldens (Tests/Fixtures/tensor/kernels.json,
// made by scripts/gen_tensor_fixtures.py) and flash attention against a naive T x T version.
import Foundation
import XCTest
import Tensor

final class KernelTests: XCTestCase {
    static let all: [String: Any] = (try? Fixtures.json("kernels.json")) ?? [:]
    func fixture(_ name: String) throws -> Case {
        guard let d = KernelTests.all[name] as? [String: Any] else { throw XCTSkip("missing fixture \(name)") }
        return Case(d: d)
    }

    func testRMSNorm() throws {
        let c = try fixture("rmsnorm")
        let rows = c.int("rows"), dim = c.int("dim")
        let x = c.floats("x"), w = c.floats("weight"), g = c.floats("dout")
        var out = [Float](repeating: 0, count: rows * dim), rstd = [Float](repeating: 0, count: rows)
        Kernels.rmsNormForward(x: x, weight: w, out: &out, rstd: &rstd, rows: rows, dim: dim, eps: c.float("eps"))
        assertClose(out, c.floats("out"), 1e-5, "rmsnorm out")
        assertClose(rstd, c.floats("rstd"), 1e-5, "rmsnorm rstd")
        var dx = [Float](repeating: 0, count: rows * dim), dw = [Float](repeating: 1, count: dim)
        Kernels.rmsNormBackward(dout: g, x: x, weight: w, rstd: rstd, dx: &dx, dweight: &dw, rows: rows, dim: dim)
        assertClose(dx, c.floats("dx"), 1e-5, "rmsnorm dx")
        assertClose(dw, c.floats("dweight").map { $0 + 1 }, 1e-5, "rmsnorm dweight (accumulated onto 1)")
        // accumulate: dx added onto what the buffer holds (the residual stream), exactly the sum
        // of the overwritten gradient and the old values
        let base = (0..<(rows * dim)).map { Float($0 % 7) * 0.25 - 0.5 }
        var acc = base
        Kernels.rmsNormBackward(dout: g, x: x, weight: w, rstd: rstd, dx: &acc, dweight: nil, rows: rows, dim: dim,
                                accumulate: true)
        XCTAssertEqual(acc, zip(base, dx).map { $0 + $1 })
        // the residual adds on the pool: y += x
        var y = base
        Kernels.addInPlace(dx, &y, rows * dim)
        XCTAssertEqual(y, zip(base, dx).map { $0 + $1 })
    }

    func testRoPE() throws {
        let c = try fixture("rope")
        let T = c.int("T"), H = c.int("heads"), D = c.int("headDim")
        let (cos, sin) = Kernels.ropeTables(positions: c.ints("positions"), invFreq: c.floats("invFreq"),
                                            attentionScaling: c.float("attentionScaling"))
        assertClose(cos, c.floats("cos"), 2e-6, "rope cos")
        assertClose(sin, c.floats("sin"), 2e-6, "rope sin")
        var x = c.floats("x")
        Kernels.ropeApply(x: &x, cos: cos, sin: sin, T: T, heads: H, headDim: D)
        assertClose(x, c.floats("out"), 1e-5, "rope out")
        var g = c.floats("dout")
        Kernels.ropeApply(x: &g, cos: cos, sin: sin, T: T, heads: H, headDim: D, inverse: true)
        assertClose(g, c.floats("dx"), 1e-5, "rope dx")
    }

    func testSwiGLU() throws {
        let c = try fixture("swiglu")
        let n = c.int("n")
        var out = [Float](repeating: 0, count: n)
        Kernels.swigluForward(gate: c.floats("gate"), up: c.floats("up"), out: &out, n: n)
        assertClose(out, c.floats("out"), 1e-5, "swiglu out")
        var dg = [Float](repeating: 0, count: n), du = [Float](repeating: 0, count: n)
        Kernels.swigluBackward(dout: c.floats("dout"), gate: c.floats("gate"), up: c.floats("up"), dgate: &dg, dup: &du, n: n)
        assertClose(dg, c.floats("dgate"), 1e-5, "swiglu dgate")
        assertClose(du, c.floats("dup"), 1e-5, "swiglu dup")
    }

    func testCrossEntropy() throws {
        let c = try fixture("cross_entropy")
        let n = c.int("n"), V = c.int("vocab")
        var losses = [Float](repeating: 0, count: n), d = [Float](repeating: 9, count: n * V)
        let counted = try Kernels.crossEntropyRows(logits: c.floats("logits"), targets: c.ints("targets"), losses: &losses,
                                                   dlogits: &d, dlogitsScale: c.float("scale"), n: n, vocab: V)
        XCTAssertEqual(counted, 4)
        assertClose(losses, c.floats("losses"), 1e-5, "cross-entropy losses")
        assertClose(d, c.floats("dlogits"), 1e-5, "cross-entropy dlogits")
        // In place, in two chunks of rows.
        var z = c.floats("logits")
        let t = c.ints("targets")
        var l2 = [Float](repeating: 0, count: n)
        try z.withUnsafeMutableBufferPointer { zp in
            try t.withUnsafeBufferPointer { tp in
                try l2.withUnsafeMutableBufferPointer { lp in
                    for (lo, hi) in [(0, 4), (4, n)] {
                        try Kernels.crossEntropyRows(logits: zp.baseAddress! + lo * V, targets: tp.baseAddress! + lo,
                                                     losses: lp.baseAddress! + lo, dlogits: zp.baseAddress! + lo * V,
                                                     dlogitsScale: c.float("scale"), n: hi - lo, vocab: V)
                    }
                }
            }
        }
        assertClose(l2, c.floats("losses"), 1e-5, "cross-entropy chunked losses")
        assertClose(z, c.floats("dlogits"), 1e-5, "cross-entropy in-place dlogits")
        XCTAssertThrowsError(try Kernels.crossEntropyRows(logits: [0, 0], targets: [2], losses: &losses, dlogits: nil, n: 1, vocab: 2))
    }

    func testEmbedding() throws {
        let c = try fixture("embedding")
        let V = c.int("vocab"), D = c.int("dim"), ids = c.ints("ids")
        var out = [Float](repeating: 0, count: ids.count * D)
        try Kernels.embeddingForward(table: c.floats("table"), vocab: V, ids: ids, n: ids.count, out: &out, dim: D)
        assertClose(out, c.floats("out"), 0, "embedding out")
        var dt = [Float](repeating: 0, count: V * D)
        try Kernels.embeddingBackward(dout: c.floats("dout"), ids: ids, n: ids.count, dtable: &dt, vocab: V, dim: D)
        assertClose(dt, c.floats("dtable"), 1e-5, "embedding dtable")
        XCTAssertThrowsError(try Kernels.embeddingForward(table: c.floats("table"), vocab: V, ids: [V], n: 1, out: &out, dim: D))
    }

    func checkAttention(_ name: String) throws {
        let c = try fixture(name)
        let Tq = c.int("Tq"), Tk = c.int("Tk"), Hq = c.int("Hq"), Hkv = c.int("Hkv"), D = c.int("D")
        let q = c.floats("q"), k = c.floats("k"), v = c.floats("v")
        var out = [Float](repeating: 0, count: Tq * Hq * D), lse = [Float](repeating: 0, count: Hq * Tq)
        try Kernels.attentionForward(q: q, k: k, v: v, out: &out, lse: &lse, Tq: Tq, Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, scale: c.float("scale"))
        assertClose(out, c.floats("out"), 1e-5, "\(name) out")
        assertClose(lse, c.floats("lse"), 1e-5, "\(name) lse")
        var dq = [Float](repeating: 7, count: q.count), dk = [Float](repeating: 7, count: k.count), dv = [Float](repeating: 7, count: v.count)
        try Kernels.attentionBackward(dout: c.floats("dout"), q: q, k: k, v: v, out: out, lse: lse, dq: &dq, dk: &dk, dv: &dv,
                                      Tq: Tq, Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, scale: c.float("scale"))
        assertClose(dq, c.floats("dq"), 1e-5, "\(name) dq")
        assertClose(dk, c.floats("dk"), 1e-5, "\(name) dk")
        assertClose(dv, c.floats("dv"), 1e-5, "\(name) dv")
    }

    func testAttentionGQA() throws { try checkAttention("attention") }
    func testAttentionKVCache() throws { try checkAttention("attention_cache") }
    func testAttentionMHA() throws { try checkAttention("attention_mha") }

    func testAttentionRejectsBadHeads() {
        var o = [Float](repeating: 0, count: 6)
        XCTAssertThrowsError(try Kernels.attentionForward(q: o, k: o, v: o, out: &o, lse: nil, Tq: 1, Tk: 1, Hq: 3, Hkv: 2, D: 2, scale: 1))
        XCTAssertThrowsError(try Kernels.attentionForward(q: o, k: o, v: o, out: &o, lse: nil, Tq: 2, Tk: 1, Hq: 1, Hkv: 1, D: 2, scale: 1))
    }

    /// Flash attention (forward and backward) against a naive T x T computation in Double at T = 512.
    func testFlashMatchesNaiveT512() throws {
        try checkFlashAgainstNaive(Tq: 512, Tk: 512, Hq: 4, Hkv: 2, D: 32, seed: 7, "T 512")
    }

    /// The flash kernels against the naive version over the shapes their code paths split on:
    /// head dims that are a multiple of 64, 64 + 16, 16 + a scalar tail; GQA groups 1-4; fewer
    /// queries than keys (a cache); partial tiles, with the default tiles and with tiny ones.
    func testFlashMatchesNaiveAcrossShapes() throws {
        let saved = (Kernels.attentionQueryTile, Kernels.attentionKeyTile)
        let savedB = (Kernels.attentionBackwardQueryTile, Kernels.attentionBackwardKeyTile)
        defer {
            (Kernels.attentionQueryTile, Kernels.attentionKeyTile) = saved
            (Kernels.attentionBackwardQueryTile, Kernels.attentionBackwardKeyTile) = savedB
        }
        let shapes = [(200, 200, 8, 2, 64), (150, 333, 4, 1, 80), (37, 37, 6, 3, 20), (1, 300, 8, 2, 64), (70, 90, 2, 2, 128)]
        for tiles in [saved, (7, 16), savedB] {
            (Kernels.attentionQueryTile, Kernels.attentionKeyTile) = tiles
            (Kernels.attentionBackwardQueryTile, Kernels.attentionBackwardKeyTile) = tiles
            for (n, (Tq, Tk, Hq, Hkv, D)) in shapes.enumerated() {
                try checkFlashAgainstNaive(Tq: Tq, Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, seed: UInt64(40 + n), "tiles \(tiles)")
            }
        }
    }

    func checkFlashAgainstNaive(Tq: Int, Tk: Int, Hq: Int, Hkv: Int, D: Int, seed: UInt64, _ label: String) throws {
        var rng = SplitMix(seed: seed)
        let scale = 1 / Float(D).squareRoot()
        let q = (0..<(Tq * Hq * D)).map { _ in rng.normal() }
        let k = (0..<(Tk * Hkv * D)).map { _ in rng.normal() }
        let v = (0..<(Tk * Hkv * D)).map { _ in rng.normal() }
        let g = (0..<(Tq * Hq * D)).map { _ in rng.normal() }
        var out = [Float](repeating: 0, count: q.count), lse = [Float](repeating: 0, count: Hq * Tq)
        try Kernels.attentionForward(q: q, k: k, v: v, out: &out, lse: &lse, Tq: Tq, Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count), dv = dk
        try Kernels.attentionBackward(dout: g, q: q, k: k, v: v, out: out, lse: lse, dq: &dq, dk: &dk, dv: &dv,
                                      Tq: Tq, Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
        let ref = naiveAttention(q, k, v, g, Tq, Hq, Hkv, D, Double(scale), keys: Tk)
        let what = "flash vs naive, Tq \(Tq) Tk \(Tk) heads \(Hq)/\(Hkv) D \(D), \(label)"
        assertClose(out, ref.out, 1e-5, "out, " + what)
        assertClose(dq, ref.dq, 1e-5, "dq, " + what)
        assertClose(dk, ref.dk, 1e-5, "dk, " + what)
        assertClose(dv, ref.dv, 1e-5, "dv, " + what)
    }
}

struct SplitMix {
    var s: UInt64
    init(seed: UInt64) { s = seed }
    mutating func next() -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func normal() -> Float {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}

/// Causal GQA attention with explicit Tq x Tk scores in Double, and its gradients (query i at
/// position Tk - Tq + i).
func naiveAttention(_ q: [Float], _ k: [Float], _ v: [Float], _ g: [Float], _ T: Int, _ Hq: Int, _ Hkv: Int, _ D: Int,
                    _ scale: Double, keys: Int? = nil) -> (out: [Float], dq: [Float], dk: [Float], dv: [Float]) {
    var out = [Double](repeating: 0, count: q.count), dq = out
    var dk = [Double](repeating: 0, count: k.count), dv = dk
    let group = Hq / Hkv, Tk = keys ?? T, off = Tk - T
    for h in 0..<Hq {
        let kh = h / group
        var P = [Double](repeating: 0, count: T * Tk)
        for i in 0..<T {
            var m = -Double.infinity
            for j in 0...(off + i) {
                var s = 0.0
                for d in 0..<D { s += Double(q[(i * Hq + h) * D + d]) * Double(k[(j * Hkv + kh) * D + d]) }
                P[i * Tk + j] = s * scale; m = max(m, s * scale)
            }
            var z = 0.0
            for j in 0...(off + i) { P[i * Tk + j] = Foundation.exp(P[i * Tk + j] - m); z += P[i * Tk + j] }
            for j in 0...(off + i) { P[i * Tk + j] /= z }
            for j in 0...(off + i) { for d in 0..<D { out[(i * Hq + h) * D + d] += P[i * Tk + j] * Double(v[(j * Hkv + kh) * D + d]) } }
        }
        for i in 0..<T {
            var dP = [Double](repeating: 0, count: off + i + 1)
            var dot = 0.0
            for j in 0...(off + i) {
                var s = 0.0
                for d in 0..<D {
                    let gd = Double(g[(i * Hq + h) * D + d])
                    s += gd * Double(v[(j * Hkv + kh) * D + d])
                    dv[(j * Hkv + kh) * D + d] += P[i * Tk + j] * gd
                }
                dP[j] = s; dot += s * P[i * Tk + j]
            }
            for j in 0...(off + i) {
                let ds = P[i * Tk + j] * (dP[j] - dot) * scale
                for d in 0..<D {
                    dq[(i * Hq + h) * D + d] += ds * Double(k[(j * Hkv + kh) * D + d])
                    dk[(j * Hkv + kh) * D + d] += ds * Double(q[(i * Hq + h) * D + d])
                }
            }
        }
    }
    return (out.map(Float.init), dq.map(Float.init), dk.map(Float.init), dv.map(Float.init))
}
