// Checkpoint: llx checkpoints in HDF5 (schema in docs/checkpoint-format.md). Other modules
// describe what to store as a CheckpointContent (kind, attributes, named tensors, float64
// series); this file writes it atomically and reads it back exactly, checking the format,
// the version, the datasets the kind requires, NF4 consistency and every chunk's checksum.
import Foundation
import Tensor

public struct CheckpointContent {
    /// What the file holds: "model", "tensor", "record", "eval_result", "training_state", ...
    public var kind: String
    /// Root attributes (JSON values as `.string` made by `AttrValue.json`).
    public var attributes: [String: AttrValue]
    /// Tensors by path-like names relative to the root ("/" separates groups), in order.
    public var tensors: [(String, Tensor)]
    /// One-dimensional float64 datasets (loss history, learning rates), in order.
    public var doubles: [(String, [Double])]
    /// Attributes of datasets, by dataset name.
    public var datasetAttributes: [String: [String: AttrValue]]
    /// Attributes of groups, by group path (e.g. "optimizer").
    public var groupAttributes: [String: [String: AttrValue]]

    public init(kind: String, attributes: [String: AttrValue] = [:], tensors: [(String, Tensor)] = [],
                doubles: [(String, [Double])] = [], datasetAttributes: [String: [String: AttrValue]] = [:],
                groupAttributes: [String: [String: AttrValue]] = [:]) {
        self.kind = kind
        self.attributes = attributes
        self.tensors = tensors
        self.doubles = doubles
        self.datasetAttributes = datasetAttributes
        self.groupAttributes = groupAttributes
    }

    public func tensor(_ name: String) -> Tensor? { tensors.first { $0.0 == name }?.1 }
    public func series(_ name: String) -> [Double]? { doubles.first { $0.0 == name }?.1 }

    /// The tensor `name`, checked against an expected dtype and shape; errors name `file`.
    public func require(_ name: String, dtype: DType? = nil, shape: [Int]? = nil, file: String = "<checkpoint>") throws -> Tensor {
        guard let t = tensor(name) else { throw CheckpointError(.missing, file: file, object: name, "required tensor is missing") }
        if let d = dtype, t.dtype != d {
            throw CheckpointError(.dtype, file: file, object: name, "expected \(d.rawValue), found \(t.dtype.rawValue)")
        }
        if let s = shape, t.shape != s { throw CheckpointError(.shape, file: file, object: name, "expected shape \(s), found \(t.shape)") }
        return t
    }
}

public enum Checkpoint {
    public static let format = "llx"
    public static let formatVersion = 1
    /// Root attributes the schema owns.
    public static let reservedAttributes: Set<String> = ["format", "format_version", "kind", "dataset_order"]

    /// Writes `content` to `path` atomically: a temporary file in the same folder is written,
    /// flushed and fsynced, then renamed over `path`. A crash leaves the previous file intact.
    public static func save(_ content: CheckpointContent, to path: String) throws {
        try validate(content, path: path)
        try AtomicFile.replace(path) { tmp in
            try H5Lib.sync {
                let file = try H5File.create(tmp)
                let root = try file.root
                try root.setAttribute("format", .string(format))
                try root.setAttribute("format_version", .int(formatVersion))
                try root.setAttribute("kind", .string(content.kind))
                try root.setAttribute("dataset_order", .strings(content.tensors.map { $0.0 } + content.doubles.map { $0.0 }))
                for (k, v) in content.attributes.sorted(by: { $0.key < $1.key }) { try root.setAttribute(k, v) }
                for (name, t) in content.tensors { try root.createDataset(name, t) }
                for (name, v) in content.doubles { try root.createDataset(name, doubles: v) }
                for (name, attrs) in content.datasetAttributes.sorted(by: { $0.key < $1.key }) {
                    let ds = try root.dataset(name)
                    for (k, v) in attrs.sorted(by: { $0.key < $1.key }) { try ds.setAttribute(k, v) }
                }
                for (name, attrs) in content.groupAttributes.sorted(by: { $0.key < $1.key }) {
                    let g = try root.requireGroup(name)
                    for (k, v) in attrs.sorted(by: { $0.key < $1.key }) { try g.setAttribute(k, v) }
                }
                try file.flush()
                try file.close()
            }
        }
    }

    static func validate(_ c: CheckpointContent, path: String) throws {
        if c.kind.isEmpty { throw CheckpointError(.argument, file: path, object: "kind", "empty checkpoint kind") }
        for k in c.attributes.keys where reservedAttributes.contains(k) {
            throw CheckpointError(.argument, file: path, object: k, "attribute name is reserved by the checkpoint format")
        }
        var seen = Set<String>()
        for name in c.tensors.map({ $0.0 }) + c.doubles.map({ $0.0 }) {
            let norm = try h5Components(name, file: path).joined(separator: "/")
            if norm != name { throw CheckpointError(.argument, file: path, object: name, "dataset names must not start or end with '/' or hold '//'") }
            if !seen.insert(name).inserted { throw CheckpointError(.argument, file: path, object: name, "duplicate dataset name") }
        }
        for name in seen {
            var prefix = ""
            for p in name.split(separator: "/").dropLast() {
                prefix = prefix.isEmpty ? String(p) : prefix + "/" + p
                if seen.contains(prefix) {
                    throw CheckpointError(.argument, file: path, object: name, "'\(prefix)' is a dataset, so it cannot also be a group")
                }
            }
        }
        for (name, attrs) in c.datasetAttributes {
            if !seen.contains(name) { throw CheckpointError(.argument, file: path, object: name, "attributes for a dataset that is not saved") }
            if attrs["dtype"] != nil { throw CheckpointError(.argument, file: path, object: name + "@dtype", "dataset attribute 'dtype' is reserved") }
        }
        for name in c.groupAttributes.keys where seen.contains(name) {
            throw CheckpointError(.argument, file: path, object: name, "group attributes given for a dataset")
        }
    }

    /// Opens a checkpoint for reading tensor by tensor (checks format, version and names).
    public static func open(_ path: String) throws -> CheckpointReader { try CheckpointReader(path) }

    /// Reads everything `save` wrote, verifying every checksum and the kind's required contents.
    public static func load(_ path: String) throws -> CheckpointContent {
        let r = try CheckpointReader(path)
        try r.validate()
        var c = CheckpointContent(kind: r.kind, attributes: r.attributes)
        for name in r.names {
            if try r.isSeries(name) { c.doubles.append((name, try r.doubles(name))) } else { c.tensors.append((name, try r.tensor(name))) }
            let a = try r.datasetAttributes(name)
            if !a.isEmpty { c.datasetAttributes[name] = a }
        }
        for g in r.groups {
            let a = try r.groupAttributes(g)
            if !a.isEmpty { c.groupAttributes[g] = a }
        }
        if r.file.damagedData {
            throw CheckpointError(.corrupt, file: path, "page checksums show damaged data that no dataset checksum caught")
        }
        return c
    }
}
