// FuzzGen: the cases of `llx fuzz` (Fuzz.swift), each made from (seed, index) alone, so that a
// finding is reproduced by its index: grammar-aware llx programs (edge-case numbers, shapes,
// dtypes, ragged lists, wrong types, every command family) and token mutations of the kept
// corpus (Tests/Fuzz/corpus/scripts); mutated files from the seeds in Tests/Fuzz/corpus/files
// (safetensors in Hugging Face folders, HDF5, tokenizer.json, config.json, JSONL, PEFT adapter
// folders): byte flips, truncation, inserted bytes, little-endian fields made huge, and
// JSON-aware changes (numbers made huge, negative or of another type, fields dropped).
// The same grammar as scripts/fuzz.py (the per-process harness it replaces for long runs).
import Foundation

/// SplitMix64: small, fast, and the same sequence on every platform.
struct FuzzRNG {
    var state: UInt64
    init(seed: UInt64, index: UInt64) {
        state = seed &* 0x9E37_79B9_7F4A_7C15 ^ (index &+ 1) &* 0xBF58_476D_1CE4_E5B9
        _ = next(); _ = next()
    }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in lo...hi.
    mutating func int(_ lo: Int, _ hi: Int) -> Int { lo + Int(next() % UInt64(hi - lo + 1)) }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func pick<T>(_ xs: [T]) -> T { xs[below(xs.count)] }
}

enum FuzzGrammar {
    static let nums = ["0", "1", "-1", "2", "3", "7", "64", "255", "256", "1000", "65536", "1_000_000", "2M", "4B",
                       "9223372036854775807", "-9223372036854775808", "1e308", "-1e308", "1e-320", "0.5", "-0.0",
                       "3.14159", "1Ki", "1Mi", "float(\"nan\")", "float(\"inf\")", "-float(\"inf\")", "2 ** 62", "2 ** 63"]
    static let strs = ["\"\"", "\"a\"", "\"hello world\"", "\"\\n\\t\"", "\"ünïcödé ✓ 😀\"", "\"%d %s %f %%\"", "\"<|eot_id|>\"",
                       "\"\\u{0}\"", "\"x\" + \"y\"", "\"a,b,,c\"", "\"   spaced   \"", "\"\"\"\n  multi\n  line\n  \"\"\""]
    static let dtypes = ["\"f32\"", "\"f16\"", "\"bf16\"", "\"i32\"", "\"i64\"", "\"u8\"", "\"f64\"", "\"nope\"", "1"]
    static let tokens = nums + strs + ["(", ")", "[", "]", "{", "}", ",", ":", "..", "fn", "let"]
}

/// One generated program (the grammar of scripts/fuzz.py's Gen).
struct ScriptGen {
    var r: FuzzRNG
    var vars = ["x0"]
    var depth = 0

    init(_ rng: FuzzRNG) { r = rng }

    mutating func small() -> String { r.pick(["0", "1", "2", "3", "4", "5", "8", "-1", "-2", "16"]) }

    mutating func shape() -> String {
        let k = r.int(0, 3)
        var dims: [String] = []
        for _ in 0..<k {
            dims.append(r.unit() < 0.15 ? r.pick(["0", "1", "2", "3", "4", "-1", "100000", "1000000", "2 ** 40", "2 ** 62"])
                        : String(r.int(0, 5)))
        }
        return "[" + dims.joined(separator: ", ") + "]"
    }

    mutating func lst() -> String {
        let n = r.int(0, 4)
        if r.unit() < 0.2 { return "[[1, 2], [3]]" }
        var xs: [String] = []
        for _ in 0..<n { xs.append(expr()) }
        return "[" + xs.joined(separator: ", ") + "]"
    }

    mutating func nestedNums() -> String {
        let rows = r.int(1, 3), cols = r.int(1, 3)
        var out: [String] = []
        for _ in 0..<rows {
            var row: [String] = []
            for _ in 0..<cols { row.append(r.pick(Array(FuzzGrammar.nums.prefix(20)))) }
            out.append("[" + row.joined(separator: ", ") + "]")
        }
        return "[" + out.joined(separator: ", ") + "]"
    }

    mutating func record() -> String {
        let keys = ["a", "b", "rank", "lr", "text", "role", "content"]
        let n = r.int(0, 3)
        var xs: [String] = []
        for _ in 0..<n { let k = r.pick(keys); xs.append("\(k): \(expr())") }
        return "{" + xs.joined(separator: ", ") + "}"
    }

    mutating func str() -> String { r.pick(FuzzGrammar.strs) }
    mutating func num() -> String { r.pick(FuzzGrammar.nums) }

