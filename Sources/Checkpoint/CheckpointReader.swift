// CheckpointReader: an open llx checkpoint read dataset by dataset (so a large model can be
// loaded, or quantized, one tensor at a time), and the schema checks: format, version,
// listed datasets, what each kind requires, and the consistency of NF4 state.
import Foundation
import Tensor

public final class CheckpointReader {
    public let path: String
    let file: H5File
    let root: H5Group
    public let kind: String
    public let formatVersion: Int
    /// Root attributes other than the schema's own.
    public let attributes: [String: AttrValue]
    /// Dataset names in the order they were saved (then any added later, e.g. by h5.write).
    public let names: [String]
    /// Group paths below the root.
    public let groups: [String]

    init(_ path: String) throws {
        self.path = path
        file = try H5File.open(path)
        root = try file.root
        guard let fmt = try root.attribute("format") else {
            throw CheckpointError(.format, file: path, "not an llx checkpoint (no 'format' attribute at the root)")
        }
        guard fmt.stringValue == Checkpoint.format else {
            throw CheckpointError(.format, file: path, object: "/@format", "format is \(fmt), not \"llx\"")
        }
        guard let v = try root.attribute("format_version")?.intValue else {
            throw CheckpointError(.format, file: path, object: "/@format_version", "missing or not an integer")
        }
        guard v >= 1 && v <= Checkpoint.formatVersion else {
            throw CheckpointError(.format, file: path, object: "/@format_version",
                                  "version \(v) is not supported (this llx reads 1...\(Checkpoint.formatVersion))")
        }
        formatVersion = v
        guard let k = try root.attribute("kind")?.stringValue, !k.isEmpty else {
            throw CheckpointError(.format, file: path, object: "/@kind", "missing or not a string")
        }
        kind = k
        let (ds, gs) = try root.walk()
        groups = gs
        var order: [String] = []
        if let o = try root.attribute("dataset_order") {
            guard case .strings(let list) = o else {
                throw CheckpointError(.format, file: path, object: "/@dataset_order", "not a list of strings")
            }
            order = list
        }
        let present = Set(ds)
        for n in order where !present.contains(n) {
            throw CheckpointError(.missing, file: path, object: n, "dataset listed in the checkpoint is missing")
        }
        let listed = Set(order)
        names = order + ds.filter { !listed.contains($0) }
        var attrs: [String: AttrValue] = [:]
        for a in try root.attributeNames() where !Checkpoint.reservedAttributes.contains(a) {
            do { if let v = try root.attribute(a) { attrs[a] = v } } catch let e as CheckpointError where e.kind == .dtype {
                continue  // attribute types llx does not model (written by other tools) are skipped
            }
        }
        attributes = attrs
    }

    public func contains(_ name: String) -> Bool { root.kind(of: name) == .dataset }

    func dataset(_ name: String) throws -> H5Dataset { try root.dataset(name) }

    /// File dtype name ("f32", "bf16", "f64", "u8", ...) and shape of a dataset.
    public func info(_ name: String) throws -> (dtype: String, shape: [Int]) {
        let d = try dataset(name)
        return (try d.dtypeName, try d.shape)
    }

    /// Whether a dataset is a float64 series (read with `doubles`) rather than a tensor.
    public func isSeries(_ name: String) throws -> Bool {
        let d = try dataset(name)
        return try d.elementType == .float(bytes: 8) && d.shape.count == 1
    }

    public func tensor(_ name: String) throws -> Tensor { try dataset(name).read() }
    public func doubles(_ name: String) throws -> [Double] { try dataset(name).readDoubles() }

    /// Attributes of a dataset (without the bf16 storage tag).
    public func datasetAttributes(_ name: String) throws -> [String: AttrValue] {
        try attributes(of: try dataset(name), dropBF16Tag: true)
    }

    public func groupAttributes(_ name: String) throws -> [String: AttrValue] {
        try attributes(of: try root.group(name), dropBF16Tag: false)
    }

