// Score: answer-quality metrics with the semantics of LongBench's metrics.py (QA-F1 with
// normalize_answer, ROUGE-L F through the `rouge` 1.0.1 package, code edit similarity through
// fuzzywuzzy's fuzz.ratio backed by python-Levenshtein, classification, count, retrieval), plus
// the exact / substring matches used by the needle tests. Every function works on code points,
// as Python does.
//
// Documented edge cases (where the Python packages raise):
//   - rougeL: the `rouge` package raises on a text with no sentence (empty, or only '.');
//     LongBench's rouge_score catches that and returns 0, and so does llx (both empty -> 0 too).
//     The package also dies with RecursionError on sentence pairs of ~1000+ words, where
//     LongBench then scores 0; llx computes the real score instead.
//   - retrieval: LongBench raises when the reference has no "Paragraph N"; llx returns 0.
public enum Score {
    // MARK: normalization

    private static let asciiPunctuation: Set<UInt32> = Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".unicodeScalars.map { $0.value })

    /// LongBench / SQuAD `normalize_answer`: lowercase, drop ASCII punctuation, replace the
    /// articles a/an/the (as whole words) by a space, collapse whitespace.
    public static func normalizeAnswer(_ s: String) -> String {
        PyText.string(normalize(s.scalars))
    }

    static func normalize(_ s: Scalars) -> Scalars {
        let lowered = PyText.lower(s)
        let noPunct = lowered.filter { !asciiPunctuation.contains($0.value) }
        let noArticles = removeArticles(noPunct)
        return PyText.join(PyText.splitWhitespace(noArticles), with: [" "])
    }

    /// `re.sub(r"\b(a|an|the)\b", " ", text)`.
    static func removeArticles(_ t: Scalars) -> Scalars {
        let articles: [Scalars] = [["a"], ["a", "n"], ["t", "h", "e"]]
        var out: Scalars = []
        out.reserveCapacity(t.count)
        var i = 0
        while i < t.count {
            let boundaryBefore = i == 0 || !PyText.isWord(t[i - 1])
            var matched = 0
            if boundaryBefore {
                for a in articles where i + a.count <= t.count {
                    if Array(t[i..<(i + a.count)]) == a {
                        let end = i + a.count
                        if end == t.count || !PyText.isWord(t[end]) { matched = a.count; break }
                    }
                }
            }
            if matched > 0 {
                out.append(" ")
                i += matched
            } else {
                out.append(t[i])
                i += 1
            }
        }
        return out
    }

    // MARK: token F1

    /// LongBench `qa_f1_score`: bag-of-words F1 between the normalized texts.
    public static func f1(_ prediction: String, _ reference: String) -> Double {
        let p = PyText.splitWhitespace(normalize(prediction.scalars))
        let r = PyText.splitWhitespace(normalize(reference.scalars))
        return tokenF1(p, r)
    }

    /// LongBench `f1_score` over token lists (multiset intersection).
    static func tokenF1(_ prediction: [Scalars], _ reference: [Scalars]) -> Double {
        var counts: [Scalars: Int] = [:]
        for t in reference { counts[t, default: 0] += 1 }
        var same = 0
        for t in prediction {
            if let c = counts[t], c > 0 { same += 1; counts[t] = c - 1 }
        }
        if same == 0 { return 0 }
        let precision = Double(same) / Double(prediction.count)
        let recall = Double(same) / Double(reference.count)
        return 2 * precision * recall / (precision + recall)
    }

    // MARK: matches

    /// 1 when the normalized texts are equal, else 0.
    public static func exact(_ prediction: String, _ reference: String) -> Double {
        normalize(prediction.scalars) == normalize(reference.scalars) ? 1 : 0
    }

    /// 1 when the normalized reference occurs in the normalized prediction, else 0
    /// (an empty reference never matches).
    public static func substring(_ prediction: String, _ reference: String) -> Double {
        let r = normalize(reference.scalars)
        if r.isEmpty { return 0 }
        return PyText.contains(normalize(prediction.scalars), r) ? 1 : 0
    }

    // MARK: ROUGE-L

