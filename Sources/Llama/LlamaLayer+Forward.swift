// LlamaLayer+Forward: one decoder layer's forward (with or without a KV cache); its backward,
// written as the forward's pair, is in LlamaLayer+Backward.swift. Shapes: T tokens, C = hidden_size, Hq / Hkv
// query / key-value heads, D = head_dim, I = intermediate_size; all buffers row-major f32.
import Foundation
import Tensor
import Quant
import NN

/// Where a layer's keys/values live during attention: its own activations (training, T keys)
/// or a KV cache holding `start` earlier positions (inference), in f32 or bf16.
struct KVSlot {
    let k: UnsafeMutableRawPointer   // (capacity, Hkv*D) keys after RoPE
    let v: UnsafeMutableRawPointer   // (capacity, Hkv*D) values
    let bf16: Bool                   // elements are bf16 bits (else f32)
    let start: Int                   // positions already cached
    /// The decode step's buffers: one query runs the single-query kernel over the cache.
    let scratch: DecodeScratch?
}

extension LlamaModel {
    /// out (T, C) = layer(x (T, C)); fills `a`. With `kv`, keys/values are appended to the cache
    /// at rows start..<start+T and queries attend to all start+T cached positions.
    /// `out == nil` (the recompute of gradient checkpointing) fills only the activations the
    /// backward reads and skips the down projection, whose output the backward never needs.
    /// `segs` packs several sequences into the T rows (training batches): every projection runs
    /// once over all rows, attention runs per sequence; nil is one sequence of T rows.
    /// `attention` (a recompute whose first forward kept them): the attention output and
    /// log-sum-exp to use instead of running the attention kernel again.
    func layerForward(_ L: LlamaLayer, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>?,
                      a: LayerActivations, T: Int, rope: RopeTables, kv: KVSlot? = nil, segs: [Range<Int>]? = nil,
                      attention: (att: FloatBuffer, lse: FloatBuffer)? = nil) throws {
        let c = config
        let C = c.hiddenSize, Hq = c.numAttentionHeads, Hkv = c.numKeyValueHeads, D = c.headDim
        let I = c.intermediateSize, eps = Float(c.rmsNormEps)
        a.packs?.invalidate()
        // ln1 (T, C) = RMSNorm(x) * input_layernorm
        Kernels.rmsNormForward(x: x, weight: L.inputLayernorm.value.floatPointer, out: a.ln1.p, rstd: a.rstd1.p,
                               rows: T, dim: C, eps: eps)
        // q (T, Hq*D), k (T, Hkv*D), v (T, Hkv*D)
        Linear.forward([L.qProj, L.kProj, L.vProj], a.ln1.p, rows: T, outs: [a.q.p, a.k.p, a.v.p], packX: a.packs?.ln1)
        // RoPE on q and k, in place
        rope.cos.withUnsafeBufferPointer { cp in
            rope.sin.withUnsafeBufferPointer { sp in
                Kernels.ropeApply(x: a.q.p, cos: cp.baseAddress!, sin: sp.baseAddress!, T: T, heads: Hq, headDim: D)
                Kernels.ropeApply(x: a.k.p, cos: cp.baseAddress!, sin: sp.baseAddress!, T: T, heads: Hkv, headDim: D)
            }
        }
        // att (T, Hq*D) = causal softmax(q kᵀ / sqrt(D)) v, lse (Hq, T)
        let scale = 1 / Float(D).squareRoot()
        if let kv = kv {
            let kvd = Hkv * D
            if kv.bf16 {
                let kb = kv.k.assumingMemoryBound(to: UInt16.self), vb = kv.v.assumingMemoryBound(to: UInt16.self)
                Kernels.toBF16(a.k.p, kb + kv.start * kvd, T * kvd)
                Kernels.toBF16(a.v.p, vb + kv.start * kvd, T * kvd)
            } else {
                let kf = kv.k.assumingMemoryBound(to: Float.self), vf = kv.v.assumingMemoryBound(to: Float.self)
                (kf + kv.start * kvd).update(from: a.k.p, count: T * kvd)
                (vf + kv.start * kvd).update(from: a.v.p, count: T * kvd)
            }
            if T == 1, let sc = kv.scratch {
                try Kernels.attentionDecode(q: a.q.p, k: kv.k, v: kv.v, bf16: kv.bf16, out: a.att.p, Tk: kv.start + 1,
                                            Hq: Hq, Hkv: Hkv, D: D, scale: scale, scratch: sc.att.p)
            } else if kv.bf16 {
                try Kernels.attentionForward(q: a.q.p, kBF16: UnsafePointer(kv.k.assumingMemoryBound(to: UInt16.self)),
                                             vBF16: UnsafePointer(kv.v.assumingMemoryBound(to: UInt16.self)),
                                             out: a.att.p, Tq: T, Tk: kv.start + T, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
            } else {
                try Kernels.attentionForward(q: a.q.p, k: kv.k.assumingMemoryBound(to: Float.self),
                                             v: kv.v.assumingMemoryBound(to: Float.self), out: a.att.p, lse: nil,
                                             Tq: T, Tk: kv.start + T, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
            }
        } else if let kept = attention {
            a.att.p.update(from: kept.att.p, count: T * Hq * D)
            a.lse.p.update(from: kept.lse.p, count: Hq * T)
        } else {
            let qd = Hq * D, kvd = Hkv * D
            let ranges = segs ?? [0..<T]
            if Kernels.attentionBF16Applies(longest: ranges.map(\.count).max() ?? 0, D: D) {
                // bf16 compute dtype: the products on the tile unit, the whole batch at once
                try Kernels.attentionForwardBF16(q: a.q.p, k: a.k.p, v: a.v.p, out: a.att.p, lse: a.lse.p,
                                                 segments: ranges, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
            } else {
                for r in ranges {
                    let s0 = r.lowerBound, n = r.count
                    try Kernels.attentionForward(q: a.q.p + s0 * qd, k: a.k.p + s0 * kvd, v: a.v.p + s0 * kvd,
                                                 out: a.att.p + s0 * qd, lse: a.lse.p + Hq * s0,
                                                 Tq: n, Tk: n, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
                }
            }
        }
        // xMid (T, C) = x + att Woᵀ
        L.oProj.forward(a.att.p, rows: T, out: a.xMid.p, packX: a.packs?.att)
        Kernels.addInPlace(x, a.xMid.p, T * C)
        // ln2 (T, C) = RMSNorm(xMid) * post_attention_layernorm
        Kernels.rmsNormForward(x: a.xMid.p, weight: L.postAttentionLayernorm.value.floatPointer, out: a.ln2.p,
                               rstd: a.rstd2.p, rows: T, dim: C, eps: eps)
        // gate, up (T, I); h (T, I) = silu(gate) * up
        Linear.forward([L.gateProj, L.upProj], a.ln2.p, rows: T, outs: [a.gate.p, a.up.p], packX: a.packs?.ln2)
        Kernels.swigluForward(gate: a.gate.p, up: a.up.p, out: a.h.p, n: T * I)
        // out (T, C) = xMid + h Wdownᵀ
        guard let out = out else { return }
        L.downProj.forward(a.h.p, rows: T, out: out, packX: a.packs?.h)
        Kernels.addInPlace(a.xMid.p, out, T * C)
    }
}
