// MultipleChoice: the MMLU protocol of the paper's evaluation (longllm_qlora eval_mmlu.py).
// Zero-shot: "The following are multiple choice questions (with answers) about {subject}.\n\n"
// + question + "\nA. ...\nB. ...\nC. ...\nD. ...\nAnswer:" as the user turn; each letter is the
// assistant reply of the chat template (without its closing <|eot_id|>), scored by the mean NLL
// of its tokens; the lowest wins. Accuracy per subject, per category as the macro mean over its
// subjects, and overall as the macro mean over subjects. Reads the standard MMLU CSV layout
// (question, A, B, C, D, answer; no header; subject from `<subject>_test.csv`).
import Foundation
import Tensor
import Tokenizer
import NN

public struct MCItem: Codable, Equatable {
    public var subject: String
    public var question: String
    public var choices: [String]
    /// Index of the right choice.
    public var answer: Int

    public init(subject: String, question: String, choices: [String], answer: Int) {
        self.subject = subject
        self.question = question
        self.choices = choices
        self.answer = answer
    }
}

public struct MCResult: CodableEvalResult {
    public static let kind = "mc"

    public init(subjects: [String], subjectAccuracy: [Double], subjectCounts: [Int], categories: [String], categoryAccuracy: [Double], predictions: [Int], labels: [Int], nll: [[Double]]) {
        self.subjects = subjects
        self.subjectAccuracy = subjectAccuracy
        self.subjectCounts = subjectCounts
        self.categories = categories
        self.categoryAccuracy = categoryAccuracy
        self.predictions = predictions
        self.labels = labels
        self.nll = nll
    }

    public var subjects: [String]
    public var subjectAccuracy: [Double]
    public var subjectCounts: [Int]
    public var categories: [String]
    public var categoryAccuracy: [Double]
    /// Per item: the chosen index, the right index, and the mean NLL of each choice.
    public var predictions: [Int]
    public var labels: [Int]
    public var nll: [[Double]]
    /// true when the run was stopped before every question was scored: the questions scored so
    /// far (the first ones, in order), and the accuracies over them.
    public var interrupted: Bool? = nil

    /// Macro mean over subjects (the paper's "All").
    public var accuracy: Double { finiteMean(subjectAccuracy) }
    public var headline: Double { accuracy }

    public var table: String {
        let note = interrupted == true ? " (interrupted: the questions scored so far)" : ""
        var out = "Multiple choice (MMLU protocol): accuracy \(TableText.num(accuracy, 3)) over \(subjects.count) subject\(subjects.count == 1 ? "" : "s"), \(labels.count) questions\(note)\n"
        out += TableText.render(["category", "accuracy"], categories.indices.map { [categories[$0], TableText.num(categoryAccuracy[$0], 3)] } + [["All", TableText.num(accuracy, 3)]])
        if subjects.count <= 60 {
            out += TableText.render(["subject", "n", "accuracy"], subjects.indices.map { [subjects[$0], "\(subjectCounts[$0])", TableText.num(subjectAccuracy[$0], 3)] })
        }
        return out
    }

    public func figure() -> Figure {
        Plot.heatmap(categories.indices.map { [categoryAccuracy[$0]] } + [[accuracy]], title: "MMLU accuracy",
                     xLabels: ["accuracy"], yLabels: categories + ["All"], xTitle: "", yTitle: "Category", colorbarLabel: "accuracy")
    }

    public var tensors: [(String, Tensor)] {
        [("subject_accuracy", vectorTensor(subjectAccuracy)), ("category_accuracy", vectorTensor(categoryAccuracy)),
         ("predictions", intTensor(predictions)), ("labels", intTensor(labels))]
    }

    public var extraAttributes: [(String, EvalAttribute)] {
        [("accuracy", .double(accuracy)), ("subjects", .strings(subjects)), ("categories", .strings(categories))]
    }
}

public enum MultipleChoice {
    public static let letters = ["A", "B", "C", "D", "E", "F", "G", "H"]

    /// MMLU subject -> category, as in the paper's evaluation code (unknown subjects: "Others").
    public static let categoryOf: [String: String] = {
        let stem = "abstract_algebra astronomy college_biology college_chemistry college_computer_science college_mathematics college_physics computer_security conceptual_physics electrical_engineering elementary_mathematics high_school_biology high_school_chemistry high_school_computer_science high_school_mathematics high_school_physics high_school_statistics machine_learning"
        let social = "econometrics high_school_geography high_school_government_and_politics high_school_macroeconomics high_school_microeconomics high_school_psychology human_sexuality professional_psychology public_relations security_studies sociology us_foreign_policy"
        let humanities = "formal_logic high_school_european_history high_school_us_history high_school_world_history international_law jurisprudence logical_fallacies moral_disputes moral_scenarios philosophy prehistory professional_law world_religions"
        let others = "anatomy business_ethics clinical_knowledge college_medicine global_facts human_aging management marketing medical_genetics miscellaneous nutrition professional_accounting professional_medicine virology"
        var m: [String: String] = [:]
        for (names, cat) in [(stem, "STEM"), (social, "Social Sciences"), (humanities, "Humanities"), (others, "Others")] {
            for n in names.split(separator: " ") { m[String(n)] = cat }
        }
        return m
    }()

