// Pretokenizer: the Llama-3 split regex, written out by hand over Unicode scalars:
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
// Each alternative is tried in order at the current scalar (leftmost-first, as tiktoken's regex
// engine does); the backtracking cases (\s*[\r\n]+ and \s+(?!\S)) are resolved in closed form.

import Foundation

/// Public access to the pre-tokenizer, for inspection and tests.
public enum Pretokenizer {
    /// The pieces the Llama-3 split regex cuts `text` into.
    public static func llama3(_ text: String) -> [String] {
        var s = text
        var out: [String] = []
        s.withUTF8 { buf in
            Llama3Pretokenizer.split(buf) { a, b in
                out.append(String(decoding: UnsafeBufferPointer(rebasing: buf[a..<b]), as: UTF8.self))
            }
        }
        return out
    }
}

enum Llama3Pretokenizer {
    /// Splits valid UTF-8 `bytes` into pieces and calls `emit(start, end)` with each piece's byte
    /// range, in order. The pieces cover the input exactly.
    static func split(_ bytes: UnsafeBufferPointer<UInt8>, _ emit: (Int, Int) -> Void) {
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return }
        let cls = UnsafeMutablePointer<UInt8>.allocate(capacity: n + 1)
        let off = UnsafeMutablePointer<Int32>.allocate(capacity: n + 1)
        defer { cls.deallocate(); off.deallocate() }
        // Decode scalars once: class and starting byte offset of each.
        var m = 0
        ScalarClass.bmp.withUnsafeBufferPointer { tableBuf in
            let table = tableBuf.baseAddress!
            var i = 0
            while i < n {
                let b0 = base[i]
                var v: UInt32
                var len: Int
                if b0 < 0x80 {
                    v = UInt32(b0); len = 1
                } else if b0 < 0xE0 {
                    len = 2; v = UInt32(b0 & 0x1F)
                } else if b0 < 0xF0 {
                    len = 3; v = UInt32(b0 & 0x0F)
                } else {
                    len = 4; v = UInt32(b0 & 0x07)
                }
                if len > 1 {
                    if i + len > n { len = n - i }   // defensive: truncated input
                    var k = 1
                    while k < len { v = (v << 6) | UInt32(base[i + k] & 0x3F); k += 1 }
                }
                off[m] = Int32(i)
                cls[m] = ScalarClass.of(v, table)
                m += 1
                i += len
            }
        }
        off[m] = Int32(n)
        cls[m] = 0

        let L = ScalarClass.letter, N = ScalarClass.number, S = ScalarClass.space
        let NL = ScalarClass.newline
        var p = 0
        while p < m {
            let c = cls[p]
            var e: Int
            if c & ScalarClass.apostrophe != 0, let len = contraction(base, off, m, p) {
                e = p + len                                            // (?i:'s|'t|...)
            } else if c & L != 0 {
                e = p + 1                                              // \p{L}+
                while e < m && cls[e] & L != 0 { e += 1 }
            } else if c & (NL | N | L) == 0 && p + 1 < m && cls[p + 1] & L != 0 {
                e = p + 2                                              // [^\r\n\p{L}\p{N}]\p{L}+
                while e < m && cls[e] & L != 0 { e += 1 }
            } else if c & N != 0 {
                e = p + 1                                              // \p{N}{1,3}
                while e < m && e < p + 3 && cls[e] & N != 0 { e += 1 }
            } else if c & ScalarClass.blank != 0 && p + 1 < m && ScalarClass.isOther(cls[p + 1]) {
                e = p + 2                                              // ' '[^\s\p{L}\p{N}]+[\r\n]*
                while e < m && ScalarClass.isOther(cls[e]) { e += 1 }
                while e < m && cls[e] & NL != 0 { e += 1 }
            } else if ScalarClass.isOther(c) {
                e = p + 1                                              // [^\s\p{L}\p{N}]+[\r\n]*
                while e < m && ScalarClass.isOther(cls[e]) { e += 1 }
                while e < m && cls[e] & NL != 0 { e += 1 }
            } else {
                // c is whitespace: run [p, j).
                var j = p
                var lastNL = -1
                while j < m && cls[j] & S != 0 {
                    if cls[j] & NL != 0 { lastNL = j }
                    j += 1
                }
                if lastNL >= 0 {
                    e = lastNL + 1                                     // \s*[\r\n]+
                } else if j == m || j - 1 == p {
                    e = j                                              // \s+(?!\S) at end, or \s+
                } else {
                    e = j - 1                                          // \s+(?!\S)
                }
            }
            emit(Int(off[p]), Int(off[e]))
            p = e
        }
    }

    /// ASCII letter at scalar `q` lower-cased (U+017F LONG S case-folds to 's'), or 0.
    @inline(__always)
    private static func folded(_ base: UnsafePointer<UInt8>, _ off: UnsafeMutablePointer<Int32>,
                               _ m: Int, _ q: Int) -> UInt8 {
        guard q < m else { return 0 }
        let b = base[Int(off[q])]
        if b < 0x80 { return b | 0x20 }
        if b == 0xC5 && off[q + 1] - off[q] == 2 && base[Int(off[q]) + 1] == 0xBF { return 0x73 }
        return 0
    }

    /// Length in scalars of a contraction ('s 't 're 've 'm 'll 'd, any case) at apostrophe `p`.
    @inline(__always)
    private static func contraction(_ base: UnsafePointer<UInt8>, _ off: UnsafeMutablePointer<Int32>,
                                    _ m: Int, _ p: Int) -> Int? {
        switch folded(base, off, m, p + 1) {
        case 0x73, 0x74, 0x6D, 0x64: return 2                  // s t m d
        case 0x72, 0x76: return folded(base, off, m, p + 2) == 0x65 ? 3 : nil   // re ve
        case 0x6C: return folded(base, off, m, p + 2) == 0x6C ? 3 : nil         // ll
        default: return nil
        }
    }
}
