// ModelTests: fixture models written by transformers (scripts/gen_llama_fixtures.py) loaded from
// their HF dirs: logits, loss, the gradient of every parameter, greedy generation, KV cache,
// gradient checkpointing, live RoPE changes, and strict loading errors.
import Foundation
import XCTest
import Tensor
import Quant
import Checkpoint
import Llama
import NN

final class ModelTests: XCTestCase {
    func load(_ name: String) throws -> (LlamaModel, SafetensorsFile) {
        (try LlamaModel.load(path: Fixtures.path(name)), try Fixtures.expected(name))
    }

    func testLogitsAndLossMatchTransformers() throws {
        for name in Fixtures.modelCases {
            let (m, e) = try load(name)
            let ids = try e.tensor("input_ids").ints()
            let labels = try e.tensor("labels").ints()
            let logits = try m.logits(ids)
            XCTAssertEqual(logits.shape, [ids.count, m.config.vocabSize], name)
            let d = maxAbsDiff(logits.floats(), try e.tensor("logits").floats())
            XCTAssertLessThan(d, 1e-4, "\(name) logits max abs diff \(d)")
            let loss = try m.loss(ids)
            let refLoss = try e.tensor("loss").floats()[0]
            XCTAssertEqual(loss, refLoss, accuracy: 1e-5, name)
            let lossL = try m.loss(ids, labels: labels)
            XCTAssertEqual(lossL, try e.tensor("loss_labels").floats()[0], accuracy: 1e-5, name)
            print("\(name): logits max abs diff \(d), loss \(loss) vs \(refLoss)")
        }
    }

    func testGradientsMatchTorchAutograd() throws {
        for name in Fixtures.modelCases {
            let (m, e) = try load(name)
            let ids = try e.tensor("input_ids").ints()
            let labels = try e.tensor("labels").ints()
            let ps = m.parameters
            let gradNames = Set(e.names.filter { $0.hasPrefix("grad.") }.map { String($0.dropFirst(5)) })
            XCTAssertEqual(Set(ps.map { $0.name }), gradNames, "\(name): parameter names vs torch named_parameters")
            for checkpointing in [false, true] {
                m.zeroGrad()
                let (loss, n) = try m.forwardBackward(ids, labels: labels, checkpointing: checkpointing, lossScale: 1)
                XCTAssertEqual(loss, try e.tensor("loss_labels").floats()[0], accuracy: 1e-5, name)
                XCTAssertEqual(n, labels.dropFirst().filter { $0 != -100 }.count)
                var worst: (Float, String) = (0, "")
                for p in ps {
                    let g = try XCTUnwrap(p.grad, "\(name): \(p.name) has no gradient").floats()
                    let r = relDiff(g, try e.tensor("grad." + p.name).floats())
                    if r > worst.0 { worst = (r, p.name) }
                    XCTAssertLessThan(r, 1e-4, "\(name) \(p.name) checkpointing=\(checkpointing)")
                }
                print("\(name) checkpointing=\(checkpointing): worst grad rel diff \(worst.0) (\(worst.1))")
            }
        }
    }

    /// Checkpointing keeps each layer's attention output and log-sum-exp when they are small, so
    /// the recompute skips the attention kernel; over the budget it recomputes attention too.
    /// Both must give the same loss and gradients to the bit (and the no-checkpointing ones
    /// within rounding, checked against torch above).
    func testCheckpointingWithAndWithoutKeptAttentionIsBitIdentical() throws {
        let (m, e) = try load("gqa_untied")
        let ids = try e.tensor("input_ids").ints()
        XCTAssertGreaterThan(LlamaModel.keptAttentionBytes(m.config, T: ids.count), 0)
        func run() throws -> (Float, [[Float]]) {
            m.zeroGrad()
            let (loss, _) = try m.forwardBackward(sequences: [(ids, nil), (Array(ids.prefix(5)), nil)], checkpointing: true)
            return (loss, m.parameters.map { $0.grad?.floats() ?? [] })
        }
        let (l1, g1) = try run()
        let saved = LlamaModel.keptAttentionBudget
        LlamaModel.keptAttentionBudget = 0
        defer { LlamaModel.keptAttentionBudget = saved }
        XCTAssertEqual(LlamaModel.keptAttentionBytes(m.config, T: ids.count), 0)
        let (l0, g0) = try run()
        XCTAssertEqual(l1, l0)
        for (a, b) in zip(g1, g0) { XCTAssertFalse(a.isEmpty); XCTAssertEqual(a, b) }
    }

