// QuantBench (`llx bench nf4`): NF4 quantization, dequantization and forward against a dense
// f32 Linear at [256 x 4096] · [4096 x 4096]ᵀ, and the one-row (decode) paths. (Formerly the
// opt-in QuantTests.NF4LinearTests.testBenchNF4ForwardVsDense, which asserted nothing.)
import Foundation
import Tensor
import NN

public enum QuantBench {
    public static func run(_ log: (String) -> Void) {
        let T = 256, n = 4096
        var rng = SplitMix64(seed: 1)
        let w = Tensor(shape: [n, n], floats: (0..<(n * n)).map { _ in Float(rng.nextUnit() - 0.5) * 0.05 })
        let x = (0..<(T * n)).map { _ in Float(rng.nextUnit() - 0.5) }
        let dense: Linear, q: Linear
        var t0 = Date()
        do {
            dense = try Linear(name: "d", inFeatures: n, outFeatures: n, weight: w)
            t0 = Date()
            q = try Linear.nf4(name: "q", inFeatures: n, outFeatures: n, weight: w, blocksize: 64, doubleQuant: true)
        } catch {
            log("nf4 bench: error: \(error)")
            return
        }
        let tq = Date().timeIntervalSince(t0)
        var y = [Float](repeating: 0, count: T * n)
        func best(_ l: Linear) -> Double {
            var b = Double.infinity
            for _ in 0..<4 { let s = Date(); l.forward(x, rows: T, out: &y); b = min(b, Date().timeIntervalSince(s)) }
            return b
        }
        let td = best(dense), tn = best(q)
        var y1 = [Float](repeating: 0, count: n)
        func best1(_ l: Linear) -> Double {
            var b = Double.infinity
            for _ in 0..<4 { let s = Date(); l.forward(x, rows: 1, out: &y1); b = min(b, Date().timeIntervalSince(s)) }
            return b
        }
        let d1 = best1(dense), g1 = best1(q)
        q.gemvMaxRows = 0
        let t1 = best1(q)
        log(String(format: "nf4 bench one row: dense %.2f ms, nf4 direct %.2f ms, nf4 tiled %.2f ms", d1 * 1e3, g1 * 1e3, t1 * 1e3))
        var dq = [Float](repeating: 0, count: n * n)
        t0 = Date()
        q.nf4?.dequantize(elements: 0..<(n * n), into: &dq)
        let tdeq = Date().timeIntervalSince(t0)
        log(String(format: "nf4 bench: quantize 4096x4096 %.3f s; dequantize (1 thread) %.1f ms (%.2f ns/value); forward [256x4096]x[4096x4096]: dense %.1f ms, nf4 %.1f ms, ratio %.2f",
                   tq, tdeq * 1e3, tdeq * 1e9 / Double(n * n), td * 1e3, tn * 1e3, tn / td))
    }
}
