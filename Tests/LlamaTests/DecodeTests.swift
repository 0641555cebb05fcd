// DecodeTests: the inference paths of issue 12 against one-pass / f32 results and transformers:
// decode steps (GEMV kernels, single-query attention, reused buffers), chunked prefill (the
// numbers of one pass), bf16 weights, the bf16 KV cache (its change to the logits measured),
// and NF4 decoding.
import Foundation
import XCTest
import Tensor
import Quant
import NN
import Checkpoint
import Llama

final class DecodeTests: XCTestCase {
    func load(_ name: String) throws -> (LlamaModel, SafetensorsFile) {
        (try LlamaModel.load(path: Fixtures.path(name)), try Fixtures.expected(name))
    }

    /// Logits of every position through chunked prefill (and the cache it leaves).
    func prefillLogits(_ m: LlamaModel, _ ids: [Int], chunk: Int, cache: KVCache) throws -> [Float] {
        var out = [Float](repeating: .nan, count: ids.count * m.config.vocabSize)
        var seen = 0
        try m.prefill(ids, cache: cache, chunk: chunk, logitsFrom: 0) { first, rows, p in
            XCTAssertEqual(first, seen)
            seen += rows
            let V = m.config.vocabSize
            for i in 0..<(rows * V) { out[first * V + i] = p[i] }
        }
        XCTAssertEqual(seen, ids.count)
        return out
    }

    func testDecodeStepsMatchTransformers() throws {
        let (m, e) = try load("gqa_untied")
        let ids = try e.tensor("input_ids").ints()
        let ref = try e.tensor("logits").floats()
        let V = m.config.vocabSize
        let cache = m.makeCache(capacity: 2)   // grows by doubling
        XCTAssertEqual(cache.dtype, .f32)
        let last = try m.prefill(Array(ids.prefix(5)), cache: cache, chunk: 2).floats()
        XCTAssertLessThan(maxAbsDiff(last, Array(ref[(4 * V)..<(5 * V)])), 1e-4)
        for t in 5..<ids.count {
            let p = try m.decodeStep(ids[t], cache: cache)
            let row = Array(UnsafeBufferPointer(start: p, count: V))
            XCTAssertLessThan(maxAbsDiff(row, Array(ref[(t * V)..<((t + 1) * V)])), 1e-4, "position \(t)")
        }
        XCTAssertEqual(cache.count, ids.count)
        cache.truncate(to: 5)
        let again = try m.decodeStep(ids[5], cache: cache)
        XCTAssertLessThan(maxAbsDiff(Array(UnsafeBufferPointer(start: again, count: V)), Array(ref[(5 * V)..<(6 * V)])), 1e-4)
        XCTAssertThrowsError(try m.decodeStep(V, cache: cache))
    }

