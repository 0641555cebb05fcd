// Gradients: every backward rule of the tape in one place. `Op` names a recorded op with what its
// backward needs beyond its inputs and output; `Op.backward` maps the output gradient to one
// gradient per input (nil where the input needs none), each shaped like that input.
// Rules run under `Autograd.noGrad` (see Tensor.backward), so they record nothing.
import Foundation

public enum Op {
    case binary(BinaryOp)
    case unary(UnaryOp)
    case reshape(from: [Int])
    case permute([Int])
    case expand(from: [Int])
    case index([TensorIndex], from: [Int])
    case cat(axis: Int, sizes: [Int])
    case reduce(ReduceOp, axis: Int?, keepDim: Bool, shape: [Int], indices: [Int32])
    case matmul(Tensor, Tensor)
    case softmax(axis: Int)
    case logSoftmax(axis: Int)
    case crossEntropy(targets: [Int], reduction: Reduction, counted: Int, chunkRows: Int)
    case rmsNorm(rstd: [Float])
    case swiglu
    case rope(cos: [Float], sin: [Float])
    case embedding(ids: [Int])
    case attention(scale: Float, lse: Tensor)
    /// A user-defined op (Tensor.customOp): its own backward closure.
    case custom(name: String, backward: (Tensor) throws -> [Tensor?])

    public var name: String {
        switch self {
        case .binary(let o): return o.rawValue
        case .unary(let o): return o.rawValue
        case .reshape: return "reshape"
        case .permute: return "permute"
        case .expand: return "expand"
        case .index: return "index"
        case .cat: return "cat"
        case .reduce(let o, _, _, _, _): return o.rawValue
        case .matmul: return "matmul"
        case .softmax: return "softmax"
        case .logSoftmax: return "log_softmax"
        case .crossEntropy: return "cross_entropy"
        case .rmsNorm: return "rms_norm"
        case .swiglu: return "swiglu"
        case .rope: return "rope"
        case .embedding: return "embedding"
        case .attention: return "attention"
        case .custom(let n, _): return n
        }
    }

