// Terminal: the width text is laid out for (help(), :vars, the progress bar) and word wrapping
// with hanging indents.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum Terminal {
    /// The width of the terminal on `fd`: $COLUMNS when set, else the window size the terminal
    /// reports; nil when `fd` is not a terminal and COLUMNS is not set.
    public static func columns(fd: Int32 = 1) -> Int? {
        if let c = ProcessInfo.processInfo.environment["COLUMNS"], let n = Int(c), n > 0 { return n }
        guard isatty(fd) != 0 else { return nil }
        var ws = winsize()
        if ioctl(fd, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 { return Int(ws.ws_col) }
        return nil
    }

    /// The width to lay text out for: the terminal's, or 100 columns when not a terminal.
    public static var width: Int { max(40, columns() ?? 100) }

    /// Word-wraps one line to `width` columns. Continuation lines are indented to `indent`;
    /// nil: to the line's text after a two-space gap (a list's second column, as help() prints
    /// `  name(args)    summary`), else to the line's own indentation. A word longer than the
    /// room is left whole.
    public static func wrap(_ line: String, width: Int, indent: Int? = nil) -> [String] {
        let chars = Array(line)
        guard chars.count > width else { return [line] }
        let lead = chars.prefix { $0 == " " }.count
        var hang = indent ?? lead
        if indent == nil {
            // the column after the first run of 2+ spaces that follows some text
            var i = lead
            while i < chars.count - 2 {
                if chars[i] != " " && chars[i + 1] == " " && chars[i + 2] == " " {
                    var j = i + 1
                    while j < chars.count && chars[j] == " " { j += 1 }
                    if j < chars.count { hang = j }
                    break
                }
                i += 1
            }
            if hang > width * 2 / 3 { hang = lead + 4 }
        }
        var out: [String] = []
        var cur = String(chars[0..<lead])
        var curLen = lead
        var atStart = true
        // words keep runs of spaces inside the first part (the padding before a summary)
        var k = lead
        var pending = ""
        func flushWord(_ w: String, gap: String) {
            if atStart {
                cur += w; curLen += w.count; atStart = false
                return
            }
            if curLen + gap.count + w.count > width {
                out.append(cur)
                cur = String(repeating: " ", count: hang) + w
                curLen = hang + w.count
            } else {
                cur += gap + w; curLen += gap.count + w.count
            }
        }
        var gap = ""
        while k < chars.count {
            let c = chars[k]
            if c == " " {
                if !pending.isEmpty { flushWord(pending, gap: gap); pending = ""; gap = "" }
                gap.append(" ")
            } else {
                pending.append(c)
            }
            k += 1
        }
        if !pending.isEmpty { flushWord(pending, gap: gap) }
        out.append(cur)
        return out
    }

    /// Every line of `text` wrapped (see `wrap`); the text's line ends are kept.
    public static func wrapText(_ text: String, width: Int) -> String {
        var lines = text.components(separatedBy: "\n")
        let trailing = lines.last == ""
        if trailing { lines.removeLast() }
        let out = lines.flatMap { wrap($0, width: width) }.joined(separator: "\n")
        return trailing ? out + "\n" : out
    }
}
