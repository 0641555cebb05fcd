// AdamW: torch.optim.AdamW (decoupled weight decay, bias-corrected moments, eps added after
// the square root of the corrected second moment) over named f32 tensors, with an optional
// transformers-style LR schedule (Schedule.swift) advanced after each step.
import Foundation
import Tensor

/// torch.optim.AdamW over named parameters. The parameters are updated in place.
/// Per step t (1-based), for each parameter p with gradient g, in f32 as torch's
/// single-tensor CPU path computes it:
///   p *= 1 - lr*wd;  m = lerp(m, g, 1-beta1);  v = v*beta2 + (1-beta2)*g*g
///   p += -(lr / (1-beta1^t)) * m / (sqrt(v) / sqrt(1-beta2^t) + eps)
/// where lr = baseLR * schedule.multiplier(t-1) (LambdaLR: the scheduler steps after the optimizer).
public final class AdamW {
    public struct State {
        /// First moment (exp_avg), same shape as the parameter.
        public let expAvg: Tensor
        /// Second moment (exp_avg_sq).
        public let expAvgSq: Tensor
        /// Steps this parameter took (torch's state['step']: a parameter skipped for lack of a
        /// gradient keeps its own, smaller count, which its bias corrections use).
        public var step: Int

        public init(expAvg: Tensor, expAvgSq: Tensor, step: Int) {
            self.expAvg = expAvg; self.expAvgSq = expAvgSq; self.step = step
        }
    }

    /// Parameter names in registration order, and the tensors they update.
    public let names: [String]
    public let params: [String: Tensor]
    public private(set) var state: [String: State] = [:]
    public var baseLR: Double
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var weightDecay: Double
    public var schedule: LRSchedule
    /// Optimizer steps taken so far (what the LR schedule counts).
    public private(set) var stepCount: Int = 0

    public init(params: [(name: String, tensor: Tensor)], lr: Double = 1e-3,
                betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                weightDecay: Double = 0, schedule: LRSchedule = LRSchedule(kind: .constant)) throws {
        guard lr >= 0, lr.isFinite else { throw NNError.argument("lr", "must be a finite number >= 0, got \(lr)") }
        guard (0..<1).contains(betas.0), (0..<1).contains(betas.1) else {
            throw NNError.argument("betas", "each beta must be in [0, 1), got [\(betas.0), \(betas.1)]")
        }
        guard eps >= 0 else { throw NNError.argument("eps", "must be >= 0, got \(eps)") }
        guard weightDecay >= 0 else { throw NNError.argument("weight_decay", "must be >= 0, got \(weightDecay)") }
        var map: [String: Tensor] = [:]
        var order: [String] = []
        for (name, t) in params {
            guard map[name] == nil else { throw NNError.argument("params", "parameter '\(name)' appears twice") }
            guard t.dtype == .f32, t.isContiguous else {
                throw NNError.argument("params", "parameter '\(name)' must be a contiguous f32 tensor (is \(t.dtype.rawValue))")
            }
            map[name] = t
            order.append(name)
        }
        self.names = order
        self.params = map
        self.baseLR = lr
        self.beta1 = betas.0
        self.beta2 = betas.1
        self.eps = eps
        self.weightDecay = weightDecay
        self.schedule = schedule
    }

    /// The lr the next step will use (scheduler.get_last_lr()).
    public var lr: Double { baseLR * schedule.multiplier(stepCount) }

    /// Applies one AdamW step with `grads` by parameter name, then advances the schedule.
    /// A parameter without a gradient is skipped (as torch skips `p.grad is None`), but
    /// a gradient for an unknown name or of the wrong size is an error, checked before
    /// anything changes.
    public func step(_ grads: [String: Tensor]) throws {
        for (name, g) in grads {
            guard let p = params[name] else {
                throw NNError.argument("grads", "no parameter named '\(name)' (known: \(names.prefix(8).joined(separator: ", "))\(names.count > 8 ? ", ..." : ""))")
            }
            guard g.shape == p.shape || g.count == p.count else {
                throw NNError.argument("grads", "gradient '\(name)' has shape \(g.shape), parameter is \(p.shape)")
            }
        }
        let lr = self.lr
        stepCount += 1
        let decay = Float(1 - lr * weightDecay)
        let w1 = Float(1 - beta1)
        let b2 = Float(beta2), w2 = Float(1 - beta2)
        let e = Float(eps)
        let doDecay = weightDecay != 0
        // every parameter's update in one parallel loop over 16K-element pieces (one loop per
        // parameter would wait for the threads once per tensor, and small ones run alone)
        var jobs: [Job] = [], keep: [Tensor] = []
        for name in names {
            guard let gt = grads[name], let p = params[name] else { continue }
            var st = state[name] ?? State(expAvg: Tensor(zeros: p.shape), expAvgSq: Tensor(zeros: p.shape), step: 0)
            st.step += 1
            state[name] = st
            let t = Double(st.step)
            let bc1 = 1 - pow(beta1, t)
            let gc = gt.dtype == .f32 && gt.isContiguous ? gt : gt.contiguous().to(.f32)
            keep.append(gc)
            jobs.append(Job(p: p.floatPointer, g: gc.floatPointer, m: st.expAvg.floatPointer, v: st.expAvgSq.floatPointer,
                            count: p.count, stepSize: Float(-(lr / bc1)), bcs: Float((1 - pow(beta2, t)).squareRoot())))
        }
        let piece = 1 << 14
        var pieces: [(job: Int, range: Range<Int>)] = []
        for (j, job) in jobs.enumerated() {
            for lo in stride(from: 0, to: job.count, by: piece) { pieces.append((j, lo..<min(job.count, lo + piece))) }
        }
        let k = Constants(decay: decay, w1: w1, b2: b2, w2: w2, e: e, doDecay: doDecay)
        jobs.withUnsafeBufferPointer { jb in
            pieces.withUnsafeBufferPointer { pb in
                // (at least two pieces a thread, as forRanges' grain of 16K elements was)
                Parallel.forRanges(pb.count, grain: 2) { r in
                    for i in r { AdamW.update(jb[pb[i].job], pb[i].range, k) }
                }
            }
        }
        withExtendedLifetime(keep) {}
    }

