// TextStream: text that a model produces, shown as it comes. A token may end in the middle of a
// UTF-8 character (byte-level BPE splits multi-byte characters across tokens), so the decoder's
// text ends in U+FFFD until the next token completes it: the streamer holds that tail back, as
// Hugging Face's TextStreamer does, and writes control characters escaped (a model's raw
// output may hold ESC, BEL or \x1d, which would drive the terminal).
import Foundation

public struct TextStreamer {
    /// The decoded text written so far (unescaped).
    public private(set) var shown: [Unicode.Scalar] = []
    /// Tokens whose text was held back because it ended in an incomplete character.
    private var held = 0
    /// A UTF-8 character has at most 4 bytes, so a tail still invalid after this many more
    /// tokens is invalid for good (written as U+FFFD).
    public static let maxHeld = 4

    public init() {}

    /// Given the decoding of every token so far, the text to write now (escaped; "" to wait).
    public mutating func next(_ full: String) -> String {
        let scalars = Array(full.unicodeScalars)
        if scalars.last == "\u{FFFD}" && held < TextStreamer.maxHeld {
            held += 1
            return ""
        }
        return emit(scalars)
    }

    /// The rest of the text once generation ended (what is still held, even if incomplete).
    public mutating func finish(_ full: String) -> String { emit(Array(full.unicodeScalars)) }

    private mutating func emit(_ scalars: [Unicode.Scalar]) -> String {
        held = 0
        // the decoding of the tokens so far extends what was written (byte-level tokenizers);
        // when it does not (a tokenizer that rewrites earlier text), nothing more is streamed
        guard scalars.count >= shown.count, scalars[..<shown.count].elementsEqual(shown) else { return "" }
        let new = scalars[shown.count...]
        shown = scalars
        var s = String.UnicodeScalarView()
        s.append(contentsOf: new)
        return TextStreamer.escapeControls(String(s), keepNewlines: true)
    }

    /// Control characters written as escapes (`\x1d`, `\x1b`, `\u{85}` as `\x85`), so that text
    /// from a model cannot move the cursor or ring the bell. With `keepNewlines`, newlines and
    /// tabs stay as they are (a stream); without, they are written `\n`, `\t`, `\r` too (a
    /// one-line progress message).
    public static func escapeControls(_ s: String, keepNewlines: Bool) -> String {
        if !s.unicodeScalars.contains(where: { isControl($0, keepNewlines) }) { return s }
        var out = String.UnicodeScalarView()
        for c in s.unicodeScalars {
            guard isControl(c, keepNewlines) else { out.append(c); continue }
            let esc: String
            switch c {
            case "\n": esc = "\\n"
            case "\t": esc = "\\t"
            case "\r": esc = "\\r"
            default: esc = String(format: "\\x%02x", c.value)
            }
            out.append(contentsOf: esc.unicodeScalars)
        }
        return String(out)
    }

    static func isControl(_ c: Unicode.Scalar, _ keepNewlines: Bool) -> Bool {
        let v = c.value
        if keepNewlines && (c == "\n" || c == "\t") { return false }
        return v < 0x20 || v == 0x7F || (v >= 0x80 && v < 0xA0)
    }
}
