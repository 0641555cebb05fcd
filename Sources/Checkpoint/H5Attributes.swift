// H5Attributes: attribute values (strings, numbers, lists, JSON held as strings) and their
// reading/writing on any HDF5 object. Strings are variable-length UTF-8 (h5py reads them
// as str), integers int64, reals float64, lists one-dimensional.
import Foundation
import CHDF5
import LLXSystem

public enum AttrValue: Equatable, Sendable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case double(Double)
    case ints([Int])
    case doubles([Double])
    case strings([String])

    public var description: String {
        switch self {
        case .string(let s): return "\"\(s)\""
        case .int(let i): return "\(i)"
        case .double(let d): return "\(d)"
        case .ints(let a): return "\(a)"
        case .doubles(let a): return "\(a)"
        case .strings(let a): return "\(a)"
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d): return Int(exactly: d)
        default: return nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }
    public var intsValue: [Int]? {
        switch self {
        case .ints(let a): return a
        case .int(let i): return [i]
        default: return nil
        }
    }
    public var doublesValue: [Double]? {
        switch self {
        case .doubles(let a): return a
        case .ints(let a): return a.map(Double.init)
        case .double(let d): return [d]
        default: return nil
        }
    }

    /// A JSON string attribute from a JSON-compatible value (sorted keys, so saves are reproducible).
    public static func json(_ value: Any) throws -> AttrValue {
        guard JSONSerialization.isValidJSONObject([value]) else {
            throw CheckpointError(.argument, file: "<json>", "value is not JSON-serializable")
        }
        let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])
        return .string(String(decoding: data, as: UTF8.self))
    }

    /// Parses a string attribute as JSON.
    public func jsonObject() -> Any? {
        guard let s = stringValue else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(s.utf8), options: [.fragmentsAllowed])
    }
}

/// Attribute access for groups, datasets and files (all HDF5 objects).
public protocol H5Object: AnyObject {
    var objectID: hid_t { get }
    var filePath: String { get }
    /// The object's path inside the file ("/" for the root).
    var objectPath: String { get }
}

/// What a group and a dataset share: the open file, the path, and the handle that closes itself.
public class H5Node: H5Object {
    public let file: H5File
    public let path: String
    let handle: H5ID
    public var objectID: hid_t { handle.id }
    public var filePath: String { file.path }
    public var objectPath: String { path }

    init(file: H5File, path: String, handle: H5ID) {
        self.file = file
        self.path = path
        self.handle = handle
    }
}

extension H5Object {
    func attrObject(_ name: String) -> String {
        objectPath == "/" ? "/@\(name)" : "\(objectPath)@\(name)"
    }

    public func hasAttribute(_ name: String) -> Bool {
        H5Lib.sync { H5Aexists(objectID, name) > 0 }
    }

    /// Names of the attributes (in HDF5's name order).
    public func attributeNames() throws -> [String] {
        try H5Lib.sync {
            var names: [String] = []
            var i: hsize_t = 0
            while true {
                let n = H5Aget_name_by_idx(objectID, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, hid_t(H5P_DEFAULT))
                if n < 0 { _ = H5Lib.errorStack(); break }
                var buf = [CChar](repeating: 0, count: Int(n) + 1)
                if H5Aget_name_by_idx(objectID, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buf, buf.count, hid_t(H5P_DEFAULT)) < 0 {
                    throw H5Lib.failure(file: filePath, object: objectPath, "cannot read attribute names")
                }
                names.append(String(cString: buf))
                i += 1
            }
            return names
        }
    }