    /// Chunked prefill gives the numbers of one pass whatever the chunk: the attention of a query
    /// sums the same key tiles in the same order, so only the GEMMs' blocking over a different
    /// number of rows moves the last bits (OpenBLAS picks its kernels by size).
    func testChunkedPrefillIsOnePass() throws {
        let c = try LlamaConfig.preset("tiny")
        let m = try LlamaModel(config: c, seed: 3)
        var rng = SplitMix64(seed: 5)
        let ids = (0..<300).map { _ in Int(rng.next() % UInt64(c.vocabSize)) }
        let full = try m.logits(ids).floats()
        let verbose = ProcessInfo.processInfo.environment["LLX_TEST_VERBOSE"] != nil
        var oneF32: [Float] = []
        for dtype in [DType.f32, .bf16] {
            let one = try prefillLogits(m, ids, chunk: 300, cache: m.makeCache(capacity: 300, dtype: dtype))
            // With a bf16 cache, a key or value whose f32 projection moved by its last bit (the
            // GEMM over 7 rows and over 300 differ there, by CPU) can round to the neighbouring
            // bf16 value: a step of 2^-8 of it. So the bound is a fiftieth of what the bf16
            // rounding moves the logits in all (AMD Zen 4, chunk 7: 3.9e-6, 0.5% of the rounding's
            // 7.4e-4, against 2e-7 with the f32 cache; a chunk that lost or misplaced a key
            // moves them by far more than the rounding does).
            var bound: Float = 2e-6
            if dtype == .f32 {
                XCTAssertLessThan(maxAbsDiff(one, full), 2e-6, "one f32-cache pass = the cache-free forward")
                oneF32 = one
            } else {
                let rounding = maxAbsDiff(one, oneF32)
                XCTAssertGreaterThan(rounding, 0, "the bf16 cache is rounded")
                bound = max(bound, 2e-2 * rounding)
                if verbose { print("bf16 cache against f32: max logit difference \(rounding)") }
            }
            for chunk in [7, 64, 100, 299] {
                let cache = m.makeCache(capacity: 16, dtype: dtype)
                let d = maxAbsDiff(try prefillLogits(m, ids, chunk: chunk, cache: cache), one)
                if verbose { print("chunked prefill, chunk \(chunk), \(dtype) cache: max logit difference \(d)") }
                XCTAssertLessThan(d, bound, "chunk \(chunk), \(dtype) cache")
                XCTAssertEqual(cache.count, ids.count)
            }
            // The last-position form agrees with the streamed one.
            let last = try m.prefill(ids, cache: m.makeCache(capacity: 1, dtype: dtype), chunk: 64).floats()
            XCTAssertLessThan(maxAbsDiff(last, Array(one.suffix(c.vocabSize))), 2e-6)
        }
    }

    /// bf16 KV cache against f32: the logits move by the rounding of keys and values only
    /// (measured and printed with LLX_TEST_VERBOSE), and decoding from it follows the same path.
    func testBF16CacheChangesLogitsByRounding() throws {
        let (m, e) = try load("gqa_untied")
        let ids = try e.tensor("input_ids").ints()
        let V = m.config.vocabSize
        let f32 = try prefillLogits(m, ids, chunk: 4, cache: m.makeCache(capacity: 4, dtype: .f32))
        let cache = m.makeCache(capacity: 4, dtype: .bf16)
        let b16 = try prefillLogits(m, Array(ids.prefix(6)), chunk: 4, cache: cache)
        var steps = b16
        for t in 6..<ids.count {
            steps += Array(UnsafeBufferPointer(start: try m.decodeStep(ids[t], cache: cache), count: V))
        }
        let rel = relDiff(steps, f32)
        if ProcessInfo.processInfo.environment["LLX_TEST_VERBOSE"] != nil { print("bf16 KV cache: max logit change \(maxAbsDiff(steps, f32)), relative \(rel)") }
        XCTAssertGreaterThan(maxAbsDiff(steps, f32), 0, "the cache is rounded")
        XCTAssertLessThan(rel, 2e-2)
        XCTAssertEqual(cache.byteCount * 2, m.makeCache(capacity: cache.capacity, dtype: .f32).byteCount)
    }

