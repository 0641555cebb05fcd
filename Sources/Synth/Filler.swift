// Filler: a seeded generator of varied, harmless prose for haystacks and synthetic training
// contexts. Sentences come from several dozen templates filled from a vocabulary of places,
// people, trades, objects, weather and times, grouped into paragraphs; the text is measured in
// tokens of the caller's tokenizer so it can be cut to a target length.
import Tokenizer
import NN

/// Synth's draws come from NN's SplitMix64 seeded its own way (the same seed gives the same
/// text on every platform).
extension SplitMix64 {
    /// The generator of the synthetic data for `seed` (the seed is xored with a constant).
    public init(synthSeed seed: UInt64) { self.init(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B) }
    mutating func pick<T>(_ xs: [T]) -> T { xs[Int(next() % UInt64(xs.count))] }
    mutating func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(next() % UInt64(r.count)) }
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
}

enum Vocab {
    static let places = ["the old harbour", "the valley road", "the market square", "the northern ridge", "the river bend",
                         "the village green", "the railway station", "the public library", "the pine forest", "the salt marsh",
                         "the hill farm", "the lighthouse", "the orchard", "the quarry", "the botanical garden", "the ferry dock",
                         "the mill pond", "the town hall", "the bakery on Elm Street", "the observatory", "the school yard",
                         "the covered bridge", "the meadow", "the fishing pier", "the east gate", "the bus depot"]
    static let people = ["the baker", "a retired sailor", "the schoolteacher", "two young cyclists", "the postmistress",
                         "an elderly gardener", "the night watchman", "a visiting painter", "the ferry captain", "the twins next door",
                         "a travelling musician", "the shepherd", "the librarian", "a group of hikers", "the blacksmith",
                         "the carpenter's apprentice", "a quiet student", "the innkeeper", "the beekeeper", "a pair of birdwatchers"]
    static let objects = ["a wooden crate", "a basket of apples", "an old map", "a brass lantern", "a bundle of letters",
                          "a jar of honey", "a folding chair", "a spool of thread", "a wheelbarrow", "a copper kettle",
                          "a box of nails", "a kite", "a sack of flour", "a straw hat", "a pocket watch", "a ladder",
                          "a stack of books", "a fishing net", "a clay pot", "a red umbrella"]
    static let weather = ["a light rain fell", "the wind turned cold", "the fog lifted slowly", "the sun came out",
                          "clouds gathered in the west", "the air smelled of cut grass", "a warm breeze arrived",
                          "frost covered the fields", "the evening was still", "thunder rolled far away"]
    static let times = ["In the early morning", "Just before noon", "Late in the afternoon", "At dusk", "On most Sundays",
                        "Every spring", "During the long winter", "After the harvest", "Once a month", "On quiet evenings",
                        "Years ago", "By midsummer", "At first light", "Around midnight"]
    static let adjectives = ["narrow", "crowded", "peaceful", "muddy", "bright", "forgotten", "busy", "windy", "sunny",
                             "ancient", "freshly painted", "overgrown", "silent", "cheerful", "crooked", "spacious"]
    static let verbsPast = ["carried", "repaired", "painted", "sold", "found", "counted", "polished", "delivered",
                            "borrowed", "wrapped", "measured", "cleaned", "collected", "sorted", "lifted"]
    static let activities = ["mending fences", "baking bread", "sorting the mail", "tuning an old piano", "planting beans",
                             "reading the newspaper", "feeding the ducks", "sweeping the steps", "drawing the hills",
                             "counting the boats", "knitting a scarf", "pruning the roses", "fixing a bicycle", "writing letters"]
    static let animals = ["a grey heron", "a flock of starlings", "an old dog", "a ginger cat", "two goats", "a family of ducks",
                          "a fox", "a pair of swans", "a restless pony", "a hedgehog"]
    static let feelings = ["glad", "tired but content", "curious", "surprised", "patient", "hopeful", "thoughtful", "amused"]
    static let topics = ["the price of wool", "the coming festival", "the new bridge", "an old legend", "the best way to store apples",
                         "the tides", "a recipe for plum jam", "the history of the mill", "the weather", "a lost key"]
    static let colors = ["blue", "green", "yellow", "red", "white", "orange", "purple", "brown", "silver", "black"]
    static let numbers = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "twenty"]

    /// Sentence templates: slots are {place} {person} {object} {weather} {time} {adj} {verb}
    /// {activity} {animal} {feeling} {topic} {color} {number} {Person} {Place} (capitalised).
    static let templates = [
        "{time}, {person} walked to {place} with {object}.",
        "{time}, {weather} over {place}.",
        "{Person} spent the day {activity} near {place}.",
        "The road to {place} was {adj} and lined with {color} flowers.",
        "{Person} {verb} {object} and left it beside the door.",
        "Nobody could remember when {place} had last been so {adj}.",
        "{Person} talked for an hour about {topic}.",
        "{Animal} wandered across {place} while {weather}.",
        "There were {number} boats tied up at {place} that week.",
        "{Person} felt {feeling} after {activity} all morning.",
        "{Place} looked {adj} in the soft light.",
        "{time}, the bell at {place} rang {number} times.",
        "A sign at {place} asked visitors to keep the gate closed.",
        "{Person} kept {object} in a {color} cupboard.",
        "Someone had left {object} on the bench at {place}.",
        "{time}, {person} and {person2} argued cheerfully about {topic}.",
        "The path behind {place} is {adj} after the rains.",
        "{Person} once counted {number} kinds of moss near {place}.",
        "{Animal} slept in the shade of {place}.",
        "Most people agreed that {topic} mattered more than it seemed.",
        "{time}, {person} {verb} {object} for a neighbour.",
        "The windows of {place} were painted {color} long ago.",
        "{Person} hummed a tune while {activity}.",
        "It took {number} days to finish {activity} at {place}.",
        "{time}, {weather}, and {person} hurried home.",
        "{Person} wrote a short note about {topic} and pinned it up at {place}.",
        "From {place} one could see {animal} far below.",
        "{Person} preferred {adj} mornings to busy afternoons.",
        "The smell of fresh bread drifted over {place}.",
        "{Person} never explained why {object} was kept at {place}.",
        "Children raced {number} times around {place} before supper.",
        "{time}, {person} was {feeling} to find {object} at {place}.",
        "A {color} kite caught on the roof of {place}.",
        "{Person} believed that {topic} was best discussed over tea.",
        "The lamps along {place} flickered as {weather}.",
        "{Person} and {person2} shared {object} without a word.",
        "Few visitors knew the story of {topic}.",
        "{time}, {animal} appeared at {place} and stayed for a while.",
        "{Person} measured the garden and found it {adj} but pleasant.",
        "Nothing much happened at {place}, and that suited everyone.",
    ]
}

