// QuantTests: dense Linear forward/backward against torch fixtures (Tests/Fixtures/quant).
import XCTest
import Tensor
import Quant

final class LinearDenseTests: XCTestCase {
    func testDenseLinearMatchesTorch() throws {
        let fx = try Fixture.load("dense_linear.json")
        let cases = fx.dicts("cases")
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let T = c.int("rows"), i = c.int("inFeatures"), o = c.int("outFeatures")
            let lin = try Linear(name: "l", inFeatures: i, outFeatures: o,
                                 weight: Tensor(shape: [o, i], floats: c.floats("weight")), trainable: true)
            XCTAssertEqual(lin.params.map(\.name), ["l.weight"])
            let x = c.floats("x"), dy = c.floats("dy")
            var y = [Float](repeating: 0, count: T * o)
            lin.forward(x, rows: T, out: &y)
            assertClose(y, c.floats("y"), rel: 1e-5, "y")
            var dx = [Float](repeating: 7, count: T * i)
            lin.backward(dy: dy, x: x, rows: T, dx: &dx)
            assertClose(dx, c.floats("dx"), rel: 1e-5, "dx")
            assertClose(lin.weight?.grad?.floats() ?? [], c.floats("dweight"), rel: 1e-5, "dW")
            // Accumulation: a second backward doubles the weight grad and (accumulate) dx.
            lin.backward(dy: dy, x: x, rows: T, dx: &dx, accumulate: true)
            assertClose(dx, c.floats("dx").map { 2 * $0 }, rel: 1e-5, "dx accumulated")
            assertClose(lin.weight?.grad?.floats() ?? [], c.floats("dweight").map { 2 * $0 }, rel: 1e-5, "dW accumulated")
        }
    }

    func testBadWeightShapeThrows() {
        XCTAssertThrowsError(try Linear(name: "l", inFeatures: 3, outFeatures: 2, weight: Tensor(zeros: [3, 2])))
    }
}
