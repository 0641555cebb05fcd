// Facts: the details planted in synthetic contexts (a statement, the question that asks for it
// and its answer) and the short biographies of the summary task, drawn from seeded templates.

struct Fact {
    var statement: String
    var question: String
    var answer: String
}

enum Facts {
    static let firstNames = ["Amara", "Bruno", "Chen", "Dalia", "Elias", "Farah", "Gustav", "Hana", "Ivan", "Jun",
                             "Kofi", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sami", "Tove",
                             "Ugo", "Vera", "Wendell", "Ximena", "Yusuf", "Zofia", "Aiko", "Björn", "Celeste", "Dmitri"]
    static let surnames = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Alvarez", "Brennan", "Castellano", "Dubois",
                           "Eriksen", "Fontaine", "Goldberg", "Haddad", "Iwata", "Jansen", "Kowalski", "Larsen",
                           "Mbeki", "Novak", "Osei", "Petrov", "Quinn", "Rossi", "Sato", "Thorne", "Varga", "Whitfield"]
    static let towns = ["Ashford", "Bellmont", "Corran", "Dunmere", "Eastwick", "Falkirk Vale", "Greystone", "Harrowgate",
                        "Ivybridge", "Juniper Falls", "Kestrel Bay", "Larchmont", "Millbrook", "Northam", "Oakhurst",
                        "Pinecrest", "Queensferry", "Redwater", "Stonehaven", "Thornbury", "Upton Lee", "Westmoor"]
    static let things = ["colour", "book", "song", "season", "flower", "city", "number", "painter", "river", "dessert"]
    static let values: [String: [String]] = [
        "colour": ["teal", "amber", "crimson", "lavender", "olive", "indigo", "coral", "saffron"],
        "book": ["The Silent Orchard", "A Map of Tides", "Winter Lanterns", "The Glass Meridian", "Seven Quiet Rivers"],
        "song": ["Harbour Lights", "The Long Road North", "Paper Moons", "Copper Skies", "Waltz for a Lighthouse"],
        "season": ["early spring", "late autumn", "midwinter", "high summer"],
        "flower": ["the blue iris", "the wild poppy", "the white camellia", "the yellow tulip", "the night jasmine"],
        "city": ["Lisbon", "Kyoto", "Montreal", "Cape Town", "Tallinn", "Valparaíso", "Hanoi", "Edinburgh"],
        "number": ["seventeen", "forty-two", "eight", "one hundred and three", "twenty-nine", "sixty-one"],
        "painter": ["Vermeer", "Hokusai", "Turner", "Frida Kahlo", "Cézanne", "Hilma af Klint"],
        "river": ["the Danube", "the Mekong", "the Shannon", "the Loire", "the Yukon", "the Douro"],
        "dessert": ["plum cake", "rice pudding", "lemon tart", "baklava", "apple crumble", "mango sorbet"],
    ]
    static let professions = ["clockmaker", "marine biologist", "bookbinder", "railway engineer", "cartographer", "violin maker",
                              "glassblower", "midwife", "astronomer", "bridge inspector", "botanist", "typesetter", "stonemason"]
    static let clubs = ["chess club", "choir", "rowing club", "gardening society", "astronomy circle", "book club", "film society"]
    static let weekdays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    static let dishes = ["lentil soup", "apple pie", "fish stew", "mushroom risotto", "bean chili", "onion tart"]
    static let ingredients = ["smoked paprika", "a spoon of honey", "fresh tarragon", "toasted fennel seeds", "orange zest", "a pinch of nutmeg"]
    static let animals = ["goats", "alpacas", "geese", "beehives", "sheep", "rabbits", "donkeys"]

    static func name(_ rng: inout SynthRNG) -> String { rng.pick(firstNames) + " " + rng.pick(surnames) }

    static func random(_ rng: inout SynthRNG) -> Fact {
        let n = name(&rng)
        switch rng.int(0...7) {
        case 0:
            let t = rng.pick(things), v = rng.pick(values[t] ?? ["none"])
            return Fact(statement: "\(n)'s favourite \(t) is \(v).", question: "What is \(n)'s favourite \(t)?",
                        answer: "\(n)'s favourite \(t) is \(v).")
        case 1:
            let code = rng.int(1000...9999), c = rng.pick(Vocab.colors)
            return Fact(statement: "The code to the \(c) storeroom at \(rng.pick(towns)) station is \(code).",
                        question: "What is the code to the \(c) storeroom?", answer: "The code to the \(c) storeroom is \(code).")
        case 2:
            let town = rng.pick(towns), year = rng.int(1890...2001)
            return Fact(statement: "\(n) was born in the town of \(town) in \(year).", question: "Where and when was \(n) born?",
                        answer: "\(n) was born in \(town) in \(year).")
        case 3:
            let c = rng.pick(Vocab.colors), shelf = rng.pick(["first", "second", "third", "top", "bottom"])
            return Fact(statement: "The \(c) notebook on the \(shelf) shelf belongs to \(n).",
                        question: "Who owns the \(c) notebook on the \(shelf) shelf?", answer: "It belongs to \(n).")
        case 4:
            let k = rng.int(3...60), a = rng.pick(animals), town = rng.pick(towns)
            return Fact(statement: "\(n) keeps \(k) \(a) on a small farm outside \(town).", question: "How many \(a) does \(n) keep?",
                        answer: "\(n) keeps \(k) \(a).")
        case 5:
            let club = rng.pick(clubs), day = rng.pick(weekdays), h = rng.int(1...11)
            return Fact(statement: "The weekly meeting of the \(club) in \(rng.pick(towns)) was moved to \(day) at \(h) o'clock.",
                        question: "When does the \(club) meet now?", answer: "The \(club) now meets on \(day) at \(h) o'clock.")
        case 6:
            let p = rng.pick(professions), town = rng.pick(towns)
            return Fact(statement: "\(n)'s first job was as a \(p) in \(town).", question: "What was \(n)'s first job?",
                        answer: "\(n)'s first job was as a \(p) in \(town).")
        default:
            let d = rng.pick(dishes), i = rng.pick(ingredients)
            return Fact(statement: "The secret ingredient of \(n)'s \(d) is \(i).", question: "What is the secret ingredient of \(n)'s \(d)?",
                        answer: "The secret ingredient of \(n)'s \(d) is \(i).")
        }
    }

    struct Born { var name: String; var year: Int }

    static func birthPair(_ rng: inout SynthRNG) -> (Born, Born, Fact, Fact) {
        let a = name(&rng)
        var b = name(&rng)
        while b == a { b = name(&rng) }
        let ya = rng.int(1900...2000)
        var yb = rng.int(1900...2000)
        if yb == ya { yb += 1 }
        let fa = Fact(statement: "\(a) was born in \(rng.pick(towns)) in \(ya).", question: "", answer: "")
        let fb = Fact(statement: "\(b) was born in \(rng.pick(towns)) in \(yb).", question: "", answer: "")
        return (Born(name: a, year: ya), Born(name: b, year: yb), fa, fb)
    }
}