    /// One parameter's pointers and its step's bias corrections.
    struct Job {
        let p, g, m, v: UnsafeMutablePointer<Float>
        let count: Int
        let stepSize: Float, bcs: Float
    }

    struct Constants { let decay, w1, b2, w2, e: Float; let doDecay: Bool }

    /// AdamW on elements r of one parameter: 16 lanes at a time, the same operations in the same
    /// order as the scalar tail (no fused multiply-adds), so every element gets the scalar loop's value.
    static func update(_ job: Job, _ r: Range<Int>, _ k: Constants) {
        typealias F = SIMD16<Float>
        let pp = job.p, gp = job.g, mp = job.m, vp = job.v
        let decay = k.decay, w1 = k.w1, b2 = k.b2, w2 = k.w2, e = k.e, doDecay = k.doDecay
        let bcs = job.bcs, stepSize = job.stepSize
        @inline(__always) func ld(_ q: UnsafeMutablePointer<Float>, _ i: Int) -> F {
            UnsafeRawPointer(q + i).loadUnaligned(as: F.self)
        }
        @inline(__always) func st(_ x: F, _ q: UnsafeMutablePointer<Float>, _ i: Int) {
            UnsafeMutableRawPointer(q + i).storeBytes(of: x, as: F.self)
        }
        let vdecay = F(repeating: decay), vw1 = F(repeating: w1), vb2 = F(repeating: b2), vw2 = F(repeating: w2)
        let vbcs = F(repeating: bcs), ve = F(repeating: e), vstep = F(repeating: stepSize)
        var i0 = r.lowerBound
        while i0 + 16 <= r.upperBound {
            var x = ld(pp, i0)
            if doDecay { x = x * vdecay }
            let g = ld(gp, i0), m0 = ld(mp, i0)
            let m = m0 + vw1 * (g - m0)
            let v = ld(vp, i0) * vb2 + vw2 * g * g
            st(m, mp, i0); st(v, vp, i0)
            let denom = v.squareRoot() / vbcs + ve
            x = x + vstep * (m / denom)
            st(x, pp, i0)
            i0 += 16
        }
        for i in i0..<r.upperBound {
            var x = pp[i]
            if doDecay { x = x * decay }
            let g = gp[i]
            // torch lerp with weight < 0.5: self + weight * (end - self)
            let m = mp[i] + w1 * (g - mp[i])
            let v = vp[i] * b2 + w2 * g * g
            mp[i] = m; vp[i] = v
            let denom = v.squareRoot() / bcs + e
            x = x + stepSize * (m / denom)
            pp[i] = x
        }
    }

    /// Restores the optimizer's moments and step count (from a training-state checkpoint).
    public func restore(stepCount: Int, state: [String: State]) throws {
        for (name, st) in state {
            guard let p = params[name] else { throw NNError.state("optimizer state for unknown parameter '\(name)'") }
            guard st.expAvg.count == p.count, st.expAvgSq.count == p.count else {
                throw NNError.state("optimizer state for '\(name)' has \(st.expAvg.count) values, parameter has \(p.count)")
            }
        }
        self.stepCount = stepCount
        var copy: [String: State] = [:]
        for (name, st) in state {
            let p = params[name]!.shape
            copy[name] = State(expAvg: Tensor(shape: p, floats: st.expAvg.floats()),
                               expAvgSq: Tensor(shape: p, floats: st.expAvgSq.floats()), step: st.step)
        }
        self.state = copy
    }
}
