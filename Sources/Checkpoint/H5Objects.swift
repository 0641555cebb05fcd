// H5Objects: HDF5 files, groups and datasets as Swift objects over self-closing handles.
// Tensor data are written chunked with the Fletcher-32 checksum filter, so a damaged chunk
// makes the read fail (reported as a corrupt-data error naming file and dataset).
// Element types: f32, f64, i32, i64, u8 as the standard little-endian types, f16 as IEEE
// half (h5py reads float16), bf16 losslessly as uint16 with the attribute dtype = "bf16".
import Foundation
import CHDF5
import Tensor

let h5Default = hid_t(H5P_DEFAULT)

public final class H5File: H5Object {
    public let path: String
    let handle: H5ID
    public let writable: Bool
    /// Whether the file carries the llx whole-file seal (see Integrity), renewed on close.
    public let sealed: Bool
    /// A sealed file whose damage lies only in checksummed data pages (reads name the dataset).
    public let damagedData: Bool
    private var closed = false
    public var objectID: hid_t { handle.id }
    public var filePath: String { path }
    public var objectPath: String { "/" }

    init(path: String, handle: H5ID, writable: Bool, sealed: Bool, damagedData: Bool = false) {
        self.path = path
        self.handle = handle
        self.writable = writable
        self.sealed = sealed
        self.damagedData = damagedData
    }

    deinit {
        if !closed && writable && sealed {
            let ranges = (try? rawRanges()) ?? []
            if handle.close() { try? Integrity.seal(path, rawRanges: ranges) }
        }
    }

    /// Absolute byte ranges of the chunk data of every Fletcher-32-checked dataset.
    func rawRanges() throws -> [Range<Int>] {
        try H5Lib.sync {
            var out: [Range<Int>] = []
            let root = try self.root
            for name in try root.datasetPaths() {
                let d = try root.dataset(name)
                guard d.hasChecksum else { continue }
                var n: hsize_t = 0
                let space = try H5ID(H5Dget_space(d.objectID), H5Sclose, file: path, object: d.path, "cannot read dataspace")
                guard H5Dget_num_chunks(d.objectID, space.id, &n) >= 0 else { _ = H5Lib.errorStack(); continue }
                for i in 0..<n {
                    var addr: haddr_t = 0
                    var size: hsize_t = 0
                    var mask: UInt32 = 0
                    if H5Dget_chunk_info(d.objectID, space.id, i, nil, &mask, &addr, &size) >= 0, mask == 0, size > 0 {
                        let lo = Int(addr)  // absolute file address (the user block included)
                        out.append(lo..<(lo + Int(size)))
                    } else {
                        _ = H5Lib.errorStack()
                    }
                }
            }
            return out
        }
    }

    /// File access: library format 1.8+ (attributes over 64 KiB), strong close.
    static func accessPlist(_ path: String) throws -> H5ID {
        let fapl = try H5Make.plist(llx_h5p_file_access(), file: path, object: nil)
        try H5Lib.check(H5Pset_libver_bounds(fapl.id, H5F_LIBVER_V110, H5F_LIBVER_V110), file: path, object: nil, "cannot set file format bounds")
        try H5Lib.check(H5Pset_fclose_degree(fapl.id, H5F_CLOSE_STRONG), file: path, object: nil, "cannot set close degree")
        return fapl
    }

    /// Creates (or truncates) a file; `sealed` reserves the user block for the llx seal.
    public static func create(_ path: String, sealed: Bool = true) throws -> H5File {
        try H5Lib.sync {
            let fapl = try accessPlist(path)
            let fcpl = try H5Make.plist(llx_h5p_file_create(), file: path, object: nil)
            let order = UInt32(H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED)
            try H5Lib.check(H5Pset_link_creation_order(fcpl.id, order), file: path, object: nil, "cannot set link order")
            if sealed {
                try H5Lib.check(H5Pset_userblock(fcpl.id, hsize_t(Integrity.userblockSize)), file: path, object: nil, "cannot reserve the user block")
            }
            let id = H5Fcreate(path, llx_h5f_acc_trunc(), fcpl.id, fapl.id)
            return H5File(path: path, handle: try H5ID(id, H5Fclose, file: path, object: nil, "cannot create HDF5 file"),
                          writable: true, sealed: sealed)
        }
    }

