// Cross-entropy over vocabulary rows, one chunk of rows at a time: loss = logsumexp(z) - z[target],
// with the gradient (softmax - onehot) * scale written in the same pass, so a model can process
// [tokens, vocab] logits chunk by chunk and never hold a full probability table.
import Foundation

extension Kernels {
    public static let ignoreIndex = -100

    /// logits: [n, vocab]; targets: [n] (ignoreIndex rows give loss 0 and zero gradient);
    /// losses: [n]; dlogits (optional, may alias logits): [n, vocab] = (softmax - onehot) * dlogitsScale.
    /// Returns the number of rows not ignored. Throws on a target outside 0..<vocab.
    @discardableResult
    public static func crossEntropyRows(logits: UnsafePointer<Float>, targets: UnsafePointer<Int>,
                                        losses: UnsafeMutablePointer<Float>, dlogits: UnsafeMutablePointer<Float>?,
                                        dlogitsScale: Float = 1, n: Int, vocab: Int) throws -> Int {
        var counted = 0
        for i in 0..<n {
            let t = targets[i]
            if t == ignoreIndex { continue }
            guard t >= 0 && t < vocab else {
                throw TensorError.index("cross_entropy: target \(t) at row \(i) is outside 0..<\(vocab) (ignore index \(ignoreIndex))")
            }
            counted += 1
        }
        Parallel.forRanges(n, grain: max(1, 32768 / max(1, vocab))) { r in
            for i in r {
                let z = logits + i * vocab
                let t = targets[i]
                if t == ignoreIndex {
                    losses[i] = 0
                    if let d = dlogits { (d + i * vocab).update(repeating: 0, count: vocab) }
                    continue
                }
                let m = Vec.max(z, vocab)
                var acc = Vec.F16(repeating: 0)
                var j = 0
                let mv = Vec.F16(repeating: m)
                while j + 16 <= vocab { acc += Vec.expUpper(Vec.load(z + j) - mv); j += 16 }
                var s = Double(acc.sum())
                while j < vocab { s += Double(Foundation.exp(z[j] - m)); j += 1 }
                let lse = m + Float(Foundation.log(s))
                let zt = z[t]
                losses[i] = lse - zt
                if let d = dlogits {
                    let dr = d + i * vocab
                    let lv = Vec.F16(repeating: lse), sc = Vec.F16(repeating: dlogitsScale)
                    j = 0
                    while j + 16 <= vocab { Vec.store(Vec.expUpper(Vec.load(z + j) - lv) * sc, dr + j); j += 16 }
                    while j < vocab { dr[j] = Foundation.exp(z[j] - lse) * dlogitsScale; j += 1 }
                    dr[t] -= dlogitsScale
                }
            }
        }
        return counted
    }
}
