// LlamaLayer+Backward: one decoder layer's backward, the pair of layerForward
// (LlamaLayer+Forward.swift) in llm.c style: the backward calls run in exactly the reverse
// order of the forward's. Shapes: T tokens, C = hidden_size, Hq / Hkv query / key-value heads,
// D = head_dim, I = intermediate_size; all buffers row-major f32.
import Foundation
import Tensor
import Quant
import NN

extension LlamaModel {
    /// Backward of `layerForward` (without KV cache). On entry d (T, C) holds dL/d(out); on
    /// return dL/d(x). Parameter gradients of trainable parameters accumulate into Parameter.grad.
    func layerBackward(_ L: LlamaLayer, x: UnsafePointer<Float>, d: UnsafeMutablePointer<Float>,
                       a: LayerActivations, g: LayerGradScratch, T: Int, rope: RopeTables, segs: [Range<Int>]? = nil) throws {
        let c = config
        let C = c.hiddenSize, Hq = c.numAttentionHeads, Hkv = c.numKeyValueHeads, D = c.headDim
        let I = c.intermediateSize
        // out = xMid + h Wdownᵀ: dh (T, I); d already is the residual part of dxMid
        L.downProj.backward(dy: d, x: a.h.p, rows: T, dx: g.dh.p, packedX: a.packs?.h)
        // h = silu(gate) * up: dGate, dUp (T, I)
        Kernels.swigluBackward(dout: g.dh.p, gate: a.gate.p, up: a.up.p, dgate: g.dGate.p, dup: g.dUp.p, n: T * I)
        // gate, up = ln2 Wᵀ: dLn (T, C)
        Linear.backward([L.gateProj, L.upProj], dys: [g.dGate.p, g.dUp.p], x: a.ln2.p, rows: T, dx: g.dLn.p,
                        packedX: a.packs?.ln2)
        // ln2 = RMSNorm(xMid): d (T, C) += dxMid through the norm
        Kernels.rmsNormBackward(dout: g.dLn.p, x: a.xMid.p, weight: L.postAttentionLayernorm.value.floatPointer,
                                rstd: a.rstd2.p, dx: d, dweight: gradPointer(L.postAttentionLayernorm),
                                rows: T, dim: C, accumulate: true)
        // xMid = x + att Woᵀ: dAtt (T, Hq*D); d is the residual part of dx
        L.oProj.backward(dy: d, x: a.att.p, rows: T, dx: g.dAtt.p, packedX: a.packs?.att)
        // attention: dq (T, Hq*D), dk, dv (T, Hkv*D)
        let scale = 1 / Float(D).squareRoot()
        let qd = Hq * D, kvd = Hkv * D
        let ranges = segs ?? [0..<T]
        if Kernels.attentionBF16Applies(longest: ranges.map(\.count).max() ?? 0, D: D) {
            try Kernels.attentionBackwardBF16(dout: g.dAtt.p, q: a.q.p, k: a.k.p, v: a.v.p, out: a.att.p, lse: a.lse.p,
                                              dq: g.dq.p, dk: g.dk.p, dv: g.dv.p,
                                              segments: ranges, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
        } else {
            for r in ranges {
                let s0 = r.lowerBound, n = r.count
                try Kernels.attentionBackward(dout: g.dAtt.p + s0 * qd, q: a.q.p + s0 * qd, k: a.k.p + s0 * kvd, v: a.v.p + s0 * kvd,
                                              out: a.att.p + s0 * qd, lse: a.lse.p + Hq * s0,
                                              dq: g.dq.p + s0 * qd, dk: g.dk.p + s0 * kvd, dv: g.dv.p + s0 * kvd,
                                              Tq: n, Tk: n, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
            }
        }
        // RoPE backward: the inverse rotation
        rope.cos.withUnsafeBufferPointer { cp in
            rope.sin.withUnsafeBufferPointer { sp in
                Kernels.ropeApply(x: g.dq.p, cos: cp.baseAddress!, sin: sp.baseAddress!, T: T, heads: Hq, headDim: D, inverse: true)
                Kernels.ropeApply(x: g.dk.p, cos: cp.baseAddress!, sin: sp.baseAddress!, T: T, heads: Hkv, headDim: D, inverse: true)
            }
        }
        // q, k, v = ln1 Wᵀ: dLn (T, C)
        Linear.backward([L.qProj, L.kProj, L.vProj], dys: [g.dq.p, g.dk.p, g.dv.p], x: a.ln1.p, rows: T, dx: g.dLn.p,
                        packedX: a.packs?.ln1)
        // ln1 = RMSNorm(x): d (T, C) += dx through the norm
        Kernels.rmsNormBackward(dout: g.dLn.p, x: x, weight: L.inputLayernorm.value.floatPointer,
                                rstd: a.rstd1.p, dx: d, dweight: gradPointer(L.inputLayernorm),
                                rows: T, dim: C, accumulate: true)
    }

    /// The gradient buffer of a trainable parameter (created on demand), nil when frozen.
    func gradPointer(_ p: Parameter) -> UnsafeMutablePointer<Float>? {
        p.trainable ? p.ensureGrad().floatPointer : nil
    }
}