    /// Opens an existing HDF5 file; a missing, foreign or damaged file gives a clear error.
    /// A sealed (llx-written) file is verified whole before HDF5 reads it.
    public static func open(_ path: String, writable: Bool = false) throws -> H5File {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CheckpointError(.io, file: path, "no such file")
        }
        if isDir.boolValue { throw CheckpointError(.io, file: path, "is a directory, not an HDF5 file") }
        var status: Integrity.Status
        var reseal = false, tried = false
        do {
            status = try Integrity.verify(path)
        } catch let e as CheckpointError where e.kind == .corrupt && Integrity.grewSinceSeal(path) {
            // The seal no longer matches and the file has grown: another HDF5 tool (h5py, ...)
            // added to it, keeping the user block without renewing the seal. (Damage keeps the
            // size, so a file of the sealed size with a stale seal stays refused above.) A trial
            // read of the whole file in a child process makes sure HDF5 can read it without
            // risking this process.
            guard let readable = Integrity.trialRead(path) else {
                throw CheckpointError(.io, file: path, "stopped while HDF5 read the whole file to check it (" + e.message + ")")
            }
            guard readable else {
                throw CheckpointError(.corrupt, file: path, e.message + "; HDF5 cannot read it either")
            }
            if !writable { Integrity.warnStale(path) }
            tried = true
            status = .unsealed
            reseal = writable   // an llx write renews the seal on close
        }
        try H5Lib.sync {
            let probe = H5Fis_hdf5(path)
            if probe == 0 { _ = H5Lib.errorStack(); throw CheckpointError(.format, file: path, "not an HDF5 file") }
            if probe < 0 { throw H5Lib.failure(.format, file: path, object: nil, "not a readable HDF5 file") }
        }
        // a file no llx seal vouches for is read in a child process first (HDF5 can crash on it)
        if status == .unsealed && !tried { try Integrity.checkForeign(path) }
        return try H5Lib.sync {
            let fapl = try accessPlist(path)
            let id = H5Fopen(path, writable ? llx_h5f_acc_rdwr() : llx_h5f_acc_rdonly(), fapl.id)
            return H5File(path: path, handle: try H5ID(id, H5Fclose, .corrupt, file: path, object: nil,
                                                       "cannot open HDF5 file (damaged or truncated?)"),
                          writable: writable, sealed: status != .unsealed || reseal, damagedData: status != .intact && status != .unsealed)
        }
    }

    public var root: H5Group {
        get throws {
            try H5Lib.sync {
                H5Group(file: self, path: "/", handle: try H5ID(H5Gopen2(handle.id, "/", h5Default), H5Gclose,
                                                                 file: path, object: "/", "cannot open root group"))
            }
        }
    }

    public func flush() throws {
        try H5Lib.sync { try H5Lib.check(H5Fflush(handle.id, H5F_SCOPE_GLOBAL), file: path, object: nil, "cannot flush") }
    }

    /// Closes the file (and, strong close, every object still open in it), then renews the seal.
    public func close() throws {
        if closed { return }
        let ranges = writable && sealed ? try rawRanges() : []
        closed = true
        if !handle.close() { throw H5Lib.failure(file: path, object: nil, "cannot close file") }
        if writable && sealed { try Integrity.seal(path, rawRanges: ranges) }
    }
}

/// Joins a group path and a child name.
func h5Join(_ parent: String, _ name: String) -> String {
    parent == "/" ? "/" + name : parent + "/" + name
}

/// Splits "a/b/c" into non-empty components; rejects "." and "..".
func h5Components(_ name: String, file: String) throws -> [String] {
    let parts = name.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    if parts.isEmpty || parts.contains(".") || parts.contains("..") {
        throw CheckpointError(.argument, file: file, object: name, "invalid HDF5 object name")
    }
    return parts
}

public final class H5Group: H5Node {

    public enum ChildKind { case group, dataset, other }

    /// Kind of the object at a relative path, nil when there is none.
    public func kind(of name: String) -> ChildKind? {
        H5Lib.sync {
            guard let parts = try? h5Components(name, file: filePath) else { return nil }
            var sofar = ""
            for p in parts {
                sofar = sofar.isEmpty ? p : sofar + "/" + p
                if H5Lexists(handle.id, sofar, h5Default) <= 0 { _ = H5Lib.errorStack(); return nil }
            }
            let t = llx_h5_object_type(handle.id, sofar)
            if t < 0 { _ = H5Lib.errorStack(); return nil }
            switch H5O_type_t(rawValue: t) {
            case H5O_TYPE_GROUP: return .group
            case H5O_TYPE_DATASET: return .dataset
            default: return .other
            }
        }
    }