    mutating func tensor() -> String {
        switch r.int(0, 9) {
        case 0: return "tensor(\(nestedNums()))"
        case 1: return "zeros(\(shape()))"
        case 2: return "ones(\(shape()), dtype: \(r.pick(FuzzGrammar.dtypes)))"
        case 3: return "randn(\(shape()), seed: \(small()))"
        case 4: return "arange(\(num()))"
        case 5: return "eye(\(small()))"
        case 6: return "full(\(shape()), \(num()))"
        case 7: return "rand(\(shape()))"
        case 8: return "tensor(\(lst()))"
        default: return "tensor([1, 2, 3, 4, 5, 6]).reshape(\(shape()))"
        }
    }

    mutating func index() -> String {
        var parts: [String] = []
        for _ in 0..<r.int(1, 3) {
            switch r.int(0, 4) {
            case 0: parts.append(r.pick(Array(FuzzGrammar.nums.prefix(12))))
            case 1: parts.append("\(small()):\(small())")
            case 2: parts.append("::" + r.pick(["-1", "2", "0", "-3"]))
            case 3: parts.append("nil")
            default: parts.append(":")
            }
        }
        return parts.joined(separator: ", ")
    }

    mutating func command() -> String {
        switch r.int(0, 69) {
        case 0: return "\(tensor()) + \(tensor())"
        case 1: return "\(tensor()) @ \(tensor())"
        case 2: return "\(tensor()) * \(expr())"
        case 3: return "sum(\(tensor()), axis: \(small()))"
        case 4: return "mean(\(tensor()))"
        case 5: return "max(\(tensor()), axis: \(small()))"
        case 6: return "softmax(\(tensor()), axis: \(small()))"
        case 7: return "\(tensor())[\(index())]"
        case 8: return "\(tensor()).reshape(\(shape()))"
        case 9: return "\(tensor()).to(\(r.pick(FuzzGrammar.dtypes)))"
        case 10: return "\(tensor()).item()"
        case 11: return "\(tensor()).tolist()"
        case 12: return "\(tensor()).T"
        case 13: return "matmul(\(tensor()), \(tensor()))"
        case 14: return "argmax(\(tensor()))"
        case 15: return "allclose(\(tensor()), \(tensor()))"
        case 16: return "maxabs(\(tensor()))"
        case 17: return "exp(\(tensor()))"
        case 18: return "log(\(expr()))"
        case 19: return "len(\(expr()))"
        case 20: return "str(\(expr()))"
        case 21: return "repr(\(expr()))"
        case 22: return "int(\(expr()))"
        case 23: return "float(\(expr()))"
        // ranges are lazy: huge bounds are fine as long as nothing walks them whole
        case 24: return "range(\(small()), \(small()), \(r.pick(["1", "2", "-1", "0"])))"
        case 25: return "sorted(\(lst()))"
        case 26: return "reversed(\(expr()))"
        case 27: return "enumerate(\(lst()))"
        case 28: return "zip(\(lst()), \(lst()))"
        case 29: return "join(\(lst()), \(str()))"
        case 30: return "split(\(str()), \(str()))"
        case 31: return "format(\(expr()), \(num()))"
        case 32: return "round(\(expr()), \(small()))"
        case 33: return "\(str()) % \(lst())"
        case 34: return "\(str()).replace(\(str()), \(str()))"
        case 35: return "keys(\(record()))"
        case 36: return "\(record()) + \(record())"
        case 37: return "abs(\(expr()))"
        case 38: return "floor(\(expr()))"
        case 39: return "sqrt(\(expr()))"
        case 40: return "min(\(lst()))"
        case 41: return "contains(\(expr()), \(expr()))"
        case 42: return "tokenizer.bytes().encode(\(str()))"
        case 43: return "tokenizer.bytes().decode(\(lst()))"
        case 44: return "tokenizer.bytes().chat([{role: \(str()), content: \(str())}])"
        case 45: return "llama.config(\"tiny\", \(r.pick(["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "head_dim", "rope_theta"])): \(num()))"
        case 46: return "llama.init(llama.config(\"tiny\", num_hidden_layers: 1, \(r.pick(["vocab_size", "hidden_size", "intermediate_size"])): \(num())), seed: 0)"
        case 47: return "nf4(\(tensor()))"
        case 48: return "data.from(\(lst()))"
        case 49: return "score.f1(\(str()), \(str()))"
        case 50: return "score.rouge_l(\(str()), \(str()))"
        case 51: return "plot.heatmap(\(nestedNums()))"
        case 52: return "plot.line(\(lst()), \(lst()))"
        case 53: return "read_json(\(str()))"
        case 54: return "type(\(expr()))"
        case 55: return "help(\(expr()))"
        case 56: return "has(\(record()), \(str()))"
        case 57: return "\(lst())[\(index())]"
        case 58: return "\(str())[\(index())]"
        case 59: return "\(num()) \(r.pick(["+", "-", "*", "/", "//", "%", "**", "<", "==", "and", "or"])) \(num())"
        // lazy ranges with huge bounds: indexing, slicing, len, membership, a bounded walk
        case 60: return "range(\(num()), \(num()), \(r.pick(["1", "2", "-1", "0", "65536", "2 ** 40"])))[\(index())]"
        case 61: return "len(range(\(num()), \(num()), \(r.pick(["1", "3", "-7", "2 ** 61"]))))"
        case 62: return "contains(range(\(num()), \(num())), \(num()))"
        case 63: return "abs(range(2, \(num()), \(r.pick(["1", "65536", "-1"]))))"
        case 64: return "\(str()) * \(num())"
        case 65: return "\(lst()) * \(num())"
        case 66: return "tokenizer.bytes().decode([\(num()), \(num())])"
        case 67: return "zeros(\(shape())).sum(axis: \(small()))"
        case 68: return "score.exact(\(str()), \(str()))"
        default: return "list(range(\(small()), \(num())))[\(index())]"
        }
    }

    mutating func expr() -> String {
        depth += 1
        defer { depth -= 1 }
        let atoms = FuzzGrammar.nums + FuzzGrammar.strs + vars
        if depth > 3 { return r.pick(atoms + ["nil", "true"]) }
        let c = r.unit()
        if c < 0.25 { return r.pick(atoms + ["nil", "false", "[]", "{}"]) }
        if c < 0.35 { return lst() }
        if c < 0.42 { return record() }
        if c < 0.55 { return tensor() }
        return command()
    }

    mutating func stmt(_ d: Int = 0) -> String {
        let c = r.unit()
        if c < 0.3 {
            let v = "x\(vars.count)"
            let e = expr()
            vars.append(v)
            return "let \(v) = \(e)"
        }
        if c < 0.4 { let v = r.pick(vars); return "\(v) = \(expr())" }
        if c < 0.5 { return "print(\(expr()))" }
        if c < 0.55 && d < 2 {
            let cond = expr()
            var body: [String] = []
            for _ in 0..<r.int(1, 3) { body.append("    " + stmt(d + 1)) }
            return "if \(cond) {\n\(body.joined(separator: "\n"))\n} else {\n    \(stmt(d + 1))\n}"
        }
        if c < 0.6 && d < 2 {
            var body: [String] = []
            for _ in 0..<r.int(1, 2) { body.append("    " + stmt(d + 1)) }
            let it: String
            switch r.int(0, 6) {
            case 0: it = "range(3)"
            case 1: it = "[1, 2]"
            case 2: it = "\"ab\""
            case 3: it = "{a: 1}"
            case 4: it = "tensor([[1, 2], [3, 4]])"
            // a few iterations near the ends of Int (a loop of 2^62 steps is legal work, not a finding)
            case 5: it = r.pick(["range(0, 3)", "range(-5, -2)", "range(2 ** 62, 2 ** 62 + 2)", "range(9223372036854775806, 9223372036854775807)",
                                 "range(-9223372036854775807 - 1, -9223372036854775807 + 1)", "range(3, 0, -1)"])
            default: it = lst()
            }
            return "for i\(d) in \(it) {\n\(body.joined(separator: "\n"))\n}"
        }
        if c < 0.63 && d < 2 {
            return "let w\(d) = 0\nwhile w\(d) < \(small()) { w\(d) += 1\n    \(stmt(d + 1)) }"
        }
        if c < 0.67 {
            return "fn f\(d)(a, b: \(expr())) { return \(expr()) }\nprint(f\(d)(\(expr())))"
        }
        if c < 0.7 { let v = r.pick(vars); return "\(v)[\(index())] = \(expr())" }
        return expr()
    }

    mutating func program() -> String {
        var lines = ["let x0 = " + expr()]
        for _ in 0..<r.int(1, 8) { lines.append(stmt()) }
        return lines.joined(separator: "\n") + "\n"
    }
}

