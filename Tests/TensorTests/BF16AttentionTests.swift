// BF16AttentionTests: the attention of training with a bf16 compute dtype (attentionForwardBF16 /
// attentionBackwardBF16, products on the AMX tile unit or on AVX512-BF16) against scripts/gen_bf16_attention_fixtures.py:
// the definition it implements in float64 (q, k, v, dO, P and dS rounded to bf16 where they enter
// a product; tight bounds: f32 sums and an occasional P rounded the other way), and torch's own
// bf16 attention (scaled_dot_product_attention on bf16 q, k, v; its outputs are bf16 themselves,
// so the bound is a few bf16 steps), over a packed batch of two sequences with grouped heads.
import XCTest
import Tensor

final class BF16AttentionTests: XCTestCase {
    struct Result { var out, dq, dk, dv: [Float] }

    func run(_ c: Case, bf16: Bool) throws -> Result {
        let lengths = c.ints("lengths"), Hq = c.int("hq"), Hkv = c.int("hkv"), D = c.int("d")
        let scale = c.float("scale")
        let T = lengths.reduce(0, +)
        var segments: [Range<Int>] = []
        var s0 = 0
        for n in lengths { segments.append(s0..<(s0 + n)); s0 += n }
        let q = c.floats("q"), k = c.floats("k"), v = c.floats("v"), dout = c.floats("dout")
        var r = Result(out: [Float](repeating: 0, count: T * Hq * D), dq: [Float](repeating: .nan, count: T * Hq * D),
                       dk: [Float](repeating: .nan, count: T * Hkv * D), dv: [Float](repeating: .nan, count: T * Hkv * D))
        var lse = [Float](repeating: 0, count: Hq * T)
        let saved = BLAS.bf16Compute
        BLAS.bf16Compute = bf16
        defer { BLAS.bf16Compute = saved }
        if bf16 {
            XCTAssertTrue(Kernels.attentionBF16Applies(longest: lengths.max()!, D: D))
            try Kernels.attentionForwardBF16(q: q, k: k, v: v, out: &r.out, lse: &lse, segments: segments,
                                             Hq: Hq, Hkv: Hkv, D: D, scale: scale)
            try Kernels.attentionBackwardBF16(dout: dout, q: q, k: k, v: v, out: r.out, lse: lse, dq: &r.dq, dk: &r.dk, dv: &r.dv,
                                              segments: segments, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
        } else {
            XCTAssertFalse(Kernels.attentionBF16Applies(longest: lengths.max()!, D: D))
            let qd = Hq * D, kvd = Hkv * D
            for s in segments {
                let a = s.lowerBound, n = s.count
                try q.withUnsafeBufferPointer { qp in try k.withUnsafeBufferPointer { kp in try v.withUnsafeBufferPointer { vp in
                    try dout.withUnsafeBufferPointer { dp in
                        try r.out.withUnsafeMutableBufferPointer { op in try lse.withUnsafeMutableBufferPointer { lp in
                            try r.dq.withUnsafeMutableBufferPointer { dqp in try r.dk.withUnsafeMutableBufferPointer { dkp in
                                try r.dv.withUnsafeMutableBufferPointer { dvp in
                                    try Kernels.attentionForward(q: qp.baseAddress! + a * qd, k: kp.baseAddress! + a * kvd, v: vp.baseAddress! + a * kvd,
                                                                 out: op.baseAddress! + a * qd, lse: lp.baseAddress! + Hq * a,
                                                                 Tq: n, Tk: n, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
                                    try Kernels.attentionBackward(dout: dp.baseAddress! + a * qd, q: qp.baseAddress! + a * qd,
                                                                  k: kp.baseAddress! + a * kvd, v: vp.baseAddress! + a * kvd,
                                                                  out: op.baseAddress! + a * qd, lse: lp.baseAddress! + Hq * a,
                                                                  dq: dqp.baseAddress! + a * qd, dk: dkp.baseAddress! + a * kvd,
                                                                  dv: dvp.baseAddress! + a * kvd,
                                                                  Tq: n, Tk: n, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
                                }
                            } }
                        } }
                    }
                } } }
            }
        }
        return r
    }

    /// The largest and the mean |got - want|, over the largest |want|.
    func relErr(_ got: [Float], _ want: [Float]) -> (max: Float, mean: Float) {
        XCTAssertEqual(got.count, want.count)
        var worst: Float = 0, mag: Float = 0, sum: Float = 0
        for i in 0..<min(got.count, want.count) {
            let e = abs(got[i] - want[i])
            worst = max(worst, e.isNaN ? .infinity : e)
            sum += e
            mag = max(mag, abs(want[i]))
        }
        return (worst / mag, sum / Float(max(1, want.count)) / mag)
    }

    func testTheTileUnitAttentionMatchesTorchBF16() throws {
        guard BLAS.bf16Available else { throw XCTSkip("this CPU has no AMX-BF16 (or LLX_AMX=0)") }
        try checkAgainstFixture()
    }

    /// The same attention without the tile unit, its products on AVX512-BF16 (llx_sbgemm_dp_causal).
    func testTheAVX512BF16AttentionMatchesTorchBF16() throws {
        guard BLAS.bf16DPAvailable else { throw XCTSkip("this CPU has no AVX512-BF16 (or LLX_AVX512BF16=0)") }
        let saved = (BLAS.bf16WithoutAMX, BLAS.bf16WithoutDP, Kernels.attentionBF16OnDP)
        (BLAS.bf16WithoutAMX, BLAS.bf16WithoutDP, Kernels.attentionBF16OnDP) = (true, false, true)
        defer { (BLAS.bf16WithoutAMX, BLAS.bf16WithoutDP, Kernels.attentionBF16OnDP) = saved }
        try checkAgainstFixture()
    }

    func checkAgainstFixture() throws {
        let c = Case(d: try XCTUnwrap(Fixtures.json("bf16_attention.json")["case"] as? [String: Any]))
        let got = try run(c, bf16: true), f32 = try run(c, bf16: false)
        for (name, g, f) in [("out", got.out, f32.out), ("dq", got.dq, f32.dq), ("dk", got.dk, f32.dk), ("dv", got.dv, f32.dv)] {
            let want = c.floats("def_" + name), torch = c.floats("torch_" + name)
            let eDef = relErr(g, want), eTorch = relErr(g, torch), eF32 = relErr(f, want)
            print(String(format: "bf16 attention %@: against the definition max %.2e mean %.2e, against torch bf16 max %.2e mean %.2e (f32 kernel against the definition max %.2e mean %.2e)",
                         name, eDef.max, eDef.mean, eTorch.max, eTorch.mean, eF32.max, eF32.mean))
            // the definition: f32 sums, and now and then a P or dS on a bf16 rounding boundary
            // rounded the other way (one element a bf16 step off: a few 1e-3 of the largest value)
            XCTAssertLessThanOrEqual(eDef.max, 6e-3, "\(name) against the float64 definition")
            XCTAssertLessThanOrEqual(eDef.mean, 2e-5, "\(name) against the float64 definition, mean")
            XCTAssertLessThanOrEqual(eTorch.max, 2e-2, "\(name) against torch's bf16 attention")
            // bf16 it is: the f32 kernel is much farther from the bf16 definition
            XCTAssertGreaterThan(eF32.mean, 10 * eDef.mean, "\(name): the f32 kernel should not match the bf16 definition this well")
        }
    }
}
