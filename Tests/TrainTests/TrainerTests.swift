// TrainerTests: the training loop on a small bigram model written here (embedding ->
// output projection -> cross-entropy): gradient accumulation as a token-weighted mean,
// exact resume from a training-state checkpoint, cancellation, non-finite stops,
// determinism and the progress bar.
import Foundation
import XCTest
import Tensor
import Quant
import Train
import NN

/// logits[t] = W · E[ids[t]]; loss = mean over labelled positions of CE(logits[t], labels[t+1]).
final class BigramModel: TrainableModel {
    let vocab: Int, dim: Int
    let embed: Parameter, out: Parameter
    /// Return NaN from this call on (counting from 0), to test the non-finite stop.
    var nanAtCall: Int? = nil
    /// Put an infinite gradient (with a finite loss) at this call.
    var infGradAtCall: Int? = nil
    var calls = 0

    init(vocab: Int, dim: Int, seed: UInt64) {
        self.vocab = vocab; self.dim = dim
        var rng = SplitMix64(seed: seed)
        func rand(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) - 0.5) } }
        embed = Parameter(name: "embed.weight", value: Tensor(shape: [vocab, dim], floats: rand(vocab * dim)), trainable: true)
        out = Parameter(name: "out.weight", value: Tensor(shape: [vocab, dim], floats: rand(vocab * dim)), trainable: true)
    }

    var parameters: [Parameter] { [embed, out] }

    func forwardBackward(_ ids: [Int], labels: [Int]?, checkpointing: Bool, lossScale: Float) throws -> (loss: Float, tokens: Int) {
        defer { calls += 1 }
        let labels = labels ?? ids
        if let k = nanAtCall, calls >= k { _ = embed.ensureGrad(); return (.nan, 1) }
        let e = embed.value.floats(), w = out.value.floats()
        var ge = [Float](repeating: 0, count: e.count), gw = [Float](repeating: 0, count: w.count)
        let n = labels.dropFirst().filter { $0 != ignoreIndex }.count
        var loss = 0.0
        for t in 0..<(ids.count - 1) where labels[t + 1] != ignoreIndex {
            let x = Array(e[ids[t] * dim..<(ids[t] + 1) * dim])
            var logits = [Float](repeating: 0, count: vocab)
            for v in 0..<vocab { var s: Float = 0; for d in 0..<dim { s += w[v * dim + d] * x[d] }; logits[v] = s }
            let m = logits.max()!
            let ex = logits.map { Foundation.exp($0 - m) }
            let z = ex.reduce(0, +)
            loss += Double(Foundation.log(z) + m - logits[labels[t + 1]])
            for v in 0..<vocab {
                let dl = (ex[v] / z - (v == labels[t + 1] ? 1 : 0)) * lossScale / Float(n)
                for d in 0..<dim {
                    gw[v * dim + d] += dl * x[d]
                    ge[ids[t] * dim + d] += dl * w[v * dim + d]
                }
            }
        }
        let pe = embed.ensureGrad().floatPointer, pw = out.ensureGrad().floatPointer
        for i in 0..<ge.count { pe[i] += ge[i] }
        for i in 0..<gw.count { pw[i] += gw[i] }
        if infGradAtCall == calls { pw[3] = .infinity }
        return (Float(loss / Double(n)), n)
    }
}

func toyData(_ count: Int, seed: UInt64, vocab: Int = 11) -> TrainDataset {
    var rng = SplitMix64(seed: seed)
    return TrainDataset(records: (0..<count).map { i in
        let len = 4 + rng.below(9)
        let ids = (0..<len).map { _ in rng.below(vocab) }
        var labels = ids
        if i % 3 == 0 { for j in 0..<len / 2 { labels[j] = ignoreIndex } } // prompt-like masks of other lengths
        return .tokens(ids: ids, labels: labels)
    }, source: "toy")
}

func paramValues(_ m: BigramModel) -> [[Float]] { m.parameters.map { $0.value.floats() } }

final class TrainerTests: XCTestCase {
    func config(_ f: (inout TrainConfig) -> Void = { _ in }) -> TrainConfig {
        var c = TrainConfig()
        c.lr = 0.05; c.batch = 4; c.microBatch = 1; c.steps = 6; c.warmup = 1; c.seed = 3; c.clip = 1.0
        f(&c)
        return c
    }

