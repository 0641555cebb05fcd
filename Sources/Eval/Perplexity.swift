// Perplexity: sliding-window perplexity as in Hugging Face's "Perplexity of fixed-length
// models" guide. Windows of `window` tokens start every `stride` tokens; each window scores
// only the tokens that the previous window did not reach (trg_len = end - prev_end), with the
// rest of the window as context, so overlapping tokens are never scored twice. Every token
// after the first of a document is scored exactly once; PPL = exp(total NLL / scored tokens).
// (The guide's code weights each window's mean loss by its valid labels minus one, which
// undercounts later windows by one token; `ppl` sums token NLLs exactly, `guidePPL` reproduces
// the guide's weighting.)
import Foundation
import Tensor
import Tokenizer
import NN

public struct PerplexityResult: CodableEvalResult {
    public static let kind = "ppl"

    public init(window: Int, stride: Int, documentTokens: [Int], documentNLL: [Double], windowNLL: [Double], windowTokens: [Int] = []) {
        self.window = window
        self.stride = stride
        self.documentTokens = documentTokens
        self.documentNLL = documentNLL
        self.windowNLL = windowNLL
        self.windowTokens = windowTokens.count == windowNLL.count ? windowTokens : Array(repeating: 0, count: windowNLL.count)
    }

    public var window: Int
    public var stride: Int
    /// Scored tokens and the mean NLL (nats) per document.
    public var documentTokens: [Int]
    public var documentNLL: [Double]
    /// Mean NLL of every window in order (for curves) and the tokens it scored.
    public var windowNLL: [Double]
    public var windowTokens: [Int]

    public var tokens: Int { documentTokens.reduce(0, +) }
    /// Mean NLL per scored token over all documents.
    public var nll: Double {
        let t = tokens
        return t == 0 ? .nan : zip(documentTokens, documentNLL).map { Double($0) * $1 }.reduce(0, +) / Double(t)
    }
    public var ppl: Double { exp(nll) }
    /// Perplexity as the guide's code aggregates it: each window's mean loss weighted by
    /// (valid labels - 1), where a window's valid labels are its scored tokens, plus one for
    /// the first window of a document (whose first token has no prediction).
    public var guidePPL: Double {
        var sum = 0.0, n = 0
        for (k, (m, t)) in zip(windowNLL, windowTokens).enumerated() {
            let first = windowStarts.isEmpty ? k == 0 : windowStarts.contains(k)
            let w = first ? t : t - 1
            if m.isFinite && w > 0 { sum += m * Double(w); n += w }
        }
        return n == 0 ? .nan : exp(sum / Double(n))
    }
    /// Index of each document's first window.
    public var windowStarts: [Int] = []
    /// true when the run was stopped before every window was scored: the windows scored so far,
    /// and the documents they belong to (the last one over its scored windows only); `ppl` is
    /// over those tokens.
    public var interrupted: Bool? = nil
    public var headline: Double { ppl }

    public var table: String {
        var rows = [["all", "\(tokens)", TableText.num(nll, 4), TableText.num(ppl, 3)]]
        if documentTokens.count > 1 && documentTokens.count <= 20 {
            rows += documentTokens.indices.map { ["doc \($0)", "\(documentTokens[$0])", TableText.num(documentNLL[$0], 4), TableText.num(exp(documentNLL[$0]), 3)] }
        }
        let note = interrupted == true ? " (interrupted: \(windowNLL.count) windows of \(documentTokens.count) document\(documentTokens.count == 1 ? "" : "s") scored)" : ""
        return "Perplexity (window \(window), stride \(stride))\(note)\n" + TableText.render(["", "tokens", "nll", "ppl"], rows)
    }

    public func figure() -> Figure {
        Plot.line((0..<windowNLL.count).map { Double($0) }, windowNLL, label: "window NLL",
                  title: "Sliding-window NLL (ppl \(TableText.num(ppl, 3)))", xTitle: "Window", yTitle: "NLL (nats)")
    }

    public var tensors: [(String, Tensor)] {
        [("document_nll", vectorTensor(documentNLL)), ("document_tokens", intTensor(documentTokens)), ("window_nll", vectorTensor(windowNLL)), ("window_tokens", intTensor(windowTokens))]
    }

    public var extraAttributes: [(String, EvalAttribute)] {
        [("ppl", .double(ppl)), ("guide_ppl", .double(guidePPL)), ("nll", .double(nll)), ("window", .int(window)), ("stride", .int(stride))]
    }
}

