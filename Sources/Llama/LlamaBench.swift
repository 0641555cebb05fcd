// LlamaBench: speed of the model on the "small" preset (prefill of 512 tokens into a KV cache,
// greedy decode steps, and a training forward+backward), and the memory of the llama3-8b shape
// with NF4 projections running a forward pass. scripts/bench_llama.py times transformers on
// the same shapes on this machine.
import Foundation
import Tensor
import Quant
import NN

public enum LlamaBench {
    public struct Result {
        public var prefillTokensPerSecond: Double
        public var decodeTokensPerSecond: Double
        public var trainTokensPerSecond: Double
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// How the bench model stores its weights: f32; bf16 (projections, embedding and lm_head);
    /// NF4 projections with double quantization and bf16 embedding / lm_head (the QLoRA load path).
    public enum Weights: String, CaseIterable { case f32, bf16, nf4 }

    /// A random model of `preset` with its weights stored as `weights`.
    public static func model(preset: String, weights: Weights) throws -> LlamaModel {
        let c = try LlamaConfig.preset(preset)
        switch weights {
        case .f32: return try LlamaModel(config: c, seed: 0)
        case .bf16:
            let m = try LlamaModel(config: c, seed: 0)
            m.storeWeightsInBF16()
            return m
        case .nf4: return try LlamaModel(config: c, seed: 0, quant: .nf4, doubleQuant: true, embeddingsBF16: true)
        }
    }

    /// Best-of-`reps` timings on a random model of `preset`.
    public static func measure(preset: String = "small", weights: Weights = .f32, prefill T: Int = 512, decode steps: Int = 32,
                               reps: Int = 2, train: Bool = true) throws -> Result {
        let m = try model(preset: preset, weights: weights)
        let c = m.config
        let train = train && weights == .f32
        var rng = SplitMix64(seed: 1)
        let ids = (0..<T).map { _ in Int(rng.next() % UInt64(c.vocabSize)) }
        var bestPrefill = Double.infinity, bestDecode = Double.infinity, bestTrain = Double.infinity
        for _ in 0..<max(1, reps) {
            let cache = m.makeCache(capacity: T + steps)
            var t0 = now()
            let first = try m.prefill(ids, cache: cache)
            bestPrefill = min(bestPrefill, now() - t0)
            t0 = now()
            var logits = UnsafePointer(first.floatPointer)
            for _ in 0..<steps {
                let next = Sampling.argmax(UnsafeBufferPointer(start: logits, count: c.vocabSize))
                logits = try m.decodeStep(next, cache: cache)
            }
            withExtendedLifetime(first) {}
            bestDecode = min(bestDecode, now() - t0)
            if train {
                m.zeroGrad()
                t0 = now()
                try m.forwardBackward(ids, labels: nil, checkpointing: false, lossScale: 1)
                bestTrain = min(bestTrain, now() - t0)
            }
        }
        return Result(prefillTokensPerSecond: Double(T) / bestPrefill,
                      decodeTokensPerSecond: Double(steps) / bestDecode,
                      trainTokensPerSecond: train ? Double(T) / bestTrain : 0)
    }

    /// `llx bench` section: the small preset's prefill / decode / training speed.
    public static func run(_ log: (String) -> Void) {
        do {
            let c = try LlamaConfig.preset("small")
            log("llama small (hidden \(c.hiddenSize), \(c.numHiddenLayers) layers, vocab \(c.vocabSize)), \(Parallel.threads) threads:")
            let r = try measure()
            log(String(format: "  prefill T=512: %.0f tokens/s", r.prefillTokensPerSecond))
            log(String(format: "  decode (KV cache, after 512): %.1f tokens/s", r.decodeTokensPerSecond))
            log(String(format: "  train forward+backward T=512: %.0f tokens/s", r.trainTokensPerSecond))
        } catch {
            log("llama bench failed: \(error)")
        }
    }

    /// `llx bench decode`: prefill of 512 tokens and decode after 512 on the small preset with
    /// f32, bf16 and NF4 weights (the shapes and settings of llama-bench -p 512 / -n 32 -d 512).
    public static func runDecode(_ log: (String) -> Void) {
        do {
            let c = try LlamaConfig.preset("small")
            log("llama small (hidden \(c.hiddenSize), \(c.numHiddenLayers) layers, vocab \(c.vocabSize)), \(Parallel.threads) threads, best of 3:")
            for w in Weights.allCases {
                let r = try measure(weights: w, reps: 3, train: false)
                log(String(format: "  weights %@: prefill T=512 %.0f tokens/s, decode after 512 %.1f tokens/s",
                           w.rawValue, r.prefillTokensPerSecond, r.decodeTokensPerSecond))
            }
        } catch {
            log("decode bench failed: \(error)")
        }
    }

    /// Peak resident set size in bytes (VmHWM), nil without /proc.
    public static func peakRSS() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }
}

extension LlamaBench {
    /// The llama3-8b shape with NF4 projections (built weight by weight) and bf16 embedding /
    /// lm_head, a forward pass over `tokens` tokens; logs the build time, forward time and peak RSS.
    public static func runMemory8B(tokens: Int = 256, embeddingsBF16: Bool = true, _ log: (String) -> Void) {
        do {
            let c = try LlamaConfig.preset("llama3-8b")
            var t0 = now()
            let m = try LlamaModel(config: c, seed: 0, quant: .nf4, doubleQuant: true, embeddingsBF16: embeddingsBF16)
            let built = now() - t0
            log(String(format: "llama3-8b NF4 (double quant), embeddings/lm_head %@: built in %.0f s, peak RSS %.2f GB",
                       embeddingsBF16 ? "bf16" : "f32", built, Double(peakRSS() ?? 0) / 1e9))
            var rng = SplitMix64(seed: 2)
            let ids = (0..<tokens).map { _ in Int(rng.next() % UInt64(c.vocabSize)) }
            t0 = now()
            let loss = try m.loss(ids)
            log(String(format: "  forward + loss on %d tokens: %.1f s (loss %.3f), peak RSS %.2f GB",
                       tokens, now() - t0, loss, Double(peakRSS() ?? 0) / 1e9))
        } catch {
            log("llama3-8b memory run failed: \(error)")
        }
    }
}
