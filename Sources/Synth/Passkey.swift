// Passkey: the passkey-retrieval prompt (Mohtashami and Jaggi's filler, as the paper's
// evaluation writes it) and training conversations in the same format, so a small model of
// our own can learn the task inside its window before its window is extended.
import Tokenizer
import NN

public enum PasskeyText {
    public static let taskDescription = "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. I will quiz you about the important information there."
    public static let garbage = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
    public static let finalQuestion = "What is the pass key? The pass key is"

    public static func informationLine(_ key: Int) -> String { "The pass key is \(key). Remember it. \(key) is the pass key." }

    /// Characters of filler per token for this tokenizer, measured on a long stretch of it
    /// (how many filler characters fill a budget of tokens).
    public static func charsPerToken(_ tok: TextTokenizer) -> Double {
        let sample = String(repeating: garbage + " ", count: 40)
        return Double(sample.count) / Double(max(1, tok.encode(sample, bos: false).count))
    }

    /// The prompt text with `nGarbage` filler characters, `prefix` of them before the key.
    public static func prompt(key: Int, nGarbage: Int, prefix: Int) -> String {
        let unit = garbage + " "
        func filler(_ n: Int) -> String {
            if n <= 0 { return "" }
            let reps = n / unit.count + 1
            return String(String(repeating: unit, count: reps).prefix(n))
        }
        let p = min(max(prefix, 0), nGarbage)
        return [taskDescription, filler(p), informationLine(key), filler(nGarbage - p), finalQuestion].joined(separator: "\n")
    }
}

extension Synth {
    /// Passkey conversations of at most `length` tokens: the evaluation's prompt with a random
    /// key (1...50000) at a random depth; the answer is "The pass key is K."
    public static func passkey(tokenizer tok: TextTokenizer, count: Int, length: Int, seed: UInt64 = 0) throws -> [[ChatMessage]] {
        guard count >= 0 else { throw SynthError.argument("count", "must be >= 0, got \(count)") }
        var rng = SplitMix64(synthSeed: seed)
        let charsPerToken = PasskeyText.charsPerToken(tok)
        return try (0..<count).map { _ in
            let key = rng.int(1...50000)
            func conversation(_ n: Int, _ prefix: Int) -> [ChatMessage] {
                [ChatMessage(role: "user", content: PasskeyText.prompt(key: key, nGarbage: n, prefix: prefix)),
                 ChatMessage(role: "assistant", content: "The pass key is \(key).")]
            }
            let fixed = tok.chat(conversation(0, 0), generationPrompt: false).count
            guard fixed < length else {
                throw SynthError.argument("length", "\(length) tokens cannot hold the passkey prompt (\(fixed) tokens)")
            }
            var n = Int(Double(length - fixed) * charsPerToken)
            let depth = Double(rng.int(0...1000)) / 1000
            while true {
                let c = conversation(n, Int(Double(n) * depth))
                let over = tok.chat(c, generationPrompt: false).count - length
                if over <= 0 || n == 0 { return c }
                n = max(0, n - Int((Double(over) * charsPerToken).rounded(.up)))
            }
        }
    }
}
