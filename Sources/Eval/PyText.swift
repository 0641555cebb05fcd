// PyText: the few Python `str` / `re` behaviours the reference metrics rely on, reproduced on
// Unicode scalars (Python strings are code-point sequences compared without normalization):
// `str.split()` whitespace, `str.lower()` (full mapping, final sigma), `\w`, `\d`, substring search.

/// Text as a code-point array, the unit every metric works on.
typealias Scalars = [Unicode.Scalar]

enum PyText {
    /// Python's `str.isspace` for one code point (bidi WS/B/S or category Zs).
    @inline(__always)
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// Python's `str.split()` (no argument): runs of whitespace separate, no empty pieces.
    static func splitWhitespace(_ s: Scalars) -> [Scalars] {
        var out: [Scalars] = []
        var cur: Scalars = []
        for c in s {
            if isSpace(c) {
                if !cur.isEmpty { out.append(cur); cur = [] }
            } else {
                cur.append(c)
            }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// Python's `str.split(sep)` for a one-code-point separator (keeps empty pieces).
    static func split(_ s: Scalars, on sep: Unicode.Scalar) -> [Scalars] {
        var out: [Scalars] = []
        var cur: Scalars = []
        for c in s {
            if c == sep { out.append(cur); cur = [] } else { cur.append(c) }
        }
        out.append(cur)
        return out
    }

    /// Python's `" ".join(parts)`.
    static func join(_ parts: [Scalars], with sep: Scalars) -> Scalars {
        var out: Scalars = []
        for (i, p) in parts.enumerated() {
            if i > 0 { out.append(contentsOf: sep) }
            out.append(contentsOf: p)
        }
        return out
    }

    /// Python's `str.lower()`: full lowercase mapping, with the Final_Sigma context rule.
    static func lower(_ s: Scalars) -> Scalars {
        var out: Scalars = []
        out.reserveCapacity(s.count)
        for (i, c) in s.enumerated() {
            if c.value == 0x03A3 {
                out.append(isFinalSigma(s, i) ? "\u{03C2}" : "\u{03C3}")
                continue
            }
            if c.isASCII {
                let v = c.value
                out.append((v >= 65 && v <= 90) ? Unicode.Scalar(v + 32)! : c)
                continue
            }
            out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
        }
        return out
    }

    private static func isFinalSigma(_ s: Scalars, _ i: Int) -> Bool {
        var j = i - 1
        while j >= 0 && s[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0 && s[j].properties.isCased else { return false }
        var k = i + 1
        while k < s.count && s[k].properties.isCaseIgnorable { k += 1 }
        return !(k < s.count && s[k].properties.isCased)
    }

    /// Python `re`'s `\w` for str patterns: alphanumeric (letters, any numeric) or underscore.
    static func isWord(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII {
            let v = c.value
            return (v >= 48 && v <= 57) || (v >= 65 && v <= 90) || (v >= 97 && v <= 122) || v == 95
        }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return true
        default:
            return c.properties.numericType != nil
        }
    }

    /// Python `re`'s `\d` for str patterns: a decimal digit (category Nd).
    @inline(__always)
    static func isDigit(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return c.value >= 48 && c.value <= 57 }
        return c.properties.generalCategory == .decimalNumber
    }

    /// `re.findall(r"\d+", s)`.
    static func digitRuns(_ s: Scalars) -> [Scalars] {
        var out: [Scalars] = []
        var cur: Scalars = []
        for c in s {
            if isDigit(c) { cur.append(c) } else if !cur.isEmpty { out.append(cur); cur = [] }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// Python's `needle in haystack` on code points.
    static func contains(_ haystack: Scalars, _ needle: Scalars) -> Bool {
        firstIndex(of: needle, in: haystack) != nil
    }

    static func firstIndex(of needle: Scalars, in haystack: Scalars, from start: Int = 0) -> Int? {
        if needle.isEmpty { return start <= haystack.count ? start : nil }
        if needle.count > haystack.count - start { return nil }
        let first = needle[0]
        var i = start
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first {
                var j = 1
                while j < needle.count && haystack[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    static func string(_ s: Scalars) -> String {
        var out = String.UnicodeScalarView()
        out.append(contentsOf: s)
        return String(out)
    }
}

extension String {
    var scalars: Scalars { Array(unicodeScalars) }
}
