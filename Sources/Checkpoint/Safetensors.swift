// Safetensors: reading (memory-mapped, tensor by tensor) and atomic writing of the
// safetensors format, and sharded Hugging Face checkpoints (model.safetensors.index.json).
// Format: u64 little-endian header length N, N bytes of UTF-8 JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data buffer; offsets are relative to the buffer and must tile it exactly.
import Foundation
import Tensor

/// One entry of a safetensors header.
public struct SafetensorsEntry: Sendable {
    /// The dtype string in the file ("F32", "BF16", "F64", ...).
    public let fileDType: String
    public let shape: [Int]
    /// Byte range in the data buffer (relative to its start).
    public let begin: Int
    public let end: Int
}

public struct SafetensorsFile: @unchecked Sendable {
    public let path: String
    /// Tensor names in file order (by data offset).
    public let names: [String]
    public let metadata: [String: String]
    public let entries: [String: SafetensorsEntry]
    let map: MappedFile
    let dataStart: Int

    /// Element size of the safetensors dtypes llx understands (nil: unknown dtype).
    static func elementSize(_ d: String) -> Int? {
        switch d {
        case "F64", "I64", "U64": return 8
        case "F32", "I32", "U32": return 4
        case "F16", "BF16", "I16", "U16": return 2
        case "U8", "I8", "BOOL", "F8_E4M3", "F8_E5M2": return 1
        default: return nil
        }
    }

    /// The llx dtype a file dtype is read as (nil: not readable as a tensor).
    static func tensorDType(_ d: String) -> DType? {
        switch d {
        case "F32", "F64": return .f32
        case "F16": return .f16
        case "BF16": return .bf16
        case "I32": return .i32
        case "I64": return .i64
        case "U8", "BOOL": return .u8
        default: return nil
        }
    }

    static func fileDType(_ d: DType) -> String {
        switch d {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .u8: return "U8"
        }
    }

