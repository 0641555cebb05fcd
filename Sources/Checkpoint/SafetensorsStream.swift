// SafetensorsStream: safetensors files written tensor by tensor. Each tensor is produced by its
// own closure when its turn comes, converted to the file's dtype in chunks and written, then
// dropped, so a model far larger than memory in f32 (Llama-3-8B: 32 GB) is exported holding
// one tensor at a time. `writeSharded` splits the tensors over files of at most a given size
// and writes Hugging Face's `model.safetensors.index.json` beside them, as save_pretrained does.
import Foundation
import Tensor

/// A tensor to be written: its name, the dtype and shape it has in the file, and the closure
/// that makes it (in any float dtype; it is converted to `dtype`).
public struct SafetensorsSource {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    public let make: () throws -> Tensor

    public init(name: String, dtype: DType, shape: [Int], make: @escaping () throws -> Tensor) {
        self.name = name; self.dtype = dtype; self.shape = shape; self.make = make
    }

    public var byteCount: Int { shape.reduce(1, *) * dtype.size }
}

extension SafetensorsFile {
    /// The JSON header of a file holding `items` in order (padded to 8 bytes as safetensors does).
    static func header(_ items: [(name: String, dtype: DType, shape: [Int])], metadata: [String: String]?, path: String) throws -> [UInt8] {
        var seen = Set<String>()
        var header = "{"
        var first = true
        if let m = metadata, !m.isEmpty {
            header += "\"__metadata__\":{" + m.keys.sorted().map { "\(jsonString($0)):\(jsonString(m[$0]!))" }.joined(separator: ",") + "}"
            first = false
        }
        var offset = 0
        for it in items {
            if it.name.isEmpty || it.name == "__metadata__" { throw CheckpointError(.argument, file: path, object: it.name, "invalid tensor name") }
            if !seen.insert(it.name).inserted { throw CheckpointError(.argument, file: path, object: it.name, "duplicate tensor name") }
            let bytes = it.shape.reduce(1, *) * it.dtype.size
            if !first { header += "," }
            first = false
            header += "\(jsonString(it.name)):{\"dtype\":\"\(fileDType(it.dtype))\",\"shape\":[\(it.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        header += "}"
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        return h
    }

    /// Writes `items` to `path` atomically, making, converting and writing one tensor at a time.
    public static func writeStreaming(_ items: [SafetensorsSource], metadata: [String: String]? = nil, to path: String) throws {
        let h = try header(items.map { ($0.name, $0.dtype, $0.shape) }, metadata: metadata, path: path)
        try AtomicFile.write(path) { fd, _ in
            var len = UInt64(h.count).littleEndian
            try withUnsafeBytes(of: &len) { try AtomicFile.writeAll(fd, $0, file: path) }
            try h.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, file: path) }
            for it in items {
                let t = try it.make().contiguous()
                guard t.shape == it.shape else {
                    throw CheckpointError(.argument, file: path, object: it.name, "made a tensor of shape \(t.shape), expected \(it.shape)")
                }
                try writeConverted(t, as: it.dtype, fd: fd, path: path)
            }
        }
    }

    /// The bytes of `t` in `dtype`; f32 <-> bf16 in chunks of 1M elements (no whole copy).
    static func writeConverted(_ t: Tensor, as dtype: DType, fd: Int32, path: String) throws {
        if t.dtype == dtype {
            try AtomicFile.writeAll(fd, UnsafeRawBufferPointer(start: t.storage.bytes + t.offset * t.dtype.size, count: t.count * t.dtype.size), file: path)
            return
        }
        let chunk = 1 << 20
        if t.dtype == .f32, dtype == .bf16 {
            let src = t.floatPointer
            var buf = [UInt16](repeating: 0, count: min(chunk, t.count))
            var i = 0
            while i < t.count {
                let n = min(chunk, t.count - i)
                for j in 0..<n { buf[j] = Half.bf16Bits(src[i + j]) }
                try buf.withUnsafeBytes { try AtomicFile.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<(n * 2)]), file: path) }
                i += n
            }
            return
        }
        if t.dtype == .bf16, dtype == .f32 {
            let src = (t.storage.bytes + t.offset * 2).assumingMemoryBound(to: UInt16.self)
            var buf = [UInt32](repeating: 0, count: min(chunk, t.count))
            var i = 0
            while i < t.count {
                let n = min(chunk, t.count - i)
                for j in 0..<n { buf[j] = UInt32(src[i + j]) << 16 }
                try buf.withUnsafeBytes { try AtomicFile.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<(n * 4)]), file: path) }
                i += n
            }
            return
        }
        let c = t.to(dtype).contiguous()
        try AtomicFile.writeAll(fd, UnsafeRawBufferPointer(start: c.storage.bytes + c.offset * c.dtype.size, count: c.count * c.dtype.size), file: path)
    }

    /// Writes `items` into `directory` as save_pretrained does: one `model.safetensors` when they
    /// fit in `maxShardBytes`, else `model-0000i-of-0000n.safetensors` files of at most that size
    /// (a larger tensor gets a file of its own) and `model.safetensors.index.json` mapping every
    /// tensor to its file. Returns the names of the files written (index last).
    @discardableResult
    public static func writeSharded(_ items: [SafetensorsSource], maxShardBytes: Int, metadata: [String: String]? = nil,
                                    directory: String) throws -> [String] {
        var shards: [[SafetensorsSource]] = [[]]
        var size = 0
        for it in items {
            if size > 0, size + it.byteCount > maxShardBytes { shards.append([]); size = 0 }
            shards[shards.count - 1].append(it)
            size += it.byteCount
        }
        if shards.count == 1 {
            try writeStreaming(items, metadata: metadata, to: (directory as NSString).appendingPathComponent("model.safetensors"))
            return ["model.safetensors"]
        }
        var names: [String] = []
        var weightMap: [String: String] = [:]
        for (i, s) in shards.enumerated() {
            let name = String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
            try writeStreaming(s, metadata: metadata, to: (directory as NSString).appendingPathComponent(name))
            for it in s { weightMap[it.name] = name }
            names.append(name)
        }
        let index: [String: Any] = ["metadata": ["total_size": items.reduce(0) { $0 + $1.byteCount }], "weight_map": weightMap]
        let data = try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys])
        let indexPath = (directory as NSString).appendingPathComponent("model.safetensors.index.json")
        try AtomicFile.write(indexPath) { fd, _ in try data.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, file: indexPath) } }
        return names + ["model.safetensors.index.json"]
    }
}
