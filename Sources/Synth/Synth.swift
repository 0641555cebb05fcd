// Synth: synthetic long-context data, the template analogues of the paper's three training
// tasks, each a conversation [user: long context + question, assistant: answer] whose chat
// rendering is close to (never over) a target length in tokens:
//   needleQA    one fact planted in filler; the question asks for it (single-detail QA);
//   multiDetail several facts planted apart; the question needs several of them;
//   summary     biography paragraphs scattered through filler; the answer summarizes them all.
// Plus `filler`, the prose used as haystack. Everything is seeded.
import Tokenizer

public enum SynthError: Error, CustomStringConvertible, Equatable {
    case argument(String, String)
    public var description: String {
        switch self { case .argument(let name, let why): return "argument '\(name)': \(why)" }
    }
}

public enum Synth {
    /// Filler prose of at most `tokens` tokens (and within a sentence of it).
    public static func filler(tokenizer: TextTokenizer, tokens: Int, seed: UInt64 = 0) -> String {
        var rng = SynthRNG(seed: seed)
        return join(fillerUnits(tokenizer: tokenizer, tokens: max(tokens, 0), rng: &rng))
    }

    /// Single-detail QA conversations.
    public static func needleQA(tokenizer: TextTokenizer, count: Int, length: Int, seed: UInt64 = 0) throws -> [[ChatMessage]] {
        try make(tokenizer, count, length, seed) { rng in
            let f = Facts.random(&rng)
            return Task(facts: [f], question: "Answer the question based on the text above.\nQuestion: \(f.question)", answer: f.answer)
        }
    }

    /// Multi-detail QA conversations: `details` facts (at least 2) planted apart; the question
    /// asks for all of them, or compares two of them.
    public static func multiDetail(tokenizer: TextTokenizer, count: Int, length: Int, details: Int = 4, seed: UInt64 = 0) throws -> [[ChatMessage]] {
        guard details >= 2 else { throw SynthError.argument("details", "needs at least 2 facts, got \(details)") }
        return try make(tokenizer, count, length, seed) { rng in
            if rng.chance(0.3) {
                let (a, b, fa, fb) = Facts.birthPair(&rng)
                var facts = [fa, fb]
                for _ in 0..<(details - 2) { facts.append(Facts.random(&rng)) }
                let earlier = a.year <= b.year ? a.name : b.name
                let answer = "\(a.name) was born in \(a.year) and \(b.name) in \(b.year), so \(earlier) was born earlier."
                return Task(facts: facts, question: "Answer the question based on the text above.\nQuestion: Who was born earlier, \(a.name) or \(b.name)?", answer: answer)
            }
            var facts: [Fact] = []
            var used = Set<String>()
            while facts.count < details {
                let f = Facts.random(&rng)
                if used.insert(f.question).inserted { facts.append(f) }
            }
            let qs = facts.enumerated().map { "\($0.offset + 1). \($0.element.question)" }.joined(separator: "\n")
            let ans = facts.enumerated().map { "\($0.offset + 1). \($0.element.answer)" }.joined(separator: "\n")
            return Task(facts: facts, question: "Answer every question below based on the text above.\n\(qs)", answer: ans)
        }
    }

    /// Biography-summary conversations: `people` short biographies scattered through the
    /// filler; the answer summarizes each, in order of appearance.
    public static func summary(tokenizer: TextTokenizer, count: Int, length: Int, people: Int = 4, seed: UInt64 = 0) throws -> [[ChatMessage]] {
        guard people >= 1 else { throw SynthError.argument("people", "needs at least 1 person, got \(people)") }
        return try make(tokenizer, count, length, seed, ordered: true) { rng in
            var bios: [Biography] = []
            var names = Set<String>()
            while bios.count < people {
                let b = Biography.random(&rng)
                if names.insert(b.name).inserted { bios.append(b) }
            }
            let facts = bios.map { Fact(statement: $0.paragraph, question: "", answer: $0.summary) }
            let answer = bios.map { $0.summary }.joined(separator: "\n")
            let q = "The text above contains short biographies of \(people) \(people == 1 ? "person" : "people"). Summarize the life of each of them in one sentence, in the order they appear."
            return Task(facts: facts, question: q, answer: answer)
        }
    }

    // MARK: assembly

    struct Task {
        var facts: [Fact]
        var question: String
        var answer: String
    }

    /// Builds `count` conversations: filler cut so that the chat rendering of the whole
    /// conversation stays within `length` tokens, facts inserted at random sentence boundaries
    /// (in their given order when `ordered`).
    static func make(_ tok: TextTokenizer, _ count: Int, _ length: Int, _ seed: UInt64, ordered: Bool = false,
                     _ task: (inout SynthRNG) -> Task) throws -> [[ChatMessage]] {
        guard count >= 0 else { throw SynthError.argument("count", "must be >= 0, got \(count)") }
        var rng = SynthRNG(seed: seed)
        var out: [[ChatMessage]] = []
        for _ in 0..<count {
            let t = task(&rng)
            let factText = t.facts.map { $0.statement }.joined(separator: " ")
            let bare = [ChatMessage(role: "user", content: factText + "\n\n" + t.question),
                        ChatMessage(role: "assistant", content: t.answer)]
            let overhead = tok.chat(bare, generationPrompt: false).count + 2 * t.facts.count + 2
            guard overhead < length else {
                throw SynthError.argument("length", "\(length) tokens cannot hold the question, answer and facts (\(overhead) tokens)")
            }
            var units = fillerUnits(tokenizer: tok, tokens: length - overhead, rng: &rng)
            var slots = (0..<t.facts.count).map { _ in rng.int(0...units.count) }
            if ordered { slots.sort() }
            // insert from the back so earlier slots keep their meaning
            for (k, f) in t.facts.enumerated().sorted(by: { slots[$0.offset] > slots[$1.offset] || (slots[$0.offset] == slots[$1.offset] && $0.offset > $1.offset) }) {
                let pos = slots[k]
                units.insert(FillerUnit(text: f.statement, paragraphStart: true, tokens: -1), at: pos)
                if pos + 1 < units.count { units[pos + 1].paragraphStart = true }
            }
            var conversation = render(units, t)
            // the budget is an estimate: drop filler from the end until the whole chat fits
            while tok.chat(conversation, generationPrompt: false).count > length,
                  let last = units.lastIndex(where: { $0.tokens >= 0 }) {
                units.remove(at: last)
                conversation = render(units, t)
            }
            out.append(conversation)
        }
        return out
    }

    static func render(_ units: [FillerUnit], _ t: Task) -> [ChatMessage] {
        [ChatMessage(role: "user", content: join(units) + "\n\n" + t.question),
         ChatMessage(role: "assistant", content: t.answer)]
    }
}
