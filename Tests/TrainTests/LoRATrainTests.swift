// LoRATrainTests: a tiny Hugging Face Llama with PEFT LoRA (r=4, alpha=8 on q/k/v/o) and a
// trainable embed_tokens (Fixtures/train/lora_tiny, scripts/gen_train_fixtures.py): the LoRA
// and embedding gradients of one sequence against PEFT's, three trainer steps against torch
// (token-weighted accumulation, clip 1.0, AdamW with weight decay, linear decay), and exact
// resume on the real model.
import Foundation
import XCTest
import Tensor
import Quant
import Llama
import Checkpoint
import Train
import NN

let loraDir = trainFixtures.appendingPathComponent("lora_tiny")

/// The fixture model with its adapters and the trainable set of the fixture.
func loraFixtureModel() throws -> LlamaModel {
    let m = try LlamaModel.load(path: loraDir.path)
    let adapter = try SafetensorsFile.open(loraDir.appendingPathComponent("adapter.safetensors").path)
    for L in m.layers {
        for lin in [L.qProj, L.kProj, L.vProj, L.oProj] {
            let lora = try lin.addLoRA(rank: 4, alpha: 8)
            for p in [lora.A, lora.B] {
                let t = try adapter.tensor(String(p.name.dropFirst(PEFT.prefix.count)))
                XCTAssertEqual(t.shape, p.shape, p.name)
                p.value.floatPointer.update(from: t.contiguous().to(.f32).floatPointer, count: p.count)
            }
        }
    }
    let e = try adapter.tensor("model.embed_tokens.weight")
    m.embedTokens.value.floatPointer.update(from: e.contiguous().floatPointer, count: e.count)
    m.setTrainable { $0.contains(".lora_") || $0 == "model.embed_tokens.weight" }
    return m
}

/// The fixture name of a trainable parameter (PEFT's saved name without "base_model.model.").
func fixtureName(_ p: Parameter) -> String {
    p.name.hasPrefix(PEFT.prefix) ? String(p.name.dropFirst(PEFT.prefix.count)) : p.name
}