    /// LongBench `rouge_score`: `Rouge().get_scores(pred, ref)['rouge-l']['f']` (summary-level
    /// union LCS of the `rouge` 1.0.1 package, sentences split on '.', words on ' ', word sets),
    /// 0 where the package raises.
    public static func rougeL(_ prediction: String, _ reference: String) -> Double {
        let hyp = rougeSentences(prediction.scalars)
        let ref = rougeSentences(reference.scalars)
        if hyp.isEmpty || ref.isEmpty { return 0 }
        let refWords = ref.map { PyText.split($0, on: " ") }
        let hypWords = hyp.map { PyText.split($0, on: " ") }
        let m = Set(refWords.joined()).count
        let n = Set(hypWords.joined()).count
        var union = Set<Scalars>()
        for r in refWords {
            for h in hypWords { union.formUnion(reconLCS(r, h)) }
        }
        let llcs = Double(union.count)
        let r = llcs / Double(m), p = llcs / Double(n)
        return 2.0 * ((p * r) / (p + r + 1e-8))
    }

    /// The package's sentence split: pieces of `text.split(".")` that are not empty, each with
    /// its whitespace collapsed (a piece of only whitespace becomes an empty sentence).
    static func rougeSentences(_ s: Scalars) -> [Scalars] {
        PyText.split(s, on: ".").filter { !$0.isEmpty }.map { PyText.join(PyText.splitWhitespace($0), with: [" "]) }
    }

