// ScoreTests: Score.* against values computed by the reference Python packages
// (LongBench metrics.py definitions on `rouge` 1.0.1 and fuzzywuzzy + python-Levenshtein),
// fixture written by scripts/gen_eval_fixtures.py.
import Foundation
import XCTest
import Eval

final class ScoreTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/eval")

    struct Pair: Decodable {
        let pred: String
        let ref: String
        let normalized_pred: String
        let f1: Double
        let rouge_l: Double
        let rouge_l_package: Double?
        let fuzz_ratio: Int
        let edit_sim: Double
        let count: Double
        let retrieval: Double
    }
    struct ClassCase: Decodable { let pred: String; let ref: String; let classification: Double }
    struct Fixture: Decodable { let pairs: [Pair]; let classes: [String]; let classification: [ClassCase] }

    func load() throws -> Fixture {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("metrics.json"))
        return try JSONDecoder().decode(Fixture.self, from: data)
    }

    func testMetricsMatchReference() throws {
        let fx = try load()
        XCTAssertGreaterThanOrEqual(fx.pairs.count, 100)
        var maxErr = 0.0
        var failures = 0
        for (i, p) in fx.pairs.enumerated() {
            let tag = "pair \(i) pred=\(p.pred.debugDescription) ref=\(p.ref.debugDescription)"
            XCTAssertEqual(Score.normalizeAnswer(p.pred), p.normalized_pred, tag)
            let checks: [(String, Double, Double)] = [
                ("f1", Score.f1(p.pred, p.ref), p.f1),
                ("rougeL", Score.rougeL(p.pred, p.ref), p.rouge_l),
                ("rougeL(package)", Score.rougeL(p.pred, p.ref), p.rouge_l_package ?? 0),
                ("fuzz", Double(Score.fuzzRatio(p.pred, p.ref)), Double(p.fuzz_ratio)),
                ("editSim", Score.editSim(p.pred, p.ref), p.edit_sim),
                ("count", Score.count(p.pred, p.ref), p.count),
                ("retrieval", Score.retrieval(p.pred, p.ref), p.retrieval),
            ]
            for (name, got, want) in checks {
                let err = abs(got - want)
                maxErr = max(maxErr, err)
                if err > 1e-12 { failures += 1; XCTFail("\(name) \(tag): got \(got), want \(want)") }
            }
        }
        print("ScoreTests: \(fx.pairs.count) pairs, max |error| \(maxErr), \(failures) mismatches")
    }

    func testClassification() throws {
        let fx = try load()
        for c in fx.classification {
            XCTAssertEqual(Score.classification(c.pred, c.ref, classes: fx.classes), c.classification, accuracy: 1e-12,
                           "pred=\(c.pred) ref=\(c.ref)")
        }
    }

    func testByNameAndBest() throws {
        XCTAssertEqual(try Score.best("f1", "Paris", ["London", "Paris"]), 1.0)
        XCTAssertEqual(try Score.score("substring", "It is PARIS, I think", "paris"), 1.0)
        XCTAssertEqual(try Score.score("exact", "It is Paris", "paris"), 0.0)
        XCTAssertThrowsError(try Score.score("bleu", "a", "b"))
        XCTAssertEqual(Score.firstInteger("The pass key is 68231. Remember"), 68231)
        XCTAssertNil(Score.firstInteger("no digits"))
        XCTAssertEqual(Score.firstInteger(" -42 and 7"), 42)
        XCTAssertEqual(Score.firstInteger("key ١٢٣"), 123)
        XCTAssertNil(Score.firstInteger(String(repeating: "9", count: 40)))
    }
}