    func testAccumulationIsTokenWeightedMeanOverTheBatch() throws {
        // One step over a batch of 4 with micro-batches of 1 equals the gradient of the loss
        // summed over all labelled tokens of the batch divided by their count.
        let data = toyData(4, seed: 1)
        let m = BigramModel(vocab: 11, dim: 5, seed: 9), ref = BigramModel(vocab: 11, dim: 5, seed: 9)
        let prepared = try Examples.prepare(data, tokenizer: nil, maxLen: nil)
        let total = prepared.examples.map { $0.lossTokens }.reduce(0, +)
        var refLoss = 0.0
        for ex in prepared.examples {
            let l = try ref.forwardBackward(ex.ids, labels: ex.labels, checkpointing: false, lossScale: Float(ex.lossTokens) / Float(total)).loss
            refLoss += Double(l) * Double(ex.lossTokens) / Double(total)
        }
        // SGD-free check: run the trainer with lr 0 and read the clipped-free gradient norm.
        let t = try Trainer(model: m, data: data, tokenizer: nil, config: config { $0.steps = 1; $0.lr = 0; $0.clip = nil; $0.warmup = 0 })
        let r = try t.run()
        let refNorm = GradClip.totalNorm(ref.parameters.compactMap { $0.grad })
        XCTAssertEqual(r.history[0].loss, refLoss, accuracy: 1e-6)
        XCTAssertEqual(r.history[0].gradNorm, refNorm, accuracy: 1e-6)
        XCTAssertEqual(paramValues(m), paramValues(BigramModel(vocab: 11, dim: 5, seed: 9)))
    }

    func testResumeIsBitIdentical() throws {
        let data = toyData(10, seed: 2)
        let path = try tempFile("state.safetensors", "")
        // uninterrupted
        let a = BigramModel(vocab: 11, dim: 5, seed: 4)
        let ra = try Trainer(model: a, data: data, tokenizer: nil, config: config { $0.steps = 7; $0.microBatch = 2 }).run()
        // stopped after step 3 (cancel set in the progress callback), then resumed
        let b = BigramModel(vocab: 11, dim: 5, seed: 4)
        let flag = CancellationToken()
        let cfg = config { $0.steps = 7; $0.microBatch = 2; $0.out = path; $0.saveEvery = 2 }
        let rb1 = try Trainer(model: b, data: data, tokenizer: nil, config: cfg).run(progress: { p in if p.step == 3 { flag.cancel() } }, cancel: flag)
        XCTAssertTrue(rb1.cancelled)
        XCTAssertEqual(rb1.steps, 3)
        let c = BigramModel(vocab: 11, dim: 5, seed: 77) // different start: everything comes from the checkpoint
        var rcfg = cfg; rcfg.resume = path
        let rc = try Trainer(model: c, data: data, tokenizer: nil, config: rcfg).run()
        XCTAssertFalse(rc.cancelled)
        XCTAssertEqual(rc.history.map { $0.loss }, ra.history.map { $0.loss })
        XCTAssertEqual(rc.history.map { $0.lr }, ra.history.map { $0.lr })
        XCTAssertEqual(paramValues(c), paramValues(a))
        // same seed, same run; another seed, another data order
        let d = BigramModel(vocab: 11, dim: 5, seed: 4)
        let rd = try Trainer(model: d, data: data, tokenizer: nil, config: config { $0.steps = 7; $0.microBatch = 2 }).run()
        XCTAssertEqual(rd.history.map { $0.loss }, ra.history.map { $0.loss })
        let e = BigramModel(vocab: 11, dim: 5, seed: 4)
        let re = try Trainer(model: e, data: data, tokenizer: nil, config: config { $0.steps = 7; $0.seed = 99 }).run()
        XCTAssertNotEqual(re.history.map { $0.loss }, ra.history.map { $0.loss })
        // a state from other settings is refused
        var other = rcfg; other.lr = 0.01
        XCTAssertThrowsError(try Trainer(model: BigramModel(vocab: 11, dim: 5, seed: 4), data: data, tokenizer: nil, config: other).run())
    }

