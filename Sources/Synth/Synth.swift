// Synth: synthetic long-context data like the paper's, over the entities of a World
// (World.swift). Every context is many small documents about many people in the same
// templates, so only the right name answers a question (distractors by construction):
//   needleQA    single-detail QA: each turn asks for one fact of the context;
//   multiDetail multi-detail QA: one question needs 2-4 facts from different places;
//   summary     biography summary: everything about one person, scattered through the context;
//   retrieval   the needle test's own format: instruction, documents, a secret code at a depth
//               (plus distractor codes of other people), the question for it;
//   shortText / shortInstructions  the short mix (plain text with loss on every token; short QA).
// Conversations hold one or more user/assistant turns; the first user turn carries the context.
// Lengths are in tokens of the caller's tokenizer (the chat rendering never exceeds `length`).
// Every answer is a sentence of the context or the statements of facts in it. Seeded.
import Tokenizer
import NN

public enum SynthError: Error, CustomStringConvertible, Equatable {
    case argument(String, String)
    public var description: String {
        switch self { case .argument(let name, let why): return "argument '\(name)': \(why)" }
    }
}

/// One retrieval test case: the user message (instruction, context with the needle at its
/// depth, question), the full answer sentence and the value it must contain.
public struct NeedleCase: Sendable {
    public var prompt: String
    public var answer: String
    public var value: String
    public var needle: String
    public var distractors: [String]
}

public enum Synth {
    /// Filler prose of at most `tokens` tokens (and within a sentence of it).
    public static func filler(tokenizer: TextTokenizer, tokens: Int, seed: UInt64 = 0) -> String {
        var rng = SplitMix64(synthSeed: seed)
        return join(fillerUnits(tokenizer: tokenizer, tokens: max(tokens, 0), rng: &rng))
    }

    /// Single-detail QA: `turns` questions over one context, each asking for one fact stated
    /// in it (answer: that fact's sentence).
    public static func needleQA(tokenizer: TextTokenizer, count: Int, length: Int, turns: Int = 1, seed: UInt64 = 0) throws -> [[ChatMessage]] {
        guard turns >= 1 else { throw SynthError.argument("turns", "needs at least 1 turn, got \(turns)") }
        return try conversations(tokenizer, count, length, seed) { sentences, rng in
            let asked = pickFacts(sentences, turns, &rng)
            return asked.map { (World.question($0.person, $0.attribute), World.statement($0.person, $0.attribute)) }
        }
    }

    /// Multi-detail QA: one question asking for `details` (2...6) facts, about different people,
    /// that stand apart in the context; `turns` such questions over one context.
    public static func multiDetail(tokenizer: TextTokenizer, count: Int, length: Int, details: Int = 3, turns: Int = 1, seed: UInt64 = 0) throws -> [[ChatMessage]] {
        guard (2...6).contains(details) else { throw SynthError.argument("details", "needs 2...6 facts, got \(details)") }
        guard turns >= 1 else { throw SynthError.argument("turns", "needs at least 1 turn, got \(turns)") }
        return try conversations(tokenizer, count, length, seed) { sentences, rng in
            (0..<turns).map { _ in
                let facts = pickFacts(sentences, details, &rng, distinctPeople: true)
                return (facts.map { World.question($0.person, $0.attribute) }.joined(separator: " "),
                        facts.map { World.statement($0.person, $0.attribute) }.joined(separator: " "))
            }
        }
    }

    /// Biography summaries: all facts of `people` persons, each fact a sentence of its own at a
    /// random place of the context; the answer states them person by person in attribute order.
    public static func summary(tokenizer: TextTokenizer, count: Int, length: Int, people: Int = 1, seed: UInt64 = 0) throws -> [[ChatMessage]] {
        guard (1...4).contains(people) else { throw SynthError.argument("people", "needs 1...4 people, got \(people)") }
        guard count >= 0 else { throw SynthError.argument("count", "must be >= 0, got \(count)") }
        var rng = SplitMix64(synthSeed: seed)
        return try (0..<count).map { _ in
            let world = World(rng: &rng)
            let targets = Array(world.people.prefix(people))
            let facts = targets.flatMap { p in World.attributes.indices.map { World.statement(p, $0) } }
            let who = targets.map(\.name)
            let q = who.count == 1 ? "Tell me everything the text says about \(who[0])."
                : "Tell me everything the text says about \(who.dropLast().joined(separator: ", ")) and \(who[who.count - 1])."
            let answer = targets.map(World.biography).joined(separator: " ")
            return try fit(tokenizer, length, others: Array(world.people.dropFirst(people)), inserts: facts, rng: &rng) { context in
                [ChatMessage(role: "user", content: context + "\n\n" + q), ChatMessage(role: "assistant", content: answer)]
            }
        }
    }