    /// Opens and validates a safetensors file; the data stay on disk (mapped) until read.
    public static func open(_ path: String) throws -> SafetensorsFile {
        let map = try MappedFile(path)
        guard map.size >= 8, let base = map.base else {
            throw CheckpointError(.corrupt, file: path, "file is \(map.size) bytes, too short for a safetensors header")
        }
        let n64 = base.loadUnaligned(as: UInt64.self).littleEndian
        guard n64 <= UInt64(map.size - 8) else {
            throw CheckpointError(.corrupt, file: path, "header length \(n64) exceeds the file size \(map.size) (truncated or not a safetensors file)")
        }
        let n = Int(n64)
        guard n >= 2 else { throw CheckpointError(.format, file: path, "header length \(n) is too small") }
        let headerData = Data(bytes: base + 8, count: n)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerData, options: []) } catch {
            throw CheckpointError(.format, file: path, "header is not valid JSON (not a safetensors file?)")
        }
        guard let obj = json as? [String: Any] else {
            throw CheckpointError(.format, file: path, "header is not a JSON object")
        }
        let dataSize = map.size - 8 - n
        var meta: [String: String] = [:]
        var entries: [String: SafetensorsEntry] = [:]
        for (name, value) in obj {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw CheckpointError(.format, file: path, object: name, "__metadata__ is not an object of strings")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw CheckpointError(.format, file: path, object: "__metadata__.\(k)", "metadata value is not a string")
                    }
                    meta[k] = s
                }
                continue
            }
            guard let e = value as? [String: Any] else {
                throw CheckpointError(.format, file: path, object: name, "header entry is not an object")
            }
            guard let dt = e["dtype"] as? String else {
                throw CheckpointError(.format, file: path, object: name, "header entry has no dtype string")
            }
            guard let es = elementSize(dt) else {
                throw CheckpointError(.dtype, file: path, object: name, "unknown dtype \"\(dt)\"")
            }
            guard let shapeAny = e["shape"] as? [Any] else {
                throw CheckpointError(.format, file: path, object: name, "header entry has no shape list")
            }
            var shape: [Int] = []
            for s in shapeAny {
                guard let num = s as? NSNumber,
                      let d = Int(exactly: num.doubleValue), d >= 0, d < (1 << 40) else {
                    throw CheckpointError(.format, file: path, object: name, "bad shape \(shapeAny)")
                }
                shape.append(d)
            }
            guard let offs = e["data_offsets"] as? [Any], offs.count == 2,
                  let b0 = offs[0] as? NSNumber, let b1 = offs[1] as? NSNumber,
                  let begin = Int(exactly: b0.doubleValue), let end = Int(exactly: b1.doubleValue) else {
                throw CheckpointError(.format, file: path, object: name, "header entry has no [begin, end] data_offsets")
            }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw CheckpointError(.corrupt, file: path, object: name,
                                      "data_offsets [\(begin), \(end)] out of range of the \(dataSize)-byte data buffer (truncated file?)")
            }
            var numel = 1
            for d in shape {
                let (m, o) = numel.multipliedReportingOverflow(by: d)
                if o { throw CheckpointError(.format, file: path, object: name, "shape \(shape) overflows") }
                numel = m
            }
            guard numel * es == end - begin else {
                throw CheckpointError(.corrupt, file: path, object: name,
                                      "\(dt) shape \(shape) needs \(numel * es) bytes but data_offsets [\(begin), \(end)] hold \(end - begin)")
            }
            entries[name] = SafetensorsEntry(fileDType: dt, shape: shape, begin: begin, end: end)
        }
        // The ranges must tile the buffer: no overlap, no hole, nothing after the last tensor.
        let order = entries.keys.sorted { a, b in
            let ea = entries[a]!, eb = entries[b]!
            return ea.begin != eb.begin ? ea.begin < eb.begin : (ea.end != eb.end ? ea.end < eb.end : a < b)
        }
        var pos = 0
        for name in order {
            let e = entries[name]!
            if e.begin < pos {
                throw CheckpointError(.corrupt, file: path, object: name, "data_offsets [\(e.begin), \(e.end)] overlap the previous tensor (ends at \(pos))")
            }
            if e.begin > pos {
                throw CheckpointError(.corrupt, file: path, object: name, "gap in the data buffer before this tensor (\(pos) ..< \(e.begin))")
            }
            pos = e.end
        }
        if pos != dataSize {
            throw CheckpointError(.corrupt, file: path, "data buffer is \(dataSize) bytes but the tensors cover \(pos)")
        }
        return SafetensorsFile(path: path, names: order, metadata: meta, entries: entries, map: map, dataStart: 8 + n)
    }

    /// dtype (as `tensor` returns it) and shape of a tensor, or nil when there is no such tensor.
    public func info(_ name: String) -> (dtype: DType, shape: [Int])? {
        guard let e = entries[name] else { return nil }
        return (SafetensorsFile.tensorDType(e.fileDType) ?? .u8, e.shape)
    }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// Reads one tensor into memory (BOOL read as u8). An F64 tensor is refused (.dtype, naming
    /// the file and the tensor): an llx tensor holds f32 at most, and narrowing changes values
    /// (1e-300 becomes 0, 0.1 is rounded), unless `narrow` asks for the f32 conversion knowingly.
    public func tensor(_ name: String, narrow: Bool = false) throws -> Tensor {
        guard let e = entries[name] else {
            throw CheckpointError(.missing, file: path, object: name, "no such tensor")
        }
        guard let dt = SafetensorsFile.tensorDType(e.fileDType) else {
            throw CheckpointError(.dtype, file: path, object: name, "dtype \(e.fileDType) cannot be read as an llx tensor")
        }
        if e.fileDType == "F64" && !narrow {
            throw CheckpointError(.dtype, file: path, object: name, "dtype F64 (float64) is not kept by llx tensors (f32 at most); reading it would round or flush its values (convert the checkpoint to F32/BF16, e.g. model.float() in PyTorch, or read it with narrow: true)")
        }
        guard let base = map.base else { throw CheckpointError(.corrupt, file: path, object: name, "file is empty") }
        let src = UnsafeRawBufferPointer(start: base + dataStart + e.begin, count: e.end - e.begin)
        try Memory.require(shape: e.shape, dtype: e.fileDType == "F64" ? .f32 : dt, "reading tensor '\(name)' of '\(path)'")
        // The tensor is copied out of the map: give its pages back afterwards, so that a model
        // loaded tensor by tensor does not keep the whole file resident (16 GB of mapped shards
        // at 8B) beside the weights it built. The pages stay in the page cache; a later read
        // faults them in again.
        defer { map.release(src) }
        if e.fileDType == "F64" {
            let n = src.count / 8
            let t = Tensor(zeros: e.shape, dtype: .f32)
            let dst = t.storage.bytes.assumingMemoryBound(to: Float.self)
            for i in 0..<n { dst[i] = Float(Double(bitPattern: src.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian)) }
            return t
        }
        do { return try Tensor(shape: e.shape, dtype: dt, rawBytes: src) } catch {
            throw CheckpointError(.corrupt, file: path, object: name, "\(error)")
        }
    }

    /// Writes tensors (in the given order) and optional metadata atomically to `path`.
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String]? = nil, to path: String) throws {
        let hbytes = try header(tensors.map { (name: $0.0, dtype: $0.1.dtype, shape: $0.1.shape) }, metadata: metadata, path: path)
        try AtomicFile.write(path) { fd, _ in
            var len = UInt64(hbytes.count).littleEndian
            try withUnsafeBytes(of: &len) { try AtomicFile.writeAll(fd, $0, file: path) }
            try hbytes.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, file: path) }
            for (_, t) in tensors {
                let c = t.contiguous()
                let buf = UnsafeRawBufferPointer(start: c.storage.bytes + c.offset * c.dtype.size, count: c.count * c.dtype.size)
                try AtomicFile.writeAll(fd, buf, file: path)
            }
        }
    }
}

/// JSON string literal with the escapes JSON requires.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