enum FuzzMutate {
    /// Token deletions, duplications, splices from another corpus script, replacements, reversals.
    static func text(_ r: inout FuzzRNG, _ text: String, others: [String]) -> String {
        func toks(_ s: String) -> [String] {
            s.replacingOccurrences(of: "\n", with: " \n ").split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        }
        var t = toks(text)
        for _ in 0..<r.int(1, 4) {
            if t.isEmpty { break }
            let i = r.below(t.count)
            switch r.int(0, 4) {
            case 0: t.remove(at: i)
            case 1: t.insert(t[r.below(t.count)], at: i)
            case 2 where !others.isEmpty:
                let o = toks(r.pick(others))
                let j = r.below(o.count)
                t.insert(contentsOf: o[j..<min(o.count, j + r.int(1, 12))], at: i)
            case 3: t[i] = r.pick(FuzzGrammar.tokens)
            default: t[i] = String(t[i].reversed())
            }
        }
        return t.joined(separator: " ").replacingOccurrences(of: " \n ", with: "\n")
    }

    static func bytes(_ r: inout FuzzRNG, _ data: [UInt8]) -> [UInt8] {
        var b = data
        for _ in 0..<r.int(1, 6) {
            if b.isEmpty { b = [0] }
            let i = r.below(b.count)
            switch r.int(0, 5) {
            case 0: b[i] ^= UInt8(1) << UInt8(r.below(8))
            case 1: b[i] = r.pick([0, 0xFF, 0x7F, 0x80])
            case 2: b.removeSubrange(i..<min(b.count, i + r.int(1, 16)))
            case 3:
                var ins: [UInt8] = []
                for _ in 0..<r.int(1, 8) { ins.append(UInt8(r.below(256))) }
                b.insert(contentsOf: ins, at: i)
            case 4: b.removeSubrange(i...)
            default:
                // a little-endian integer field made huge
                if i + 8 <= b.count {
                    let v: Int64 = r.pick([1 << 62, -1, 1 << 40, Int64(Int32.max)])
                    withUnsafeBytes(of: v.littleEndian) { for k in 0..<8 { b[i + k] = $0[k] } }
                }
            }
        }
        return b
    }

