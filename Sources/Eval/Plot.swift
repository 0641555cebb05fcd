// Plot: figures as standalone SVG (for notebooks and files) and as terminal pictures (24-bit
// ANSI colour blocks, or plain characters without colour): the NIAH heatmap with its
// red-yellow-green colour bar, and multi-series line charts (accuracy vs length, loss curves).
import Foundation

/// A rendered figure.
public struct Figure: CustomStringConvertible {
    public var title: String
    public var svg: String
    /// The picture with ANSI colours.
    public var terminal: String
    /// The same picture in plain characters (no escape codes).
    public var plain: String

    public init(title: String, svg: String, terminal: String, plain: String) {
        self.title = title
        self.svg = svg
        self.terminal = terminal
        self.plain = plain
    }

    public var description: String { plain }

    /// Whether terminal colour is wanted: off when NO_COLOR is set or TERM is "dumb".
    public static var colorEnabled: Bool {
        let env = ProcessInfo.processInfo.environment
        if let n = env["NO_COLOR"], !n.isEmpty { return false }
        return env["TERM"] != "dumb"
    }

    /// The terminal picture, coloured or not.
    public func terminal(color: Bool) -> String { color ? terminal : plain }

    /// Writes the SVG (or, for a `.txt` path, the plain picture) atomically.
    public func save(_ path: String) throws {
        let text = path.lowercased().hasSuffix(".txt") ? plain : svg
        do {
            try text.write(to: URL(fileURLWithPath: path), atomically: true, encoding: .utf8)
        } catch {
            throw EvalError.file(path, "cannot write figure: \(error.localizedDescription)")
        }
    }
}

/// One line of a line chart.
public struct Series {
    public var label: String
    public var xs: [Double]
    public var ys: [Double]
    public init(label: String, xs: [Double], ys: [Double]) {
        self.label = label
        self.xs = xs
        self.ys = ys
    }
}

public enum Plot {
    // MARK: colours

    /// The NIAH colormap of the paper's plots: #F0496E (0) -> #EBB839 (0.5) -> #0CD79F (1).
    public static func color(_ v: Double) -> (r: Int, g: Int, b: Int) {
        let stops: [(Double, Double, Double)] = [(240, 73, 110), (235, 184, 57), (12, 215, 159)]
        let t = v.isFinite ? min(max(v, 0), 1) : 0
        let (a, b, f) = t <= 0.5 ? (stops[0], stops[1], t / 0.5) : (stops[1], stops[2], (t - 0.5) / 0.5)
        func mix(_ x: Double, _ y: Double) -> Int { Int((x + (y - x) * f).rounded()) }
        return (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    static func hex(_ c: (r: Int, g: Int, b: Int)) -> String { String(format: "#%02X%02X%02X", c.r, c.g, c.b) }

    static let palette: [(r: Int, g: Int, b: Int)] = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40),
                                                        (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127)]

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func fmt(_ v: Double) -> String {
        if !v.isFinite { return "nan" }
        if v == v.rounded() && abs(v) < 1e15 {
            let i = Int(v)
            if abs(i) >= 1000 && i % 1024 == 0 { return "\(i / 1024)K" }
            if abs(i) >= 1000 && i % 1000 == 0 { return "\(i / 1000)k" }
            return "\(i)"
        }
        var t = String(format: abs(v) >= 100 ? "%.0f" : (abs(v) >= 1 ? "%.2f" : "%.3f"), v)
        if t.contains(".") { while t.hasSuffix("0") { t.removeLast() }; if t.hasSuffix(".") { t.removeLast() } }
        return t
    }

