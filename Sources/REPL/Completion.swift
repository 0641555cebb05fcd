// Completion: what tab completes at a cursor position — variables, commands and keywords;
// fields after a dot (`m.con` -> `m.config`, `llama.` -> `llama.init`); named arguments
// (`train(m, d, l` -> `lr:`) inside a command's or function's parentheses. Pure logic, so it is
// testable without a terminal; Session wires it to readline.
import Foundation
import Lang

public enum Completion {
    /// Characters that end the word being completed (a dot does not: `m.con` is one word).
    public static let wordBreaks = " \t\n\"\\'`@$><=;|&{([,+-*/%:]})#"

    /// The candidates for the word ending at `cursor` in `line`: full replacement words.
    public static func candidates(line: String, cursor: Int, interp: Interpreter) -> [String] {
        let chars = Array(line.unicodeScalars)
        let end = min(cursor, chars.count)
        var start = end
        while start > 0, !wordBreaks.unicodeScalars.contains(chars[start - 1]) { start -= 1 }
        let word = String(String.UnicodeScalarView(chars[start..<end]))
        let before = String(String.UnicodeScalarView(chars[0..<start]))
        if insideString(before) { return [] }
        var out: [String] = []
        if let dot = word.lastIndex(of: ".") {
            let base = String(word[..<dot])
            let partial = String(word[word.index(after: dot)...])
            for f in fields(of: base, interp) where f.hasPrefix(partial) { out.append(base + "." + f) }
            return Array(Set(out)).sorted()
        }
        // inside a call, its named arguments come first (`train(m, d, l` offers lr: before len)
        var named: [String] = []
        if let callee = enclosingCall(before) {
            for p in parameterNames(callee, interp) where p.hasPrefix(word) { named.append(p + ":") }
        }
        var names = Set(interp.globalNames)
        names.formUnion(interp.registry.topLevelNames)
        names.formUnion(keywords)
        for n in names where n.hasPrefix(word) { out.append(n) }
        return Array(Set(named)).sorted() + Array(Set(out)).sorted()
    }

    /// Where the word completed at `cursor` starts (a Unicode-scalar offset): the candidates
    /// replace `line[wordStart..<cursor]`.
    public static func wordStart(line: String, cursor: Int) -> Int {
        let chars = Array(line.unicodeScalars)
        var start = min(cursor, chars.count)
        while start > 0, !wordBreaks.unicodeScalars.contains(chars[start - 1]) { start -= 1 }
        return start
    }

    /// What `help` says about the dotted name at (or just before) `cursor`: a command's
    /// signature and documentation, a namespace's commands, a variable's type and value, a
    /// host value's fields. Nil when there is no known name there.
    public static func inspect(code: String, cursor: Int, interp: Interpreter) -> (name: String, text: String)? {
        let chars = Array(code.unicodeScalars)
        func isNameChar(_ c: Unicode.Scalar) -> Bool { c == "_" || c == "." || (c.isASCII && CharacterSet.alphanumerics.contains(c)) }
        var end = min(cursor, chars.count)
        // inside a call's parentheses with nothing after the name: `train(` inspects train
        if end > 0, chars[end - 1] == "(" { end -= 1 }
        while end < chars.count, isNameChar(chars[end]) { end += 1 }
        var start = min(end, chars.count)
        while start > 0, isNameChar(chars[start - 1]) { start -= 1 }
        var name = String(String.UnicodeScalarView(chars[start..<end]))
        while name.hasSuffix(".") { name.removeLast() }
        while name.hasPrefix(".") { name.removeFirst() }
        var value = name.isEmpty ? nil : resolve(name, interp)
        if value == nil {
            // the innermost call the cursor is in: `train(m, d, l|` inspects train
            guard let callee = enclosingCall(String(String.UnicodeScalarView(chars[0..<min(cursor, chars.count)]))),
                  let v = resolve(callee, interp) else { return nil }
            name = callee; value = v
        }
        guard let v = value else { return nil }
        var text = CoreCommands.helpText(v, interp)
        switch v {
        case .command, .namespace, .function: break
        default: text = "\(name): " + text
        }
        return (name, text)
    }

    static func insideString(_ s: String) -> Bool {
        var inStr = false, escaped = false
        for c in s.unicodeScalars {
            if escaped { escaped = false; continue }
            if c == "\\" { escaped = true; continue }
            if c == "\"" { inStr.toggle() }
        }
        return inStr
    }

    /// The callee text of the innermost unclosed `(` in `s` (`eval.niah` in `eval.niah(m, `).
    static func enclosingCall(_ s: String) -> String? {
        let chars = Array(s.unicodeScalars)
        var depth = 0
        var i = chars.count - 1
        while i >= 0 {
            let c = chars[i]
            if c == ")" || c == "]" || c == "}" { depth += 1 }
            else if c == "(" || c == "[" || c == "{" {
                if depth == 0 {
                    guard c == "(" else { return nil }
                    var j = i
                    while j > 0, chars[j - 1] == "." || chars[j - 1] == "_" || CharacterSet.alphanumerics.contains(chars[j - 1]) { j -= 1 }
                    let name = String(String.UnicodeScalarView(chars[j..<i]))
                    return name.isEmpty ? nil : name
                }
                depth -= 1
            }
            i -= 1
        }
        return nil
    }

    static func parameterNames(_ callee: String, _ interp: Interpreter) -> [String] {
        guard let v = resolve(callee, interp) else { return [] }
        switch v {
        case .command(let c):
            var names = c.params.filter { $0.kind != .variadic && $0.kind != .keywords }.map { $0.name }
            if c.name == "llama.config" {   // its keywords are the Hugging Face config fields
                names += ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "num_key_value_heads", "head_dim", "max_position_embeddings", "rms_norm_eps", "rope_theta",
                          "rope_scaling", "tie_word_embeddings", "initializer_range"]
            }
            return names
        case .function(let f): return f.decl.parameters.map { $0.name }
        default: return []
        }
    }

    /// Evaluates a dotted name without calling anything: variables, fields, namespaces.
    static func resolve(_ path: String, _ interp: Interpreter) -> Value? {
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, !first.isEmpty else { return nil }
        var cur: Value
        var name = first
        if let v = interp.globals.lookup(first) { cur = v }
        else if let c = interp.registry[first] { cur = .command(c) }
        else if interp.registry.isNamespace(first) { cur = .namespace(first) }
        else { return nil }
        for p in parts.dropFirst() {
            name += "." + p
            switch cur {
            case .record(let r):
                guard let v = r[p] else { return nil }
                cur = v
            case .host(let h):
                guard h.fieldNames.contains(p), let v = try? h.getField(p) else { return nil }
                cur = v
            default:
                if let c = interp.registry[name] { cur = .command(c) }
                else if interp.registry.isNamespace(name) { cur = .namespace(name) }
                else { return nil }
            }
        }
        return cur
    }

    static func fields(of base: String, _ interp: Interpreter) -> [String] {
        guard let v = resolve(base, interp) else { return [] }
        var out: [String] = []
        switch v {
        case .record(let r): out = r.keys
        case .host(let h): out = h.fieldNames
        case .namespace(let ns): out = interp.registry.members(of: ns)
        case .command(let c): out = interp.registry.members(of: c.name)
        case .string: out = ["upper", "lower", "strip", "split", "replace", "startswith", "endswith", "contains", "join"]
        case .list: out = ["contains", "append", "push", "pop", "extend"]
        default: break
        }
        return out
    }
}