func loraRun() throws -> [String: Any] {
    let data = try Data(contentsOf: loraDir.appendingPathComponent("run.json"))
    return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

final class LoRATrainTests: XCTestCase {
    func testGradientsMatchPEFT() throws {
        let run = try loraRun()
        let ids = (run["ids"] as! [[Int]])[0], labels = (run["labels"] as! [[Int]])[0]
        let ref = try SafetensorsFile.open(loraDir.appendingPathComponent("grads.safetensors").path)
        for checkpointing in [false, true] {
            let m = try loraFixtureModel()
            let trainable = m.parameters.filter { $0.trainable }
            XCTAssertEqual(trainable.count, 17)
            XCTAssertEqual(Set(trainable.map(fixtureName)), Set(run["trainable"] as! [String]))
            let (loss, n) = try m.forwardBackward(ids, labels: labels, checkpointing: checkpointing, lossScale: 1)
            XCTAssertEqual(n, labels.dropFirst().filter { $0 != -100 }.count)
            XCTAssertEqual(Double(loss), (run["loss0"] as! NSNumber).doubleValue, accuracy: 1e-4)
            var worst = 0.0
            for p in trainable {
                let want = try ref.tensor(fixtureName(p)).floats()
                let got = try XCTUnwrap(p.grad, p.name).floats()
                let scale = Double(want.map { abs($0) }.max() ?? 0)
                XCTAssertGreaterThan(scale, 0, "\(p.name): the fixture gradient should not be zero")
                let err = Double(zip(want, got).map { abs($0 - $1) }.max() ?? .infinity)
                worst = max(worst, err / scale)
                XCTAssertLessThan(err / scale, 1e-4, "\(p.name) (checkpointing \(checkpointing)): relative error \(err / scale)")
            }
            print("LoRA/embedding gradients vs PEFT (checkpointing \(checkpointing)): max relative error \(worst)")
        }
    }

    func trainConfig() -> TrainConfig {
        var c = TrainConfig()
        c.lr = 1e-2; c.weightDecay = 0.01; c.clip = 1.0; c.schedule = .linear; c.warmup = 0
        c.batch = 2; c.microBatch = 1; c.steps = 3; c.shuffle = false; c.checkpointing = true
        return c
    }

    func fixtureData(_ run: [String: Any]) -> TrainDataset {
        let ids = run["ids"] as! [[Int]], labels = run["labels"] as! [[Int]]
        return TrainDataset(records: zip(ids, labels).map { .tokens(ids: $0, labels: $1) }, source: "lora_tiny")
    }

    func testThreeTrainerStepsMatchTorch() throws {
        // Micro-batch 2 packs both sequences (20 and 13 tokens) into one pass: the same numbers
        // as running them one by one, with and without checkpointing.
        let run = try loraRun()
        for (microBatch, checkpointing) in [(1, true), (2, true), (2, false)] {
            let m = try loraFixtureModel()
            var c = trainConfig()
            c.microBatch = microBatch; c.checkpointing = checkpointing
            let what = "micro-batch \(microBatch), checkpointing \(checkpointing)"
            let r = try Trainer(model: m, data: fixtureData(run), tokenizer: nil, config: c).run()
            XCTAssertEqual(r.steps, 3)
            let losses = (run["step_losses"] as! [NSNumber]).map { $0.doubleValue }
            let lrs = (run["lrs"] as! [NSNumber]).map { $0.doubleValue }
            let norms = (run["norms"] as! [NSNumber]).map { $0.doubleValue }
            for k in 0..<3 {
                XCTAssertEqual(r.history[k].loss, losses[k], accuracy: 1e-4, "loss of step \(k + 1), \(what)")
                XCTAssertEqual(r.history[k].lr, lrs[k], accuracy: 1e-12, "lr of step \(k + 1)")
                XCTAssertEqual(r.history[k].gradNorm, norms[k], accuracy: 1e-4 * norms[k], "grad norm of step \(k + 1), \(what)")
            }
            let ref = try SafetensorsFile.open(loraDir.appendingPathComponent("after3.safetensors").path)
            var worst: Float = 0
            for p in m.parameters where p.trainable {
                let want = try ref.tensor(fixtureName(p)).floats(), got = p.value.floats()
                let err = zip(want, got).map { abs($0 - $1) }.max() ?? .infinity
                worst = max(worst, err)
                XCTAssertLessThan(err, 1e-5, "\(p.name): max abs error \(err) after 3 steps, \(what)")
            }
            print("parameters after 3 AdamW steps vs torch (\(what)): max abs error \(worst)")
        }
    }

    func testResumeOnLoRAModelIsBitIdentical() throws {
        let run = try loraRun()
        var c = trainConfig()
        c.steps = 4; c.lr = 3e-3; c.shuffle = true; c.seed = 5; c.batch = 1
        let a = try loraFixtureModel()
        let ra = try Trainer(model: a, data: fixtureData(run), tokenizer: nil, config: c).run()
        let path = try tempFile("lora_state.h5", "")
        var cs = c; cs.out = path
        let b = try loraFixtureModel()
        let flag = CancellationToken()
        let rb = try Trainer(model: b, data: fixtureData(run), tokenizer: nil, config: cs).run(progress: { if $0.step == 2 { flag.cancel() } }, cancel: flag)
        XCTAssertEqual(rb.steps, 2)
        XCTAssertTrue(rb.cancelled)
        var cr = cs; cr.resume = path
        let fresh = try loraFixtureModel()
        let rc = try Trainer(model: fresh, data: fixtureData(run), tokenizer: nil, config: cr).run()
        XCTAssertEqual(rc.history.map { $0.loss }, ra.history.map { $0.loss })
        for (p, q) in zip(fresh.parameters, a.parameters) where p.trainable {
            XCTAssertEqual(p.value.floats(), q.value.floats(), p.name)
        }
    }
}