    static func jsonValue(_ r: inout FuzzRNG, _ obj: Any) -> Any {
        if var d = obj as? [String: Any], !d.isEmpty {
            let k = r.pick(d.keys.sorted())
            if r.int(0, 3) == 0 { d[k] = nil } else { d[k] = jsonValue(&r, d[k]!) }
            return d
        }
        if var a = obj as? [Any], !a.isEmpty {
            let i = r.below(a.count)
            switch r.int(0, 3) {
            case 0: a.remove(at: i)
            case 1: a.append(a[i])
            default: a[i] = jsonValue(&r, a[i])
            }
            return a
        }
        let leaves: [Any] = [0, -1, 1, 1 << 31, Int64.max, Int64.min, 1e308, 1e-320, 0.5, "", String(repeating: "x", count: 50),
                             NSNull(), true, [Any](), [String: Any](), "<|eot_id|>", "\u{ff}\u{0}", 1e20]
        return r.pick(leaves)
    }

    /// A JSON-aware mutation of `data` (one JSON document, or JSON lines); nil when it does not parse.
    static func json(_ r: inout FuzzRNG, _ data: [UInt8], lines: Bool) -> [UInt8]? {
        func encode(_ v: Any) -> String? {
            guard let d = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed]) else { return nil }
            return String(decoding: d, as: UTF8.self)
        }
        if lines {
            var ls = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            guard !ls.isEmpty else { return nil }
            let i = r.below(ls.count)
            guard let v = try? JSONSerialization.jsonObject(with: Data(ls[i].utf8), options: [.fragmentsAllowed]),
                  let s = encode(jsonValue(&r, v)) else { return nil }
            ls[i] = s
            return Array(ls.joined(separator: "\n").utf8)
        }
        guard let v = try? JSONSerialization.jsonObject(with: Data(data), options: [.fragmentsAllowed]),
              let s = encode(jsonValue(&r, v)) else { return nil }
        return Array(s.utf8)
    }
}

/// The seeds of the file cases: Tests/Fuzz/corpus/files/<kind>-<name> (a file or a folder).
struct FuzzSeed {
    let kind: String
    let name: String
    /// (file name, bytes); one entry for a plain file.
    let files: [(String, [UInt8])]
    let isFolder: Bool
}

/// One case: a script (its text) or a file (the files to write and the entry that loads them).
struct FuzzCase {
    enum Kind { case script, file }
    let kind: Kind
    /// "script", or the seed kind ("h5", "hfdir", ...)
    let label: String
    /// The script's text (kind .script).
    let text: String
    /// kind .file: the files to write under the case folder, and whether that folder is the
    /// case (a Hugging Face or adapter folder) or holds the one file that is.
    let files: [(String, [UInt8])]
    let isFolder: Bool