    /// bf16 weights: the same logits as f32 weights holding the rounded values, through tiles
    /// (prefill) and GEMV (decode); the default cache is then bf16.
    func testBF16WeightsMatchRoundedF32() throws {
        let (m, e) = try load("gqa_untied")
        let (r, _) = try load("gqa_untied")
        let ids = try e.tensor("input_ids").ints()
        m.storeWeightsInBF16()
        for l in r.layers {
            for lin in l.linears { lin.weight!.value = lin.weight!.value.to(.bf16).to(.f32) }
        }
        for p in [r.embedTokens, r.lmHead] { p.value = p.value.to(.bf16).to(.f32) }
        XCTAssertEqual(m.layers[0].qProj.weight?.value.dtype, .bf16)
        XCTAssertEqual(m.defaultCacheDType, .bf16)
        XCTAssertEqual(r.defaultCacheDType, .f32)
        let V = m.config.vocabSize
        XCTAssertLessThan(maxAbsDiff(try m.logits(ids).floats(), try r.logits(ids).floats()), 1e-4)
        let cm = m.makeCache(capacity: 8, dtype: .f32), cr = r.makeCache(capacity: 8)
        _ = try m.prefill(Array(ids.prefix(3)), cache: cm)
        _ = try r.prefill(Array(ids.prefix(3)), cache: cr)
        for t in 3..<ids.count {
            let a = Array(UnsafeBufferPointer(start: try m.decodeStep(ids[t], cache: cm), count: V))
            let b = Array(UnsafeBufferPointer(start: try r.decodeStep(ids[t], cache: cr), count: V))
            XCTAssertLessThan(maxAbsDiff(a, b), 1e-4, "position \(t)")
        }
    }

    /// NF4 projections: decode steps (codes looked up in registers) against the full forward of
    /// the same quantized model (tiles dequantized for sgemm).
    func testNF4DecodeMatchesFullForward() throws {
        let (m, e) = try load("gqa_untied")
        let ids = try e.tensor("input_ids").ints()
        try m.quantizeProjections(doubleQuant: true)
        XCTAssertEqual(m.defaultCacheDType, .bf16)
        let full = try m.logits(ids).floats()
        let V = m.config.vocabSize
        let cache = m.makeCache(capacity: ids.count, dtype: .f32)
        _ = try m.prefill(Array(ids.prefix(4)), cache: cache)
        for t in 4..<ids.count {
            let row = Array(UnsafeBufferPointer(start: try m.decodeStep(ids[t], cache: cache), count: V))
            XCTAssertLessThan(maxAbsDiff(row, Array(full[(t * V)..<((t + 1) * V)])), 1e-4, "position \(t)")
        }
    }

    /// Streamed log-probabilities (what eval.ppl and eval.mc use) give the numbers of the full
    /// [T, V] logits (transformers' logits as the reference), and the letters scored from the
    /// prompt's cache give those of scoring each prompt + letter whole.
    func testStreamedLogProbsAndPrefixReuse() throws {
        let (m, e) = try load("gqa_untied")
        let ids = try e.tensor("input_ids").ints()
        let ref = try e.tensor("logits").floats()
        let V = m.config.vocabSize
        func refLP(_ i: Int) -> Float {   // log p(ids[i] | ids[..<i]) from transformers' logits
            let row = Array(ref[((i - 1) * V)..<(i * V)])
            let mx = row.max()!
            let s = row.reduce(0.0) { $0 + exp(Double($1 - mx)) }
            return Float(Double(row[ids[i]] - mx) - log(s))
        }
        let saved = LlamaModel.prefillChunk, savedRows = LlamaModel.logitRows
        defer { LlamaModel.prefillChunk = saved; LlamaModel.logitRows = savedRows }
        LlamaModel.prefillChunk = 5; LlamaModel.logitRows = 3     // several chunks and logit blocks
        let lp = try m.logProbs(ids: ids)
        XCTAssertEqual(lp.count, ids.count - 1)
        XCTAssertLessThan(maxAbsDiff(lp, (1..<ids.count).map(refLP)), 1e-4)
        let prefix = Array(ids.prefix(7))
        let conts = [Array(ids[7..<9]), [ids[7]], Array(ids[7...]), []]
        let scored = try m.logProbs(prefix: prefix, continuations: conts)
        XCTAssertEqual(scored.map { $0.count }, conts.map { $0.count })
        for (c, got) in zip(conts, scored) where !c.isEmpty {
            let whole = try m.logProbs(ids: prefix + c)
            XCTAssertLessThan(maxAbsDiff(got, Array(whole.suffix(c.count))), 1e-5)
        }
        XCTAssertThrowsError(try m.logProbs(prefix: prefix, continuations: [[V]]))
    }
}