    public static let categoryOrder = ["STEM", "Social Sciences", "Humanities", "Others"]

    /// The user turn for an item.
    public static func prompt(_ item: MCItem) -> String {
        let subject = item.subject.split(separator: "_").joined(separator: " ")
        let options = item.choices.enumerated().map { "\(letters[$0.offset]). \($0.element)" }.joined(separator: "\n")
        return "The following are multiple choice questions (with answers) about \(subject).\n\n"
            + item.question.trimmingCharacters(in: .whitespacesAndNewlines) + "\n" + options + "\nAnswer:"
    }

    /// `resume`: a JSON file of partial results, written after every item and read at the start
    /// to skip the items it holds (refused when it was made with another model, tokenizer or data).
    public static func run(model: EvalModel, tokenizer tok: TextTokenizer, items: [MCItem],
                           hooks: EvalHooks = .none, resume: String? = nil) throws -> MCResult {
        guard !items.isEmpty else { throw EvalError.argument("data", "no questions") }
        var partial = try PartialResults(path: resume, evaluator: "mc") {
            var f = EvalFingerprint()
            try f.add(model: model, tokenizer: tok)
            f.add("data", hashOf: items.map { $0.subject + "\u{1}" + $0.question + "\u{1}" + $0.choices.joined(separator: "\u{2}") + "\u{1}\($0.answer)" })
            return f
        }
        var predictions: [Int] = [], nlls: [[Double]] = []
        var interrupted = false
        do {
            for (n, item) in items.enumerated() {
                if let u = partial.unit("\(n)"), let scores = exactDoubles(u["nll"]), scores.count == item.choices.count {
                    let best = scores.indices.min { scores[$0] < scores[$1] } ?? 0
                    predictions.append(best)
                    nlls.append(scores)
                    continue
                }
                guard item.choices.count >= 2 && item.choices.count <= letters.count else {
                    throw EvalError.argument("data", "question \(n) has \(item.choices.count) choices (2...\(letters.count) allowed)")
                }
                guard item.answer >= 0 && item.answer < item.choices.count else {
                    throw EvalError.argument("data", "question \(n) has answer index \(item.answer) for \(item.choices.count) choices")
                }
                try hooks.checkCancelled()
                let user = ChatMessage(role: "user", content: prompt(item))
                let prefix = tok.chat([user], generationPrompt: true)
                // The letters continue one prompt: the model scores them from the prompt's cache.
                var answers: [[Int]] = []
                for k in item.choices.indices {
                    var ids = tok.chat([user, ChatMessage(role: "assistant", content: letters[k])], generationPrompt: false)
                    if let last = ids.lastIndex(where: { tok.endTokenIDs.contains($0) }), last >= prefix.count { ids.remove(at: last) }
                    guard ids.count > prefix.count, Array(ids[..<prefix.count]) == prefix else {
                        throw EvalError.model("the chat template of the answer does not extend the prompt (question \(n))")
                    }
                    answers.append(Array(ids[prefix.count...]))
                }
                let lps = try model.logProbs(prefix: prefix, continuations: answers)
                var scores: [Double] = []
                for (k, a) in answers.enumerated() {
                    guard k < lps.count, lps[k].count == a.count else {
                        throw EvalError.model("logProbs returned \(k < lps.count ? lps[k].count : 0) values for an answer of \(a.count) ids")
                    }
                    scores.append(-lps[k].map { Double($0) }.reduce(0, +) / Double(a.count))
                }
                let best = scores.indices.min { scores[$0] < scores[$1] } ?? 0
                predictions.append(best)
                nlls.append(scores)
                try partial.record("\(n)", ["nll": scores.map(exact)])
                hooks.report("mc", n + 1, items.count, "\(item.subject): \(letters[best]) (right \(letters[item.answer]))")
            }
        } catch EvalError.cancelled {
            interrupted = true   // the questions scored so far: items[..<predictions.count]
        }
        let scored = Array(items.prefix(predictions.count))
        var subjects: [String] = []
        var right: [String: Int] = [:], count: [String: Int] = [:]
        for (i, item) in scored.enumerated() {
            if count[item.subject] == nil { subjects.append(item.subject) }
            count[item.subject, default: 0] += 1
            if predictions[i] == item.answer { right[item.subject, default: 0] += 1 }
        }
        subjects.sort()
        let subjectAcc = subjects.map { Double(right[$0] ?? 0) / Double(count[$0] ?? 1) }
        var byCat: [String: [Double]] = [:]
        for (s, a) in zip(subjects, subjectAcc) { byCat[categoryOf[s] ?? "Others", default: []].append(a) }
        let cats = categoryOrder.filter { byCat[$0] != nil }
        var r = MCResult(subjects: subjects, subjectAccuracy: subjectAcc, subjectCounts: subjects.map { count[$0] ?? 0 },
                         categories: cats, categoryAccuracy: cats.map { finiteMean(byCat[$0] ?? []) },
                         predictions: predictions, labels: scored.map { $0.answer }, nll: nlls)
        if interrupted { r.interrupted = true }
        return r
    }

