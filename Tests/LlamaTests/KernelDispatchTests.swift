// KernelDispatchTests: the decode kernels are chosen at run time (AVX-512 when the CPU has it,
// scalar otherwise); both give the same decode logits for f32, bf16 and NF4 weights and f32 and
// bf16 KV caches, up to summation order.
import Foundation
import XCTest
import Tensor
import Quant
import NN
import Llama

final class KernelDispatchTests: XCTestCase {
    override func tearDown() { HotPool.forceGeneric(false) }

    func decodeLogits(_ m: LlamaModel, _ ids: [Int], generic: Bool) throws -> [Float] {
        HotPool.forceGeneric(generic)
        defer { HotPool.forceGeneric(false) }
        let cache = m.makeCache(capacity: ids.count + 4)
        _ = try m.prefill(Array(ids.dropLast()), cache: cache)
        let p = try m.decodeStep(ids.last!, cache: cache)
        return Array(UnsafeBufferPointer(start: p, count: m.config.vocabSize))
    }

    func testScalarAndAVX512KernelsAgree() throws {
        if !HotPool.avx512 { throw XCTSkip("this CPU has no AVX-512: only the scalar kernels run") }
        var c = try LlamaConfig.preset("tiny")
        c.numHiddenLayers = 2
        let ids = (0..<40).map { ($0 * 37 + 11) % 256 }
        let f32 = try LlamaModel(config: c, seed: 1)
        let bf = try LlamaModel(config: c, seed: 1); bf.storeWeightsInBF16()
        let nf4 = try LlamaModel(config: c, seed: 1, quant: .nf4, doubleQuant: true, embeddingsBF16: true)
        for (name, m) in [("f32", f32), ("bf16", bf), ("nf4", nf4)] {
            let a = try decodeLogits(m, ids, generic: false), b = try decodeLogits(m, ids, generic: true)
            var md: Float = 0, scale: Float = 0
            for i in 0..<a.count { md = max(md, abs(a[i] - b[i])); scale = max(scale, abs(b[i])) }
            XCTAssertLessThan(md, 1e-4 * max(1, scale), "\(name): max |avx512 - scalar| = \(md)")
        }
        XCTAssertTrue(HotPool.avx512)
    }
}
