// Linear: y[T, out] = x[T, in] · Wᵀ (bias-free, as in Llama), with a dense f32 base weight.
// Forward and backward are paired functions over raw row-major pointers; the matrix work is
// BLAS sgemm with the weight read transposed in place.
//
// Parameter names: the dense weight is reported as "<name>.weight" (the Hugging Face key,
// e.g. "model.layers.0.self_attn.q_proj.weight").
import Tensor

public final class Linear {
    /// Module path, e.g. "model.layers.0.self_attn.q_proj".
    public let name: String
    public let inFeatures: Int
    public let outFeatures: Int
    /// The dense base weight [out, in] (frozen unless `weight.trainable` is set).
    public private(set) var weight: Param

    /// A linear layer over a dense weight [outFeatures, inFeatures] (any float dtype; kept as f32).
    public init(name: String, inFeatures: Int, outFeatures: Int, weight: Tensor, trainable: Bool = false) throws {
        guard inFeatures > 0, outFeatures > 0 else {
            throw QuantError.shape("Linear \(name): inFeatures \(inFeatures) and outFeatures \(outFeatures) must be positive")
        }
        guard weight.shape == [outFeatures, inFeatures] else {
            throw QuantError.shape("Linear \(name): weight shape \(weight.shape), expected [\(outFeatures), \(inFeatures)]")
        }
        guard weight.dtype.isFloatingPoint else {
            throw QuantError.shape("Linear \(name): weight dtype \(weight.dtype.rawValue) is not a float type")
        }
        self.name = name
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.weight = Param(name: name + ".weight", value: weight, trainable: trainable)
    }

    /// All parameters (base weight first).
    public var params: [Param] { [weight] }

    /// out[rows, outFeatures] = x[rows, inFeatures] · Wᵀ (out is overwritten).
    public func forward(_ x: UnsafePointer<Float>, rows: Int, out: UnsafeMutablePointer<Float>) {
        if rows <= 0 { return }
        BLAS.sgemm(transB: true, m: rows, n: outFeatures, k: inFeatures,
                   a: x, lda: inFeatures, b: weight.value.floatPointer, ldb: inFeatures,
                   beta: 0, c: out, ldc: outFeatures)
    }

    /// Backward of `forward` for the same x. dy is [rows, outFeatures].
    /// - dx: when given, receives dL/dx [rows, inFeatures]; it is OVERWRITTEN unless
    ///   `accumulate` is true, in which case the gradient is added to what dx holds.
    /// - Gradients of trainable parameters are ACCUMULATED into `Param.grad`.
    public func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
                         dx: UnsafeMutablePointer<Float>?, accumulate: Bool = false) {
        if rows <= 0 { return }
        if weight.trainable {
            let g = weight.ensureGrad()
            // dW[out, in] += dyᵀ[out, rows] · x[rows, in]
            BLAS.sgemm(transA: true, m: outFeatures, n: inFeatures, k: rows,
                       a: dy, lda: outFeatures, b: x, ldb: inFeatures,
                       beta: 1, c: g.floatPointer, ldc: inFeatures)
        }
        if let dx = dx {
            // dx[rows, in] (+)= dy[rows, out] · W[out, in]
            BLAS.sgemm(m: rows, n: inFeatures, k: outFeatures,
                       a: dy, lda: outFeatures, b: weight.value.floatPointer, ldb: inFeatures,
                       beta: accumulate ? 1 : 0, c: dx, ldc: inFeatures)
        }
    }
}
