// TrainBench: LoRA training throughput on the `small` preset (f32 base, LoRA r=32 alpha=16 on
// q/k/v/o, embed_tokens trainable; sequences of 512, batch 4), with and without gradient
// checkpointing. The headline runs the batch as one packed pass (micro-batch 4, as torch's
// [4, 512] batch); micro-batch 1 (the paper's accumulation) is reported beside it.
// LLX_TRAIN_QUANT=nf4 makes the base NF4 with double quantization (QLoRA, as the paper);
// scripts/bench_train.py runs the same shapes with PyTorch + PEFT (+ bitsandbytes with --nf4).
import Foundation
import Tensor
import Quant
import Llama
import NN
import Train

public enum TrainBench {
    /// The benchmark model: the preset with LoRA adapters (B made non-zero so that every
    /// path of the backward does real work) and a trainable embedding.
    public static func model(preset: String = "small", rank: Int = 32, alpha: Double = 16,
                             targets: [String] = ["q_proj", "k_proj", "v_proj", "o_proj"], seed: UInt64 = 0,
                             nf4: Bool = false) throws -> LlamaModel {
        let c = try LlamaConfig.preset(preset)
        let m = nf4 ? try LlamaModel(config: c, seed: seed, quant: .nf4, doubleQuant: true) : try LlamaModel(config: c, seed: seed)
        for L in m.layers {
            for lin in [L.qProj, L.kProj, L.vProj, L.oProj] where targets.contains(where: { lin.name.hasSuffix("." + $0) }) {
                let lora = try lin.addLoRA(rank: rank, alpha: alpha, seed: seed)
                let b = lora.B.value.floatPointer
                for i in 0..<lora.B.value.count { b[i] = Float((i * 7919) % 201 - 100) * 1e-4 }
            }
        }
        m.setTrainable { $0.contains("lora_") || $0 == "model.embed_tokens.weight" }
        return m
    }

    /// Tokens per second of `steps` optimizer steps (after one warm-up step).
    public static func measure(_ m: LlamaModel, seq: Int, batch: Int, microBatch: Int = 1, steps: Int, checkpointing: Bool) throws -> Double {
        let V = m.config.vocabSize
        var rng = SplitMix64(seed: 42)
        let records: [TrainRecord] = (0..<(batch * (steps + 1))).map { _ in
            let ids = (0..<seq).map { _ in rng.below(V) }
            return .tokens(ids: ids, labels: ids)
        }
        var c = TrainConfig()
        c.lr = 1e-4; c.batch = batch; c.microBatch = microBatch; c.steps = steps + 1; c.checkpointing = checkpointing
        c.schedule = .constant; c.shuffle = false
        c.bf16Compute = ProcessInfo.processInfo.environment["LLX_TRAIN_COMPUTE"] == "bf16"
        let t = try Trainer(model: m, data: TrainDataset(records: records, source: "bench"), tokenizer: nil, config: c)
        let r = try t.run()
        let timed = r.history.dropFirst()
        let secs = timed.reduce(0.0) { $0 + Double(seq * batch) / $1.tokensPerSecond }
        return Double(seq * batch * timed.count) / secs
    }

    /// The default shapes, or LLX_TRAIN_SEQ / LLX_TRAIN_BATCH / LLX_TRAIN_STEPS (scripts/bench_train.py
    /// passes its --seq, --batch and --steps this way).
    public static func run(_ log: (String) -> Void) {
        let env = ProcessInfo.processInfo.environment
        func int(_ k: String, _ d: Int) -> Int { env[k].flatMap { Int($0) }.map { max(1, $0) } ?? d }
        if let mode = env["LLX_TRAIN_TINY"], !mode.isEmpty, mode != "0" {
            if let n = env["LLX_TRAIN_THREADS"].flatMap({ Int($0) }), n > 0 { Parallel.threads = n; BLAS.threads = n }
            let lora = mode == "lora" || mode == "qlora"
            runTiny(lora: lora, nf4: mode == "qlora", seq: int("LLX_TRAIN_SEQ", lora ? 1024 : 128),
                    batch: int("LLX_TRAIN_BATCH", lora ? 8 : 32), steps: int("LLX_TRAIN_STEPS", 3),
                    vocab: int("LLX_TRAIN_VOCAB", 512), log)
            return
        }
        run(seq: int("LLX_TRAIN_SEQ", 512), batch: int("LLX_TRAIN_BATCH", 4), steps: int("LLX_TRAIN_STEPS", 2),
            nf4: env["LLX_TRAIN_QUANT"] == "nf4", log)
    }