    public func group(_ name: String) throws -> H5Group {
        try H5Lib.sync {
            let full = h5Join(path, try h5Components(name, file: filePath).joined(separator: "/"))
            guard kind(of: name) == .group else { throw CheckpointError(.missing, file: filePath, object: full, "no such group") }
            return H5Group(file: file, path: full, handle: try H5ID(H5Gopen2(handle.id, name, h5Default), H5Gclose,
                                                                   file: filePath, object: full, "cannot open group"))
        }
    }

    /// Opens the group at a relative path, creating missing groups (tracking link creation order).
    public func requireGroup(_ name: String) throws -> H5Group {
        try H5Lib.sync {
            var g = self
            for p in try h5Components(name, file: filePath) {
                switch g.kind(of: p) {
                case .group?: g = try g.group(p)
                case nil:
                    let full = h5Join(g.path, p)
                    let gcpl = try H5Make.plist(llx_h5p_group_create(), file: filePath, object: full)
                    let order = UInt32(H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED)
                    try H5Lib.check(H5Pset_link_creation_order(gcpl.id, order), file: filePath, object: full, "cannot set link order")
                    let id = H5Gcreate2(g.handle.id, p, h5Default, gcpl.id, h5Default)
                    g = H5Group(file: file, path: full, handle: try H5ID(id, H5Gclose, file: filePath, object: full, "cannot create group"))
                default:
                    throw CheckpointError(.argument, file: filePath, object: h5Join(g.path, p), "exists and is not a group")
                }
            }
            return g
        }
    }

    /// Names of the direct children, in name order.
    public func childNames() throws -> [String] {
        try H5Lib.sync {
            var length = 0
            guard let buf = llx_h5_list_links(handle.id, &length) else {
                throw H5Lib.failure(.format, file: filePath, object: path, "cannot list group")
            }
            defer { free(buf) }
            var names: [String] = []
            var start = 0
            for i in 0..<length where buf[i] == 0 {
                names.append(String(cString: buf + start))
                start = i + 1
            }
            return names
        }
    }

    /// Relative paths of every dataset below this group, depth first in name order.
    public func datasetPaths() throws -> [String] { try walk().datasets }

    /// Relative paths of every dataset and every subgroup below this group, depth first in name order.
    public func walk() throws -> (datasets: [String], groups: [String]) {
        var ds: [String] = [], gs: [String] = []
        func visit(_ g: H5Group, _ prefix: String) throws {
            for c in try g.childNames() {
                let rel = prefix.isEmpty ? c : prefix + "/" + c
                switch g.kind(of: c) {
                case .dataset?: ds.append(rel)
                case .group?: gs.append(rel); try visit(try g.group(c), rel)
                default: break
                }
            }
        }
        try H5Lib.sync { try visit(self, "") }
        return (ds, gs)
    }

    public func dataset(_ name: String) throws -> H5Dataset {
        try H5Lib.sync {
            let full = h5Join(path, try h5Components(name, file: filePath).joined(separator: "/"))
            guard kind(of: name) == .dataset else { throw CheckpointError(.missing, file: filePath, object: full, "no such dataset") }
            return H5Dataset(file: file, path: full, handle: try H5ID(H5Dopen2(handle.id, name, h5Default), H5Dclose, .format,
                                                                     file: filePath, object: full, "cannot open dataset"))
        }
    }

    /// Removes the link `name` (the space is not reclaimed in place).
    public func delete(_ name: String) throws {
        try H5Lib.sync {
            try H5Lib.check(H5Ldelete(handle.id, name, h5Default), file: filePath, object: h5Join(path, name), "cannot delete")
        }
    }

    /// Splits a relative path into (parent group, last component), creating the parents.
    func parentAndLeaf(_ name: String) throws -> (H5Group, String) {
        let parts = try h5Components(name, file: filePath)
        let parent = parts.count > 1 ? try requireGroup(parts.dropLast().joined(separator: "/")) : self
        return (parent, parts[parts.count - 1])
    }

