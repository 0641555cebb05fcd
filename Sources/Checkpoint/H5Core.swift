// H5Core: the safe base of the HDF5 layer: library set-up (HDF5's own error printing off),
// one lock around every HDF5 call (the serial library is not thread-safe), handles that
// close themselves (RAII), and HDF5 failures turned into CheckpointErrors naming the file
// and the object, with the innermost message of HDF5's error stack.
import Foundation
import CHDF5

public enum H5Lib {
    static let lock = NSRecursiveLock()
    static let ready: Bool = {
        _ = H5open()
        _ = H5Eset_auto2(llx_h5e_default(), nil, nil)
        return true
    }()

    /// Runs `body` holding the HDF5 lock (after initializing the library once).
    public static func sync<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        _ = ready
        return try body()
    }

    /// The messages of HDF5's current error stack, outermost first; clears the stack.
    static func errorStack() -> [String] {
        var msgs: [String] = []
        withUnsafeMutablePointer(to: &msgs) { p in
            _ = H5Ewalk2(llx_h5e_default(), H5E_WALK_DOWNWARD, { _, err, data in
                guard let err = err, let data = data else { return 0 }
                let box = data.assumingMemoryBound(to: [String].self)
                if let d = err.pointee.desc {
                    let s = String(cString: d)
                    if !s.isEmpty { box.pointee.append(s) }
                }
                return 0
            }, p)
        }
        _ = H5Eclear2(llx_h5e_default())
        return msgs
    }

    /// A CheckpointError for a failed HDF5 call, with HDF5's own explanation appended.
    static func failure(_ kind: CheckpointError.Kind = .io, file: String, object: String?, _ what: String) -> CheckpointError {
        let stack = errorStack()
        var detail = ""
        if let inner = stack.last {
            detail = " (HDF5: \(inner)"
            if stack.count > 1, let outer = stack.first, outer != inner { detail += "; \(outer)" }
            detail += ")"
        }
        // Checksum and filter failures mean the data on disk are damaged.
        let lower = detail.lowercased()
        let k: CheckpointError.Kind = (lower.contains("checksum") || lower.contains("filter")) ? .corrupt : kind
        return CheckpointError(k, file: file, object: object, what + detail)
    }

    /// Throws unless `status` (an herr_t) is non-negative.
    static func check(_ status: herr_t, _ kind: CheckpointError.Kind = .io, file: String, object: String?, _ what: @autoclosure () -> String) throws {
        if status < 0 { throw failure(kind, file: file, object: object, what()) }
    }
}

/// An HDF5 identifier closed by its closer when the last reference goes away.
final class H5ID {
    let id: hid_t
    private let closer: (hid_t) -> herr_t
    private var closed = false

    /// Wraps `id`, throwing a CheckpointError when it is invalid (negative).
    init(_ id: hid_t, _ closer: @escaping (hid_t) -> herr_t, _ kind: CheckpointError.Kind = .io,
         file: String, object: String?, _ what: @autoclosure () -> String) throws {
        if id < 0 { throw H5Lib.failure(kind, file: file, object: object, what()) }
        self.id = id
        self.closer = closer
    }

    /// Closes now, reporting failure (the deinit closes silently otherwise).
    func close() -> Bool {
        if closed { return true }
        closed = true
        return H5Lib.sync { closer(id) } >= 0
    }

    deinit {
        if !closed { _ = H5Lib.sync { closer(id) } }
    }
}

/// Helpers to make short-lived property lists, dataspaces and types.
enum H5Make {
    static func plist(_ cls: hid_t, file: String, object: String?) throws -> H5ID {
        try H5ID(H5Pcreate(cls), H5Pclose, file: file, object: object, "cannot create a property list")
    }

    static func space(_ shape: [Int], file: String, object: String?) throws -> H5ID {
        if shape.isEmpty {
            return try H5ID(H5Screate(H5S_SCALAR), H5Sclose, file: file, object: object, "cannot create a scalar dataspace")
        }
        let dims = shape.map { hsize_t($0) }
        return try H5ID(H5Screate_simple(Int32(dims.count), dims, nil), H5Sclose, file: file, object: object,
                        "cannot create a dataspace of shape \(shape)")
    }

    /// Shape of a dataspace (scalar: []).
    static func shape(of space: hid_t, file: String, object: String?) throws -> [Int] {
        let rank = H5Sget_simple_extent_ndims(space)
        if rank < 0 { throw H5Lib.failure(.format, file: file, object: object, "cannot read the dataspace rank") }
        if rank == 0 {
            // Scalar or null dataspace.
            return H5Sget_simple_extent_type(space) == H5S_NULL ? [0] : []
        }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        if H5Sget_simple_extent_dims(space, &dims, nil) < 0 {
            throw H5Lib.failure(.format, file: file, object: object, "cannot read the dataspace dimensions")
        }
        // Damaged or hostile files may claim absurd sizes: refuse them instead of trapping.
        var count: UInt64 = 1
        for d in dims {
            let (m, o) = count.multipliedReportingOverflow(by: d)
            if o || m > (1 << 48) { throw CheckpointError(.format, file: file, object: object, "dataspace dimensions \(dims) are too large") }
            count = m
        }
        return dims.map { Int($0) }
    }

    /// A variable-length UTF-8 string type.
    static func vlenString(file: String, object: String?) throws -> H5ID {
        let t = try H5ID(H5Tcopy(llx_h5t_c_s1()), H5Tclose, file: file, object: object, "cannot make a string type")
        try H5Lib.check(H5Tset_size(t.id, llx_h5t_variable()), file: file, object: object, "cannot make a string type")
        try H5Lib.check(H5Tset_cset(t.id, H5T_CSET_UTF8), file: file, object: object, "cannot make a string type")
        return t
    }

    static func f16(file: String, object: String?) throws -> H5ID {
        try H5ID(llx_h5t_make_f16le(), H5Tclose, file: file, object: object, "cannot make the float16 type")
    }
}
