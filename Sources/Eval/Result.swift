// Result: what every evaluator returns. A result prints as a compact table, draws a figure,
// round-trips through JSON (`toJSON` / `fromJSON`), and splits into named tensors plus
// attributes (with a `kind`) that the Commands layer writes to HDF5 and reads back with
// `init(tensors:attributes:)`. `EvalResults` decodes any kind from JSON or from those parts.
import Foundation
import Tensor

/// A scalar or list attribute of a saved result (HDF5 attributes hold these).
public enum EvalAttribute: Equatable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case string(String)
    case ints([Int])
    case doubles([Double])
    case strings([String])

    public var description: String {
        switch self {
        case .int(let v): return "\(v)"
        case .double(let v): return "\(v)"
        case .string(let v): return v
        case .ints(let v): return "\(v)"
        case .doubles(let v): return "\(v)"
        case .strings(let v): return "\(v)"
        }
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
}

public protocol EvalResult: CustomStringConvertible {
    /// The kind saved with the result ("niah", "passkey", "topics", "ppl", "mc", "qa").
    static var kind: String { get }
    /// The headline number (mean score, accuracy or perplexity).
    var headline: Double { get }
    /// true when the run was stopped (Ctrl-C: the hooks' cancellation token) before it finished:
    /// the result then holds only the units that finished (cells, trials, windows, items), in the
    /// shape of a complete one. nil for a complete run (and not written to its JSON).
    var interrupted: Bool? { get set }
    /// A compact text table.
    var table: String { get }
    /// The result's figure (heatmap or line chart).
    func figure() -> Figure
    /// Numeric arrays worth a dataset of their own.
    var tensors: [(String, Tensor)] { get }
    /// Scalars and strings, including `kind` and the whole result as `json`.
    var attributes: [(String, EvalAttribute)] { get }
    /// Rebuilds a result from what `tensors` and `attributes` gave.
    init(tensors: [String: Tensor], attributes: [String: EvalAttribute]) throws
    func toJSON() throws -> String
    static func fromJSON(_ json: String) throws -> Self
}

/// The result types that share the JSON envelope {"kind": ..., "result": {...}}.
public protocol CodableEvalResult: EvalResult, Codable {
    /// Result-specific attributes besides `kind` and `json`.
    var extraAttributes: [(String, EvalAttribute)] { get }
}

struct Envelope<T: Codable>: Codable {
    var kind: String
    var result: T
}

struct KindOnly: Codable { var kind: String }

enum JSONCoding {
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }
}

public extension CodableEvalResult {
    var description: String { table }
    var extraAttributes: [(String, EvalAttribute)] { [] }

    func toJSON() throws -> String {
        do {
            let data = try JSONCoding.encoder().encode(Envelope(kind: Self.kind, result: self))
            return String(decoding: data, as: UTF8.self)
        } catch {
            throw EvalError.format("cannot encode \(Self.kind) result: \(error)")
        }
    }

    static func fromJSON(_ json: String) throws -> Self {
        let data = Data(json.utf8)
        let kind: String
        do { kind = try JSONCoding.decoder().decode(KindOnly.self, from: data).kind } catch {
            throw EvalError.format("not an eval result (no \"kind\"): \(error)")
        }
        guard kind == Self.kind else { throw EvalError.format("expected a \(Self.kind) result, found \(kind)") }
        do { return try JSONCoding.decoder().decode(Envelope<Self>.self, from: data).result } catch {
            throw EvalError.format("cannot decode \(kind) result: \(error)")
        }
    }

    var attributes: [(String, EvalAttribute)] {
        var a: [(String, EvalAttribute)] = [("kind", .string(Self.kind)), ("headline", .double(headline))]
        a += extraAttributes
        if let j = try? toJSON() { a.append(("json", .string(j))) }
        return a
    }

    init(tensors: [String: Tensor], attributes: [String: EvalAttribute]) throws {
        guard let kind = attributes["kind"]?.string else { throw EvalError.format("attribute 'kind' is missing") }
        guard kind == Self.kind else { throw EvalError.format("expected a \(Self.kind) result, found \(kind)") }
        guard let json = attributes["json"]?.string else { throw EvalError.format("attribute 'json' is missing") }
        self = try Self.fromJSON(json)
    }
}

public enum EvalResults {
    public static let types: [any CodableEvalResult.Type] = [NIAHResult.self, PasskeyResult.self, TopicsResult.self,
                                                              PerplexityResult.self, MCResult.self, QAResult.self]

    /// The kind recorded in a result's JSON.
    public static func kind(ofJSON json: String) throws -> String {
        do { return try JSONCoding.decoder().decode(KindOnly.self, from: Data(json.utf8)).kind } catch {
            throw EvalError.format("not an eval result (no \"kind\"): \(error)")
        }
    }

    /// Decodes a result of any kind from JSON.
    public static func fromJSON(_ json: String) throws -> any EvalResult {
        let kind = try kind(ofJSON: json)
        guard let t = types.first(where: { $0.kind == kind }) else { throw EvalError.format("unknown result kind '\(kind)'") }
        return try t.fromJSON(json)
    }

    /// Rebuilds a result of any kind from saved tensors and attributes.
    public static func from(tensors: [String: Tensor], attributes: [String: EvalAttribute]) throws -> any EvalResult {
        guard let kind = attributes["kind"]?.string else { throw EvalError.format("attribute 'kind' is missing") }
        guard let t = types.first(where: { $0.kind == kind }) else { throw EvalError.format("unknown result kind '\(kind)'") }
        return try t.init(tensors: tensors, attributes: attributes)
    }
}

// MARK: helpers shared by the result types

enum TableText {
    /// Right-aligned columns under a header, with a rule.
    static func render(_ header: [String], _ rows: [[String]]) -> String {
        let n = max(header.count, rows.map { $0.count }.max() ?? 0)
        var w = [Int](repeating: 0, count: n)
        for r in [header] + rows { for (i, c) in r.enumerated() { w[i] = max(w[i], c.count) } }
        func line(_ r: [String]) -> String {
            (0..<n).map { i in
                let c = i < r.count ? r[i] : ""
                let pad = String(repeating: " ", count: w[i] - c.count)
                return i == 0 ? c + pad : pad + c
            }.joined(separator: "  ")
        }
        var out = line(header) + "\n" + w.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
        for r in rows { out += line(r) + "\n" }
        return out
    }

    static func num(_ v: Double, _ digits: Int = 2) -> String {
        v.isFinite ? String(format: "%.\(digits)f", v) : "-"
    }

    static func percent(_ f: Double) -> String {
        let p = f * 100
        return p.isFinite && p == p.rounded() && abs(p) < 1e15 ? "\(Int(p))%" : String(format: "%.1f%%", p)
    }
}

func gridTensor(_ grid: [[Double]]) -> Tensor {
    let rows = grid.count, cols = grid.first?.count ?? 0
    return Tensor(shape: [rows, cols], floats: grid.flatMap { r in (0..<cols).map { Float($0 < r.count ? r[$0] : .nan) } })
}

func vectorTensor(_ xs: [Double]) -> Tensor { Tensor(shape: [xs.count], floats: xs.map { Float($0) }) }
func intTensor(_ xs: [Int]) -> Tensor { Tensor(shape: [xs.count], ints: xs, dtype: .i64) }

func finiteMean(_ xs: [Double]) -> Double {
    let f = xs.filter { $0.isFinite }
    return f.isEmpty ? .nan : f.reduce(0, +) / Double(f.count)
}
