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
    static func env(_ k: String) -> String? { ProcessInfo.processInfo.environment[k] }

    /// Resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0), so the next peak is a phase's own.
    public static func resetPeakRSS() {
        if let f = fopen("/proc/self/clear_refs", "w") { fputs("5", f); fclose(f) }
    }

    /// Writes a Hugging Face directory of random bf16 weights of config `c` (config.json, shards
    /// of about `shardBytes` and model.safetensors.index.json), streaming: one tensor's bytes at a
    /// time, never the model. Values are uniform in [-0.035, 0.035] (std 0.02), from `seed`.
    public static func writeRandomHF(config c: LlamaConfig, to dir: String, shardBytes: Int = 5_000_000_000, seed: UInt64 = 0) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tensors = LlamaModel.expectedTensors(c)
        var shards: [[(String, [Int])]] = [[]]
        var size = 0
        for t in tensors {
            let b = t.1.reduce(2, *)
            if size > 0 && size + b > shardBytes { shards.append([]); size = 0 }
            shards[shards.count - 1].append(t); size += b
        }
        var weightMap: [String: String] = [:]
        var total = 0
        var rng = SplitMix64(seed: seed)
        let bufCount = 1 << 24
        let buf = UnsafeMutablePointer<UInt16>.allocate(capacity: bufCount)
        defer { buf.deallocate() }
        for (si, shard) in shards.enumerated() {
            let file = String(format: "model-%05d-of-%05d.safetensors", si + 1, shards.count)
            var header = "{\"__metadata__\":{\"format\":\"pt\"}"
            var off = 0
            for (n, shape) in shard {
                let b = shape.reduce(2, *)
                header += ",\"\(n)\":{\"dtype\":\"BF16\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(off),\(off + b)]}"
                off += b; weightMap[n] = file
            }
            header += "}"
            while header.utf8.count % 8 != 0 { header += " " }
            total += off
            let path = (dir as NSString).appendingPathComponent(file)
            guard let f = fopen(path + ".tmp", "wb") else { throw LlamaError.file("cannot write \(path)") }
            var hlen = UInt64(header.utf8.count).littleEndian
            fwrite(&hlen, 8, 1, f)
            _ = header.withCString { fwrite($0, 1, header.utf8.count, f) }
            for (n, shape) in shard {
                var left = shape.reduce(1, *)
                let norm = n.hasSuffix("layernorm.weight") || n == "model.norm.weight"
                while left > 0 {
                    let k = min(left, bufCount)
                    if norm {
                        for i in 0..<k { buf[i] = 0x3F80 }          // 1.0
                    } else {
                        var i = 0
                        while i < k {
                            let r = rng.next()
                            for j in 0..<min(4, k - i) {
                                let u = Float(UInt16(truncatingIfNeeded: r >> (16 * UInt64(j)))) / 65535 * 0.07 - 0.035
                                buf[i + j] = UInt16(truncatingIfNeeded: u.bitPattern >> 16)
                            }
                            i += 4
                        }
                    }
                    if fwrite(buf, 2, k, f) != k { fclose(f); throw LlamaError.file("writing \(path) failed") }
                    left -= k
                }
            }
            fclose(f)
            if rename(path + ".tmp", path) != 0 { throw LlamaError.file("cannot rename \(path)") }
        }
        let index: [String: Any] = ["metadata": ["total_size": total], "weight_map": weightMap]
        try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("model.safetensors.index.json")))
        try c.jsonData().write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("config.json")))
    }

    /// `llx bench memory8b`: the path `llama.load(path, quant: "nf4", embeddings: "bf16")` takes,
    /// from a sharded Hugging Face directory of random llama3-8b-shape bf16 weights on disk
    /// (written first when missing), then a perplexity-style prefill (chunked, every position's
    /// log-probability streamed) of each length in LLX_8B_TOKENS, each phase's peak RSS beside
    /// the planner's prediction; then, with LLX_8B_DECODE steps, the speed of a prefill of 512
    /// (last logits only, as llama-bench -p 512) and of decoding after it (-n 32 -d 512).
    /// Settings (environment): LLX_8B_DIR (default /tmp/llx-8b-hf[-<layers>l]), LLX_8B_LAYERS
    /// (cut the 8B shape to this many layers), LLX_8B_TOKENS (comma list, default 256),
    /// LLX_8B_DECODE (decode steps; 0 = no speed run), LLX_8B_PREFILL (speed prefill, default 512),
    /// LLX_8B_REPS (speed repetitions, best kept; default 2), LLX_8B_TIME=0 (no planner time:
    /// otherwise the planner's rates are calibrated on one layer, or read from the calibration
    /// cache, and each measured time is printed beside the planner's).
    public static func runMemory8B(_ log: (String) -> Void) {
        do {
            var c = try LlamaConfig.preset("llama3-8b")
            if let s = env("LLX_8B_LAYERS"), let n = Int(s), n > 0 { c.numHiddenLayers = n }
            c.maxPositionEmbeddings = 131072
            let dir = env("LLX_8B_DIR") ?? "/tmp/llx-8b-hf" + (c.numHiddenLayers == 32 ? "" : "-\(c.numHiddenLayers)l")
            let fm = FileManager.default
            if !fm.fileExists(atPath: (dir as NSString).appendingPathComponent("model.safetensors.index.json")) {
                let t0 = now()
                try writeRandomHF(config: c, to: dir)
                log(String(format: "wrote %@ (bf16 shards, %d layers) in %.0f s, peak RSS %.2f GB", dir, c.numHiddenLayers, now() - t0, Double(peakRSS() ?? 0) / 1e9))
            }
            resetPeakRSS()
            var t0 = now()
            let m = try LlamaModel.load(path: dir, quant: .nf4, doubleQuant: true, embeddingsBF16: true)
            log(String(format: "llama.load(%@, quant: \"nf4\", embeddings: \"bf16\"), %d layers: %.0f s, weights %.2f GB, peak RSS of the load %.2f GB",
                       dir, c.numHiddenLayers, now() - t0, Double(m.weightBytes) / 1e9, Double(peakRSS() ?? 0) / 1e9))
            // the planner's time: rates of this shape on this machine (calibrated on one layer when
            // not cached; LLX_8B_TIME=0 skips it), for the prediction beside each measured time
            var rates: PlanRates? = nil
            if env("LLX_8B_TIME") != "0" {
                t0 = now()
                rates = try? Planner.rates(for: m, measure: true)
                if let r = rates {
                    log(String(format: "  planner rates (%@, %.0f s to obtain): projections %.1f GFLOP/s, attention %.1f GFLOP/s, head %.1f GFLOP/s; decode: layers %.2f GB/s, head %.2f GB/s",
                               r.measuredAt, now() - t0, r.projectionFlops / 1e9, r.attentionFlops / 1e9, (r.headFlops ?? 0) / 1e9,
                               r.decodeBytes / 1e9, (r.decodeHeadBytes ?? 0) / 1e9))
                }
            }
            func planned(_ s: Double?) -> String { s.map { String(format: "%.1f s", $0) } ?? "-" }
            for T in [81920, 131072] {
                let p = Planner.plan(model: m, request: PlanRequest(kind: .eval, tokens: T))
                log(String(format: "  planner, %d layers, perplexity over %d tokens: peak %.2f GB (weights %.2f, KV cache %.2f %@, activations %.2f, runtime %.2f)",
                           c.numHiddenLayers, T, Double(p.totalBytes) / 1e9, Double(p.weightBytes) / 1e9, Double(p.kvCacheBytes) / 1e9,
                           p.kvDType.rawValue, Double(p.activationBytes) / 1e9, Double(p.runtimeBytes) / 1e9))
            }
            let lengths = (env("LLX_8B_TOKENS") ?? "256").split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            var rng = SplitMix64(seed: 2)
            for T in lengths where T > 0 {
                let ids = (0..<T).map { _ in Int(rng.next() % UInt64(c.vocabSize)) }
                // LLX_8B_LOGITS=last: a prompt's prefill (last position's logits, as generate)
                let lastOnly = env("LLX_8B_LOGITS") == "last"
                var q = PlanRequest(kind: lastOnly ? .generate : .eval, tokens: T)
                q.logitRows = lastOnly ? 1 : nil
                let p = Planner.plan(model: m, request: q, rates: rates)
                resetPeakRSS()
                let cache = m.makeCache(capacity: T)
                var nll = 0.0
                t0 = now()
                try m.prefill(ids, cache: cache, logitsFrom: lastOnly ? T - 1 : 0) { first, rows, lg in
                    for r in 0..<rows where first + r + 1 < T {
                        let row = lg + r * c.vocabSize
                        var mx = -Float.infinity
                        for v in 0..<c.vocabSize { mx = max(mx, row[v]) }
                        var s = 0.0
                        for v in 0..<c.vocabSize { s += Double(expf(row[v] - mx)) }
                        nll += Double(mx) + Foundation.log(s) - Double(row[ids[first + r + 1]])
                    }
                }
                let dt = now() - t0
                let what = lastOnly ? "prompt prefill (last logits)" : "perplexity prefill"
                let ppl = lastOnly ? "" : String(format: ", ppl %.0f", exp(nll / Double(max(1, T - 1))))
                log(String(format: "  %@ of %d tokens (KV cache %@): %.1f s (%.1f tokens/s%@), peak RSS %.3f GB; planner %.3f GB, %@",
                           what, T, cache.dtype.rawValue, dt, Double(T) / dt, ppl, Double(peakRSS() ?? 0) / 1e9, Double(p.totalBytes) / 1e9,
                           planned(p.prefillSeconds)))
            }
            let steps = Int(env("LLX_8B_DECODE") ?? "0") ?? 0
            if steps > 0 {
                let P = Int(env("LLX_8B_PREFILL") ?? "512") ?? 512
                let ids = (0..<P).map { _ in Int(rng.next() % UInt64(c.vocabSize)) }
                // LLX_8B_REPS: repetitions, the best kept (llama-bench -r averages its repetitions)
                let reps = max(1, Int(env("LLX_8B_REPS") ?? "2") ?? 2)
                var bestP = Double.infinity, bestD = Double.infinity
                for _ in 0..<reps {
                    let cache = m.makeCache(capacity: P + steps)
                    t0 = now()
                    let first = try m.prefill(ids, cache: cache)
                    bestP = min(bestP, now() - t0)
                    var next = Sampling.argmax(UnsafeBufferPointer(start: first.floatPointer, count: c.vocabSize))
                    t0 = now()
                    for _ in 0..<steps {
                        let lg = try m.decodeStep(next, cache: cache)
                        next = Sampling.argmax(UnsafeBufferPointer(start: lg, count: c.vocabSize))
                    }
                    bestD = min(bestD, now() - t0)
                }
                log(String(format: "  speed (%d threads, best of %d): prefill T=%d %.1f tokens/s, decode after %d %.2f tokens/s",
                           Parallel.threads, reps, P, Double(P) / bestP, P, Double(steps) / bestD))
                var q = PlanRequest(kind: .generate, tokens: P, generate: steps)
                q.logitRows = 1
                let p = Planner.plan(model: m, request: q, rates: rates)
                log(String(format: "  planner for the speed run: prefill %@ (measured %.1f s), decode of %d %@ (measured %.1f s)",
                           planned(p.prefillSeconds), bestP, steps, planned(p.decodeSeconds), bestD))
            }
        } catch {
            log("llama3-8b memory run failed: \(error)")
        }
    }
}