    /// The tiny-model regime (hidden 128, 3 layers, 4 heads / 2 KV heads, intermediate 352, tied
    /// embeddings): full training of every parameter (one packed micro-batch, no checkpointing),
    /// or LoRA r=32 on q,k,v,o (NF4 base with `nf4`) + trainable embeddings with checkpointing.
    public static func tinyConfig(vocab: Int = 512) -> LlamaConfig {
        LlamaConfig(vocabSize: vocab, hiddenSize: 128, intermediateSize: 352, numHiddenLayers: 3,
                    numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 8192,
                    rmsNormEps: 1e-5, ropeTheta: 500000, tieWordEmbeddings: true)
    }

    public static func runTiny(lora: Bool, nf4: Bool, seq: Int, batch: Int, steps: Int, vocab: Int = 512,
                               _ log: (String) -> Void) {
        do {
            let c = tinyConfig(vocab: vocab)
            let m = nf4 ? try LlamaModel(config: c, seed: 0, quant: .nf4, doubleQuant: true) : try LlamaModel(config: c, seed: 0)
            if lora {
                for L in m.layers {
                    for lin in [L.qProj, L.kProj, L.vProj, L.oProj] {
                        let lo = try lin.addLoRA(rank: 32, alpha: 16, seed: 0)
                        let b = lo.B.value.floatPointer
                        for i in 0..<lo.B.value.count { b[i] = Float((i * 7919) % 201 - 100) * 1e-4 }
                    }
                }
                m.setTrainable { $0.contains("lora_") || $0 == "model.embed_tokens.weight" }
            } else {
                m.setTrainable { _ in true }
            }
            let trainable = m.parameters.filter { $0.trainable }.reduce(0) { $0 + $1.count }
            let what = lora ? "LoRA r=32 on q,k,v,o + embed_tokens, \(nf4 ? "NF4 base" : "f32 base"), checkpointing on" : "full training, checkpointing off"
            log("train bench tiny: hidden 128, 3 layers, vocab \(vocab), \(what) (\(trainable) trainable), seq \(seq), batch \(batch), \(Parallel.threads) threads")
            let tps = try measure(m, seq: seq, batch: batch, microBatch: batch, steps: steps, checkpointing: lora)
            log(String(format: "train bench tiny %@: %.1f tokens/s", lora ? (nf4 ? "qlora" : "lora") : "full", tps))
        } catch {
            log("train bench tiny: \(error)")
        }
    }

    public static func run(seq: Int, batch: Int, steps: Int, nf4: Bool = false, _ log: (String) -> Void) {
        do {
            let m = try model(nf4: nf4)
            let trainable = m.parameters.filter { $0.trainable }.reduce(0) { $0 + $1.count }
            log("train bench: preset small, LoRA r=32 alpha=16 on q,k,v,o + embed_tokens (\(trainable) trainable), \(nf4 ? "NF4 base (double quant)" : "f32"), seq \(seq), batch \(batch), \(Parallel.threads) threads")
            // Micro-batch = batch is torch's [batch, seq] forward; micro-batch 1 (the paper's
            // accumulation, least memory) is reported beside it.
            for ckpt in [false, true] {
                let tps = try measure(m, seq: seq, batch: batch, microBatch: batch, steps: steps, checkpointing: ckpt)
                log(String(format: "train bench: checkpointing %@: %.1f tokens/s", ckpt ? "on" : "off", tps))
                if batch > 1 {
                    let one = try measure(m, seq: seq, batch: batch, microBatch: 1, steps: steps, checkpointing: ckpt)
                    log(String(format: "train bench: checkpointing %@, micro-batch 1: %.1f tokens/s", ckpt ? "on" : "off", one))
                }
            }
        } catch {
            log("train bench: \(error)")
        }
    }
}