    func backward(_ g0: Tensor, _ inputs: [Tensor], output y: Tensor) throws -> [Tensor?] {
        let g = g0.toF32()
        let need = inputs.map { $0.requiresGrad }
        func m(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) throws -> Tensor { try Tensor.mapF32(a, b, "backward", f) }
        switch self {
        case .binary(let op):
            let a = inputs[0], b = inputs[1]
            var da: Tensor?, db: Tensor?
            switch op {
            case .add: da = g; db = g
            case .sub: da = g; db = need[1] ? try -g : nil
            case .mul: da = need[0] ? try g * b : nil; db = need[1] ? try g * a : nil
            case .div:
                da = need[0] ? try g / b : nil
                db = need[1] ? try m(try g * y, b) { -$0 / $1 } : nil
            case .pow:
                da = need[0] ? try g * (try m(a, b) { x, e in e == 0 ? 0 : e * Foundation.pow(x, e - 1) }) : nil
                db = need[1] ? try g * (try m(y, a) { out, x in x > 0 ? out * Foundation.log(x) : (x == 0 ? 0 : .nan) }) : nil
            case .maximum, .minimum:
                let isMax = op == .maximum
                let mask = try m(a, b) { x, z in x == z ? 0.5 : ((x > z) == isMax ? 1 : 0) }
                da = need[0] ? try g * mask : nil
                db = need[1] ? try g * (try m(mask, .scalar(1)) { mv, _ in 1 - mv }) : nil
            }
            return [try da?.sumTo(a.shape), try db?.sumTo(b.shape)]

        case .unary(let op):
            let x = inputs[0].toF32()
            switch op {
            case .neg: return [try -g]
            case .exp: return [try g * y]
            case .log: return [try g / x]
            case .sqrt: return [try m(g, y) { $0 * 0.5 / $1 }]
            case .rsqrt: return [try m(g, y) { $0 * -0.5 * $1 * $1 * $1 }]
            case .tanh: return [try m(g, y) { $0 * (1 - $1 * $1) }]
            case .sigmoid: return [try m(g, y) { $0 * $1 * (1 - $1) }]
            case .silu: return [try m(g, x) { gv, xv in let s = 1 / (1 + Foundation.exp(-xv)); return gv * s * (1 + xv * (1 - s)) }]
            case .relu: return [try m(g, x) { $1 > 0 ? $0 : 0 }]
            case .abs: return [try m(g, x) { $1 > 0 ? $0 : ($1 < 0 ? -$0 : 0) }]
            case .sin: return [try m(g, x) { $0 * Foundation.cos($1) }]
            case .cos: return [try m(g, x) { -$0 * Foundation.sin($1) }]
            case .square: return [try m(g, x) { 2 * $0 * $1 }]
            }

        case .reshape(let from): return [try g.reshape(from)]
        case .permute(let p): return [try g.permute(Tensor.inversePermutation(p))]
        case .expand(let from): return [try g.sumTo(from)]

        case .index(let items, let from):
            let z = try Tensor.zeros(from)
            let (s, st, off) = try z.indexGeometry(items)
            try z.view(shape: s, strides: st, offset: off).assign(from: g)
            return [z]

        case .cat(let axis, let sizes):
            var start = 0
            var out: [Tensor?] = []
            var items = [TensorIndex](repeating: .all, count: g.rank)
            for s in sizes {
                items[axis] = .slice(start, start + s, 1)
                out.append(try g.index(items)); start += s
            }
            return out

        case .reduce(let op, let axis, let keepDim, let shape, let indices):
            let x = inputs[0]
            var gk = g
            if !keepDim { gk = axis.map { a in (try? g.unsqueeze(a)) ?? g } ?? ((try? g.reshape([Int](repeating: 1, count: shape.count))) ?? g) }
            switch op {
            case .sum: return [try gk.expand(shape).toF32()]
            case .mean:
                let n = axis.map { shape[$0] } ?? Shape.count(shape)
                return [try (gk * (1 / Double(Swift.max(n, 1)))).expand(shape).toF32()]
            case .max, .min:
                let (outer, n, inner, _) = try x.reduceGeometry(axis)
                let z = try Tensor.zeros(shape)
                let pz = z.floatPointer, gc = gk.toF32(), pg = gc.floatPointer
                for o in 0..<(inner == 0 ? 0 : outer) { for i in 0..<inner { pz[(o * n + Int(indices[o * inner + i])) * inner + i] = pg[o * inner + i] } }
                return [z]
            }

        case .matmul(let a, let b):
            // a [..., m, k] @ b [..., k, n]: da = g b^T, db = a^T g (transposed views, no copies)
            let da = need[0] ? try Tensor.matmulCore(g, try b.transpose(-1, -2)).sumTo(a.shape) : nil
            let db = need[1] ? try Tensor.matmulCore(try a.transpose(-1, -2), g).sumTo(b.shape) : nil
            return [da, db]

        case .softmax(let axis):
            let gy = try g * y
            return [try y * (try g - (try gy.sum(axis: axis, keepDim: true)))]

        case .logSoftmax(let axis):
            return [try g - (try y.exp() * (try g.sum(axis: axis, keepDim: true)))]

        case .crossEntropy(let targets, let reduction, let counted, let chunkRows):
            let logits = inputs[0]
            let V = logits.shape.last ?? 1, rows = targets.count
            let z = logits.toF32()
            let d = Tensor.empty(logits.shape)
            var scratch = [Float](repeating: 0, count: chunkRows)
            let gv = g.floats()
            try targets.withUnsafeBufferPointer { tp in
                var r0 = 0
                while r0 < rows {
                    let nr = Swift.min(chunkRows, rows - r0)
                    let scale: Float = reduction == .none ? 1 : (reduction == .sum ? gv[0] : gv[0] / Float(Swift.max(counted, 1)))
                    try Kernels.crossEntropyRows(logits: z.floatPointer + r0 * V, targets: tp.baseAddress! + r0, losses: &scratch,
                                                 dlogits: d.floatPointer + r0 * V, dlogitsScale: scale, n: nr, vocab: V)
                    if reduction == .none { for r in 0..<nr { Vec.scale(d.floatPointer + (r0 + r) * V, gv[r0 + r], V) } }
                    r0 += nr
                }
            }
            return [d]

        case .rmsNorm(let rstd):
            let x = inputs[0].toF32(), w = inputs[1].toF32()
            let dim = w.count, rows = rstd.count
            let dx = Tensor.empty(x.shape), dw = try Tensor.zeros(w.shape)
            Kernels.rmsNormBackward(dout: g.floatPointer, x: x.floatPointer, weight: w.floatPointer, rstd: rstd,
                                    dx: dx.floatPointer, dweight: need[1] ? dw.floatPointer : nil, rows: rows, dim: dim)
            return [need[0] ? dx : nil, need[1] ? dw : nil]

        case .swiglu:
            let ga = inputs[0].toF32(), up = inputs[1].toF32()
            let dg = Tensor.empty(ga.shape), du = Tensor.empty(up.shape)
            Kernels.swigluBackward(dout: g.floatPointer, gate: ga.floatPointer, up: up.floatPointer,
                                   dgate: dg.floatPointer, dup: du.floatPointer, n: ga.count)
            return [dg, du]

        case .rope(let c, let s):
            let x = inputs[0]
            let r = x.rank, T = x.shape[r - 3], H = x.shape[r - 2], D = x.shape[r - 1]
            let dx = g.clone()
            let B = r == 4 ? x.shape[0] : 1
            c.withUnsafeBufferPointer { cp in s.withUnsafeBufferPointer { sp in
                for b in 0..<B {
                    Kernels.ropeApply(x: dx.floatPointer + b * T * H * D, cos: cp.baseAddress!, sin: sp.baseAddress!,
                                      T: T, heads: H, headDim: D, inverse: true)
                }
            } }
            return [dx]

        case .embedding(let ids):
            let table = inputs[0]
            let dt = try Tensor.zeros(table.shape)
            try ids.withUnsafeBufferPointer { ip in
                try Kernels.embeddingBackward(dout: g.floatPointer, ids: ip.baseAddress!, n: ids.count, dtable: dt.floatPointer,
                                              vocab: table.shape[0], dim: table.shape[1])
            }
            return [dt]

        case .attention(let scale, let lse):
            let q = inputs[0].toF32(), k = inputs[1].toF32(), v = inputs[2].toF32()
            let r = q.rank
            let B = r == 4 ? q.shape[0] : 1
            let Tq = q.shape[r - 3], Hq = q.shape[r - 2], D = q.shape[r - 1], Tk = k.shape[r - 3], Hkv = k.shape[r - 2]
            let dq = Tensor.empty(q.shape), dk = Tensor.empty(k.shape), dv = Tensor.empty(v.shape)
            let o = y.toF32()
            for b in 0..<B {
                let qo = b * Tq * Hq * D, ko = b * Tk * Hkv * D
                try Kernels.attentionBackward(dout: g.floatPointer + qo, q: q.floatPointer + qo, k: k.floatPointer + ko,
                                              v: v.floatPointer + ko, out: o.floatPointer + qo, lse: lse.floatPointer + b * Hq * Tq,
                                              dq: dq.floatPointer + qo, dk: dk.floatPointer + ko, dv: dv.floatPointer + ko,
                                              Tq: Tq, Tk: Tk, Hq: Hq, Hkv: Hkv, D: D, scale: scale)
            }
            return [dq, dk, dv]

        case .custom(_, let f):
            return try f(g)
        }
    }
}