    /// Writes (or replaces) an attribute.
    public func setAttribute(_ name: String, _ value: AttrValue) throws {
        try H5Lib.sync {
            let f = filePath, o = attrObject(name)
            if H5Aexists(objectID, name) > 0 {
                try H5Lib.check(H5Adelete(objectID, name), file: f, object: o, "cannot replace attribute")
            }
            func make(_ type: hid_t, _ shape: [Int]) throws -> H5ID {
                let space = try H5Make.space(shape, file: f, object: o)
                return try H5ID(H5Acreate2(objectID, name, type, space.id, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT)), H5Aclose,
                                file: f, object: o, "cannot create attribute")
            }
            switch value {
            case .int(let v):
                var x = Int64(v)
                let a = try make(llx_h5t_std_i64le(), [])
                try H5Lib.check(H5Awrite(a.id, llx_h5t_native_int64(), &x), file: f, object: o, "cannot write attribute")
            case .double(let v):
                var x = v
                let a = try make(llx_h5t_ieee_f64le(), [])
                try H5Lib.check(H5Awrite(a.id, llx_h5t_native_double(), &x), file: f, object: o, "cannot write attribute")
            case .ints(let v):
                let x = v.map { Int64($0) }
                let a = try make(llx_h5t_std_i64le(), [x.count])
                try x.withUnsafeBufferPointer { p in
                    try H5Lib.check(H5Awrite(a.id, llx_h5t_native_int64(), p.baseAddress ?? UnsafePointer(bitPattern: 8)!),
                                    file: f, object: o, "cannot write attribute")
                }
            case .doubles(let v):
                let a = try make(llx_h5t_ieee_f64le(), [v.count])
                try v.withUnsafeBufferPointer { p in
                    try H5Lib.check(H5Awrite(a.id, llx_h5t_native_double(), p.baseAddress ?? UnsafePointer(bitPattern: 8)!),
                                    file: f, object: o, "cannot write attribute")
                }
            case .string(let s):
                let t = try H5Make.vlenString(file: f, object: o)
                let a = try make(t.id, [])
                try s.withCString { c in
                    var p: UnsafePointer<CChar>? = c
                    try H5Lib.check(H5Awrite(a.id, t.id, &p), file: f, object: o, "cannot write attribute")
                }
            case .strings(let ss):
                let t = try H5Make.vlenString(file: f, object: o)
                let a = try make(t.id, [ss.count])
                let cs = ss.map { strdup($0) }
                defer { cs.forEach { free($0) } }
                var ptrs: [UnsafePointer<CChar>?] = cs.map { UnsafePointer($0) }
                if ptrs.isEmpty { ptrs = [nil] }
                try H5Lib.check(H5Awrite(a.id, t.id, &ptrs), file: f, object: o, "cannot write attribute")
            }
        }
    }

    /// Reads an attribute; nil when absent. Types llx does not know (enums, compounds) throw.
    public func attribute(_ name: String) throws -> AttrValue? {
        try H5Lib.sync { () throws -> AttrValue? in
            let f = filePath, o = attrObject(name)
            if H5Aexists(objectID, name) <= 0 { _ = H5Lib.errorStack(); return nil }
            let a = try H5ID(H5Aopen(objectID, name, hid_t(H5P_DEFAULT)), H5Aclose, file: f, object: o, "cannot open attribute")
            let type = try H5ID(H5Aget_type(a.id), H5Tclose, file: f, object: o, "cannot read attribute type")
            let space = try H5ID(H5Aget_space(a.id), H5Sclose, file: f, object: o, "cannot read attribute dataspace")
            let shape = try H5Make.shape(of: space.id, file: f, object: o)
            let n = shape.reduce(1, *)
            let scalar = shape.isEmpty
            switch H5Tget_class(type.id) {
            case H5T_INTEGER:
                var v = [Int64](repeating: 0, count: max(n, 1))
                try H5Lib.check(H5Aread(a.id, llx_h5t_native_int64(), &v), .format, file: f, object: o, "cannot read attribute")
                return scalar ? .int(Int(v[0])) : .ints(v.prefix(n).map { Int($0) })
            case H5T_FLOAT:
                var v = [Double](repeating: 0, count: max(n, 1))
                try H5Lib.check(H5Aread(a.id, llx_h5t_native_double(), &v), .format, file: f, object: o, "cannot read attribute")
                return scalar ? .double(v[0]) : .doubles(Array(v.prefix(n)))
            case H5T_STRING:
                let strs = try h5ReadStrings(n: n, type: type.id, space: space.id, file: f, object: o) { mem, buf in
                    H5Aread(a.id, mem, buf)
                }
                return scalar ? .string(strs.first ?? "") : .strings(strs)
            default:
                throw CheckpointError(.dtype, file: f, object: o, "attribute type is not a string, integer or real")
            }
        }
    }
}

/// Reads `n` strings (variable or fixed length) through `read(memType, buffer)`.
func h5ReadStrings(n: Int, type: hid_t, space: hid_t, file: String, object: String,
                 _ read: (hid_t, UnsafeMutableRawPointer) -> herr_t) throws -> [String] {
    let mem = try H5ID(H5Tcopy(type), H5Tclose, file: file, object: object, "cannot copy string type")
    if H5Tis_variable_str(type) > 0 {
        var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: max(n, 1))
        try ptrs.withUnsafeMutableBytes { buf in
            try H5Lib.check(read(mem.id, buf.baseAddress!), .format, file: file, object: object, "cannot read strings")
        }
        let out = ptrs.prefix(n).map { $0.map { String(cString: $0) } ?? "" }
        ptrs.withUnsafeMutableBytes { buf in _ = llx_h5_reclaim(mem.id, space, buf.baseAddress!) }
        return out
    }
    let size = H5Tget_size(type)
    if size == 0 { throw H5Lib.failure(.format, file: file, object: object, "bad string size") }
    try Memory.require(count: max(n, 1), elementSize: size, "reading \(n) strings of \(size) bytes from '\(object)' of '\(file)'")
    var buf = [UInt8](repeating: 0, count: max(n, 1) * size)
    try buf.withUnsafeMutableBytes { b in
        try H5Lib.check(read(mem.id, b.baseAddress!), .format, file: file, object: object, "cannot read strings")
    }
    return (0..<n).map { i in
        let bytes = buf[(i * size)..<((i + 1) * size)]
        let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        return String(decoding: bytes[bytes.startIndex..<end], as: UTF8.self)
    }
}