    func testGradientsAccumulateAndScale() throws {
        let (m, e) = try load("gqa_untied")
        let ids = try e.tensor("input_ids").ints()
        m.zeroGrad()
        try m.forwardBackward(ids, labels: nil, checkpointing: false, lossScale: 0.25)
        try m.forwardBackward(ids, labels: nil, checkpointing: true, lossScale: 0.75)
        let g1 = m.parameters.map { $0.grad!.floats() }
        m.zeroGrad()
        try m.forwardBackward(ids, labels: nil, checkpointing: false, lossScale: 1)
        for (p, a) in zip(m.parameters, g1) { XCTAssertLessThan(relDiff(a, p.grad!.floats()), 1e-5, p.name) }
        // Frozen parameters get no gradient.
        m.zeroGrad()
        m.setTrainable { $0.contains("q_proj") }
        try m.forwardBackward(ids, labels: nil)
        for p in m.parameters {
            let s = p.grad.map { $0.floats().reduce(0) { $0 + abs($1) } } ?? 0
            if p.name.contains("q_proj") { XCTAssertGreaterThan(s, 0, p.name) } else { XCTAssertEqual(s, 0, p.name) }
        }
    }

    func testPackedBatchEqualsSequencesOneByOne() throws {
        // A micro-batch runs packed (all rows through each projection at once, attention and
        // RoPE positions per sequence): loss and every gradient equal those of the sequences
        // run one at a time with token weights, for every fixture config (dynamic NTK rope uses
        // each sequence's own length), with and without checkpointing.
        for name in Fixtures.modelCases {
            let (m, e) = try load(name)
            let ids = try e.tensor("input_ids").ints(), labels = try e.tensor("labels").ints()
            let seqs: [(ids: [Int], labels: [Int]?)] = [
                (Array(ids.prefix(5)), nil), (ids, labels), ([ids[3]], nil), (Array(ids.suffix(7).reversed()), nil)]
            let counts = seqs.map { NextTokenLabels.count(ids: $0.ids, labels: $0.labels) }
            let total = counts.reduce(0, +)
            m.zeroGrad()
            var refLoss = 0.0
            for (s, n) in zip(seqs, counts) where n > 0 {
                let (l, _) = try m.forwardBackward(s.ids, labels: s.labels, checkpointing: false, lossScale: Float(n) / Float(total))
                refLoss += Double(l) * Double(n) / Double(total)
            }
            let ref = m.parameters.map { $0.grad!.floats() }
            for checkpointing in [false, true] {
                m.zeroGrad()
                let (loss, n) = try m.forwardBackward(sequences: seqs, checkpointing: checkpointing)
                XCTAssertEqual(n, total, name)
                XCTAssertEqual(Double(loss), refLoss, accuracy: 1e-5, name)
                for (p, r) in zip(m.parameters, ref) {
                    XCTAssertLessThan(relDiff(p.grad!.floats(), r), 1e-5, "\(name) \(p.name) checkpointing=\(checkpointing)")
                }
            }
        }
    }

    func testGreedyGenerationMatchesTransformers() throws {
        for name in Fixtures.modelCases {
            let (m, e) = try load(name)
            let prompt = try e.tensor("gen_prompt").ints()
            let ref = try e.tensor("gen_ids").ints()
            var streamed: [Int] = []
            let out = try m.generate(prompt: prompt, maxTokens: ref.count, temperature: 0, topP: 1, topK: 0, seed: nil,
                                     stop: []) { streamed.append($0); return true }
            XCTAssertEqual(out, ref, name)
            XCTAssertEqual(streamed, ref, name)
            // Stop tokens end generation before them; onToken false stops after the token.
            let cut = try m.generate(prompt: prompt, maxTokens: ref.count, temperature: 0, topP: 1, topK: 0, seed: nil,
                                     stop: [ref[3]]) { _ in true }
            XCTAssertEqual(cut, Array(ref.prefix(while: { $0 != ref[3] })), name)
            let two = try m.generate(prompt: prompt, maxTokens: 10, temperature: 0, topP: 1, topK: 0, seed: nil,
                                     stop: []) { _ in false }
            XCTAssertEqual(two, [ref[0]], name)
        }
    }

