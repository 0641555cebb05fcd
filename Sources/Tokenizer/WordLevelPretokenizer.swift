// WordLevelPretokenizer: Hugging Face's `Whitespace` pre-tokenizer (the regex `\w+|[^\w\s]+`
// with the Rust `regex` crate's Unicode classes: pieces are maximal runs of word characters or
// of other non-space characters; whitespace is dropped), optionally followed by `Digits`
// (char::is_numeric scalars isolated one by one, or grouped in runs).

import Foundation

/// How numbers are cut after the Whitespace pre-tokenizer (Hugging Face's `Digits`).
public enum DigitSplit: String, Sendable, CaseIterable {
    /// No Digits pre-tokenizer: "2024" is one piece.
    case none
    /// `Digits(individual_digits: true)`: every numeric scalar is its own piece ("2","0","2","4").
    case individual
    /// `Digits(individual_digits: false)`: runs of numeric scalars split from the rest ("abc123" -> "abc","123").
    case contiguous
}

/// Character classes of the Whitespace and Digits pre-tokenizers.
enum WordClass {
    static let word: UInt8 = 1      // \w: Alphabetic, marks, Nd, Pc, Join_Control
    static let space: UInt8 = 2     // \s: White_Space
    static let numeric: UInt8 = 4   // Rust char::is_numeric: Nd, Nl, No

    /// The Unicode version of the `regex` crate tables inside `tokenizers` (0.23): scalars first
    /// assigned in a later version are not `\w` there (it sees them as unassigned).
    static let regexUnicodeMajor = 16

    static func compute(_ v: UInt32) -> UInt8 {
        guard let s = Unicode.Scalar(v) else { return 0 }
        let p = s.properties
        var c: UInt8 = 0
        var w = p.isAlphabetic || p.isJoinControl
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation:
            w = true
        default: break
        }
        if w, let age = p.age, age.major > regexUnicodeMajor { w = false }
        if w { c |= word }
        if p.isWhitespace { c |= space }
        switch p.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: c |= numeric
        default: break
        }
        return c
    }

    /// Table for U+0000...U+FFFF; scalars above are computed on demand.
    static let bmp: [UInt8] = (0..<0x10000).map { compute(UInt32($0)) }

    /// The class of the scalar whose first byte is at `p[i]` (valid UTF-8 ending before `end`),
    /// and its length in bytes.
    @inline(__always)
    static func scalar(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, _ table: UnsafePointer<UInt8>) -> (UInt8, Int) {
        let b0 = p[i]
        if b0 < 0x80 { return (table[Int(b0)], 1) }
        var len: Int, v: UInt32
        if b0 < 0xE0 { len = 2; v = UInt32(b0 & 0x1F) } else if b0 < 0xF0 { len = 3; v = UInt32(b0 & 0x0F) } else { len = 4; v = UInt32(b0 & 0x07) }
        if i + len > end { len = end - i }   // defensive: truncated input
        var k = 1
        while k < len { v = (v << 6) | UInt32(p[i + k] & 0x3F); k += 1 }
        return (v < 0x10000 ? table[Int(v)] : compute(v), len)
    }

    /// Whether the text ending at byte `end` (after `start`) ends with a word character.
    static func endsWithWord(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        guard end > start else { return false }
        var i = end - 1
        while i > start && p[i] & 0xC0 == 0x80 { i -= 1 }
        return bmp.withUnsafeBufferPointer { scalar(p, i, end, $0.baseAddress!).0 & word != 0 }
    }

    static func startsWithWord(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        guard end > start else { return false }
        return bmp.withUnsafeBufferPointer { scalar(p, start, end, $0.baseAddress!).0 & word != 0 }
    }

    /// The start of the whitespace run that ends at `end` (not before `start`).
    static func spaceRunBefore(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Int {
        var e = end
        while e > start {
            var i = e - 1
            while i > start && p[i] & 0xC0 == 0x80 { i -= 1 }
            let c = bmp.withUnsafeBufferPointer { scalar(p, i, e, $0.baseAddress!).0 }
            if c & space == 0 { break }
            e = i
        }
        return e
    }

    /// The end of the whitespace run that starts at `start` (not after `end`).
    static func spaceRunAfter(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int) -> Int {
        var i = start
        while i < end {
            let (c, n) = bmp.withUnsafeBufferPointer { scalar(p, i, end, $0.baseAddress!) }
            if c & space == 0 { break }
            i += n
        }
        return i
    }
}

enum WhitespacePretokenizer {
    /// Calls `emit(start, end)` for each piece of the valid UTF-8 bytes `p[start..<end]`, in order.
    static func split(_ p: UnsafePointer<UInt8>, _ start: Int, _ end: Int, digits: DigitSplit,
                      _ emit: (Int, Int) -> Void) {
        WordClass.bmp.withUnsafeBufferPointer { tb in
            let table = tb.baseAddress!
            var runStart = -1
            var runKey: UInt8 = 0        // word or 0 (other), plus numeric for contiguous digits
            var i = start
            while i < end {
                let (c, n) = WordClass.scalar(p, i, end, table)
                defer { i += n }
                if c & WordClass.space != 0 && c & WordClass.word == 0 {
                    if runStart >= 0 { emit(runStart, i); runStart = -1 }
                    continue
                }
                if c & WordClass.numeric != 0 && digits == .individual {
                    if runStart >= 0 { emit(runStart, i); runStart = -1 }
                    emit(i, i + n)
                    continue
                }
                var key = c & WordClass.word
                if digits == .contiguous { key |= c & WordClass.numeric }
                if runStart >= 0 && key != runKey { emit(runStart, i); runStart = -1 }
                if runStart < 0 { runStart = i; runKey = key }
            }
            if runStart >= 0 { emit(runStart, end) }
        }
    }
}

public extension Pretokenizer {
    /// The pieces Hugging Face's `Whitespace` pre-tokenizer (followed by `Digits` unless `digits`
    /// is `.none`) cuts `text` into.
    static func whitespace(_ text: String, digits: DigitSplit = .none) -> [String] {
        var s = text
        var out: [String] = []
        s.withUTF8 { buf in
            guard let base = buf.baseAddress else { return }
            WhitespacePretokenizer.split(base, 0, buf.count, digits: digits) { a, b in
                out.append(String(decoding: UnsafeBufferPointer(rebasing: buf[a..<b]), as: UTF8.self))
            }
        }
        return out
    }
}
