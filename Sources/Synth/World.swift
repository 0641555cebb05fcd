// World: the entities of the synthetic long-context data. A world is a seeded population of
// people, each with one value per attribute (city, job, pet, ...) and a secret code; every fact
// is stated in one fixed template, so a context holding many people's facts is full of
// distractors by construction: only the right name tells which "lives in" sentence answers
// "Where does Alice live?". Contexts are built from small documents (one person, one to three
// facts each) measured in tokens of the caller's tokenizer.
import Tokenizer
import NN

/// One attribute every person has: the sentence that states it, the question that asks for it
/// (`{n}` is the name, `{v}` the value) and the values it takes.
public struct WorldAttribute: Sendable {
    public var key: String
    public var statement: String
    public var question: String
    public var values: [String]

    func state(_ name: String, _ value: String) -> String {
        statement.replacingOccurrences(of: "{n}", with: name).replacingOccurrences(of: "{v}", with: value)
    }
    public func ask(_ name: String) -> String { question.replacingOccurrences(of: "{n}", with: name) }
}

/// A person of the world: a name and one value per attribute (in `World.attributes` order).
public struct Person: Equatable, Sendable {
    public var name: String
    public var values: [String]
    /// A four-digit secret code, the needle of the retrieval tests.
    public var code: String
}

public struct World: Sendable {
    public static let names = [
        "Alice", "Bruno", "Carmen", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ingrid", "Jonas",
        "Keiko", "Lars", "Maya", "Nikolai", "Olga", "Pablo", "Quinn", "Rosa", "Stefan", "Tamara",
        "Ulrich", "Vera", "Walter", "Xenia", "Yosef", "Zara", "Anton", "Beatriz", "Cyril", "Daria",
        "Emil", "Fiona", "Gideon", "Hana", "Ivo", "Julia", "Kasper", "Lucia", "Marco", "Nadia",
        "Otto", "Petra", "Rafael", "Sofia", "Tobias", "Ursula", "Viktor", "Wanda",
    ]
    public static let attributes: [WorldAttribute] = [
        WorldAttribute(key: "city", statement: "{n} lives in {v}.", question: "Where does {n} live?",
                       values: ["Lisbon", "Paris", "Tokyo", "Cairo", "Lima", "Oslo", "Rome", "Delhi",
                                "Quito", "Dakar", "Hanoi", "Perth", "Kyiv", "Dublin", "Austin", "Seoul"]),
        WorldAttribute(key: "job", statement: "{n} works as a {v}.", question: "What does {n} do for work?",
                       values: ["baker", "doctor", "pilot", "farmer", "singer", "lawyer", "nurse", "tailor",
                                "potter", "miner", "judge", "chef", "clerk", "poet", "sailor", "guard"]),
        WorldAttribute(key: "pet", statement: "{n} has a pet {v}.", question: "What pet does {n} have?",
                       values: ["dog", "cat", "parrot", "rabbit", "turtle", "horse", "goat", "snake",
                                "lizard", "hamster", "duck", "pig"]),
        WorldAttribute(key: "color", statement: "{n} likes the color {v}.", question: "What color does {n} like?",
                       values: ["red", "blue", "green", "yellow", "purple", "orange", "pink", "brown",
                                "black", "white", "gray", "gold"]),
        WorldAttribute(key: "food", statement: "{n} eats {v} every day.", question: "What does {n} eat every day?",
                       values: ["rice", "bread", "soup", "apples", "cheese", "fish", "beans", "eggs",
                                "noodles", "salad", "cake", "plums"]),
        WorldAttribute(key: "hobby", statement: "{n} enjoys {v} on weekends.", question: "What does {n} enjoy on weekends?",
                       values: ["chess", "painting", "hiking", "running", "fishing", "dancing", "reading", "cooking",
                                "sailing", "singing", "knitting", "climbing"]),
    ]
    /// The needle template of the retrieval tests (the paper's "best thing to do in San
    /// Francisco" sentence, as a fact about one person).
    public static let codeStatement = "The secret code of {n} reads {v}."
    public static let codeQuestion = "What is the secret code of {n}?"
    /// The instruction that opens every retrieval prompt (the paper's NIAH prefix, shortened).
    public static let instruction = "There is an important piece of information hidden in the following text. Find it and remember it."

