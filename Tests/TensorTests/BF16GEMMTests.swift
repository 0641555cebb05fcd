// BF16GEMMTests: matrix products with a bf16 compute dtype (BLAS.bf16Compute) against torch's
// definition (scripts/gen_bf16_gemm_fixtures.py: operands converted with .to(torch.bfloat16),
// summed exactly in float64), on the AMX tile unit where the CPU has it and on the path of CPUs
// without it, with every transpose, edges in every dimension, alpha and beta, and the rounding
// itself (ties to even, carries, subnormals, the largest values).
import XCTest
import Tensor

final class BF16GEMMTests: XCTestCase {
    func run(_ c: Case, withoutAMX: Bool) -> [Float] {
        let m = c.int("m"), n = c.int("n"), k = c.int("k")
        let ta = (c.d["trans_a"] as? Bool) ?? false, tb = (c.d["trans_b"] as? Bool) ?? false
        let a = c.floats("a"), b = c.floats("b")
        var out = c.floats("c")
        let saved = (BLAS.bf16Compute, BLAS.bf16WithoutAMX)
        BLAS.bf16Compute = true
        BLAS.bf16WithoutAMX = withoutAMX
        defer { (BLAS.bf16Compute, BLAS.bf16WithoutAMX) = saved }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: c.float("alpha"),
                               a: pa.baseAddress!, lda: ta ? m : k, b: pb.baseAddress!, ldb: tb ? k : n,
                               beta: c.float("beta"), c: pc.baseAddress!, ldc: n)
                }
            }
        }
        return out
    }

    func check(withoutAMX: Bool) throws {
        let cases = try XCTUnwrap(Fixtures.json("bf16_gemm.json")["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 8)
        for (i, d) in cases.enumerated() {
            let c = Case(d: d)
            let got = run(c, withoutAMX: withoutAMX), want = c.floats("out"), bound = c.floats("bound")
            XCTAssertEqual(got.count, want.count)
            let k = Float(c.int("k"))
            for j in 0..<min(got.count, want.count) {
                // an f32 sum of k exact products: within k ulps of the sum of magnitudes
                let tol = bound[j] * k * Float.ulpOfOne + Float.leastNormalMagnitude
                if !(abs(got[j] - want[j]) <= tol) {
                    XCTFail("case \(i) (\(c.int("m"))x\(c.int("n"))x\(c.int("k")), AMX \(!withoutAMX)) element \(j): \(got[j]) against torch's \(want[j])")
                    break
                }
            }
        }
    }

    func testTheTileUnitMultipliesAsTorchDefinesBF16() throws {
        guard BLAS.bf16Available else {
            throw XCTSkip("this CPU has no AMX-BF16 (or LLX_AMX=0): the path of CPUs without it is tested below")
        }
        try check(withoutAMX: false)
    }

    func testWithoutTheTileUnitTheProductIsTheSame() throws {
        try check(withoutAMX: true)
    }

    func testTheFlagOffLeavesF32Products() throws {
        // the rounding case: with the flag off, op(A) times the identity is op(A) itself
        let cases = try XCTUnwrap(Fixtures.json("bf16_gemm.json")["cases"] as? [[String: Any]])
        let c = Case(d: cases[7])
        let m = c.int("m"), n = c.int("n"), k = c.int("k")
        let a = c.floats("a"), b = c.floats("b")
        var out = [Float](repeating: 0, count: m * n)
        XCTAssertFalse(BLAS.bf16Compute)
        BLAS.sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &out, ldc: n)
        XCTAssertEqual(out, a)
        XCTAssertNotEqual(out, c.floats("out"), "the rounding case must tell bf16 from f32")
    }
    /// Products large enough for the thread pool (operands packed once by all threads, then row
    /// blocks of C each): the same numbers as the path without AMX, with every transpose.
    func testPooledProductsMatchThePathWithoutAMX() throws {
        guard BLAS.bf16Available else { throw XCTSkip("this CPU has no AMX-BF16 (or LLX_AMX=0)") }
        let saved = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = saved }
        var state: UInt64 = 7
        func rand(_ count: Int) -> [Float] {
            (0..<count).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(Double(state >> 11) * 0x1.0p-53 * 2 - 1)
            }
        }
        let m = 200, n = 96, k = 160
        // alpha 1 with beta 0 or 1 stores the tiles straight into C (starting from C with beta 1)
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
          for (alpha, beta): (Float, Float) in [(0.75, 0.5), (1, 0), (1, 1)] {
            let a = rand(m * k), b = rand(k * n), c0 = rand(m * n)
            func product(withoutAMX: Bool) -> [Float] {
                var out = c0
                let saved = (BLAS.bf16Compute, BLAS.bf16WithoutAMX)
                (BLAS.bf16Compute, BLAS.bf16WithoutAMX) = (true, withoutAMX)
                defer { (BLAS.bf16Compute, BLAS.bf16WithoutAMX) = saved }
                BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: ta ? m : k, b: b,
                           ldb: tb ? k : n, beta: beta, c: &out, ldc: n)
                return out
            }
            let amx = product(withoutAMX: false), plain = product(withoutAMX: true)
            var worst: Float = 0
            for i in 0..<m {
                for j in 0..<n {
                    var mag: Float = 0
                    for p in 0..<k { mag += abs((ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j])) }
                    let tol = 2 * (alpha * mag + beta * abs(c0[i * n + j])) * Float(k) * Float.ulpOfOne
                    worst = max(worst, abs(amx[i * n + j] - plain[i * n + j]) / tol)
                }
            }
            XCTAssertLessThanOrEqual(worst, 1, "transA \(ta) transB \(tb) alpha \(alpha) beta \(beta): worst difference \(worst) of the allowed")
            // and bf16 it is: the f32 product differs by far more
            var f32 = c0
            BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: ta ? m : k, b: b,
                       ldb: tb ? k : n, beta: beta, c: &f32, ldc: n)
            XCTAssertGreaterThan(maxAbsDiff(f32, amx), 1e-3)
          }
        }
    }
}