    /// Round tick values (1, 2 or 5 times a power of ten) covering lo...hi, about `count` of them.
    static func niceTicks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(max(count, 1))
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var out: [Double] = []
        var t = ceil(lo / step - 1e-9) * step
        while t <= hi + step * 1e-9 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return out
    }

    // MARK: heatmap

    /// A heatmap of `grid[row][column]` in `vmin...vmax` (rows top to bottom, columns left to
    /// right): NIAH puts depth on the rows and context length on the columns.
    public static func heatmap(_ grid: [[Double]], title: String, xLabels: [String]? = nil, yLabels: [String]? = nil,
                               xTitle: String = "Token Limit", yTitle: String = "Depth Percent",
                               colorbarLabel: String = "score", vmin: Double = 0, vmax: Double = 1) -> Figure {
        let rows = grid.count
        let cols = grid.map { $0.count }.max() ?? 0
        let xl = xLabels ?? (0..<cols).map { "\($0)" }
        let yl = yLabels ?? (0..<rows).map { "\($0)" }
        let span = vmax > vmin ? vmax - vmin : 1
        func norm(_ v: Double) -> Double { (v - vmin) / span }

        // SVG layout
        let cell = max(18.0, min(60.0, 640.0 / Double(max(cols, 1))))
        let cellH = max(18.0, min(40.0, 400.0 / Double(max(rows, 1))))
        let left = 90.0, top = 50.0
        let w = Double(cols) * cell, h = Double(rows) * cellH
        let barX = left + w + 30, barW = 18.0
        let width = barX + barW + 80, height = top + h + 80
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(left + w / 2)\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">\(esc(title))</text>\n"
        for r in 0..<rows {
            for c in 0..<cols {
                let v = c < grid[r].count ? grid[r][c] : .nan
                let x = left + Double(c) * cell, y = top + Double(r) * cellH
                let fill = v.isFinite ? hex(color(norm(v))) : "#DDDDDD"
                s += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cellH)\" fill=\"\(fill)\" stroke=\"white\" stroke-width=\"1\"><title>\(esc(yl[safe: r] ?? "")), \(esc(xl[safe: c] ?? "")): \(fmt(v))</title></rect>\n"
            }
        }
        for c in 0..<cols {
            let x = left + (Double(c) + 0.5) * cell, y = top + h + 14
            s += "<text x=\"\(x)\" y=\"\(y)\" text-anchor=\"end\" transform=\"rotate(-45 \(x) \(y))\">\(esc(xl[safe: c] ?? ""))</text>\n"
        }
        for r in 0..<rows {
            s += "<text x=\"\(left - 6)\" y=\"\(top + (Double(r) + 0.5) * cellH + 4)\" text-anchor=\"end\">\(esc(yl[safe: r] ?? ""))</text>\n"
        }
        s += "<text x=\"\(left + w / 2)\" y=\"\(height - 12)\" text-anchor=\"middle\" font-size=\"14\">\(esc(xTitle))</text>\n"
        s += "<text x=\"22\" y=\"\(top + h / 2)\" text-anchor=\"middle\" font-size=\"14\" transform=\"rotate(-90 22 \(top + h / 2))\">\(esc(yTitle))</text>\n"
        // colour bar: 0 at the bottom, 1 at the top
        s += "<defs><linearGradient id=\"cbar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">"
        for k in 0...10 { let t = Double(k) / 10; s += "<stop offset=\"\(t)\" stop-color=\"\(hex(color(t)))\"/>" }
        s += "</linearGradient></defs>\n"
        s += "<rect x=\"\(barX)\" y=\"\(top)\" width=\"\(barW)\" height=\"\(h)\" fill=\"url(#cbar)\" stroke=\"#444\" stroke-width=\"0.5\"/>\n"
        for k in 0...4 {
            let t = Double(k) / 4
            let y = top + h - t * h
            s += "<line x1=\"\(barX + barW)\" y1=\"\(y)\" x2=\"\(barX + barW + 4)\" y2=\"\(y)\" stroke=\"#444\"/>"
            s += "<text x=\"\(barX + barW + 7)\" y=\"\(y + 4)\">\(fmt(vmin + t * span))</text>\n"
        }
        s += "<text x=\"\(barX + barW + 48)\" y=\"\(top + h / 2)\" text-anchor=\"middle\" transform=\"rotate(90 \(barX + barW + 48) \(top + h / 2))\">\(esc(colorbarLabel))</text>\n"
        s += "</svg>\n"

        // terminal pictures
        let labelW = max(yl.map { $0.count }.max() ?? 0, 1)
        var tc = title + "\n", plain = title + "\n"
        let shades: [Character] = [" ", "░", "▒", "▓", "█"]
        for r in 0..<rows {
            let lab = (yl[safe: r] ?? "").padding(toLength: labelW, withPad: " ", startingAt: 0)
            tc += lab + " "
            plain += lab + " "
            for c in 0..<cols {
                let v = c < grid[r].count ? grid[r][c] : .nan
                if v.isFinite {
                    let k = Plot.color(norm(v))
                    tc += "\u{1B}[48;2;\(k.r);\(k.g);\(k.b)m  "
                    let i = min(4, max(0, Int((min(max(norm(v), 0), 1) * 4).rounded())))
                    plain += String(repeating: shades[i], count: 2)
                } else {
                    tc += "\u{1B}[0m··"
                    plain += "··"
                }
            }
            tc += "\u{1B}[0m\n"
            plain += "\n"
        }
        let axis = String(repeating: " ", count: labelW + 1) + "\(xl.first ?? "") .. \(xl.last ?? "")  (\(xTitle); rows: \(yTitle))"
        tc += axis + "\n" + String(repeating: " ", count: labelW + 1)
        for k in 0...10 { let c = Plot.color(Double(k) / 10); tc += "\u{1B}[48;2;\(c.r);\(c.g);\(c.b)m " }
        tc += "\u{1B}[0m \(fmt(vmin))..\(fmt(vmax))\n"
        plain += axis + "\n" + String(repeating: " ", count: labelW + 1) + "' '=\(fmt(vmin)) ░ ▒ ▓ █=\(fmt(vmax))\n"
        return Figure(title: title, svg: s, terminal: tc, plain: plain)
    }

    // MARK: line charts

    /// A one-series line chart.
    public static func line(_ xs: [Double], _ ys: [Double], label: String = "", title: String = "",
                            xTitle: String = "", yTitle: String = "") -> Figure {
        line([Series(label: label, xs: xs, ys: ys)], title: title, xTitle: xTitle, yTitle: yTitle)
    }

    /// An axis scale: linear, or logarithmic (base 10; values <= 0 are left out).
    public enum Scale: String, CaseIterable {
        case linear, log
        /// Where a value lands on the axis (nil: not drawable on this scale).
        func forward(_ v: Double) -> Double? {
            guard v.isFinite else { return nil }
            if self == .log { return v > 0 ? Foundation.log10(v) : nil }
            return v
        }
        func inverse(_ t: Double) -> Double { self == .log ? pow(10, t) : t }
    }

    /// Ticks of a log axis over lo...hi (exponents): the powers of ten inside, with 2x and 5x
    /// between them when the axis spans fewer than three decades; values in data units.
    public static func logTicks(_ lo: Double, _ hi: Double) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [pow(10, lo)] }
        let first = Int(floor(lo)), last = Int(ceil(hi))
        let mults: [Double] = hi - lo < 3 ? [1, 2, 5] : [1]
        var out: [Double] = []
        for e in first...last {
            for m in mults {
                let v = m * pow(10, Double(e))
                let t = Foundation.log10(v)
                if t >= lo - 1e-9 && t <= hi + 1e-9 { out.append(v) }
            }
        }
        if out.count < 2 { return [pow(10, lo), pow(10, hi)] }
        return out
    }

    /// A log tick's label: plain for 0.001 ... 999999, else 1e-5 / 1e+06 style.
    public static func logLabel(_ v: Double) -> String {
        if v >= 1e-3 && v < 1e6 { return fmt(v) }
        let e = Int(Foundation.log10(v).rounded())
        let m = v / pow(10, Double(e))
        return (abs(m - 1) < 1e-9 ? "1" : fmt(m)) + "e\(e)"
    }

    /// The plotting area of a line chart: data -> SVG coordinates on both axes' scales.
    public struct Frame {
        public var left: Double, top: Double, width: Double, height: Double
        /// The axis limits in scale units (exponents on a log axis).
        public var x0: Double, x1: Double, y0: Double, y1: Double
        public var xScale: Scale, yScale: Scale
        public func px(_ x: Double) -> Double? { xScale.forward(x).map { left + ($0 - x0) / (x1 - x0) * width } }
        public func py(_ y: Double) -> Double? { yScale.forward(y).map { top + height - ($0 - y0) / (y1 - y0) * height } }
    }

    /// The frame `line` draws `series` in (limits padded as it pads them).
    public static func frame(_ series: [Series], yRange: ClosedRange<Double>? = nil,
                             xScale: Scale = .linear, yScale: Scale = .linear) -> Frame {
        let pts = series.flatMap { s in zip(s.xs, s.ys).compactMap { p -> (Double, Double)? in
            guard let x = xScale.forward(p.0), let y = yScale.forward(p.1) else { return nil }
            return (x, y)
        } }
        var x0 = pts.map { $0.0 }.min() ?? 0, x1 = pts.map { $0.0 }.max() ?? 1
        var y0 = yRange.flatMap { yScale.forward($0.lowerBound) } ?? (pts.map { $0.1 }.min() ?? 0)
        var y1 = yRange.flatMap { yScale.forward($0.upperBound) } ?? (pts.map { $0.1 }.max() ?? 1)
        // A single value widens to a visible span: 0.5 each way, or 5% of the value where 0.5
        // would vanish in its rounding (2^62 + 0.5 is 2^62).
        if x1 <= x0 { let d = Swift.max(0.5, abs(x0) * 0.05); x0 -= d; x1 += d }
        if y1 <= y0 { let d = Swift.max(0.5, abs(y0) * 0.05); y0 -= d; y1 += d }
        if yRange == nil { let pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad }
        return Frame(left: 70, top: 44, width: 560, height: 320, x0: x0, x1: x1, y0: y0, y1: y1, xScale: xScale, yScale: yScale)
    }

    /// A multi-series line chart with markers, axes, ticks and a legend; either axis may be
    /// logarithmic (points that a log axis cannot show, <= 0, are left out).
    public static func line(_ series: [Series], title: String = "", xTitle: String = "", yTitle: String = "",
                            yRange: ClosedRange<Double>? = nil, xScale: Scale = .linear, yScale: Scale = .linear) -> Figure {
        let fr = frame(series, yRange: yRange, xScale: xScale, yScale: yScale)
        let x0 = fr.x0, x1 = fr.x1, y0 = fr.y0, y1 = fr.y1
        let left = fr.left, top = fr.top, w = fr.width, h = fr.height
        let legendW = series.contains { !$0.label.isEmpty } ? 150.0 : 0
        let width = left + w + 20 + legendW, height = top + h + 60
        func points(_ se: Series) -> [(Double, Double)] {
            zip(se.xs, se.ys).filter { xScale.forward($0.0) != nil && yScale.forward($0.1) != nil }
        }
        func px(_ x: Double) -> Double { fr.px(x)! }
        func py(_ y: Double) -> Double { fr.py(y)! }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        if !title.isEmpty {
            s += "<text x=\"\(left + w / 2)\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">\(esc(title))</text>\n"
        }
        let xTicks = xScale == .log ? logTicks(x0, x1) : niceTicks(x0, x1)
        let yTicks = yScale == .log ? logTicks(y0, y1) : niceTicks(y0, y1)
        for fx in xTicks {
            let label = xScale == .log ? logLabel(fx) : fmt(fx)
            s += "<line class=\"xtick\" x1=\"\(px(fx))\" y1=\"\(top)\" x2=\"\(px(fx))\" y2=\"\(top + h)\" stroke=\"#EEE\"/>"
            s += "<text x=\"\(px(fx))\" y=\"\(top + h + 16)\" text-anchor=\"middle\">\(label)</text>\n"
        }
        for fy in yTicks {
            let label = yScale == .log ? logLabel(fy) : fmt(fy)
            s += "<line class=\"ytick\" x1=\"\(left)\" y1=\"\(py(fy))\" x2=\"\(left + w)\" y2=\"\(py(fy))\" stroke=\"#EEE\"/>"
            s += "<text x=\"\(left - 6)\" y=\"\(py(fy) + 4)\" text-anchor=\"end\">\(label)</text>\n"
        }
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#444\"/>\n"
        for (i, se) in series.enumerated() {
            let c = hex(palette[i % palette.count])
            let p = points(se)
            if p.count > 1 {
                let d = p.map { "\(px($0.0)),\(py($0.1))" }.joined(separator: " ")
                s += "<polyline points=\"\(d)\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\"/>\n"
            }
            if p.count <= 60 {
                for q in p { s += "<circle cx=\"\(px(q.0))\" cy=\"\(py(q.1))\" r=\"3\" fill=\"\(c)\"><title>\(esc(se.label)) \(fmt(q.0)): \(fmt(q.1))</title></circle>" }
                s += "\n"
            }
            if legendW > 0 {
                let ly = top + 10 + Double(i) * 18
                s += "<g class=\"legend\"><line x1=\"\(left + w + 16)\" y1=\"\(ly)\" x2=\"\(left + w + 36)\" y2=\"\(ly)\" stroke=\"\(c)\" stroke-width=\"2\"/>"
                s += "<text x=\"\(left + w + 42)\" y=\"\(ly + 4)\">\(esc(se.label))</text></g>\n"
            }
        }
        let xt = xTitle + (xScale == .log && !xTitle.isEmpty ? " (log)" : "")
        let yt = yTitle + (yScale == .log && !yTitle.isEmpty ? " (log)" : "")
        s += "<text x=\"\(left + w / 2)\" y=\"\(height - 14)\" text-anchor=\"middle\" font-size=\"14\">\(esc(xt))</text>\n"
        s += "<text x=\"18\" y=\"\(top + h / 2)\" text-anchor=\"middle\" font-size=\"14\" transform=\"rotate(-90 18 \(top + h / 2))\">\(esc(yt))</text>\n"
        s += "</svg>\n"

        // terminal: a character grid, one glyph per series
        let gw = 60, gh = 14
        var cells = [[Int]](repeating: [Int](repeating: -1, count: gw), count: gh)
        for (i, se) in series.enumerated() {
            let p = points(se).map { (xScale.forward($0.0)!, yScale.forward($0.1)!) }
            // draw segments by sampling (in scale units)
            for k in 0..<max(p.count, 1) where !p.isEmpty {
                let a = p[k], b = p[min(k + 1, p.count - 1)]
                // (cell indices through `cell`: a span that overflows to infinity gives NaN)
                func cell(_ v: Double, _ n: Int) -> Int { v.isNaN ? 0 : Int(Swift.min(Double(n - 1), Swift.max(0, v.rounded()))) }
                let run = abs((b.0 - a.0) / (x1 - x0)) * Double(gw)
                let steps = Swift.max(1, run.isNaN ? 0 : Int(Swift.min(run, Double(gw)))) * 2
                for t in 0...steps {
                    let f = Double(t) / Double(steps)
                    let x = a.0 + (b.0 - a.0) * f, y = a.1 + (b.1 - a.1) * f
                    let cx = cell((x - x0) / (x1 - x0) * Double(gw - 1), gw)
                    let cy = cell((y1 - y) / (y1 - y0) * Double(gh - 1), gh)
                    cells[cy][cx] = i
                }
            }
        }
        let glyphs: [Character] = ["●", "■", "▲", "◆", "○", "□", "△", "◇"]
        var color = title.isEmpty ? "" : title + "\n"
        var plain = color
        func ylab(_ t: Double) -> String { yScale == .log ? logLabel(yScale.inverse(t)) : fmt(t) }
        func xlab(_ t: Double) -> String { xScale == .log ? logLabel(xScale.inverse(t)) : fmt(t) }
        let yw = max(ylab(y0).count, ylab(y1).count)
        for r in 0..<gh {
            let lab = r == 0 ? ylab(y1) : (r == gh - 1 ? ylab(y0) : "")
            let pre = String(repeating: " ", count: yw - lab.count) + lab + " │"
            color += pre; plain += pre
            for c in 0..<gw {
                let i = cells[r][c]
                if i < 0 { color += " "; plain += " "; continue }
                let g = glyphs[i % glyphs.count], k = palette[i % palette.count]
                color += "\u{1B}[38;2;\(k.r);\(k.g);\(k.b)m\(g)\u{1B}[0m"
                plain += String(g)
            }
            color += "\n"; plain += "\n"
        }
        let base = String(repeating: " ", count: yw + 1) + "└" + String(repeating: "─", count: gw) + "\n"
        let xs = String(repeating: " ", count: yw + 2) + xlab(x0) + String(repeating: " ", count: max(1, gw - xlab(x0).count - xlab(x1).count)) + xlab(x1) + "  " + xt + "\n"
        color += base + xs; plain += base + xs
        for (i, se) in series.enumerated() where !se.label.isEmpty {
            let k = palette[i % palette.count], g = glyphs[i % glyphs.count]
            color += "  \u{1B}[38;2;\(k.r);\(k.g);\(k.b)m\(g)\u{1B}[0m \(se.label)\n"
            plain += "  \(g) \(se.label)\n"
        }
        return Figure(title: title, svg: s, terminal: color, plain: plain)
    }

    // MARK: small multiples

    /// The width and height an SVG's root element declares (0 when it declares none).
    public static func svgSize(_ svg: String) -> (Double, Double) {
        guard let open = svg.range(of: "<svg"), let close = svg[open.upperBound...].firstIndex(of: ">") else { return (0, 0) }
        let head = String(svg[open.upperBound..<close])
        func attr(_ n: String) -> Double {
            guard let r = head.range(of: " \(n)=\""), let e = head[r.upperBound...].firstIndex(of: "\"") else { return 0 }
            return Double(head[r.upperBound..<e]) ?? 0
        }
        return (attr("width"), attr("height"))
    }

    /// Figures side by side in a grid of `cols` columns (row by row), as matplotlib's subplots:
    /// each keeps its own axes; the SVG nests each figure at its cell, the terminal picture
    /// stacks them.
    public static func grid(_ figures: [Figure], cols: Int, title: String = "") -> Figure {
        let cols = max(1, min(cols, max(figures.count, 1)))
        let sizes = figures.map { svgSize($0.svg) }
        let cellW = sizes.map { $0.0 }.max() ?? 0, cellH = sizes.map { $0.1 }.max() ?? 0
        let rows = (figures.count + cols - 1) / cols
        let top = title.isEmpty ? 0.0 : 36
        let width = cellW * Double(cols), height = top + cellH * Double(rows)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        if !title.isEmpty {
            s += "<text x=\"\(width / 2)\" y=\"26\" text-anchor=\"middle\" font-size=\"18\" font-weight=\"bold\">\(esc(title))</text>\n"
        }
        var color = title.isEmpty ? "" : title + "\n\n"
        var plain = color
        for (k, f) in figures.enumerated() {
            let x = Double(k % cols) * cellW, y = top + Double(k / cols) * cellH
            // the figure's own <svg> element, placed at its cell (x and y on a nested svg)
            var inner = f.svg
            if let r = inner.range(of: "<svg ") { inner.replaceSubrange(r, with: "<svg x=\"\(x)\" y=\"\(y)\" ") }
            s += inner
            color += f.terminal + "\n"
            plain += f.plain + "\n"
        }
        s += "</svg>\n"
        return Figure(title: title, svg: s, terminal: color, plain: plain)
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { i >= 0 && i < count ? self[i] : nil }
}