public enum Perplexity {
    /// Perplexity of token-id documents.
    /// `resume`: a JSON file of partial results, written after every window and read at the
    /// start to skip the windows it holds (refused when it was made with another model,
    /// tokenizer, data, window or stride).
    public static func run(model: EvalModel, documents: [[Int]], window: Int, stride: Int,
                           hooks: EvalHooks = .none, resume: String? = nil, tokenizer: TextTokenizer? = nil) throws -> PerplexityResult {
        guard window >= 2 else { throw EvalError.argument("window", "must be >= 2, got \(window)") }
        guard stride >= 1 && stride <= window else { throw EvalError.argument("stride", "must be in 1...window (\(window)), got \(stride)") }
        guard !documents.isEmpty else { throw EvalError.argument("data", "no documents") }
        var partial = try PartialResults(path: resume, evaluator: "ppl") {
            var f = EvalFingerprint()
            try f.add(model: model, tokenizer: tokenizer, probeIDs: tokenizer == nil ? documents.first(where: { $0.count >= 2 }) : nil)
            f.add("data", hashOfIDs: documents); f.add("window", window); f.add("stride", stride)
            return f
        }
        var r = PerplexityResult(window: window, stride: stride, documentTokens: [], documentNLL: [], windowNLL: [], windowTokens: [])
        let total = documents.reduce(0) { $0 + max(1, ($1.count + stride - 1) / stride) }
        var done = 0
        var sum = 0.0, count = 0
        var started = false   // whether the document in hand has a scored window yet
        do {
            for (d, ids) in documents.enumerated() {
                sum = 0; count = 0; started = false
                var prevEnd = 0
                var begin = 0
                while begin < ids.count {
                    try hooks.checkCancelled()
                    let end = min(begin + window, ids.count)
                    let trgLen = end - prevEnd
                    let chunk = Array(ids[begin..<end])
                    let key = "\(d),\(begin)"
                    if chunk.count >= 2, let u = partial.unit(key), let wsum = exactDouble(u["sum"]), let n = u["tokens"] as? Int {
                        sum += wsum; count += n
                        if begin == 0 { r.windowStarts.append(r.windowNLL.count) }
                        r.windowNLL.append(n > 0 ? wsum / Double(n) : .nan)
                        r.windowTokens.append(n)
                        started = true
                    } else if chunk.count >= 2 {
                        let lp = try model.logProbs(ids: chunk)
                        guard lp.count == chunk.count - 1 else {
                            throw EvalError.model("logProbs returned \(lp.count) values for \(chunk.count) ids (want \(chunk.count - 1))")
                        }
                        // lp[k] scores chunk[k + 1]; score the last trgLen tokens (never chunk[0])
                        let first = max(1, chunk.count - trgLen)
                        var wsum = 0.0
                        for k in first..<chunk.count { wsum -= Double(lp[k - 1]) }
                        let n = chunk.count - first
                        sum += wsum; count += n
                        if begin == 0 { r.windowStarts.append(r.windowNLL.count) }
                        r.windowNLL.append(n > 0 ? wsum / Double(n) : .nan)
                        r.windowTokens.append(n)
                        started = true
                        try partial.record(key, ["sum": exact(wsum), "tokens": n])
                    }
                    prevEnd = end
                    done += 1
                    hooks.report("ppl", done, total, "document \(d) tokens \(begin)..<\(end)")
                    if end == ids.count { break }
                    begin += stride
                }
                r.documentTokens.append(count)
                r.documentNLL.append(count > 0 ? sum / Double(count) : .nan)
            }
        } catch EvalError.cancelled {
            // the windows scored so far; the document in hand over those of its windows
            r.interrupted = true
            if started {
                r.documentTokens.append(count)
                r.documentNLL.append(count > 0 ? sum / Double(count) : .nan)
            }
        }
        return r
    }

    /// Perplexity of texts, each encoded with BOS.
    public static func run(model: EvalModel, tokenizer: TextTokenizer, texts: [String], window: Int, stride: Int,
                           hooks: EvalHooks = .none, resume: String? = nil) throws -> PerplexityResult {
        try run(model: model, documents: texts.map { tokenizer.encode($0, bos: true) }, window: window, stride: stride,
                hooks: hooks, resume: resume, tokenizer: tokenizer)
    }
}