    /// The words of the longest common subsequence of x and y, recovered from the DP table the
    /// way the package walks it (on a tie it moves along y).
    static func reconLCS(_ x: [Scalars], _ y: [Scalars]) -> [Scalars] {
        let n = x.count, m = y.count
        if n == 0 || m == 0 { return [] }
        let w = m + 1
        var table = [Int32](repeating: 0, count: (n + 1) * w)
        for i in 1...n {
            for j in 1...m {
                if x[i - 1] == y[j - 1] {
                    table[i * w + j] = table[(i - 1) * w + j - 1] + 1
                } else {
                    table[i * w + j] = max(table[(i - 1) * w + j], table[i * w + j - 1])
                }
            }
        }
        var out: [Scalars] = []
        var i = n, j = m
        while i > 0 && j > 0 {
            if x[i - 1] == y[j - 1] {
                out.append(x[i - 1]); i -= 1; j -= 1
            } else if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1
            } else {
                j -= 1
            }
        }
        return out.reversed()
    }

    // MARK: edit similarity

    /// fuzzywuzzy `fuzz.ratio(a, b)` with python-Levenshtein: 100 when equal, 0 when either is
    /// empty, else round-half-even(100 * (1 - indel distance / (len a + len b))).
    public static func fuzzRatio(_ a: String, _ b: String) -> Int {
        let x = a.scalars, y = b.scalars
        if x == y { return 100 }
        if x.isEmpty || y.isEmpty { return 0 }
        let lcs = lcsLength(x, y)
        let lensum = x.count + y.count
        let dist = lensum - 2 * lcs
        let ratio = 1.0 - Double(dist) / Double(lensum)
        return Int((100 * ratio).rounded(.toNearestOrEven))
    }

    /// LongBench `code_sim_score`: the first line of the prediction (after leading newlines)
    /// that holds no '`', '#' or '//' is compared with `fuzz.ratio / 100`.
    public static func editSim(_ prediction: String, _ reference: String) -> Double {
        Double(fuzzRatio(firstCodeLine(prediction), reference)) / 100
    }

    /// The line `code_sim_score` keeps ("" when every line is a comment or a fence).
    public static func firstCodeLine(_ prediction: String) -> String {
        var s = prediction.scalars
        while let f = s.first, f == "\n" { s.removeFirst() }
        for line in PyText.split(s, on: "\n") {
            if line.contains("`") || line.contains("#") { continue }
            if PyText.contains(line, ["/", "/"]) { continue }
            return PyText.string(line)
        }
        return ""
    }

    static func lcsLength(_ x: Scalars, _ y: Scalars) -> Int {
        if x.isEmpty || y.isEmpty { return 0 }
        var prev = [Int](repeating: 0, count: y.count + 1)
        var cur = prev
        for i in 1...x.count {
            let xi = x[i - 1]
            for j in 1...y.count {
                cur[j] = xi == y[j - 1] ? prev[j - 1] + 1 : max(prev[j], cur[j - 1])
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }

    // MARK: classification, count, retrieval

    /// LongBench `classification_score`: the class names found in the prediction, minus those
    /// that are only part of the reference (with the reference's list-removal-while-iterating
    /// behaviour); 1/#found when the reference is among them, else 0.
    public static func classification(_ prediction: String, _ reference: String, classes: [String]) -> Double {
        let p = prediction.scalars, r = reference.scalars
        var found: [Scalars] = classes.map { $0.scalars }.filter { PyText.contains(p, $0) }
        var i = 0
        while i < found.count {
            let term = found[i]
            if PyText.contains(r, term) && term != r, let k = found.firstIndex(of: term) {
                found.remove(at: k)
            }
            i += 1
        }
        guard found.contains(r) else { return 0 }
        return 1.0 / Double(found.count)
    }

    /// LongBench `count_score`: the share of the integers in the prediction equal to the reference.
    public static func count(_ prediction: String, _ reference: String) -> Double {
        let numbers = PyText.digitRuns(prediction.scalars)
        if numbers.isEmpty { return 0 }
        let r = reference.scalars
        return Double(numbers.filter { $0 == r }.count) / Double(numbers.count)
    }

    /// LongBench `retrieval_score`: the share of the integers in the prediction equal to N of
    /// the first "Paragraph N" in the reference (`zh`: "段落N", `retrieval_zh_score`).
    public static func retrieval(_ prediction: String, _ reference: String, zh: Bool = false) -> Double {
        let marker: Scalars = zh ? "段落".scalars : "Paragraph ".scalars
        let r = reference.scalars
        var target: Scalars? = nil
        var from = 0
        while let k = PyText.firstIndex(of: marker, in: r, from: from) {
            var e = k + marker.count
            while e < r.count && PyText.isDigit(r[e]) { e += 1 }
            if e > k + marker.count { target = Array(r[(k + marker.count)..<e]); break }
            from = k + 1
        }
        guard let t = target else { return 0 }
        let numbers = PyText.digitRuns(prediction.scalars)
        if numbers.isEmpty { return 0 }
        return Double(numbers.filter { $0 == t }.count) / Double(numbers.count)
    }

    /// The first integer in a text, as passkey scoring reads it: `int(re.search(r"\d+", s))`
    /// (any decimal digits, no sign); nil when there is none or it does not fit an Int.
    public static func firstInteger(_ text: String) -> Int? {
        guard let run = PyText.digitRuns(text.scalars).first else { return nil }
        var v = 0
        for c in run {
            guard let d = c.properties.numericType == .decimal ? c.properties.numericValue : nil else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(d))
            if o1 || o2 { return nil }
            v = a
        }
        return v
    }

    // MARK: by name

    /// The metric names `eval.qa` and `eval.niah` accept.
    public static let metricNames = ["f1", "rougeL", "edit_sim", "classification", "count", "retrieval", "retrieval_zh", "exact", "substring"]

    /// Scores a prediction against several references (the best one counts, as LongBench does).
    public static func best(_ metric: String, _ prediction: String, _ references: [String], classes: [String] = []) throws -> Double {
        var best = 0.0
        for r in references { best = max(best, try score(metric, prediction, r, classes: classes)) }
        return best
    }

    public static func score(_ metric: String, _ prediction: String, _ reference: String, classes: [String] = []) throws -> Double {
        switch metric.lowercased().replacingOccurrences(of: "-", with: "_") {
        case "f1", "qa_f1": return f1(prediction, reference)
        case "rougel", "rouge_l", "rouge": return rougeL(prediction, reference)
        case "edit_sim", "editsim", "code_sim": return editSim(prediction, reference)
        case "classification": return classification(prediction, reference, classes: classes)
        case "count": return count(prediction, reference)
        case "retrieval": return retrieval(prediction, reference)
        case "retrieval_zh": return retrieval(prediction, reference, zh: true)
        case "exact", "em": return exact(prediction, reference)
        case "substring", "contains": return substring(prediction, reference)
        default:
            throw EvalError.argument("metric", "unknown metric '\(metric)' (one of \(metricNames.joined(separator: ", ")))")
        }
    }
}