    public var people: [Person]

    /// `count` people with distinct names (at most `names.count`) and random values.
    public init(count: Int = World.names.count, rng: inout SplitMix64) {
        var pool = World.names
        rng.shuffle(&pool)
        people = pool.prefix(max(1, min(count, pool.count))).map { name in
            Person(name: name, values: World.attributes.map { rng.pick($0.values) },
                   code: String((0..<4).map { _ in Character(String(rng.int(0...9))) }))
        }
    }

    public static func statement(_ p: Person, _ attribute: Int) -> String {
        attributes[attribute].state(p.name, p.values[attribute])
    }
    public static func question(_ p: Person, _ attribute: Int) -> String { attributes[attribute].ask(p.name) }
    public static func codeFact(_ p: Person) -> String {
        codeStatement.replacingOccurrences(of: "{n}", with: p.name).replacingOccurrences(of: "{v}", with: p.code)
    }
    public static func codeAsk(_ p: Person) -> String { codeQuestion.replacingOccurrences(of: "{n}", with: p.name) }

    /// Everything about one person, in attribute order (the biography the summary task asks for).
    public static func biography(_ p: Person) -> String {
        attributes.indices.map { statement(p, $0) }.joined(separator: " ")
    }
}

/// One sentence of a context, with its token count (measured once).
struct Sentence {
    var text: String
    var tokens: Int
}

extension SplitMix64 {
    mutating func shuffle<T>(_ xs: inout [T]) {
        if xs.count < 2 { return }
        for i in stride(from: xs.count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            xs.swapAt(i, j)
        }
    }
}

/// Contexts made of small documents about the people of a world.
enum Documents {
    /// Documents about `people` (cycled in a shuffled order), one to three facts each, until
    /// `tokens` tokens are used. A document tells facts not yet said about its person, or (with
    /// probability `restate`, once something was said) repeats some of them, as documents about
    /// the same people do; the repeats are what a language model learns to copy from context.
    /// Sentences come back one by one so facts can be inserted between them.
    static func fill(_ tok: TextTokenizer, people: [Person], tokens: Int, restate: Double = 0.3, rng: inout SplitMix64) -> [Sentence] {
        guard tokens > 0, !people.isEmpty else { return [] }
        var order = people
        rng.shuffle(&order)
        var unsaid: [[Int]] = order.map { _ in
            var a = Array(World.attributes.indices)
            rng.shuffle(&a)
            return a
        }
        var said: [[Int]] = order.map { _ in [] }
        var out: [Sentence] = []
        var used = 0
        var k = 0
        var stalled = 0
        while used < tokens && stalled < 2 * order.count {
            let i = k % order.count
            k += 1
            var doc: [Sentence] = []
            let n = rng.int(1...3)
            var facts: [Int] = []
            if !said[i].isEmpty && (unsaid[i].isEmpty || rng.chance(restate)) {
                var pool = said[i]
                rng.shuffle(&pool)
                facts = Array(pool.prefix(n))
            } else {
                for _ in 0..<min(n, unsaid[i].count) { facts.append(unsaid[i].removeLast()) }
                said[i] += facts
            }
            for a in facts {
                let s = World.statement(order[i], a)
                doc.append(Sentence(text: s, tokens: tok.encode(" " + s, bos: false).count))
            }
            let cost = doc.reduce(0) { $0 + $1.tokens }
            if used + cost > tokens { stalled += 1; continue }
            stalled = 0
            out += doc
            used += cost
        }
        return out
    }

    static func tokens(_ sentences: [Sentence]) -> Int { sentences.reduce(0) { $0 + $1.tokens } }

    static func join(_ sentences: [Sentence]) -> String { sentences.map(\.text).joined(separator: " ") }
}