    // MARK: loading

    /// Items from an MMLU CSV file (`<subject>_test.csv`) or from every `*.csv` in a folder.
    public static func load(path: String) throws -> [MCItem] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw EvalError.file(path, "not found") }
        if isDir.boolValue {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".csv") }.sorted()
            guard !names.isEmpty else { throw EvalError.file(path, "no .csv files in the folder") }
            return try names.flatMap { try load(path: (path as NSString).appendingPathComponent($0)) }
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw EvalError.file(path, "cannot read as UTF-8") }
        if path.hasSuffix(".jsonl") || path.hasSuffix(".json") {
            var items: [MCItem] = []
            let records: [Any]
            if path.hasSuffix(".json"), let all = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any] {
                records = all
            } else {
                records = try text.split(separator: "\n").enumerated().compactMap { n, line -> Any? in
                    let t = line.trimmingCharacters(in: .whitespaces)
                    if t.isEmpty { return nil }
                    guard let o = try? JSONSerialization.jsonObject(with: Data(t.utf8)) else { throw EvalError.file(path, "line \(n + 1): not JSON") }
                    return o
                }
            }
            for (n, r) in records.enumerated() {
                guard let o = r as? [String: Any] else { throw EvalError.file(path, "record \(n + 1) is not an object") }
                items.append(try item(o, where: "\(path): record \(n + 1)"))
            }
            return items
        }
        var subject = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        for suffix in ["_test", "_dev", "_val"] where subject.hasSuffix(suffix) { subject = String(subject.dropLast(suffix.count)); break }
        return try parse(csv: text, subject: subject, path: path)
    }

    /// One item from a decoded JSON record: `question` (or the paper's `query`), `choices` (or
    /// fields `A`...`D`), `answer` as an index or a letter, `subject` (default "unknown").
    public static func item(_ obj: [String: Any], where loc: String = "record") throws -> MCItem {
        guard let q = (obj["question"] ?? obj["query"]) as? String else { throw EvalError.file(loc, "record has no 'question'") }
        var choices: [String] = []
        if let c = obj["choices"] as? [Any] {
            choices = c.map { ($0 as? String) ?? "\($0)" }
        } else {
            for l in letters { if let v = obj[l] { choices.append((v as? String) ?? "\(v)") } else { break } }
        }
        guard choices.count >= 2 else { throw EvalError.file(loc, "record needs 'choices' (or fields A, B, ...)") }
        let answer: Int
        if let a = obj["answer"] as? String, let i = letters.firstIndex(of: a.trimmingCharacters(in: .whitespaces).uppercased()) {
            answer = i
        } else if let a = obj["answer"] as? NSNumber {
            answer = a.intValue
        } else {
            throw EvalError.file(loc, "record's 'answer' must be a letter or an index")
        }
        guard answer >= 0 && answer < choices.count else { throw EvalError.file(loc, "answer \(answer) is not one of \(choices.count) choices") }
        return MCItem(subject: (obj["subject"] as? String) ?? "unknown", question: q, choices: choices, answer: answer)
    }

    /// Items from MMLU CSV text: question, choices..., answer letter per row.
    public static func parse(csv: String, subject: String, path: String = "<csv>") throws -> [MCItem] {
        let rows = try CSV.parse(csv, path: path)
        var items: [MCItem] = []
        for (n, row) in rows.enumerated() where !(row.count == 1 && row[0].isEmpty) {
            guard row.count >= 4 else { throw EvalError.file(path, "row \(n + 1) has \(row.count) fields (question, choices, answer expected)") }
            let letter = row[row.count - 1].trimmingCharacters(in: .whitespaces).uppercased()
            guard let answer = letters.firstIndex(of: letter), answer < row.count - 2 else {
                throw EvalError.file(path, "row \(n + 1): answer '\(row[row.count - 1])' is not one of the choice letters")
            }
            items.append(MCItem(subject: subject, question: row[0], choices: Array(row[1..<(row.count - 1)]), answer: answer))
        }
        return items
    }
}

/// RFC 4180 CSV: quoted fields may hold commas, newlines and doubled quotes.
enum CSV {
    static func parse(_ text: String, path: String) throws -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false, atStart = true
        var it = Array(text.unicodeScalars)[...]
        var line = 1
        while let c = it.popFirst() {
            if quoted {
                if c == "\"" {
                    if it.first == "\"" { it.removeFirst(); field.unicodeScalars.append("\"") } else { quoted = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where atStart: quoted = true; atStart = false
            case ",": row.append(field); field = ""; atStart = true
            case "\r": continue
            case "\n":
                row.append(field); rows.append(row); row = []; field = ""; atStart = true; line += 1
            default: field.unicodeScalars.append(c); atStart = false
            }
        }
        if quoted { throw EvalError.file(path, "line \(line): unterminated quoted field") }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
