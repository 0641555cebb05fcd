// Topics: LongChat-style topic retrieval. The prompt is a record of N generated conversations,
// each opening with the user's "I would like to discuss the topic of <TOPIC>" and followed by
// an exchange of filler prose; the question asks for the first topic. A trial is right when
// the first topic (normalized as in QA scoring) appears in the normalized answer.
import Foundation
import Synth
import Tensor
import Tokenizer
import NN

public struct TopicsConfig {
    /// Numbers of topics in the record.
    public var counts: [Int]
    public var trials = 5
    public var seed: UInt64 = 0
    /// Tokens of filler in each conversation after its opening line.
    public var turnTokens = 120
    public var maxTokens = 30
    public var chat = true

    /// A JSON file of partial results: written after every trial, read at the start to skip the
    /// trials it holds (refused when it was made with another model, tokenizer or setting).
    public var resumePath: String? = nil

    public init(counts: [Int]) { self.counts = counts }
}

public struct TopicsResult: CodableEvalResult {
    public static let kind = "topics"

    public init(counts: [Int], trials: Int, accuracy: [Double], promptTokens: [Int], firstTopics: [[String]], answers: [[String]]) {
        self.counts = counts
        self.trials = trials
        self.accuracy = accuracy
        self.promptTokens = promptTokens
        self.firstTopics = firstTopics
        self.answers = answers
    }

    public var counts: [Int]
    public var trials: Int
    /// Accuracy per count.
    public var accuracy: [Double]
    /// Mean prompt tokens per count.
    public var promptTokens: [Int]
    /// Per count, the expected first topics and the answers.
    public var firstTopics: [[String]]
    public var answers: [[String]]
    /// true when the run was stopped before every count was done: a count whose trials are not
    /// all done has NaN accuracy, 0 prompt tokens and no topics or answers.
    public var interrupted: Bool? = nil

    public var mean: Double { finiteMean(accuracy) }
    public var headline: Double { mean }

    public var table: String {
        let rows = counts.indices.map { i in ["\(counts[i])", "\(promptTokens[i])", TableText.num(accuracy[i])] }
        let note = interrupted == true ? " (interrupted: \(accuracy.filter { $0.isFinite }.count) of \(counts.count) counts)" : ""
        return "Topic retrieval (\(trials) trials a count): mean accuracy \(TableText.num(mean, 3))\(note)\n"
            + TableText.render(["topics", "tokens", "accuracy"], rows)
    }

    public func figure() -> Figure {
        Plot.line([Series(label: "first-topic accuracy", xs: promptTokens.map { Double($0) }, ys: accuracy)],
                  title: "Topic retrieval", xTitle: "Prompt length (tokens)", yTitle: "Accuracy", yRange: 0...1)
    }

    public var tensors: [(String, Tensor)] {
        [("accuracy", vectorTensor(accuracy)), ("counts", intTensor(counts)), ("prompt_tokens", intTensor(promptTokens))]
    }
}

public enum Topics {
    public static let names = [
        "the history of jazz music", "growing vegetables on a balcony", "the physics of black holes", "learning to play chess",
        "the future of electric cars", "traditional Japanese cooking", "training for a marathon", "the life of honeybees",
        "restoring antique furniture", "the basics of photography", "volcanoes and earthquakes", "the Roman Empire",
        "saving money for retirement", "how vaccines work", "writing a first novel", "the architecture of Gothic cathedrals",
        "keeping tropical fish", "the rules of cricket", "climate change and oceans", "learning a second language",
        "the invention of the printing press", "making sourdough bread", "deep sea exploration", "the psychology of habits",
        "building a wooden boat", "the music of Bach", "space telescopes", "urban bird watching", "the origins of the internet",
        "knitting for beginners", "the French Revolution", "solar panels at home", "the game of Go", "dinosaur fossils",
        "mountain climbing safety", "the art of calligraphy", "coral reef ecosystems", "Renaissance painting",
        "raising backyard chickens", "the ethics of artificial intelligence", "ancient Egyptian pyramids", "coffee brewing methods",
        "the migration of whales", "public speaking", "medieval castles", "the science of sleep", "tea ceremonies", "origami",
    ]

    public static let header = "Below is a record of our previous conversation on %d different topics. You are the ASSISTANT, and I am the USER. At the beginning of each topic, the USER will say 'I would like to discuss the topic of <TOPIC>'. Memorize each <TOPIC>. At the end of the record, I will ask you to retrieve the first topic. Now the record start."
    public static let question = "Now the record ends. What is the first topic we discussed? Only give me the topic name. Do not summarize yourself."

