// StubModels: EvalModel stand-ins with known behaviour (always the needle, silence, reads the
// passkey, first/last topic, fixed log-probabilities, a letter preference) for evaluator tests.
import Eval
import Foundation
import Tokenizer
import NN

/// Answers every prompt with a fixed text; counts calls.
final class FixedAnswerModel: EvalModel {
    let tok: TextTokenizer
    let answer: String
    var calls = 0
    init(_ tok: TextTokenizer, answer: String) { self.tok = tok; self.answer = answer }
    func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>) throws -> [Int] {
        calls += 1
        return Array(tok.encode(answer, bos: false).prefix(maxTokens))
    }
    func logProbs(ids: [Int]) throws -> [Float] { Array(repeating: -1, count: max(0, ids.count - 1)) }
}

/// Answers with a function of the decoded prompt.
final class ReadingModel: EvalModel {
    let tok: TextTokenizer
    let reply: (String) -> String
    var prompts: [[Int]] = []
    init(_ tok: TextTokenizer, reply: @escaping (String) -> String) { self.tok = tok; self.reply = reply }
    func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>) throws -> [Int] {
        prompts.append(prompt)
        let ids = tok.encode(reply(tok.decode(prompt)), bos: false)
        return Array(ids.prefix(maxTokens)) + (stop.min().map { [$0] } ?? [])
    }
    func logProbs(ids: [Int]) throws -> [Float] { Array(repeating: -1, count: max(0, ids.count - 1)) }
}

/// log p of the token at window position i (1-based within the chunk it is given) = -i.
final class PositionalLogProbModel: EvalModel {
    var chunks: [[Int]] = []
    func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>) throws -> [Int] { [] }
    func logProbs(ids: [Int]) throws -> [Float] {
        chunks.append(ids)
        return (1..<max(1, ids.count)).map { -Float($0) }
    }
}

/// Every token has probability p.
final class ConstantLogProbModel: EvalModel {
    let lp: Float
    init(p: Double) { lp = Float(log(p)) }
    func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>) throws -> [Int] { [] }
    func logProbs(ids: [Int]) throws -> [Float] { Array(repeating: lp, count: max(0, ids.count - 1)) }
}

/// Scores the text after the last assistant header: the preferred letter gets log p -0.1 per
/// token, any other -5.
final class LetterModel: EvalModel {
    let tok: TextTokenizer
    let prefer: (String) -> String
    init(_ tok: TextTokenizer, prefer: @escaping (String) -> String) { self.tok = tok; self.prefer = prefer }
    func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>) throws -> [Int] { [] }
    func logProbs(ids: [Int]) throws -> [Float] {
        let text = tok.decode(ids)
        guard let r = text.range(of: "assistant<|end_header_id|>\n\n", options: .backwards) else {
            return Array(repeating: -5, count: ids.count - 1)
        }
        let letter = String(text[r.upperBound...])
        let want = prefer(String(text[..<r.lowerBound]))
        return Array(repeating: letter == want ? -0.1 : -5, count: ids.count - 1)
    }
}

/// Counts the calls that reach another model; `shift` moves every log-probability (another model
/// with the same answers: a resume must tell it apart).
final class CountingModel: EvalModel {
    let inner: EvalModel
    let shift: Float
    var generates = 0
    var logProbCalls = 0
    init(_ inner: EvalModel, shift: Float = 0) { self.inner = inner; self.shift = shift }
    func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>) throws -> [Int] {
        generates += 1
        return try inner.generate(prompt: prompt, maxTokens: maxTokens, stop: stop)
    }
    func logProbs(ids: [Int]) throws -> [Float] {
        logProbCalls += 1
        return try inner.logProbs(ids: ids).map { $0 + shift }
    }
}

/// The byte tokenizer with one more (unused) id: another tokenizer to a resume.
final class WiderVocab: TextTokenizer {
    let inner: TextTokenizer
    init(_ inner: TextTokenizer) { self.inner = inner }
    var vocabSize: Int { inner.vocabSize + 1 }
    var bosID: Int? { inner.bosID }
    var endTokenIDs: Set<Int> { inner.endTokenIDs }
    func encode(_ text: String, bos: Bool, allowSpecial: Bool) -> [Int] { inner.encode(text, bos: bos, allowSpecial: allowSpecial) }
    func decode(_ ids: [Int]) -> String { inner.decode(ids) }
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String { inner.decode(ids, skipSpecialTokens: skipSpecialTokens) }
    func chat(_ messages: [ChatMessage], generationPrompt: Bool) -> [Int] { inner.chat(messages, generationPrompt: generationPrompt) }
    func tokenID(_ special: String) -> Int? { inner.tokenID(special) }
}

/// Answers every prompt with a fixed text, as a model stopped by Ctrl-C while it answers: on
/// call `stopAt` it sets the token and returns the answer cut short (what `LlamaModel.generate`
/// returns once the token is set).
final class StoppedWhileAnsweringModel: EvalModel {
    let tok: TextTokenizer
    let answer: String
    let stopAt: Int
    var calls = 0
    init(_ tok: TextTokenizer, answer: String, stopAt: Int) { self.tok = tok; self.answer = answer; self.stopAt = stopAt }
    func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>) throws -> [Int] {
        try generate(prompt: prompt, maxTokens: maxTokens, stop: stop, cancel: nil)
    }
    func generate(prompt: [Int], maxTokens: Int, stop: Set<Int>, cancel: CancellationToken?) throws -> [Int] {
        calls += 1
        let ids = Array(tok.encode(answer, bos: false).prefix(maxTokens))
        if calls == stopAt { cancel?.cancel(); return Array(ids.prefix(2)) }
        return ids
    }
    func logProbs(ids: [Int]) throws -> [Float] { Array(repeating: -1, count: max(0, ids.count - 1)) }
}
