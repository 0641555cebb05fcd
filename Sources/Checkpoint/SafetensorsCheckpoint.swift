// SafetensorsCheckpoint: the tensors of a Hugging Face model directory as one name space:
// sharded (model.safetensors.index.json + shards), a single model.safetensors, or every
// *.safetensors file of the folder (e.g. a PEFT adapter_model.safetensors); also a file path.
import Foundation
import Tensor

public struct SafetensorsCheckpoint: @unchecked Sendable {
    public let path: String
    /// Tensor names: shards in file-name order, each in its file order.
    public let names: [String]
    public let files: [SafetensorsFile]
    /// Which file (index into `files`) holds each tensor.
    let location: [String: Int]

    public static let indexName = "model.safetensors.index.json"

    public static func open(_ path: String) throws -> SafetensorsCheckpoint {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CheckpointError(.io, file: path, "no such file or directory")
        }
        if !isDir.boolValue {
            if path.hasSuffix(".index.json") { return try openIndex(path, dir: (path as NSString).deletingLastPathComponent) }
            return try make(path, files: [try SafetensorsFile.open(path)], expected: nil)
        }
        let index = (path as NSString).appendingPathComponent(indexName)
        if FileManager.default.fileExists(atPath: index) { return try openIndex(index, dir: path) }
        let single = (path as NSString).appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: single) {
            return try make(path, files: [try SafetensorsFile.open(single)], expected: nil)
        }
        let all: [String]
        do { all = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw CheckpointError(.io, file: path, "cannot list folder: \(error.localizedDescription)")
        }
        let shards = all.filter { $0.hasSuffix(".safetensors") }.sorted()
        if shards.isEmpty { throw CheckpointError(.missing, file: path, "folder holds no .safetensors file") }
        return try make(path, files: shards.map { try SafetensorsFile.open((path as NSString).appendingPathComponent($0)) }, expected: nil)
    }

    static func openIndex(_ index: String, dir: String) throws -> SafetensorsCheckpoint {
        guard let data = FileManager.default.contents(atPath: index) else {
            throw CheckpointError(.io, file: index, "cannot read")
        }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw CheckpointError(.format, file: index, "not a JSON object")
        }
        guard let wm = obj["weight_map"] as? [String: Any] else {
            throw CheckpointError(.format, file: index, object: "weight_map", "missing or not an object")
        }
        var expected: [String: String] = [:]
        for (name, v) in wm {
            guard let f = v as? String, !f.contains("/"), !f.isEmpty else {
                throw CheckpointError(.format, file: index, object: name, "weight_map entry is not a file name in the folder")
            }
            expected[name] = f
        }
        let shardNames = Set(expected.values).sorted()
        let files = try shardNames.map { try SafetensorsFile.open((dir as NSString).appendingPathComponent($0)) }
        return try make(dir, files: files, expected: (index, expected))
    }

    static func make(_ path: String, files: [SafetensorsFile], expected: (String, [String: String])?) throws -> SafetensorsCheckpoint {
        var location: [String: Int] = [:]
        var names: [String] = []
        for (i, f) in files.enumerated() {
            for n in f.names {
                if let (_, map) = expected {
                    // In a sharded checkpoint only the tensors the index assigns to this shard count.
                    guard map[n] == (f.path as NSString).lastPathComponent else { continue }
                }
                if let j = location[n] {
                    throw CheckpointError(.format, file: f.path, object: n, "tensor also in \(files[j].path)")
                }
                location[n] = i
                names.append(n)
            }
        }
        if let (index, map) = expected {
            for (n, file) in map.sorted(by: { $0.key < $1.key }) where location[n] == nil {
                throw CheckpointError(.missing, file: (path as NSString).appendingPathComponent(file), object: n,
                                      "tensor listed in \((index as NSString).lastPathComponent) is not in its shard")
            }
        }
        return SafetensorsCheckpoint(path: path, names: names, files: files, location: location)
    }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    public func info(_ name: String) -> (dtype: DType, shape: [Int])? {
        guard let i = location[name] else { return nil }
        return files[i].info(name)
    }

    /// One tensor; F64 is refused unless `narrow` (SafetensorsFile.tensor).
    public func tensor(_ name: String, narrow: Bool = false) throws -> Tensor {
        guard let i = location[name] else {
            throw CheckpointError(.missing, file: path, object: name, "no such tensor in the checkpoint")
        }
        return try files[i].tensor(name, narrow: narrow)
    }

    /// Metadata of all files merged (the first file wins on conflicts).
    public var metadata: [String: String] {
        var m: [String: String] = [:]
        for f in files.reversed() { m.merge(f.metadata) { _, b in b } }
        return m
    }
}