    /// The retrieval test's format as training conversations: instruction, documents about
    /// other people, the secret code of one person at a random depth, `distractors` secret codes
    /// of other people elsewhere, and the question; the answer is the code's sentence.
    /// `depth` (fractions of the context, drawn uniformly per record) places the needle as the
    /// evaluation does; nil: a random slot between the documents.
    public static func retrieval(tokenizer: TextTokenizer, count: Int, length: Int, distractors: ClosedRange<Int> = 0...0,
                                 depth: ClosedRange<Double>? = nil, seed: UInt64 = 0) throws -> [[ChatMessage]] {
        guard count >= 0 else { throw SynthError.argument("count", "must be >= 0, got \(count)") }
        guard distractors.lowerBound >= 0, distractors.upperBound <= 8 else {
            throw SynthError.argument("distractors", "must be within 0...8, got \(distractors.lowerBound == distractors.upperBound ? "\(distractors.lowerBound)" : "\(distractors)")")
        }
        if let d = depth, d.lowerBound < 0 || d.upperBound > 1 {
            throw SynthError.argument("depth", "must be within 0...1 (a fraction of the context), got \(d.lowerBound == d.upperBound ? "\(d.lowerBound)" : "\(d)")")
        }
        var rng = SplitMix64(synthSeed: seed)
        // room for the answer: the longest name's code sentence and the end of the turn
        let longest = World.names.max { $0.count < $1.count } ?? "Nikolai"
        let reply = tokenizer.encode(World.codeStatement.replacingOccurrences(of: "{n}", with: longest).replacingOccurrences(of: "{v}", with: "0000"), bos: false).count + 1
        return try (0..<count).map { _ in
            let c: NeedleCase
            do {
                let at = depth.map { $0.lowerBound + ($0.upperBound - $0.lowerBound) * Double(rng.next() >> 11) / Double(1 << 53) }
                c = try needleCase(tokenizer: tokenizer, length: length - reply, depth: at, distractors: rng.int(distractors), rng: &rng)
            } catch SynthError.argument("length", _) {
                throw SynthError.argument("length", "\(length) tokens cannot hold the instruction, needle, distractors, question and answer")
            }
            return [ChatMessage(role: "user", content: c.prompt), ChatMessage(role: "assistant", content: c.answer)]
        }
    }

    /// One retrieval case whose chat prompt (with the generation header) is at most `length`
    /// tokens: the needle at `depth` (0...1 of the context, moved back to a sentence start; nil:
    /// a random sentence boundary), distractor codes at random boundaries.
    public static func needleCase(tokenizer tok: TextTokenizer, length: Int, depth: Double?, distractors: Int, rng: inout SplitMix64) throws -> NeedleCase {
        let world = World(rng: &rng)
        let target = world.people[0]
        let others = Array(world.people.dropFirst())
        let needle = World.codeFact(target)
        let decoys = others.prefix(distractors).map(World.codeFact)
        let question = World.codeAsk(target)
        let frame = World.instruction + "\n\n" + "\n\n" + question
        let overhead = tok.chat([ChatMessage(role: "user", content: frame)], generationPrompt: true).count
            + tok.encode(" " + needle, bos: false).count + decoys.reduce(0) { $0 + tok.encode(" " + $1, bos: false).count } + 2
        guard overhead < length else {
            throw SynthError.argument("length", "\(length) tokens cannot hold the instruction, needle, distractors and question (\(overhead) tokens)")
        }
        // documents about the people without a code in this context; the token counts of
        // sentences are estimates, so measure the whole prompt and shrink the budget if needed
        var budget = length - overhead
        let start = rng
        while true {
            var r = start
            var sentences = Documents.fill(tok, people: Array(others.dropFirst(distractors)), tokens: budget, rng: &r)
            for d in decoys { sentences.insert(Sentence(text: d, tokens: 0), at: r.int(0...sentences.count)) }
            let total = Documents.tokens(sentences)
            var at = 0
            if let depth {
                // the last sentence boundary at or before depth x the context's tokens
                let goal = Int(Double(total) * min(max(depth, 0), 1))
                var used = 0
                for (i, s) in sentences.enumerated() {
                    if used + s.tokens > goal { break }
                    used += s.tokens
                    at = i + 1
                }
                if depth >= 1 { at = sentences.count }
            } else {
                at = r.int(0...sentences.count)
            }
            sentences.insert(Sentence(text: needle, tokens: 0), at: at)
            let prompt = World.instruction + "\n\n" + Documents.join(sentences) + "\n\n" + question
            let n = tok.chat([ChatMessage(role: "user", content: prompt)], generationPrompt: true).count
            if n <= length || budget <= 0 {
                rng = r
                return NeedleCase(prompt: prompt, answer: needle, value: target.code, needle: needle, distractors: decoys)
            }
            budget -= n - length
        }
    }

