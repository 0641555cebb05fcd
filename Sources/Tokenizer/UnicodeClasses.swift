// UnicodeClasses: the character classes the Llama-3 pre-tokenizer regex uses (\p{L}, \p{N}, \s
// as Unicode White_Space, plus \r \n ' ' and the apostrophe), looked up through a table built once
// for the Basic Multilingual Plane; also Python's str.isspace() set used by the chat template's trim.

import Foundation

/// Bit flags describing one Unicode scalar for the pre-tokenizer.
enum ScalarClass {
    static let letter: UInt8 = 1        // \p{L}
    static let number: UInt8 = 2        // \p{N}
    static let space: UInt8 = 4         // \s (White_Space)
    static let newline: UInt8 = 8       // \r or \n (also space)
    static let blank: UInt8 = 16        // exactly U+0020
    static let apostrophe: UInt8 = 32   // U+0027

    /// "other": neither \s, \p{L} nor \p{N} (the `[^\s\p{L}\p{N}]` class).
    @inline(__always) static func isOther(_ c: UInt8) -> Bool { c & (letter | number | space) == 0 }

    /// Classification straight from the Unicode properties (used to build the table).
    static func compute(_ v: UInt32) -> UInt8 {
        guard let s = Unicode.Scalar(v) else { return 0 }
        var c: UInt8 = 0
        let p = s.properties
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            c |= letter
        case .decimalNumber, .letterNumber, .otherNumber:
            c |= number
        default: break
        }
        if p.isWhitespace { c |= space }
        if v == 0x0A || v == 0x0D { c |= newline | space }
        if v == 0x20 { c |= blank | space }
        if v == 0x27 { c |= apostrophe }
        return c
    }

    /// Table for U+0000...U+FFFF; scalars above are computed on demand (rare in practice).
    static let bmp: [UInt8] = (0..<0x10000).map { compute(UInt32($0)) }

    @inline(__always) static func of(_ v: UInt32, _ table: UnsafePointer<UInt8>) -> UInt8 {
        v < 0x10000 ? table[Int(v)] : compute(v)
    }
}

/// Python's str.isspace() set (what Jinja's `trim` filter strips, via str.strip()).
func isPythonSpace(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F,
         0x205F, 0x3000:
        return true
    default:
        return false
    }
}

/// Python's str.strip() with no argument.
func pythonStrip(_ text: String) -> String {
    let scalars = text.unicodeScalars
    guard let first = scalars.firstIndex(where: { !isPythonSpace($0) }),
          let last = scalars.lastIndex(where: { !isPythonSpace($0) }) else { return "" }
    return String(scalars[first...last])
}
