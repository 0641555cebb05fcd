// RoPE: inverse frequencies and attention scaling for the rope types of transformers 5.24
// `modeling_rope_utils` (default, linear, dynamic NTK, yarn, llama3), computed with the same
// f32/f64 steps, and cos/sin tables cached by (theta, scaling, sequence length).
import Foundation
import Tensor

public enum RoPE {
    /// The inverse frequencies [headDim/2] and the attention scaling that multiplies cos and sin.
    /// `seqLen` is the current sequence length (max position + 1); only "dynamic" uses it.
    public static func inverseFrequencies(headDim dim: Int, theta base: Double, scaling: RopeScaling?,
                                          maxPositionEmbeddings: Int, seqLen: Int? = nil) -> (invFreq: [Float], attentionScaling: Float) {
        let half = dim / 2
        // base ** (arange(0, dim, 2).float() / dim), in f32 as torch does.
        func powers(_ b: Double) -> [Float] {
            (0..<half).map { i in powf(Float(b), Float(2 * i) / Float(dim)) }
        }
        func defaultInv(_ b: Double) -> [Float] { powers(b).map { 1 / $0 } }
        guard let s = scaling else { return (defaultInv(base), 1) }
        switch s.ropeType {
        case .linear:
            let f = Float(s.factor ?? 1)
            return (defaultInv(base).map { $0 / f }, 1)
        case .dynamic:
            let factor = s.factor ?? 1
            let mp = Double(maxPositionEmbeddings)
            let L = Double(max(seqLen ?? maxPositionEmbeddings, maxPositionEmbeddings))
            let b = base * pow(factor * L / mp - (factor - 1), Double(dim) / Double(dim - 2))
            return (defaultInv(b), 1)
        case .yarn:
            let orig = Double(s.originalMaxPositionEmbeddings ?? maxPositionEmbeddings)
            let factor = s.factor ?? Double(maxPositionEmbeddings) / orig
            func getMscale(_ scale: Double, _ m: Double = 1) -> Double { scale <= 1 ? 1 : 0.1 * m * log(scale) + 1 }
            var attn: Double
            if let a = s.attentionFactor { attn = a }
            else if let m = s.mscale, let ma = s.mscaleAllDim, m != 0, ma != 0 { attn = getMscale(factor, m) / getMscale(factor, ma) }
            else { attn = getMscale(factor) }
            let betaFast = (s.betaFast ?? 0) != 0 ? s.betaFast! : 32
            let betaSlow = (s.betaSlow ?? 0) != 0 ? s.betaSlow! : 1
            func correctionDim(_ rot: Double) -> Double {
                (Double(dim) * log(orig / (rot * 2 * Double.pi))) / (2 * log(base))
            }
            var low = correctionDim(betaFast), high = correctionDim(betaSlow)
            if s.truncate ?? true { low = floor(low); high = ceil(high) }
            low = max(low, 0); high = min(high, Double(dim - 1))
            if low == high { high += 0.001 }
            let pf = powers(base)
            let ff = Float(factor)
            var inv = [Float](repeating: 0, count: half)
            for i in 0..<half {
                let ramp = min(max((Float(i) - Float(low)) / Float(high - low), 0), 1)
                let extrapFactor = 1 - ramp
                let interp = 1 / (ff * pf[i]), extrap = 1 / pf[i]
                inv[i] = interp * (1 - extrapFactor) + extrap * extrapFactor
            }
            return (inv, Float(attn))
        case .llama3:
            let inv = defaultInv(base)
            let factor = Float(s.factor ?? 1)
            let lowF = s.lowFreqFactor ?? 1, highF = s.highFreqFactor ?? 4
            let old = Double(s.originalMaxPositionEmbeddings ?? maxPositionEmbeddings)
            let lowWl = old / lowF, highWl = old / highF
            var out = [Float](repeating: 0, count: half)
            for i in 0..<half {
                let wl = 2 * Float.pi / inv[i]
                let v = Double(wl) > lowWl ? inv[i] / factor : inv[i]
                let medium = !(Double(wl) < highWl) && !(Double(wl) > lowWl)
                if medium {
                    let smooth = (Float(old) / wl - Float(lowF)) / Float(highF - lowF)
                    out[i] = (1 - smooth) * v / factor + smooth * v
                } else { out[i] = v }
            }
            return (out, 1)
        }
    }
}

/// cos/sin tables for positions start..<start+count: [count, headDim] each (HF layout, both
/// halves repeated), already multiplied by the attention scaling.
final class RopeTables {
    let start: Int
    let count: Int
    let cos: [Float]
    let sin: [Float]

    init(start: Int, count: Int, cos: [Float], sin: [Float]) {
        self.start = start; self.count = count; self.cos = cos; self.sin = sin
    }
}

/// Lazily (re)computed RoPE tables, cached by (theta, scaling, sequence length, positions);
/// a changed `rope_theta` or `rope_scaling` simply misses the cache at the next call.
final class RopeCache: @unchecked Sendable {
    private struct FreqKey: Equatable { var theta: Double; var scaling: RopeScaling?; var dim: Int; var maxPos: Int; var seqLen: Int }
    private struct TableKey: Equatable { var freq: FreqKey; var start: Int; var count: Int }
    private var freqs: [(FreqKey, [Float], Float)] = []
    private var tables: [(TableKey, RopeTables)] = []
    private let lock = NSLock()

    /// Inverse frequencies and attention scaling for a call whose positions end at `seqLen`
    /// (exclusive). Only dynamic NTK depends on seqLen, and only beyond max_position_embeddings.
    func frequencies(config c: LlamaConfig, seqLen: Int) -> (invFreq: [Float], attentionScaling: Float) {
        lock.lock(); defer { lock.unlock() }
        let (inv, sc, _) = freqLocked(c, seqLen)
        return (inv, sc)
    }

    private func freqLocked(_ c: LlamaConfig, _ seqLen: Int) -> ([Float], Float, FreqKey) {
        let dynLen = (c.ropeScaling?.ropeType == .dynamic) ? max(seqLen, c.maxPositionEmbeddings) : 0
        let key = FreqKey(theta: c.ropeTheta, scaling: c.ropeScaling, dim: c.headDim, maxPos: c.maxPositionEmbeddings, seqLen: dynLen)
        if let e = freqs.first(where: { $0.0 == key }) { return (e.1, e.2, key) }
        let (inv, sc) = RoPE.inverseFrequencies(headDim: c.headDim, theta: c.ropeTheta, scaling: c.ropeScaling,
                                                maxPositionEmbeddings: c.maxPositionEmbeddings, seqLen: seqLen)
        freqs.append((key, inv, sc))
        if freqs.count > 8 { freqs.removeFirst() }
        return (inv, sc, key)
    }

    /// Tables for positions start..<start+count of a call whose sequence ends at start+count.
    func tables(config c: LlamaConfig, start: Int, count: Int) -> RopeTables {
        lock.lock(); defer { lock.unlock() }
        let (inv, sc, fk) = freqLocked(c, start + count)
        let key = TableKey(freq: fk, start: start, count: count)
        if let e = tables.first(where: { $0.0 == key }) { return e.1 }
        let (cs, sn) = Kernels.ropeTables(positions: Array(start..<(start + count)), invFreq: inv, attentionScaling: sc)
        let t = RopeTables(start: start, count: count, cos: cs, sin: sn)
        // Long tables (training shapes) are worth keeping; single decode rows are not.
        if count > 1 {
            tables.append((key, t))
            if tables.count > 4 { tables.removeFirst() }
        }
        return t
    }
}