    /// Short plain text: documents about people, of at most `length` tokens (language
    /// modelling, loss on every token).
    public static func shortText(tokenizer: TextTokenizer, count: Int, length: Int, seed: UInt64 = 0) throws -> [String] {
        guard count >= 0 else { throw SynthError.argument("count", "must be >= 0, got \(count)") }
        guard length >= 8 else { throw SynthError.argument("length", "must be at least 8 tokens, got \(length)") }
        var rng = SplitMix64(synthSeed: seed)
        return (0..<count).map { _ in
            let world = World(rng: &rng)
            return Documents.join(Documents.fill(tokenizer, people: world.people, tokens: length - 2, rng: &rng))
        }
    }

    /// The ids a copy lesson draws from: every id that decodes to visible text once special
    /// tokens are skipped (so no `<|eot_id|>` or padding), in id order.
    public static func ordinaryIDs(_ tokenizer: TextTokenizer) -> [Int] {
        (0..<tokenizer.vocabSize).filter { !tokenizer.decode([$0], skipSpecialTokens: true).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
    }

    /// Copy lessons: `<bos>`, then random ordinary tokens of the vocabulary told twice, `length`
    /// tokens in all (an odd remainder is left off); the loss is on the second telling only
    /// (labels -100 elsewhere). Every token of the second telling can be read from the first
    /// by looking up the token after the previous one: the plainest lesson in reading from
    /// context, and the one that makes an induction head form within a few hundred steps.
    /// With `distinct`, each record draws from that many tokens of the vocabulary (a fresh
    /// random set a record): tokens repeat within a telling, so the one token before is
    /// ambiguous and only a longer prefix says where to look (as a name before "reads" does
    /// among several secret codes).
    /// `pool` (the tokenizer's `ordinaryIDs`, when the caller already has them) saves the
    /// scan of the vocabulary.
    public static func copyLessons(tokenizer: TextTokenizer, count: Int, length: Int, distinct: Int? = nil,
                                   pool: [Int]? = nil, seed: UInt64 = 0) throws -> [(ids: [Int], labels: [Int])] {
        guard count >= 0 else { throw SynthError.argument("count", "must be >= 0, got \(count)") }
        let bos = tokenizer.bosID.map { [$0] } ?? []
        let half = (length - bos.count) / 2
        guard half >= 2 else { throw SynthError.argument("length", "must be at least \(bos.count + 4) tokens, got \(length)") }
        let pool = pool ?? ordinaryIDs(tokenizer)
        guard pool.count >= 2 else { throw SynthError.argument("tok", "has fewer than two ordinary tokens to copy") }
        if let d = distinct, !(2...pool.count).contains(d) {
            throw SynthError.argument("distinct", "must be within 2...\(pool.count) (the tokenizer's ordinary tokens), got \(d)")
        }
        var rng = SplitMix64(synthSeed: seed)
        return (0..<count).map { _ in
            var letters = pool
            if let d = distinct {
                // a partial Fisher-Yates shuffle: the first d ids are a uniform random subset
                for i in 0..<d { letters.swapAt(i, rng.int(i...(letters.count - 1))) }
                letters = Array(letters[..<d])
            }
            let x = (0..<half).map { _ in rng.pick(letters) }
            return (bos + x + x, Array(repeating: -100, count: bos.count + half) + x)
        }
    }

    /// Associative-recall lessons (multi-query associative recall, as in the Zoology and H3
    /// papers): `<bos>`, then `pairs` bindings "{name} reads {code}." of distinct people of the
    /// World (four-digit codes, drawn afresh for every record), then `queries` of them asked
    /// again in a random order, "{name} reads" followed by its code. The loss is on the codes of
    /// the queries only (labels -100 elsewhere, the "." after each answer included): each is
    /// found only by matching the name, since "reads" follows every name, so one record gives
    /// `queries` x 4 signals for binding a name to what follows it (the skill the retrieval
    /// test with distractor codes needs). `pairs` is drawn per record from its range; `queries`
    /// nil asks every pair. A record longer than `length` tokens is an error naming the sizes.
    public static func recall(tokenizer tok: TextTokenizer, count: Int, length: Int, pairs: ClosedRange<Int> = 16...16,
                              queries: Int? = nil, seed: UInt64 = 0) throws -> [(ids: [Int], labels: [Int])] {
        guard count >= 0 else { throw SynthError.argument("count", "must be >= 0, got \(count)") }
        guard pairs.lowerBound >= 1, pairs.upperBound <= World.names.count else {
            throw SynthError.argument("pairs", "must be within 1...\(World.names.count) (the World's names), got \(pairs.lowerBound == pairs.upperBound ? "\(pairs.lowerBound)" : "\(pairs)")")
        }
        if let q = queries, !(1...pairs.lowerBound).contains(q) {
            throw SynthError.argument("queries", "must be within 1...\(pairs.lowerBound) (the fewest pairs of a record), got \(q)")
        }
        let bos = tok.bosID.map { [$0] } ?? []
        let reads = tok.encode(" reads", bos: false), stop = tok.encode(".", bos: false)
        var rng = SplitMix64(synthSeed: seed &+ 0x4D51_4152)
        return try (0..<count).map { _ in
            let world = World(count: rng.int(pairs), rng: &rng)
            let people = world.people
            var ids = bos, labels = Array(repeating: -100, count: bos.count)
            func add(_ xs: [Int], loss: Bool) {
                ids += xs
                labels += loss ? xs : Array(repeating: -100, count: xs.count)
            }
            for p in people { add(tok.encode(" " + p.name, bos: false) + reads + tok.encode(" " + p.code, bos: false) + stop, loss: false) }
            var order = Array(people.indices)
            rng.shuffle(&order)
            for i in order.prefix(queries ?? people.count) {
                add(tok.encode(" " + people[i].name, bos: false) + reads, loss: false)
                add(tok.encode(" " + people[i].code, bos: false), loss: true)
                add(stop, loss: false)
            }
            guard ids.count <= length else {
                throw SynthError.argument("length", "\(length) tokens cannot hold \(people.count) pairs and \(queries ?? people.count) queries (\(ids.count) tokens)")
            }
            return (ids, labels)
        }
    }

    /// Short instructions: a few sentences of context and one to three questions about them,
    /// of at most `length` tokens.
    public static func shortInstructions(tokenizer: TextTokenizer, count: Int, length: Int = 128, seed: UInt64 = 0) throws -> [[ChatMessage]] {
        try conversations(tokenizer, count, length, seed &+ 0x5157) { sentences, rng in
            pickFacts(sentences, rng.int(1...3), &rng).map { (World.question($0.person, $0.attribute), World.statement($0.person, $0.attribute)) }
        }
    }

    // MARK: assembly

    struct FactRef {
        var person: Person
        var attribute: Int
    }

    /// `n` facts stated in the context (distinct; about distinct people when asked), in a
    /// random order.
    static func pickFacts(_ stated: [FactRef], _ n: Int, _ rng: inout SplitMix64, distinctPeople: Bool = false) -> [FactRef] {
        var pool = stated
        rng.shuffle(&pool)
        var out: [FactRef] = []
        var names = Set<String>()
        var seen = Set<String>()
        for f in pool where out.count < n {
            let key = "\(f.person.name)/\(f.attribute)"
            if seen.contains(key) || (distinctPeople && names.contains(f.person.name)) { continue }
            seen.insert(key)
            names.insert(f.person.name)
            out.append(f)
        }
        return out
    }

    /// QA conversations over contexts of documents: `turns` gets the facts the context states
    /// and returns the (question, answer) pairs; the first question follows the context.
    static func conversations(_ tok: TextTokenizer, _ count: Int, _ length: Int, _ seed: UInt64,
                              _ turns: ([FactRef], inout SplitMix64) -> [(String, String)]) throws -> [[ChatMessage]] {
        guard count >= 0 else { throw SynthError.argument("count", "must be >= 0, got \(count)") }
        var rng = SplitMix64(synthSeed: seed)
        var out: [[ChatMessage]] = []
        for _ in 0..<count {
            let world = World(rng: &rng)
            // questions are drawn after the context is fixed, so draw a context first with a
            // guess of the turns' size, then trim the context until the whole chat fits
            let probe = [("What does \(World.names[0]) enjoy on weekends? What pet does \(World.names[1]) have?",
                          "\(World.names[0]) enjoys climbing on weekends. \(World.names[1]) has a pet hamster.")]
            let reserve = tok.chat(render("", probe), generationPrompt: false).count
            guard reserve + 8 < length else {
                throw SynthError.argument("length", "\(length) tokens cannot hold a context and its questions (about \(reserve) tokens)")
            }
            var sentences = Documents.fill(tok, people: world.people, tokens: length - reserve, rng: &rng)
            var qa = turns(sentenceFacts(sentences, world), &rng)
            var conversation = render(Documents.join(sentences), qa)
            let asked = Set(qa.map(\.1))
            trim(tok, length, &sentences, &conversation, keep: { s in asked.contains { $0.contains(s.text) } }) {
                render(Documents.join($0), qa)
            }
            if tok.chat(conversation, generationPrompt: false).count > length {
                qa = Array(qa.prefix(1))
                conversation = render(Documents.join(sentences), qa)
                guard tok.chat(conversation, generationPrompt: false).count <= length else {
                    throw SynthError.argument("length", "\(length) tokens cannot hold a context and its questions")
                }
            }
            out.append(conversation)
        }
        return out
    }

    /// The (person, attribute) of every sentence of a context.
    static func sentenceFacts(_ sentences: [Sentence], _ world: World) -> [FactRef] {
        var byText: [String: FactRef] = [:]
        for p in world.people {
            for a in World.attributes.indices { byText[World.statement(p, a)] = FactRef(person: p, attribute: a) }
        }
        return sentences.compactMap { byText[$0.text] }
    }

    static func render(_ context: String, _ qa: [(String, String)]) -> [ChatMessage] {
        var out: [ChatMessage] = []
        for (i, (q, a)) in qa.enumerated() {
            out.append(ChatMessage(role: "user", content: i == 0 ? context + "\n\n" + q : q))
            out.append(ChatMessage(role: "assistant", content: a))
        }
        return out
    }

    /// A context of documents about `others` with `inserts` each at a random sentence
    /// boundary (in order), trimmed until `make(context)` renders within `length` tokens.
    static func fit(_ tok: TextTokenizer, _ length: Int, others: [Person], inserts: [String], rng: inout SplitMix64,
                    _ make: (String) -> [ChatMessage]) throws -> [ChatMessage] {
        let bare = tok.chat(make(inserts.joined(separator: " ")), generationPrompt: false).count
        guard bare + 8 < length else {
            throw SynthError.argument("length", "\(length) tokens cannot hold the facts, question and answer (\(bare) tokens)")
        }
        var sentences = Documents.fill(tok, people: others, tokens: length - bare - 2, rng: &rng)
        var slots = inserts.map { _ in rng.int(0...sentences.count) }
        slots.sort()
        for (k, s) in inserts.enumerated().reversed() {
            sentences.insert(Sentence(text: s, tokens: 0), at: slots[k])
        }
        var conversation = make(Documents.join(sentences))
        let keep = Set(inserts)
        trim(tok, length, &sentences, &conversation, keep: { keep.contains($0.text) }) { make(Documents.join($0)) }
        return conversation
    }

    /// Drops sentences (not `keep`) from the end until the conversation renders within
    /// `length` tokens: as many at once as the overshoot asks, then measures again.
    static func trim(_ tok: TextTokenizer, _ length: Int, _ sentences: inout [Sentence], _ conversation: inout [ChatMessage],
                     keep: (Sentence) -> Bool, _ make: ([Sentence]) -> [ChatMessage]) {
        while true {
            let over = tok.chat(conversation, generationPrompt: false).count - length
            if over <= 0 { return }
            var dropped = 0
            var changed = false
            while dropped < over, let i = sentences.lastIndex(where: { !keep($0) }) {
                dropped += max(sentences[i].tokens, 1)
                sentences.remove(at: i)
                changed = true
            }
            if !changed { return }
            conversation = make(sentences)
        }
    }
}