    /// Writes a tensor as a new dataset (parents created). `replace` deletes an existing one first.
    @discardableResult
    public func createDataset(_ name: String, _ tensor: Tensor, replace: Bool = false, checksum: Bool = true) throws -> H5Dataset {
        try H5Lib.sync {
            let (parent, leaf) = try parentAndLeaf(name)
            let full = h5Join(parent.path, leaf)
            if let k = parent.kind(of: leaf) {
                guard replace, k == .dataset else { throw CheckpointError(.argument, file: filePath, object: full, "already exists") }
                try parent.delete(leaf)
            }
            let t = tensor.contiguous()
            var f16: H5ID?
            let fileType: hid_t, memType: hid_t
            switch t.dtype {
            case .f32: fileType = llx_h5t_ieee_f32le(); memType = llx_h5t_native_float()
            case .f16: f16 = try H5Make.f16(file: filePath, object: full); fileType = f16!.id; memType = f16!.id
            case .bf16: fileType = llx_h5t_std_u16le(); memType = llx_h5t_native_uint16()
            case .i32: fileType = llx_h5t_std_i32le(); memType = llx_h5t_native_int32()
            case .i64: fileType = llx_h5t_std_i64le(); memType = llx_h5t_native_int64()
            case .u8: fileType = llx_h5t_std_u8le(); memType = llx_h5t_native_uint8()
            }
            let ds = try parent.createRaw(leaf, full: full, shape: t.shape, elementSize: t.dtype.size, fileType: fileType,
                                          memType: memType, data: UnsafeRawPointer(t.storage.bytes + t.offset * t.dtype.size), checksum: checksum)
            if t.dtype == .bf16 { try ds.setAttribute("dtype", .string("bf16")) }
            return ds
        }
    }

    /// Writes float64 values as a dataset of the given shape (default: one dimension).
    @discardableResult
    public func createDataset(_ name: String, doubles: [Double], shape: [Int]? = nil, replace: Bool = false) throws -> H5Dataset {
        try H5Lib.sync {
            let (parent, leaf) = try parentAndLeaf(name)
            let full = h5Join(parent.path, leaf)
            let shp = shape ?? [doubles.count]
            guard shp.reduce(1, *) == doubles.count else {
                throw CheckpointError(.shape, file: filePath, object: full, "\(doubles.count) values do not fill shape \(shp)")
            }
            if let k = parent.kind(of: leaf) {
                guard replace, k == .dataset else { throw CheckpointError(.argument, file: filePath, object: full, "already exists") }
                try parent.delete(leaf)
            }
            return try doubles.withUnsafeBytes { b in
                try parent.createRaw(leaf, full: full, shape: shp, elementSize: 8, fileType: llx_h5t_ieee_f64le(),
                                     memType: llx_h5t_native_double(), data: b.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!, checksum: true)
            }
        }
    }

    /// Chunk shape: whole trailing dimensions, leading ones halved until a chunk is ~4 MiB.
    static func chunkShape(_ shape: [Int], elementSize: Int) -> [hsize_t] {
        var c = shape.map { max($0, 1) }
        let target = 4 << 20
        var d = 0
        while c.reduce(elementSize, *) > target && d < c.count {
            if c[d] > 1 { c[d] = (c[d] + 1) / 2 } else { d += 1 }
        }
        return c.map { hsize_t($0) }
    }

    func createRaw(_ leaf: String, full: String, shape: [Int], elementSize: Int, fileType: hid_t, memType: hid_t,
                   data: UnsafeRawPointer, checksum: Bool) throws -> H5Dataset {
        let space = try H5Make.space(shape, file: filePath, object: full)
        let dcpl = try H5Make.plist(llx_h5p_dataset_create(), file: filePath, object: full)
        let count = shape.reduce(1, *)
        if !shape.isEmpty && count > 0 {
            let chunk = H5Group.chunkShape(shape, elementSize: elementSize)
            try H5Lib.check(H5Pset_chunk(dcpl.id, Int32(chunk.count), chunk), file: filePath, object: full, "cannot set chunking")
            if checksum { try H5Lib.check(H5Pset_fletcher32(dcpl.id), file: filePath, object: full, "cannot set Fletcher-32 filter") }
        }
        let id = H5Dcreate2(handle.id, leaf, fileType, space.id, h5Default, dcpl.id, h5Default)
        let ds = H5Dataset(file: file, path: full, handle: try H5ID(id, H5Dclose, file: filePath, object: full, "cannot create dataset"))
        if count > 0 {
            try H5Lib.check(H5Dwrite(ds.handle.id, memType, hid_t(H5S_ALL), hid_t(H5S_ALL), h5Default, data),
                            file: filePath, object: full, "cannot write dataset")
        }
        return ds
    }
}
