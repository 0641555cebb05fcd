// Buffers: owned f32 scratch memory for activations (64-byte aligned, recycled on deinit), and
// the per-layer activation set that the forward fills and the backward reads.
import Foundation
import Tensor

/// An owned f32 buffer of fixed capacity.
final class FloatBuffer {
    let count: Int
    let p: UnsafeMutablePointer<Float>

    // Not inlined, so a FloatBuffer is never promoted to the caller's stack. Swift 6.3.1 -O
    // miscompiles a promoted one in lmHeadLoss: it drops the swift_initStackObject of `logits`
    // (only its fields are used, kept in registers) but still calls swift_deallocClassInstance
    // on that stack slot after the inlined deinit, which then reads whatever the slot holds as
    // the object's header and crashes (seen in the disassembly: the dealloc's slot, rbp-0x1b0,
    // is written nowhere in the function). Heap objects are never eliminated that way.
    @inline(never)
    init(_ count: Int, zeroed: Bool = false) {
        self.count = count
        let raw = Recycled.take(max(1, count) * 4)
        p = raw.bindMemory(to: Float.self, capacity: max(1, count))
        if zeroed { p.update(repeating: 0, count: count) }
    }

    func zero() { p.update(repeating: 0, count: count) }

    deinit { Recycled.give(UnsafeMutableRawPointer(p), max(1, count) * 4) }
}

/// Activations of one decoder layer for one sequence of T tokens (C = hidden_size,
/// Hq/Hkv = query/key-value heads, D = head_dim, I = intermediate_size).
final class LayerActivations {
    let T: Int
    let rstd1: FloatBuffer   // (T)            1/rms of the layer input
    let ln1: FloatBuffer     // (T, C)         input_layernorm output
    let q: FloatBuffer       // (T, Hq*D)      queries after RoPE
    let k: FloatBuffer       // (T, Hkv*D)     keys after RoPE
    let v: FloatBuffer       // (T, Hkv*D)     values
    let att: FloatBuffer     // (T, Hq*D)      attention output (heads concatenated)
    let lse: FloatBuffer     // (Hq, T)        attention row log-sum-exp
    let xMid: FloatBuffer    // (T, C)         residual after attention
    let rstd2: FloatBuffer   // (T)            1/rms of xMid
    let ln2: FloatBuffer     // (T, C)         post_attention_layernorm output
    let gate: FloatBuffer    // (T, I)         gate_proj output
    let up: FloatBuffer      // (T, I)         up_proj output
    let h: FloatBuffer       // (T, I)         silu(gate) * up

    /// The inputs of the projections (ln1, att, ln2, h) as their forward packed them for the
    /// backward's weight gradients (training with trainable dense weights and bf16 products).
    var packs: LayerPacks?

    init(config c: LlamaConfig, T: Int) {
        self.T = T
        let C = c.hiddenSize, qd = c.numAttentionHeads * c.headDim, kvd = c.numKeyValueHeads * c.headDim
        let I = c.intermediateSize
        rstd1 = FloatBuffer(T); ln1 = FloatBuffer(T * C)
        q = FloatBuffer(T * qd); k = FloatBuffer(T * kvd); v = FloatBuffer(T * kvd)
        att = FloatBuffer(T * qd); lse = FloatBuffer(c.numAttentionHeads * T)
        xMid = FloatBuffer(T * C); rstd2 = FloatBuffer(T); ln2 = FloatBuffer(T * C)
        gate = FloatBuffer(T * I); up = FloatBuffer(T * I); h = FloatBuffer(T * I)
    }
}

/// PackedOperands of one layer's projection inputs (memory taken only when a forward packs).
final class LayerPacks {
    let ln1: PackedOperand, att: PackedOperand, ln2: PackedOperand, h: PackedOperand

    init(config c: LlamaConfig, T: Int) {
        ln1 = PackedOperand(rows: T, cols: c.hiddenSize)
        att = PackedOperand(rows: T, cols: c.numAttentionHeads * c.headDim)
        ln2 = PackedOperand(rows: T, cols: c.hiddenSize)
        h = PackedOperand(rows: T, cols: c.intermediateSize)
    }

    func invalidate() { for p in [ln1, att, ln2, h] { p.invalidate() } }
}

/// Gradient scratch for one layer's backward, reused across layers.
final class LayerGradScratch {
    let dAtt: FloatBuffer    // (T, Hq*D)
    let dq: FloatBuffer      // (T, Hq*D)
    let dk: FloatBuffer      // (T, Hkv*D)
    let dv: FloatBuffer      // (T, Hkv*D)
    let dLn: FloatBuffer     // (T, C)   d(ln1) or d(ln2)
    let dh: FloatBuffer      // (T, I)
    let dGate: FloatBuffer   // (T, I)
    let dUp: FloatBuffer     // (T, I)

    init(config c: LlamaConfig, T: Int) {
        let C = c.hiddenSize, qd = c.numAttentionHeads * c.headDim, kvd = c.numKeyValueHeads * c.headDim
        let I = c.intermediateSize
        dAtt = FloatBuffer(T * qd); dq = FloatBuffer(T * qd); dk = FloatBuffer(T * kvd); dv = FloatBuffer(T * kvd)
        dLn = FloatBuffer(T * C)
        dh = FloatBuffer(T * I); dGate = FloatBuffer(T * I); dUp = FloatBuffer(T * I)
    }
}
