// Description: prints tensors the way PyTorch does: `tensor([[1.0000, 2.5000], ...])`, floats with
// 4 decimals (or `1.` when all values are whole, or scientific notation for wide ranges),
// columns padded to one width, more than 1000 elements summarized with `...` (3 edge items per
// dim). Non-f32 dtypes, requires_grad and the shape of a summarized tensor are appended.
import Foundation

extension Tensor: CustomStringConvertible {
    public var description: String { format() }

    struct Formatter {
        enum Mode { case int, whole, fixed, sci }
        let mode: Mode
        let width: Int

        init(_ values: [Double], isInt: Bool) {
            if isInt {
                mode = .int
            } else {
                let finite = values.filter { $0.isFinite }
                let nonzero = finite.map { Swift.abs($0) }.filter { $0 > 0 }
                let mx = nonzero.max() ?? 0, mn = nonzero.min() ?? 0
                if finite.allSatisfy({ $0 == $0.rounded() }) {
                    mode = mx > 1e8 ? .sci : .whole
                } else if mx / Swift.max(mn, 1e-300) > 1000 || mx > 1e8 || mn < 1e-4 {
                    mode = .sci
                } else {
                    mode = .fixed
                }
            }
            var w = 1
            let probe = Formatter(mode: mode, width: 0)
            for v in values { w = Swift.max(w, probe.text(v).count) }
            width = w
        }

        init(mode: Mode, width: Int) { self.mode = mode; self.width = width }

        func text(_ v: Double) -> String {
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            switch mode {
            case .int: return String(Int64(v))
            case .whole: return String(format: "%.0f.", v)
            case .fixed: return String(format: "%.4f", v)
            case .sci: return String(format: "%.4e", v)
            }
        }

        func padded(_ v: Double) -> String {
            let t = text(v)
            return String(repeating: " ", count: Swift.max(0, width - t.count)) + t
        }
    }

    /// PyTorch-style text; `threshold` elements or more are summarized with `edgeItems` per side.
    public func format(threshold: Int = 1000, edgeItems: Int = 3) -> String {
        // a long axis is summarized even when the tensor is empty: [2^40, 0] has 2^40 rows of []
        // (listing them all failed to allocate, found by llx fuzz)
        let summarize = count > threshold || shape.contains { $0 > threshold }
        let isInt = !dtype.isFloatingPoint
        let vals: [Double] = isInt ? ints().map(Double.init) : floats().map(Double.init)
        // Values that will be shown (for the column width).
        func shownIndices(_ n: Int) -> [Int?] {
            if summarize && n > 2 * edgeItems { return Array(0..<edgeItems) + [nil] + Array((n - edgeItems)..<n) }
            return Array(0..<n)
        }
        let st = Tensor.contiguousStrides(shape)
        var shown: [Double] = []
        func collect(_ d: Int, _ base: Int) {
            if d == rank { shown.append(vals[base]); return }
            for i in shownIndices(shape[d]) { if let i = i { collect(d + 1, base + i * st[d]) } }
        }
        if count > 0 { collect(0, 0) }
        let f = Formatter(shown, isInt: isInt)
        func render(_ d: Int, _ base: Int, _ indent: Int) -> String {
            if d == rank { return f.padded(vals[base]) }
            if shape[d] == 0 { return "[]" }
            if d == rank - 1 {
                // torch's _vector_str: as many elements per line as fit in 80 columns
                let items = shownIndices(shape[d]).map { i in i.map { f.padded(vals[base + $0 * st[d]]) } ?? " ..." }
                let perLine = Swift.max(1, (80 - indent) / (f.width + 2))
                var lines: [String] = []
                var i = 0
                while i < items.count { lines.append(items[i..<Swift.min(items.count, i + perLine)].joined(separator: ", ")); i += perLine }
                return "[" + lines.joined(separator: ",\n" + String(repeating: " ", count: indent + 1)) + "]"
            }
            let items = shownIndices(shape[d]).map { i -> String in
                guard let i = i else { return "..." }
                return render(d + 1, base + i * st[d], indent + 1)
            }
            let sep = "," + String(repeating: "\n", count: rank - d - 1) + String(repeating: " ", count: indent + 1)
            return "[" + items.joined(separator: sep) + "]"
        }
        var s = "tensor(" + (count == 0 && rank <= 1 ? "[]" : render(0, 0, 7)) 
        if summarize { s += ", shape=\(shape)" }
        if dtype != .f32 { s += ", dtype=\(dtype.rawValue)" }
        if requiresGrad { s += gradNode.map { ", grad_fn=<\($0.name)>" } ?? ", requires_grad=True" }
        return s + ")"
    }
}