extension Synth {
    /// One filler sentence.
    static func sentence(_ rng: inout SplitMix64) -> String {
        let t = rng.pick(Vocab.templates)
        var out = ""
        var i = t.startIndex
        var person = ""
        while i < t.endIndex {
            if t[i] == "{", let close = t[i...].firstIndex(of: "}") {
                let key = String(t[t.index(after: i)..<close])
                var v = slot(key, &rng)
                if key.lowercased().hasPrefix("person") {
                    // a second person is never the first one again
                    while v.lowercased() == person.lowercased() { v = slot(key, &rng) }
                    person = v
                }
                out += v
                i = t.index(after: close)
            } else {
                out.append(t[i])
                i = t.index(after: i)
            }
        }
        return capitalizeFirst(out)
    }

    static func slot(_ key: String, _ rng: inout SplitMix64) -> String {
        switch key.lowercased() {
        case "place": let p = rng.pick(Vocab.places); return key == "Place" ? capitalizeFirst(p) : p
        case "person", "person2": let p = rng.pick(Vocab.people); return key == "Person" ? capitalizeFirst(p) : p
        case "object": return rng.pick(Vocab.objects)
        case "weather": return rng.pick(Vocab.weather)
        case "time": return rng.pick(Vocab.times)
        case "adj": return rng.pick(Vocab.adjectives)
        case "verb": return rng.pick(Vocab.verbsPast)
        case "activity": return rng.pick(Vocab.activities)
        case "animal": let a = rng.pick(Vocab.animals); return key == "Animal" ? capitalizeFirst(a) : a
        case "feeling": return rng.pick(Vocab.feelings)
        case "topic": return rng.pick(Vocab.topics)
        case "color": return rng.pick(Vocab.colors)
        case "number": return rng.pick(Vocab.numbers)
        default: return key
        }
    }

    static func capitalizeFirst(_ s: String) -> String {
        guard let f = s.first else { return s }
        return f.uppercased() + s.dropFirst()
    }

    /// Filler sentences whose tokens (each counted with its leading separator) add up to at most
    /// `tokens`, grouped into paragraphs of 4-8 sentences.
    static func fillerUnits(tokenizer: TextTokenizer, tokens: Int, rng: inout SplitMix64) -> [FillerUnit] {
        var units: [FillerUnit] = []
        var total = 0
        var inParagraph = 0
        var paragraphLength = rng.int(4...8)
        while true {
            let s = sentence(&rng)
            let breakBefore = !units.isEmpty && inParagraph >= paragraphLength
            let sep = units.isEmpty ? "" : (breakBefore ? "\n\n" : " ")
            let n = tokenizer.encode(sep + s, bos: false).count
            if total + n > tokens { break }
            if breakBefore { inParagraph = 0; paragraphLength = rng.int(4...8) }
            units.append(FillerUnit(text: s, paragraphStart: breakBefore, tokens: n))
            total += n
            inParagraph += 1
        }
        return units
    }

    static func join(_ units: [FillerUnit]) -> String {
        var out = ""
        for (i, u) in units.enumerated() {
            if i > 0 { out += u.paragraphStart ? "\n\n" : " " }
            out += u.text
        }
        return out
    }
}

struct FillerUnit {
    var text: String
    var paragraphStart: Bool
    var tokens: Int
}