    func testKVCacheMatchesFullForward() throws {
        let (m, e) = try load("dynamic_sharded")   // dynamic NTK beyond max_position_embeddings too
        let ids = try e.tensor("input_ids").ints()
        let full = try m.logits(ids).floats()
        let V = m.config.vocabSize
        // The KV cache runs queries at the end of the key range; dynamic NTK changes with the
        // length, so compare a prefix inside max_position_embeddings in full and step-by-step.
        let (m2, _) = try load("gqa_untied")
        let ids2 = try Fixtures.expected("gqa_untied").tensor("input_ids").ints()
        let full2 = try m2.logits(ids2).floats()
        let cache = m2.makeCache(capacity: 4)
        let pre = try m2.forward(Array(ids2.prefix(10)), cache: cache, lastOnly: false).floats()
        XCTAssertLessThan(maxAbsDiff(pre, Array(full2.prefix(10 * V))), 1e-4)
        for t in 10..<ids2.count {
            let row = try m2.forward([ids2[t]], cache: cache).floats()
            XCTAssertLessThan(maxAbsDiff(row, Array(full2[(t * V)..<((t + 1) * V)])), 1e-4, "position \(t)")
        }
        XCTAssertEqual(cache.count, ids2.count)
        XCTAssertEqual(full.count, ids.count * V)
    }

    func testLiveRopeChangeMatchesTransformers() throws {
        let (m, e) = try load("gqa_untied")
        let ids = try e.tensor("input_ids").ints()
        let before = try m.logits(ids).floats()
        m.ropeTheta = 200e6
        m.ropeScaling = RopeScaling(ropeType: .llama3, factor: 8, originalMaxPositionEmbeddings: 16,
                                    lowFreqFactor: 1, highFreqFactor: 4)
        let live = try m.logits(ids).floats()
        XCTAssertLessThan(maxAbsDiff(live, try e.tensor("logits_live").floats()), 1e-4)
        m.ropeTheta = 500000
        m.ropeScaling = nil
        XCTAssertLessThan(maxAbsDiff(try m.logits(ids).floats(), before), 1e-6)
        XCTAssertLessThan(maxAbsDiff(before, try e.tensor("logits").floats()), 1e-4)
    }

    func testIdValidation() throws {
        let (m, _) = try load("gqa_untied")
        XCTAssertThrowsError(try m.logits([1, 2, 300, 4])) { XCTAssertTrue("\($0)".contains("300"), "\($0)") }
        XCTAssertThrowsError(try m.loss([1, -5])) { XCTAssertTrue("\($0)".contains("-5"), "\($0)") }
        XCTAssertThrowsError(try m.logits([]))
        XCTAssertThrowsError(try m.loss([1, 2, 3], labels: [1, 2])) { XCTAssertTrue("\($0)".contains("labels")) }
        XCTAssertThrowsError(try m.loss([1, 2, 3], labels: [1, 2, 999])) { XCTAssertTrue("\($0)".contains("999")) }
        XCTAssertThrowsError(try m.generate(prompt: [7, 400], maxTokens: 3)) { XCTAssertTrue("\($0)".contains("400")) }
        XCTAssertTrue(try m.loss([5]).isNaN)   // nothing to predict, as torch's mean over nothing
        XCTAssertEqual(try m.forwardBackward([5], labels: nil).tokens, 0)
    }