    func testNonFiniteLossStopsAndKeepsLastGoodParameters() throws {
        let data = toyData(8, seed: 5)
        let m = BigramModel(vocab: 11, dim: 5, seed: 6)
        let t = try Trainer(model: m, data: data, tokenizer: nil, config: config { $0.steps = 4 })
        var seen: [[Float]] = []
        m.nanAtCall = 4 * 2 + 1 // during step 3
        XCTAssertThrowsError(try t.run(progress: { _ in seen = paramValues(m) })) { e in
            guard case TrainError.nonFinite(let step, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(step, 3)
            XCTAssertTrue("\(e)".contains("not finite"))
        }
        XCTAssertEqual(t.history.count, 2)
        XCTAssertEqual(paramValues(m), seen)
        XCTAssertTrue(m.parameters.allSatisfy { ($0.grad?.floats() ?? []).allSatisfy { $0 == 0 } })
    }

    func testNonFiniteGradientStops() throws {
        let m = BigramModel(vocab: 11, dim: 5, seed: 6)
        let t = try Trainer(model: m, data: toyData(8, seed: 5), tokenizer: nil, config: config { $0.steps = 4 })
        var seen: [[Float]] = []
        m.infGradAtCall = 4 // first sequence of step 2
        XCTAssertThrowsError(try t.run(progress: { _ in seen = paramValues(m) })) { e in
            guard case TrainError.nonFinite(let step, let what) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(step, 2)
            XCTAssertTrue(what.contains("gradient"), what)
        }
        XCTAssertEqual(t.history.count, 1)
        XCTAssertEqual(paramValues(m), seen)
    }

    func testCancelBeforeStartLeavesModelUnchanged() throws {
        let m = BigramModel(vocab: 11, dim: 5, seed: 6)
        let before = paramValues(m)
        let flag = CancellationToken(); flag.cancel()
        let r = try Trainer(model: m, data: toyData(8, seed: 5), tokenizer: nil, config: config()).run(cancel: flag)
        XCTAssertTrue(r.cancelled)
        XCTAssertEqual(r.steps, 0)
        XCTAssertEqual(paramValues(m), before)
    }

    func testBadSettingsAreNamed() throws {
        let m = BigramModel(vocab: 11, dim: 5, seed: 6)
        XCTAssertThrowsError(try Trainer(model: m, data: toyData(8, seed: 5), tokenizer: nil, config: config { $0.microBatch = 3 })) { e in
            XCTAssertTrue("\(e)".contains("micro_batch"), "\(e)")
        }
        XCTAssertThrowsError(try Trainer(model: m, data: toyData(8, seed: 5), tokenizer: nil, config: config { $0.warmup = -1 })) { e in
            XCTAssertTrue("\(e)".contains("warmup"), "\(e)")
        }
        // (an unknown schedule name is the command's error: Tests/Scripts/commands/err_schedule.llx)
        XCTAssertThrowsError(try Trainer(model: m, data: TrainDataset(records: []), tokenizer: nil, config: config()))
    }

    func testProgressBar() {
        var out = ""
        let p = TrainProgress(step: 5, totalSteps: 10, epoch: 0, loss: 2.5, lr: 1e-4, gradNorm: 1, tokensPerSecond: 1234, elapsed: 10, eta: 75)
        let plain = ProgressBar(isTerminal: false, width: 10, every: 5) { out += $0 }
        plain(p)
        XCTAssertEqual(out, "[#####.....] 5/10 loss 2.5000 lr 0.0001 1234 tok/s ETA 1:15\n")
        out = ""
        var q = p; q.step = 6
        plain(q)
        XCTAssertEqual(out, "")
        let term = ProgressBar(isTerminal: true, width: 10) { out += $0 }
        term(q)
        XCTAssertTrue(out.hasPrefix("\r\u{1B}[K[######....] 6/10"))
        XCTAssertFalse(out.hasSuffix("\n"))
        // on a terminal of known width the line fits it: the bar shrinks, then the text is cut
        let narrow = ProgressBar(isTerminal: true, width: 24) { _ in }
        narrow.columns = 70
        let line = narrow.line(q)
        XCTAssertLessThanOrEqual(line.count, 69, line)
        XCTAssertTrue(line.hasPrefix("[") && line.contains("] 6/10 loss"), line)
        narrow.columns = 30
        XCTAssertEqual(narrow.line(q).count, 29)
        narrow.columns = 200
        XCTAssertTrue(narrow.line(q).hasPrefix("[" + String(repeating: "#", count: 24) + String(repeating: ".", count: 16) + "]"))
    }
}
