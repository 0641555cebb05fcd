// PlannerTests: the planner's memory prediction against the measured peak of the run it plans
// (the growth of this process's peak RSS over a streamed-perplexity prefill, as
// scripts/bench_context.sh measures a whole llx process), its exact KV cache sizes, the refusal
// of a run that cannot fit (an artificially small LLX_MEMORY_LIMIT, so the test is
// deterministic), and the calibration's rates and their cache.
import Foundation
import XCTest
import Tensor
import NN
import Llama

final class PlannerTests: XCTestCase {
    override func tearDown() { unsetenv("LLX_MEMORY_LIMIT"); unsetenv("LLX_CALIBRATION") }

    static func status(_ key: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }

    /// KV cache bytes are exact for f32 and bf16 caches; the totals add up.
    func testKVCacheAndTotals() throws {
        let c = try LlamaConfig.preset("small")
        let m = try LlamaModel(config: c, seed: 0)
        let p = Planner.plan(model: m, request: PlanRequest(kind: .eval, tokens: 81920))
        XCTAssertEqual(p.kvDType, .f32)
        XCTAssertEqual(p.kvCacheBytes, 2 * 8 * 256 * 81920 * 4)
        XCTAssertEqual(p.totalBytes, p.weightBytes + p.kvCacheBytes + p.activationBytes + p.runtimeBytes)
        XCTAssertEqual(p.weightBytes, m.weightBytes)
        // the same prompt on the llama3-8b shape with NF4 weights: bf16 cache, 128 KB a token
        let c8 = try LlamaConfig.preset("llama3-8b")
        let w8 = c8.weightBytes(nf4: true, embeddingBytes: 2)!
        let p8 = Planner.plan(config: c8, weightBytes: w8, kvDType: .bf16, request: PlanRequest(kind: .eval, tokens: 81920), loaded: false)
        XCTAssertEqual(p8.kvCacheBytes, 2 * 32 * 1024 * 81920 * 2)
        XCTAssertLessThan(p8.totalBytes, 20_000_000_000, p8.description)
        // activations are bounded by the chunk: the same at 8K and 128K
        let a = Planner.plan(config: c8, weightBytes: w8, kvDType: .bf16, request: PlanRequest(kind: .eval, tokens: 8192), loaded: false)
        let b = Planner.plan(config: c8, weightBytes: w8, kvDType: .bf16, request: PlanRequest(kind: .eval, tokens: 131072), loaded: false)
        XCTAssertEqual(a.activationBytes, b.activationBytes)
        // sizes from user input saturate instead of trapping
        let huge = Planner.plan(model: m, request: PlanRequest(kind: .generate, tokens: 10, generate: Int.max / 2))
        XCTAssertGreaterThan(huge.totalBytes, 1 << 50)
    }

    /// The predicted growth of the peak RSS over a streamed-perplexity prefill (KV cache,
    /// one chunk's activations, logit blocks) against the measured growth, at a few lengths.
    func testMemoryPredictionMatchesMeasuredPeak() throws {
        guard Self.status("VmHWM") != nil, FileManager.default.isWritableFile(atPath: "/proc/self/clear_refs") else {
            throw XCTSkip("needs /proc/self/status and clear_refs")
        }
        let c = try LlamaConfig.preset("small")
        let m = try LlamaModel(config: c, seed: 0)
        var rng = SplitMix64(seed: 3)
        // first use of BLAS and the thread pool allocates their buffers: not part of a plan
        try m.prefill((0..<600).map { $0 % c.vocabSize }, cache: m.makeCache(capacity: 600), logitsFrom: 0) { _, _, _ in }
        for T in [1024, 4096, 8192] {
            let ids = (0..<T).map { _ in Int(rng.next() % UInt64(c.vocabSize)) }
            let p = Planner.plan(model: m, request: PlanRequest(kind: .eval, tokens: T))
            // freed buffers of the previous length stay in glibc's heap (its mmap threshold
            // rises to 32 MB after the first free): give them back so the growth is this run's
            Memory.trimFreed()
            let before = Self.status("VmRSS")!
            LlamaBench.resetPeakRSS()
            var sum = 0.0
            do {
                let cache = m.makeCache(capacity: T)
                try m.prefill(ids, cache: cache, logitsFrom: 0) { _, rows, lg in sum += Double(lg[rows * c.vocabSize - 1]) }
            }
            let grew = Self.status("VmHWM")! - before
            let predicted = p.additionalBytes
            // The plan must not underestimate (10% + 12 MB of allocator slack, thread stacks);
            // it may overestimate by what the allocator kept from the warm-up and reuses, but
            // never below the cache itself.
            XCTAssertLessThanOrEqual(grew, predicted + predicted / 10 + (12 << 20),
                                     "T=\(T): measured growth \(grew), predicted \(predicted) (\(p))")
            XCTAssertGreaterThanOrEqual(grew, p.kvCacheBytes, "T=\(T): measured growth \(grew) below the KV cache")
            XCTAssertLessThan(predicted - grew, predicted / 5 + (24 << 20), "T=\(T): measured growth \(grew), predicted \(predicted)")
            XCTAssertTrue(sum.isFinite)
        }
    }