struct Biography {
    var name: String
    var paragraph: String
    var summary: String

    static let achievements = ["designed a lighthouse lens still in use today", "mapped the caves beneath the northern hills",
                               "founded a school for young apprentices", "restored the old town clock",
                               "discovered a new species of fern", "wrote a celebrated guide to coastal birds",
                               "built the first footbridge across the river", "organised the town's first music festival",
                               "catalogued over two thousand letters", "trained a generation of young engineers"]
    static let hobbies = ["sailing", "growing tomatoes", "playing the cello", "collecting old maps", "long-distance running",
                          "chess", "watercolour painting", "keeping bees", "writing poetry", "restoring bicycles"]

    static func random(_ rng: inout SynthRNG) -> Biography {
        let first = rng.pick(Facts.firstNames), last = rng.pick(Facts.surnames)
        let name = first + " " + last
        let she = rng.chance(0.5)
        let (p, pp) = she ? ("She", "her") : ("He", "his")
        let town = rng.pick(Facts.towns), later = rng.pick(Facts.towns)
        let year = rng.int(1850...1990), job = rng.pick(Facts.professions)
        let ach = rng.pick(achievements), hobby = rng.pick(hobbies), kids = rng.int(0...5)
        let children = kids == 0 ? "had no children" : (kids == 1 ? "had one child" : "had \(Vocab.numbers[max(0, kids - 2)]) children")
        let paragraph = "\(name) was born in \(town) in \(year). \(p) trained as a \(job) and later \(ach). "
            + "In \(pp) spare time \(p.lowercased()) enjoyed \(hobby). \(p) \(children) and spent \(pp) last years in \(later)."
        let summary = "\(name), born in \(town) in \(year), was a \(job) who \(ach), enjoyed \(hobby) and spent \(pp) last years in \(later)."
        return Biography(name: name, paragraph: paragraph, summary: summary)
    }
}