    /// The prompt text for these topics, with `turnTokens` of filler per conversation.
    public static func prompt(topics: [String], tokenizer: TextTokenizer, turnTokens: Int, seed: UInt64) -> String {
        var s = String(format: header, topics.count) + "\n"
        for (k, t) in topics.enumerated() {
            let body = Synth.filler(tokenizer: tokenizer, tokens: turnTokens, seed: seed &+ UInt64(k) &* 7919)
            s += "USER: I would like to discuss the topic of \(t).\nASSISTANT: Sure! \(body)\n"
        }
        return s + question
    }

    public static func run(model: EvalModel, tokenizer tok: TextTokenizer, config c: TopicsConfig,
                           hooks: EvalHooks = .none) throws -> TopicsResult {
        guard !c.counts.isEmpty else { throw EvalError.argument("counts", "the list is empty") }
        if let bad = c.counts.first(where: { $0 < 1 || $0 > names.count }) {
            throw EvalError.argument("counts", "\(bad) topics: each count must be in 1...\(names.count)")
        }
        guard c.trials >= 1 else { throw EvalError.argument("trials", "must be >= 1, got \(c.trials)") }
        var rng = SplitMix64(evalSeed: c.seed)
        var r = TopicsResult(counts: c.counts, trials: c.trials, accuracy: [], promptTokens: [], firstTopics: [], answers: [])
        var partial = try PartialResults(path: c.resumePath, evaluator: "topics") {
            var f = EvalFingerprint()
            try f.add(model: model, tokenizer: tok)
            f.add("counts", ints: c.counts); f.add("trials", c.trials); f.add("seed", "\(c.seed)")
            f.add("turn_tokens", c.turnTokens); f.add("max_tokens", c.maxTokens); f.add("chat", c.chat)
            return f
        }
        let total = c.counts.count * c.trials
        var done = 0
        do {
            for (k, n) in c.counts.enumerated() {
                var right = 0, tokens = 0
                var firsts: [String] = [], answers: [String] = []
                for t in 0..<c.trials {
                    if let u = partial.unit("\(k),\(t)"), let ok = u["right"] as? Int, let tk = u["tokens"] as? Int,
                       let first = u["first"] as? String, let answer = u["answer"] as? String {
                        for _ in 0...n { _ = rng.next() }   // the topics and the filler seed this trial drew
                        right += ok; tokens += tk
                        firsts.append(first); answers.append(answer)
                        done += 1
                        continue
                    }
                    try hooks.checkCancelled()
                    var pool = names
                    var topics: [String] = []
                    for _ in 0..<n { topics.append(pool.remove(at: Int(rng.next() % UInt64(pool.count)))) }
                    let text = prompt(topics: topics, tokenizer: tok, turnTokens: c.turnTokens, seed: rng.next())
                    let ids = c.chat ? tok.chat([ChatMessage(role: "user", content: text)], generationPrompt: true)
                                     : tok.encode(text, bos: true)
                    let out = try model.generate(prompt: ids, maxTokens: c.maxTokens, stop: tok.endTokenIDs, cancel: hooks.cancel)
                    try hooks.checkCancelled()   // an answer cut short by the stop is not scored
                    let answer = tok.decode(out.filter { !tok.endTokenIDs.contains($0) })
                    let ok = Score.substring(answer, topics[0]) == 1 ? 1 : 0
                    right += ok
                    tokens += ids.count
                    firsts.append(topics[0]); answers.append(answer)
                    try partial.record("\(k),\(t)", ["right": ok, "tokens": ids.count, "first": topics[0], "answer": answer])
                    done += 1
                    hooks.report("topics", done, total, "\(n) topics: \(answer.prefix(30))")
                }
                r.accuracy.append(Double(right) / Double(c.trials))
                r.promptTokens.append(tokens / c.trials)
                r.firstTopics.append(firsts)
                r.answers.append(answers)
            }
        } catch EvalError.cancelled {
            // the counts whose trials all finished; the others in the same shape, not run
            r.interrupted = true
            while r.accuracy.count < c.counts.count {
                r.accuracy.append(.nan); r.promptTokens.append(0); r.firstTopics.append([]); r.answers.append([])
            }
        }
        return r
    }
}
