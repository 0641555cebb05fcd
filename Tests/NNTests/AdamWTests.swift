// AdamWTests: torch.optim.AdamW + transformers schedules + clip_grad_norm_ against the
// reference runs in Fixtures/train/adamw.json (scripts/gen_train_fixtures.py).
import Foundation
import XCTest
import Tensor
import NN

let trainFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/train")

func loadJSON(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: trainFixtures.appendingPathComponent(name))
    return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any], "\(name): not a JSON object")
}

func numbers(_ any: Any?) -> [Float] { (any as? [Any] ?? []).map { Float(($0 as? NSNumber)?.doubleValue ?? .nan) } }

final class AdamWTests: XCTestCase {
    func testSchedulesAndAdamWMatchTorch() throws {
        let cases = try XCTUnwrap(loadJSON("adamw.json")["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 7)
        for c in cases {
            let name = c["name"] as! String
            let shapes = c["shapes"] as! [String: [Int]]
            let initial = c["init"] as! [String: Any]
            let names = shapes.keys.sorted()
            let params = names.map { (name: $0, tensor: Tensor(shape: shapes[$0]!, floats: numbers(initial[$0]))) }
            let total = c["total_steps"] as! Int
            let kind = try XCTUnwrap(LRSchedule.Kind(rawValue: c["schedule"] as! String), name)
            let sched = try LRSchedule(checking: kind, warmup: c["warmup"] as! Int, totalSteps: total)
            let betas = numbers(c["betas"]).map(Double.init)
            let opt = try AdamW(params: params, lr: (c["lr"] as! NSNumber).doubleValue,
                                betas: (betas[0], betas[1]), eps: (c["eps"] as! NSNumber).doubleValue,
                                weightDecay: (c["weight_decay"] as! NSNumber).doubleValue, schedule: sched)
            let clip = (c["clip"] as? NSNumber)?.doubleValue
            let grads = c["grads"] as! [[String: Any]]
            let lrs = (c["lrs"] as! [NSNumber]).map { $0.doubleValue }
            let norms = (c["norms"] as! [NSNumber]).map { $0.doubleValue }
            for (k, gk) in grads.enumerated() {
                var g: [String: Tensor] = [:]
                for (n, v) in gk { g[n] = Tensor(shape: shapes[n]!, floats: numbers(v)) }
                XCTAssertEqual(opt.lr, lrs[k], accuracy: 1e-12, "\(name) lr at step \(k)")
                if let clip {
                    let norm = GradClip.clipGradNorm(names.compactMap { g[$0] }, maxNorm: clip)
                    XCTAssertEqual(norm, norms[k], accuracy: 1e-5 * max(1, norms[k]), "\(name) norm at step \(k)")
                }
                try opt.step(g)
            }
            XCTAssertEqual(opt.stepCount, total)
            let final = c["final"] as! [String: Any]
            for (n, t) in params {
                let want = numbers(final[n]), got = t.floats()
                let err = zip(want, got).map { abs($0 - $1) }.max() ?? .nan
                XCTAssertLessThan(err, 1e-5, "\(name) \(n): max abs error \(err)")
            }
        }
    }

    func testScheduleMultipliers() throws {
        // transformers: linear with warmup 2 of 10 steps gives 0, 0.5, 1, 7/8, ...; after the end 0.
        let lin = try LRSchedule(checking: .linear, warmup: 2, totalSteps: 10)
        XCTAssertEqual(lin.multiplier(0), 0)
        XCTAssertEqual(lin.multiplier(1), 0.5)
        XCTAssertEqual(lin.multiplier(3), 7.0 / 8.0)
        XCTAssertEqual(lin.multiplier(12), 0)
        let cosine = try LRSchedule(checking: .cosine, warmup: 0, totalSteps: 4)
        XCTAssertEqual(cosine.multiplier(2), 0.5, accuracy: 1e-12)
        // Names are parsed where the user writes them (Commands); here the kinds are checked.
        XCTAssertNil(LRSchedule.Kind(rawValue: "exponential"))
        XCTAssertThrowsError(try LRSchedule(checking: .linear, totalSteps: 0)) {
            XCTAssertEqual("\($0)", "argument 'total_steps': the linear schedule needs the number of training steps (> 0)")
        }
        XCTAssertThrowsError(try LRSchedule(checking: .constant, warmup: -1))
        XCTAssertEqual(try LRSchedule(checking: .constant, warmup: 3).kind, .constantWithWarmup)
    }

    func testStepRejectsUnknownOrMisshapenGradients() throws {
        let p = Tensor(shape: [2], floats: [1, 2])
        let opt = try AdamW(params: [(name: "w", tensor: p)], lr: 0.1)
        XCTAssertThrowsError(try opt.step(["v": Tensor(shape: [2], floats: [1, 1])]))
        XCTAssertThrowsError(try opt.step(["w": Tensor(shape: [3], floats: [1, 1, 1])]))
        XCTAssertEqual(p.floats(), [1, 2])
        XCTAssertEqual(opt.stepCount, 0)
    }
}