    func attributes(of o: H5Object, dropBF16Tag: Bool) throws -> [String: AttrValue] {
        var out: [String: AttrValue] = [:]
        for a in try o.attributeNames() {
            do {
                guard let v = try o.attribute(a) else { continue }
                if dropBF16Tag && a == "dtype" && v == .string("bf16") { continue }
                out[a] = v
            } catch let e as CheckpointError where e.kind == .dtype { continue }
        }
        return out
    }

    /// Schema checks that need no tensor data: the kind's required contents and NF4 state.
    public func validate() throws {
        switch kind {
        case "tensor":
            guard contains("tensor") else { throw CheckpointError(.missing, file: path, object: "tensor", "a tensor checkpoint needs the dataset 'tensor'") }
        case "model":
            guard let cfg = attributes["config"] else {
                throw CheckpointError(.missing, file: path, object: "/@config", "a model checkpoint needs its config (JSON) attribute")
            }
            guard cfg.jsonObject() is [String: Any] else {
                throw CheckpointError(.format, file: path, object: "/@config", "config is not a JSON object")
            }
            guard names.contains(where: { $0.hasPrefix("tensors/") }) else {
                throw CheckpointError(.missing, file: path, object: "tensors", "a model checkpoint holds no tensors")
            }
        case "training_state":
            guard attributes["step"]?.intValue != nil else {
                throw CheckpointError(.missing, file: path, object: "/@step", "a training state needs an integer 'step'")
            }
        default: break
        }
        for n in names where n.hasSuffix(".codes") { try validateNF4(String(n.dropLast(6))) }
    }

    /// Checks the datasets of one NF4-quantized tensor `<base>.codes` (see the format doc).
    func validateNF4(_ base: String) throws {
        let codesName = base + ".codes"
        let a = try datasetAttributes(codesName)
        guard a["quant_type"]?.stringValue == "nf4" else { return }
        func need(_ key: String) throws -> AttrValue {
            guard let v = a[key] else { throw CheckpointError(.missing, file: path, object: "\(codesName)@\(key)", "NF4 attribute missing") }
            return v
        }
        guard let shape = try need("shape").intsValue, shape.allSatisfy({ $0 >= 0 }) else {
            throw CheckpointError(.format, file: path, object: "\(codesName)@shape", "not a list of sizes")
        }
        guard let bs = try need("blocksize").intValue, bs > 0 else {
            throw CheckpointError(.format, file: path, object: "\(codesName)@blocksize", "not a positive integer")
        }
        let n = shape.reduce(1, *)
        let blocks = (n + bs - 1) / bs
        func expect(_ name: String, _ dtype: String, _ count: Int) throws {
            guard contains(name) else { throw CheckpointError(.missing, file: path, object: name, "NF4 state of '\(base)' is incomplete") }
            let (d, s) = try info(name)
            guard d == dtype else { throw CheckpointError(.dtype, file: path, object: name, "expected \(dtype), found \(d)") }
            guard s.reduce(1, *) == count else {
                throw CheckpointError(.shape, file: path, object: name, "expected \(count) elements for shape \(shape), found shape \(s)")
            }
        }
        try expect(codesName, "u8", (n + 1) / 2)
        if contains(base + ".absmax") {
            try expect(base + ".absmax", "f32", blocks)
        } else {
            let bs2 = a["blocksize2"]?.intValue ?? 256
            guard bs2 > 0 else { throw CheckpointError(.format, file: path, object: "\(codesName)@blocksize2", "not a positive integer") }
            try expect(base + ".qabsmax", "u8", blocks)
            try expect(base + ".absmax2", "f32", (blocks + bs2 - 1) / bs2)
            guard try need("offset").doubleValue != nil else {
                throw CheckpointError(.format, file: path, object: "\(codesName)@offset", "not a number")
            }
        }
    }
}