    /// A run that cannot fit is refused before anything is allocated, naming the run and the parts.
    func testRefusalUnderSmallLimit() throws {
        let m = try LlamaModel(config: try LlamaConfig.preset("small"), seed: 0)
        setenv("LLX_MEMORY_LIMIT", "64M", 1)
        let ok = Planner.plan(model: m, request: PlanRequest(kind: .eval, tokens: 1024))
        XCTAssertTrue(ok.fits, ok.description)
        XCTAssertNoThrow(try Planner.require(ok, "eval.ppl"))
        let big = Planner.plan(model: m, request: PlanRequest(kind: .eval, tokens: 81920))
        XCTAssertFalse(big.fits)
        XCTAssertThrowsError(try Planner.require(big, "eval.ppl")) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("eval.ppl") && s.contains("KV cache 1.3 GB f32") && s.contains("of memory is available"), s)
        }
    }

    /// The time of a plan from given rates: a decode step streams the layers' weights and KV
    /// cache at the layers' rate and the lm_head at its own, not the embedding table (one row of
    /// it is read: counting it took the 8B shape's decode for twice as fast as measured); the
    /// logits of a perplexity prefill go at the head's FLOP rate, a prompt's one row at its
    /// streaming rate.
    func testTimeSplitsLayersAndHead() throws {
        let c = try LlamaConfig.preset("small")
        let m = try LlamaModel(config: c, seed: 0)
        let C = Double(c.hiddenSize), V = Double(c.vocabSize)
        let head = 4 * V * C, embed = 4 * V * C
        let layers = Double(m.weightBytes) - embed - head
        XCTAssertGreaterThan(layers, 0)
        let r = PlanRates(projectionFlops: 1e9, attentionFlops: 1e9, decodeBytes: 1e9, headFlops: 2e9, decodeHeadBytes: 4e9, measuredAt: "test")
        let g = Planner.plan(model: m, request: PlanRequest(kind: .generate, tokens: 100, generate: 10), rates: r)
        let kvPerPos = Double(2 * c.numHiddenLayers * c.numKeyValueHeads * c.headDim * 4)
        XCTAssertEqual(g.decodeSeconds!, 10 * ((layers + kvPerPos * 105) / 1e9 + head / 4e9), accuracy: 1e-9)
        // the prompt's last logits: the head streamed once; perplexity's 100 rows: a product at headFlops
        let e = Planner.plan(model: m, request: PlanRequest(kind: .eval, tokens: 100), rates: r)
        XCTAssertEqual(e.prefillSeconds! - g.prefillSeconds!, 100 * 2 * C * V / 2e9 - head / 4e9, accuracy: 1e-9)
        var slow = r
        slow.headFlops = 1e9
        let e2 = Planner.plan(model: m, request: PlanRequest(kind: .eval, tokens: 100), rates: slow)
        XCTAssertEqual(e2.prefillSeconds! - e.prefillSeconds!, 100 * 2 * C * V / 2e9, accuracy: 1e-9)
    }

    /// Calibration on one layer gives positive rates, a time for a plan, and is cached by shape.
    func testCalibrationAndTime() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llx-plan-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        setenv("LLX_CALIBRATION", dir.appendingPathComponent("calibration.json").path, 1)
        var c = try LlamaConfig.preset("tiny")
        c.numHiddenLayers = 3
        let m = try LlamaModel(config: c, seed: 0)
        let r = try Planner.calibrate(m, rows: 64, context: 512, steps: 4)
        XCTAssertGreaterThan(r.projectionFlops, 0); XCTAssertGreaterThan(r.attentionFlops, 0); XCTAssertGreaterThan(r.decodeBytes, 0)
        XCTAssertGreaterThan(r.headFlops ?? 0, 0); XCTAssertGreaterThan(r.decodeHeadBytes ?? 0, 0)
        let cached = try Planner.rates(for: m, measure: true, rows: 64, context: 512, steps: 4)
        XCTAssertNotNil(cached)
        XCTAssertNotNil(try Planner.rates(for: m, measure: false))
        let p = Planner.plan(model: m, request: PlanRequest(kind: .generate, tokens: 4096, generate: 32), rates: cached)
        XCTAssertNotNil(p.prefillSeconds); XCTAssertNotNil(p.decodeSeconds)
        XCTAssertGreaterThan(p.seconds!, 0)
        XCTAssertTrue(p.description.contains("about"), p.description)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("calibration.json").path))
    }
}