    func testStrictLoading() throws {
        let src = Fixtures.path("gqa_untied")
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("llx-llama-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        try FileManager.default.copyItem(atPath: src + "/config.json", toPath: tmp.path + "/config.json")
        let orig = try SafetensorsFile.open(src + "/model.safetensors")
        let all = try orig.names.map { ($0, try orig.tensor($0)) }
        func attempt(_ tensors: [(String, Tensor)]) -> String {
            do {
                try SafetensorsFile.write(tensors, to: tmp.path + "/model.safetensors")
                _ = try LlamaModel.load(path: tmp.path)
                return "loaded"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(attempt(all), "loaded")
        let missing = attempt(all.filter { $0.0 != "model.layers.1.mlp.up_proj.weight" })
        XCTAssertTrue(missing.contains("model.layers.1.mlp.up_proj.weight"), missing)
        let extra = attempt(all + [("model.layers.0.self_attn.q_proj.bias", Tensor(zeros: [32]))])
        XCTAssertTrue(extra.contains("q_proj.bias"), extra)
        let bad = attempt(all.map { $0.0 == "model.norm.weight" ? ($0.0, Tensor(zeros: [31])) : $0 })
        XCTAssertTrue(bad.contains("model.norm.weight") && bad.contains("31"), bad)
        XCTAssertThrowsError(try LlamaModel.load(path: tmp.path + "/nope")) { XCTAssertTrue("\($0)".contains("nope")) }
    }

    func testInitAndState() throws {
        var c = try LlamaConfig.preset("tiny")
        c.numHiddenLayers = 1
        let m = try LlamaModel(config: c, seed: 3)
        let m2 = try LlamaModel(config: c, seed: 3)
        XCTAssertEqual(m.parameters.map { $0.name }, m2.parameters.map { $0.name })
        XCTAssertEqual(m.parameters[1].value.floats(), m2.parameters[1].value.floats())
        let w = m.parameters[1].value.floats()   // q_proj: normal(0, 0.02)
        let mean = w.reduce(0, +) / Float(w.count)
        let std = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(w.count)).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.002)
        XCTAssertEqual(m.norm.value.floats(), [Float](repeating: 1, count: c.hiddenSize))
        let names = m.stateTensors().map { $0.0 }
        XCTAssertEqual(names.first, "model.embed_tokens.weight")
        XCTAssertEqual(names.last, "lm_head.weight")
        XCTAssertTrue(names.contains("model.layers.0.self_attn.q_proj.weight"))
        XCTAssertTrue(names.contains("model.layers.0.post_attention_layernorm.weight"))
        // NF4 init is the quantized dense init (rows are seeded independently of chunking).
        let q = try LlamaModel(config: c, seed: 3, quant: .nf4)
        let qw = try XCTUnwrap(q.layers[0].gateProj.nf4).dequantize().floats()
        let dw = try NF4Tensor.quantize(m.layers[0].gateProj.denseWeight(), blocksize: 64, doubleQuant: true).dequantize().floats()
        XCTAssertEqual(qw, dw)
        let b = try LlamaModel(config: c, seed: 3, quant: .dense, embeddingsBF16: true)
        XCTAssertEqual(b.embedTokens.value.floats(), m.embedTokens.value.to(.bf16).floats())
                // A loss near log(vocab) at init.
        let l = try m.loss(Array(0..<20))
        XCTAssertEqual(l, Float(log(Double(c.vocabSize))), accuracy: 0.1)
    }

    func testBF16EmbeddingStorage() throws {
        // bf16-stored (frozen) embedding and lm_head vs the same rounded values kept in f32.
        let (m, e) = try load("gqa_untied")
        let (ref, _) = try load("gqa_untied")
        for p in [ref.embedTokens, ref.lmHead] { p.value = p.value.to(.bf16).to(.f32); p.trainable = false }
        m.storeEmbeddingsInBF16()
        XCTAssertEqual(m.embedTokens.value.dtype, .bf16)
        let ids = try e.tensor("input_ids").ints(), labels = try e.tensor("labels").ints()
        let saved = LlamaModel.bf16TileValues
        defer { LlamaModel.bf16TileValues = saved }
        // The default tile (the whole head at once here) and tiles of 3 vocabulary rows, so that
        // the bf16 loss runs its per-tile log-sum-exp across many tiles.
        for tile in [saved, 3 * m.config.hiddenSize] {
            LlamaModel.bf16TileValues = tile
            XCTAssertLessThan(maxAbsDiff(try m.logits(ids).floats(), try ref.logits(ids).floats()), 1e-5)
            XCTAssertEqual(try m.loss(ids), try ref.loss(ids), accuracy: 1e-6)
            XCTAssertEqual(try m.loss(ids, labels: labels), try ref.loss(ids, labels: labels), accuracy: 1e-6)
            m.zeroGrad(); ref.zeroGrad()
            try m.forwardBackward(ids, labels: labels)
            try ref.forwardBackward(ids, labels: labels)
            for (a, b) in zip(m.parameters, ref.parameters) {
                XCTAssertEqual(a.grad == nil, b.grad == nil, a.name)
                if let ga = a.grad, let gb = b.grad { XCTAssertLessThan(relDiff(ga.floats(), gb.floats()), 1e-5, "\(a.name), tile \(tile)") }
            }
            XCTAssertEqual(try m.generate(prompt: Array(ids.prefix(5)), maxTokens: 6),
                           try ref.generate(prompt: Array(ids.prefix(5)), maxTokens: 6))
        }
        m.embedTokens.trainable = true
        XCTAssertThrowsError(try m.loss(ids)) { XCTAssertTrue("\($0)".contains("bf16"), "\($0)") }
    }

    func testSaveHFRoundTripAndBatch() throws {
        let (m, e) = try load("mha_tied_bf16")
        let ids = try e.tensor("input_ids").ints()
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("llx-llama-save-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try m.saveHF(to: tmp)
        if let keep = ProcessInfo.processInfo.environment["LLX_LLAMA_SAVE_DIR"] {   // for checking with transformers
            let m3 = try LlamaModel.load(path: Fixtures.path("yarn_f16"))
            try m3.saveHF(to: keep)
        }
        let m2 = try LlamaModel.load(path: tmp)
        XCTAssertEqual(m2.config, m.config)
        XCTAssertEqual(try m2.logits(ids).floats(), try m.logits(ids).floats())
        // Batch loss = mean over every counted position of the batch.
        let a = Array(ids.prefix(10)), b = Array(ids.suffix(7))
        let (la, lb) = (try m.loss(a), try m.loss(b))
        XCTAssertEqual(try m.loss(batch: [a, b]), (la * 9 + lb * 6) / 15, accuracy: 1e-5)
        let lg = try m.logits(batch: [a, Array(ids.suffix(10))])
        XCTAssertEqual(lg.shape, [2, 10, m.config.vocabSize])
    }

    func testNF4LoadMatchesDequantizedWeights() throws {
        // Loading with quant "nf4" equals a dense model whose projections hold dequantize(quantize(W)).
        let q = try LlamaModel.load(path: Fixtures.path("gqa_untied"), quant: .nf4, doubleQuant: true)
        let d = try LlamaModel.load(path: Fixtures.path("gqa_untied"))
        let ids = try Fixtures.expected("gqa_untied").tensor("input_ids").ints()
        let dense = try d.logits(ids).floats()
        for (Lq, Ld) in zip(q.layers, d.layers) {
            for (a, b) in zip(Lq.linears, Ld.linears) {
                XCTAssertNotNil(a.nf4, a.name)
                let ref = try NF4Tensor.quantize(b.denseWeight(), blocksize: 64, doubleQuant: true).dequantize()
                b.weight!.value.floatPointer.update(from: ref.floatPointer, count: ref.count)
            }
        }
        XCTAssertLessThan(maxAbsDiff(try q.logits(ids).floats(), try d.logits(ids).floats()), 1e-5)
        XCTAssertGreaterThan(maxAbsDiff(try q.logits(ids).floats(), dense), 1e-4)   // quantization did happen
        XCTAssertEqual(q.parameterCount, d.parameterCount)
        XCTAssertLessThan(q.weightBytes, d.weightBytes)
        // Frozen NF4 bases: not parameters; the state holds them dequantized.
        XCTAssertFalse(q.parameters.contains { $0.name.contains("q_proj") })
        XCTAssertEqual(q.stateTensors().map { $0.0 }, d.stateTensors().map { $0.0 })
        // quantizeProjections on a live dense model gives the same model.
        let d2 = try LlamaModel.load(path: Fixtures.path("gqa_untied"))
        try d2.quantizeProjections(doubleQuant: true)
        XCTAssertEqual(try d2.logits(ids).floats(), try q.logits(ids).floats())
    }

    func testLoRAGradientMatchesFiniteDifference() throws {
        // QLoRA wiring: NF4 bases, LoRA on q_proj / v_proj, gradients reach A and B.
        let m = try LlamaModel.load(path: Fixtures.path("gqa_untied"), quant: .nf4)
        let ids = try Fixtures.expected("gqa_untied").tensor("input_ids").ints()
        for L in m.layers { for lin in [L.qProj, L.vProj] { try lin.addLoRA(rank: 4, alpha: 8, seed: 1) } }
        // Non-zero B so that A's gradient is non-zero too.
        for p in m.parameters where p.name.contains("lora_B") {
            for i in 0..<p.count { p.value.floatPointer[i] = 0.05 * Float((i * 37) % 11 - 5) }
        }
        m.setTrainable { $0.contains("lora_") }
        m.zeroGrad()
        try m.forwardBackward(ids, labels: nil)
        for name in ["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight",
                     "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] {
            let p = try XCTUnwrap(m.parameters.first { $0.name == name }, name)
            let g = try XCTUnwrap(p.grad).floats()
            let i = g.indices.max { abs(g[$0]) < abs(g[$1]) }!
            let eps: Float = 1e-2, v = p.value.floatPointer[i]
            p.value.floatPointer[i] = v + eps; let lp = try m.loss(ids)
            p.value.floatPointer[i] = v - eps; let lm = try m.loss(ids)
            p.value.floatPointer[i] = v
            let fd = (lp - lm) / (2 * eps)
            XCTAssertEqual(fd, g[i], accuracy: 0.02 * abs(g[i]) + 1e-4, name)
        }
        XCTAssertTrue(m.parameters.filter { $0.trainable }.allSatisfy { $0.name.contains("lora_") })
    }

    func testCheckpointingKeepsLoRADropoutMasks() throws {
        // With LoRA dropout active, the recompute of gradient checkpointing must reuse the masks
        // of the first forward (torch's checkpoint restores the RNG state): gradients equal the
        // ones of a run without checkpointing that starts from the same dropout step.
        let m = try LlamaModel.load(path: Fixtures.path("gqa_untied"))
        let ids = try Fixtures.expected("gqa_untied").tensor("input_ids").ints()
        for L in m.layers { for lin in [L.qProj, L.vProj] { try lin.addLoRA(rank: 4, alpha: 8, dropout: 0.3, seed: 2) } }
        for p in m.parameters where p.name.contains("lora_B") {
            for i in 0..<p.count { p.value.floatPointer[i] = 0.05 * Float((i * 37) % 11 - 5) }
        }
        m.setTrainable { $0.contains("lora_") }
        let loras = m.layers.flatMap { L in [L.qProj, L.vProj] }
        for lin in loras { lin.training = true }
        func run(_ checkpointing: Bool) throws -> (Float, [[Float]]) {
            for lin in loras { lin.lora?.dropoutStep = 7 }
            m.zeroGrad()
            let (loss, _) = try m.forwardBackward(ids, labels: nil, checkpointing: checkpointing, lossScale: 1)
            return (loss, m.parameters.filter { $0.trainable }.map { $0.grad?.floats() ?? [] })
        }
        let (l0, g0) = try run(false), (l1, g1) = try run(true)
        XCTAssertEqual(l0, l1)
        for (a, b) in zip(g0, g1) { XCTAssertFalse(a.isEmpty); XCTAssertLessThan(relDiff(a, b), 1e-6) }
        // The same for a packed micro-batch of two sequences.
        func runPacked(_ checkpointing: Bool) throws -> (Float, [[Float]]) {
            for lin in loras { lin.lora?.dropoutStep = 7 }
            m.zeroGrad()
            let (loss, _) = try m.forwardBackward(sequences: [(ids, nil), (Array(ids.prefix(7)), nil)], checkpointing: checkpointing)
            return (loss, m.parameters.filter { $0.trainable }.map { $0.grad?.floats() ?? [] })
        }
        let (p0, pg0) = try runPacked(false), (p1, pg1) = try runPacked(true)
        XCTAssertEqual(p0, p1)
        for (a, b) in zip(pg0, pg1) { XCTAssertFalse(a.isEmpty); XCTAssertLessThan(relDiff(a, b), 1e-6) }
        // A different start step draws other masks, so the check above can fail.
        for lin in loras { lin.lora?.dropoutStep = 8 }
        m.zeroGrad()
        let (l2, _) = try m.forwardBackward(ids, labels: nil, checkpointing: true, lossScale: 1)
        XCTAssertNotEqual(l0, l2)
    }

    func testLossTensorBackward() throws {
        let (m, e) = try load("linear_legacy")
        let ids = try e.tensor("input_ids").ints(), labels = try e.tensor("labels").ints()
        let l = try m.lossTensor(ids, labels: labels)
        XCTAssertEqual(l.shape, [])
        XCTAssertEqual(l.floats()[0], try e.tensor("loss_labels").floats()[0], accuracy: 1e-5)
        try l.backward()
        for p in m.parameters {
            let g = try XCTUnwrap(p.value.grad, p.name).floats()
            XCTAssertLessThan(relDiff(g, try e.tensor("grad." + p.name).floats()), 1e-4, p.name)
            XCTAssertTrue(p.grad === p.value.grad, p.name)   // one gradient store
        }
    }

    /// A model's loss is one tape node for a sequence or a batch: the forward runs once per call,
    /// backward reaches the parameters through any expression of it (2 * l, l1 + l2), and the
    /// gradients are those of forwardBackward (grads), in the same store.
    func testLossNodeOneForwardThroughExpressions() throws {
        let c = LlamaConfig(vocabSize: 64, hiddenSize: 32, intermediateSize: 48, numHiddenLayers: 2,
                            numAttentionHeads: 4, numKeyValueHeads: 2)
        let m = try LlamaModel(config: c, seed: 11)
        let batch = [[1, 5, 9, 13, 2, 7], [3, 4, 8], [6, 6, 6, 1, 2]]
        let labels = [[1, 5, 9, -100, 2, 7], [3, 4, 8], [-100, 6, 6, 1, -100]]
        // the reference: forwardBackward over the batch (what grads(m, batch) runs)
        m.zeroGrad()
        let (refLoss, _) = try m.forwardBackward(batch: batch, labels: labels)
        let ref = m.parameters.map { $0.grad!.floats() }
        for p in m.parameters { p.grad = nil }

        let direct = try m.loss(batch: batch, labels: labels)   // row by row, off the tape
        let passes = m.trunkPasses
        let l = try m.lossTensor(batch: batch, labels: labels)
        XCTAssertEqual(m.trunkPasses, passes + 1)
        XCTAssertEqual(l.floats()[0], direct, accuracy: 1e-6)
        XCTAssertEqual(l.floats()[0], refLoss, accuracy: 1e-5)
        try (2 * l).backward()
        XCTAssertEqual(m.trunkPasses, passes + 1)   // the backward runs no forward
        for (p, r) in zip(m.parameters, ref) {
            let g = try XCTUnwrap(p.grad, p.name)
            XCTAssertTrue(g === p.value.grad, p.name)
            XCTAssertLessThan(relDiff(g.floats(), r.map { 2 * $0 }), 1e-6, p.name)
        }

        // a sum of two losses: one pass each, the gradients add up
        for p in m.parameters { p.grad = nil }
        let one = [1, 5, 9, 13, 2, 7]
        m.zeroGrad()
        try m.forwardBackward(one, labels: nil)
        let refOne = m.parameters.map { $0.grad!.floats() }
        for p in m.parameters { p.grad = nil }
        let before = m.trunkPasses
        let sum = try m.lossTensor(one) + m.lossTensor(batch: batch, labels: labels)
        XCTAssertEqual(m.trunkPasses, before + 2)
        try sum.backward()
        XCTAssertEqual(m.trunkPasses, before + 2)
        for (i, p) in m.parameters.enumerated() {
            XCTAssertLessThan(relDiff(p.grad!.floats(), zip(refOne[i], ref[i]).map { $0 + $1 }), 1e-5, p.name)
        }
        // backward again accumulates the same amount (the node keeps what its backward needs)
        let once = m.parameters.map { $0.grad!.floats() }
        try sum.backward()
        for (i, p) in m.parameters.enumerated() {
            XCTAssertLessThan(relDiff(p.grad!.floats(), once[i].map { 2 * $0 }), 1e-5, p.name)
        }
    }
}