    /// The llx entry that runs the case, "CASE" standing for its path.
    var entry: String {
        if kind == .script { return "run_script(\"CASE\")" }
        return FuzzCase.loadCommand(label)
    }

    static let small = "llama.config(\"tiny\", num_hidden_layers: 1, hidden_size: 16, intermediate_size: 32, num_attention_heads: 2, num_key_value_heads: 1)"

    static func loadCommand(_ kind: String) -> String {
        let q = "\"CASE\""
        switch kind {
        case "h5": return "h5.ls(\(q)); load(\(q))"
        case "h5read": return "for e in h5.ls(\(q)) { h5.read(\(q), e.name, dtype: \"f32\"); h5.values(\(q), e.name) }"
        case "hfdir": return "llama.load(\(q)); llama.load(\(q), quant: \"nf4\")"
        case "tokenizer": return "let t = tokenizer.load(\(q)); t.decode(t.encode(\"hello world, Ünïcode 123\")); t.vocab_size"
        case "jsonl": return "let d = data.jsonl(\(q)); len(d); train(llama.init(llama.config(\"tiny\", num_hidden_layers: 1), seed: 0), d, tok: tokenizer.bytes(), steps: 1, batch: 1, max_len: 64, progress: false)"
        case "peft": return "lora.load_peft(llama.init(\(small), seed: 0), \(q))"
        default: return "load(\(q))"
        }
    }

    static func make(seed: UInt64, index: Int, scripts: Int, corpus: [String], seeds: [FuzzSeed]) -> FuzzCase {
        var r = FuzzRNG(seed: seed, index: UInt64(index))
        if index < scripts {
            let text: String
            if r.unit() < 0.7 || corpus.isEmpty {
                var g = ScriptGen(r)
                text = g.program()
            } else {
                let base = r.pick(corpus)
                text = FuzzMutate.text(&r, base, others: corpus)
            }
            return FuzzCase(kind: .script, label: "script", text: text, files: [], isFolder: false)
        }
        let s = r.pick(seeds)
        var files = s.files
        let v = r.below(files.count)
        let (name, data) = files[v]
        var out: [UInt8]? = nil
        let isJSON = name.hasSuffix(".json") || name.hasSuffix(".jsonl")
        if isJSON && r.unit() < 0.7 { out = FuzzMutate.json(&r, data, lines: name.hasSuffix(".jsonl")) }
        files[v] = (name, out ?? FuzzMutate.bytes(&r, data))
        return FuzzCase(kind: .file, label: s.kind, text: "", files: files, isFolder: s.isFolder)
    }

    /// Writes the case under `dir` (created); returns the path "CASE" stands for.
    func write(in dir: String) throws -> String {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        if kind == .script {
            let p = dir + "/case.llx"
            try Data(text.utf8).write(to: URL(fileURLWithPath: p))
            return p
        }
        if isFolder {
            let d = dir + "/case"
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
            for (n, b) in files { try Data(b).write(to: URL(fileURLWithPath: d + "/" + n)) }
            return d
        }
        let p = dir + "/" + files[0].0
        try Data(files[0].1).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// A short hash of the case (names its reproducer folder).
    var hash: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ b: UInt8) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        for b in entry.utf8 { mix(b) }
        for b in text.utf8 { mix(b) }
        for (n, d) in files { for b in n.utf8 { mix(b) }; for b in d { mix(b) } }
        return String(h, radix: 16).leftPad(16).prefix(12).description
    }

    static func loadSeeds(_ dir: String) throws -> [FuzzSeed] {
        let fm = FileManager.default
        var out: [FuzzSeed] = []
        for name in try fm.contentsOfDirectory(atPath: dir).sorted() {
            let p = dir + "/" + name
            guard let dash = name.firstIndex(of: "-") else { continue }
            let kind = String(name[..<dash]), rest = String(name[name.index(after: dash)...])
            var isDir: ObjCBool = false
            _ = fm.fileExists(atPath: p, isDirectory: &isDir)
            if isDir.boolValue {
                let fs = try fm.contentsOfDirectory(atPath: p).sorted().map { ($0, [UInt8](try Data(contentsOf: URL(fileURLWithPath: p + "/" + $0)))) }
                out.append(FuzzSeed(kind: kind, name: rest, files: fs, isFolder: true))
            } else {
                out.append(FuzzSeed(kind: kind, name: rest, files: [(rest, [UInt8](try Data(contentsOf: URL(fileURLWithPath: p))))], isFolder: false))
            }
        }
        return out
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
