// FileIO: read-only memory maps and atomic file replacement (temporary file in the same
// folder, fsync, rename, fsync of the folder) shared by the safetensors and HDF5 writers.
import Foundation
import Glibc

/// A whole file mapped read-only; unmapped when the last reference goes away.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeRawPointer?
    public let size: Int

    public init(_ path: String) throws {
        self.path = path
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw CheckpointError(.io, file: path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw CheckpointError(.io, file: path, "cannot stat: \(String(cString: strerror(errno)))") }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw CheckpointError(.io, file: path, "is a directory, not a file") }
        size = Int(st.st_size)
        if size == 0 { base = nil; return }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED || p == nil {
            throw CheckpointError(.io, file: path, "cannot map: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p!)
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    /// Drops the mapped pages covering `range` from this process (MADV_DONTNEED; the map is
    /// private and read-only, so a later read sees the file again). Pages are rounded outward.
    public func release(_ range: UnsafeRawBufferPointer) {
        guard let b = base, let s = range.baseAddress, range.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = max(Int(bitPattern: s) & ~(page - 1), Int(bitPattern: b))
        let hi = min((Int(bitPattern: s) + range.count + page - 1) & ~(page - 1), (Int(bitPattern: b) + size + page - 1) & ~(page - 1))
        if hi > lo { _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), hi - lo, MADV_DONTNEED) }
    }

    deinit {
        if let b = base { munmap(UnsafeMutableRawPointer(mutating: b), size) }
    }
}

/// Atomic replacement of a file: write to a temporary sibling, flush, rename over the target.
public enum AtomicFile {
    /// A temporary path in the same folder as `path` (same file system, so rename is atomic).
    public static func temporaryPath(for path: String) -> String {
        "\(path).tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
    }

    /// fsync of a file by path (after the writer has closed it).
    public static func fsyncPath(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw CheckpointError(.io, file: path, "cannot reopen to sync: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        if fsync(fd) != 0 { throw CheckpointError(.io, file: path, "fsync failed: \(String(cString: strerror(errno)))") }
    }

    /// Renames `tmp` over `path` and syncs the folder so the rename itself is durable.
    public static func commit(_ tmp: String, to path: String) throws {
        if rename(tmp, path) != 0 {
            let msg = String(cString: strerror(errno))
            unlink(tmp)
            throw CheckpointError(.io, file: path, "cannot rename temporary file into place: \(msg)")
        }
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = Glibc.open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); Glibc.close(dfd) }
    }

    /// Writes a file atomically through `body`, which gets an open file descriptor.
    public static func write(_ path: String, _ body: (Int32, String) throws -> Void) throws {
        let tmp = temporaryPath(for: path)
        let fd = Glibc.open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw CheckpointError(.io, file: path, "cannot create temporary file \(tmp): \(String(cString: strerror(errno)))") }
        var ok = false
        defer { if !ok { Glibc.close(fd); unlink(tmp) } }
        try body(fd, tmp)
        if fsync(fd) != 0 { throw CheckpointError(.io, file: path, "fsync failed: \(String(cString: strerror(errno)))") }
        ok = true
        if Glibc.close(fd) != 0 { unlink(tmp); throw CheckpointError(.io, file: path, "close failed: \(String(cString: strerror(errno)))") }
        try commit(tmp, to: path)
    }

    /// Runs `body(tmp)`, which writes a complete file at the temporary path `tmp` by name (as
    /// the HDF5 library does), then fsyncs and renames it over `path`. On any error the temporary
    /// file is removed and a CheckpointError is reported against `path`.
    public static func replace(_ path: String, _ body: (String) throws -> Void) throws {
        let tmp = temporaryPath(for: path)
        do {
            try body(tmp)
            try fsyncPath(tmp)
            try commit(tmp, to: path)
        } catch let e as CheckpointError {
            unlink(tmp)
            throw CheckpointError(e.kind, file: path, object: e.object, e.message)
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// Writes all of `buf` to `fd`, retrying short writes.
    public static func writeAll(_ fd: Int32, _ buf: UnsafeRawBufferPointer, file: String) throws {
        var off = 0
        while off < buf.count {
            let n = Glibc.write(fd, buf.baseAddress! + off, min(buf.count - off, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError(.io, file: file, "write failed: \(String(cString: strerror(errno)))")
            }
            off += n
        }
    }
}
