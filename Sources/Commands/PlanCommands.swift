// PlanCommands: `plan(m, tokens: ...)` (the planner's record), and the check the long-running
// commands (eval.ppl, eval.niah, eval.passkey, generate, train) make before they start: a run
// that would not fit in memory is refused with the plan's parts in the message; a long one
// (LLX_PLAN_TOKENS tokens or more, default 8192) states its plan on stderr first.
import Foundation
import Lang
import Tensor
import Llama

enum PlanCommands {
    /// Runs of at least this many tokens state their plan (memory and time) before starting.
    static var announceTokens: Int {
        if let s = ProcessInfo.processInfo.environment["LLX_PLAN_TOKENS"], let n = Int(s) { return n }
        return 8192
    }

    /// Refuses `request` on `m` when it does not fit; states the plan when the run is long.
    static func check(_ m: LlamaModel, _ request: PlanRequest, _ what: String) throws {
        try Planner.require(Planner.plan(model: m, request: request), what)
        guard request.tokens >= announceTokens else { return }
        let rates = try? Planner.rates(for: m, measure: true)
        FileHandle.standardError.write(Data("[\(what)] \(Planner.plan(model: m, request: request, rates: rates))\n".utf8))
    }

    /// The record `plan` returns.
    static func record(_ p: Plan) -> Value {
        var r = Record()
        r["kind"] = .string(p.request.kind.rawValue)
        r["tokens"] = .int(p.request.tokens)
        r["generate"] = .int(p.request.generate)
        r["weights_bytes"] = .int(p.weightBytes)
        r["kv_cache_bytes"] = .int(p.kvCacheBytes)
        r["kv_dtype"] = .string(p.kvDType.rawValue)
        r["activation_bytes"] = .int(p.activationBytes)
        r["runtime_bytes"] = .int(p.runtimeBytes)
        r["total_bytes"] = .int(p.totalBytes)
        r["total_gb"] = .double((Double(p.totalBytes) / 1e7).rounded() / 100)
        r["additional_bytes"] = .int(p.additionalBytes)
        r["available_bytes"] = p.availableBytes.map { Value.int($0) } ?? Value.null
        r["fits"] = .bool(p.fits)
        r["prefill_s"] = p.prefillSeconds.map { Value.double($0) } ?? Value.null
        r["decode_s"] = p.decodeSeconds.map { Value.double($0) } ?? Value.null
        r["train_s"] = p.trainSeconds.map { Value.double($0) } ?? Value.null
        r["seconds"] = p.seconds.map { Value.double($0) } ?? Value.null
        r["rates"] = .string(p.rateSource ?? "none")
        r["summary"] = .string(p.description)
        return .record(r)
    }

    static func register(into r: Registry) {
        r.register("plan", [Param("m", ModelCommands.modelType), .named("tokens", .int),
                            .named("generate", .int, default: .int(0)), .named("kind", .string, default: .string("eval")),
                            .named("checkpointing", .bool, default: .bool(true)), .named("micro_batch", .int, default: .int(1)),
                            .named("sequences", .int, default: .int(1)), .named("time", .bool, default: .bool(true))],
                   help: "The memory and time a run would take on this model before running it: kind \"eval\" (a prefill of `tokens` with every position's log-probabilities, as eval.ppl), \"generate\" (a prompt of `tokens` and `generate` new tokens) or \"train\" (sequences of `tokens`, `sequences` of them). A record: weights_bytes, kv_cache_bytes, activation_bytes, runtime_bytes, total_bytes (the predicted peak RSS), additional_bytes (beyond what is held now), available_bytes, fits, prefill_s / decode_s / train_s, seconds, summary. Times come from rates measured once per model shape on this machine (one layer, a few seconds; cached in ~/.cache/llx/calibration.json); time: false skips them.") { a, _ in
            let m = try ModelCommands.model(a)
            let tokens = try a.int("tokens")
            guard tokens >= 1 else { throw a.error("tokens", "must be >= 1, got \(tokens)") }
            let gen = try a.int("generate")
            guard gen >= 0 else { throw a.error("generate", "must be >= 0, got \(gen)") }
            let kindName = try a.string("kind")
            guard let kind = PlanRequest.Kind(rawValue: kindName) else {
                throw a.error("kind", "must be \"eval\", \"generate\" or \"train\", got \"\(kindName)\"")
            }
            var q = PlanRequest(kind: kind, tokens: tokens, generate: gen)
            q.checkpointing = try a.bool("checkpointing")
            q.microBatch = try a.int("micro_batch")
            guard q.microBatch >= 1 else { throw a.error("micro_batch", "must be >= 1, got \(q.microBatch)") }
            q.sequences = try a.int("sequences")
            let rates = try a.bool("time") ? try Planner.rates(for: m, measure: true) : nil
            return record(Planner.plan(model: m, request: q, rates: rates))
        }
    }
}
