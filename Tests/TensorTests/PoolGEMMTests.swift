// BLAS.sgemm on llx's one pool: a product split by rows (tall results) or columns (wide ones)
// across the pool's threads must equal the single-threaded product bit for bit (the split never
// touches the inner dimension), for every combination of transposed operands, alpha and beta.
import Foundation
import XCTest
import Tensor

final class PoolGEMMTests: XCTestCase {
    private func product(_ transA: Bool, _ transB: Bool, m: Int, n: Int, k: Int, beta: Float, threads: Int,
                         a: [Float], b: [Float], c0: [Float]) -> [Float] {
        let saved = Parallel.threads
        Parallel.threads = threads
        defer { Parallel.threads = saved }
        var c = c0
        let lda = transA ? m : k, ldb = transB ? k : n
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.75, a: pa.baseAddress!, lda: lda,
                               b: pb.baseAddress!, ldb: ldb, beta: beta, c: pc.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }

    func testSplitProductsEqualTheSingleThreadedOnesAndTheDefinition() {
        XCTAssertTrue(BLAS.onePool, "the default threading is the one pool")
        var rng = SystemRandomNumberGenerator()
        for (m, n, k) in [(300, 70, 40), (40, 300, 50), (129, 129, 33)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    for beta: Float in [0, 0.5] {
                        let a = (0..<(m * k)).map { _ in Float.random(in: -1...1, using: &rng) }
                        let b = (0..<(k * n)).map { _ in Float.random(in: -1...1, using: &rng) }
                        let c0 = (0..<(m * n)).map { _ in Float.random(in: -1...1, using: &rng) }
                        let one = product(transA, transB, m: m, n: n, k: k, beta: beta, threads: 1, a: a, b: b, c0: c0)
                        let two = product(transA, transB, m: m, n: n, k: k, beta: beta, threads: 2, a: a, b: b, c0: c0)
                        XCTAssertEqual(one, two, "\(m)x\(n)x\(k) transA \(transA) transB \(transB) beta \(beta)")
                        var worst = 0.0
                        for i in 0..<m {
                            for j in 0..<n {
                                var s = 0.0
                                for p in 0..<k {
                                    let x = Double(transA ? a[p * m + i] : a[i * k + p])
                                    let y = Double(transB ? b[j * k + p] : b[p * n + j])
                                    s += x * y
                                }
                                let want = 0.75 * s + Double(beta) * Double(c0[i * n + j])
                                worst = max(worst, abs(want - Double(two[i * n + j])))
                            }
                        }
                        XCTAssertLessThan(worst, 2e-5, "\(m)x\(n)x\(k) transA \(transA) transB \(transB)")
                    }
                }
            }
        }
    }
}
