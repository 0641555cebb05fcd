// Integrity: page checksums for the HDF5 files llx writes. HDF5 checks data chunks
// (Fletcher-32) but can crash on damaged metadata, so llx files start with a 64 KiB HDF5 user
// block (ignored by HDF5 and h5py) holding the file size, an xxHash64 of every page of the
// rest of the file, and a bit per page saying it holds only checksummed chunk data.
// Opening a sealed file verifies it before HDF5 reads anything: damage in a metadata page is
// reported at once; damage only in data pages lets HDF5 open the file, so Fletcher-32 names
// the damaged dataset and the others still read. Files from other tools carry no seal.
import Foundation
import Glibc
import CHDF5
import LLXSystem

public enum Integrity {
    static let magic: [UInt8] = Array("LLX-HDF5".utf8)
    static let userblockSize = 65536
    static let version: UInt32 = 2
    // Header: magic 8 | version u32 | user block size u32 | file size u64 | page size u64 |
    // page count u64 | header+table hash u64 | text ... ; table from byte 128: hashes, then bits.
    static let tableOffset = 128
    static var maxPages: Int { (userblockSize - tableOffset) * 8 / 65 }

    public enum Status: Equatable {
        case unsealed
        case intact
        /// Damage only in pages of checksummed chunk data (HDF5 can open the file safely).
        case damagedData(pages: Int)
    }

    static func pageSize(forDataBytes n: Int) -> Int {
        var ps = 4096
        while (n + ps - 1) / ps > maxPages { ps *= 2 }
        return ps
    }

    /// Verifies a sealed file. Throws when it is truncated or its metadata pages are damaged.
    public static func verify(_ path: String) throws -> Status {
        let map = try MappedFile(path)
        let bytes = map.bytes
        guard bytes.count >= tableOffset, magic.indices.allSatisfy({ bytes[$0] == magic[$0] }) else { return .unsealed }
        func u64(_ o: Int) -> Int { Int(truncatingIfNeeded: bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self).littleEndian) }
        func u32(_ o: Int) -> Int { Int(bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self).littleEndian) }
        guard u32(8) == Int(version), u32(12) == userblockSize else {
            throw CheckpointError(.format, file: path, "llx integrity header version \(u32(8)) is not supported")
        }
        let size = u64(16), ps = u64(24), pages = u64(32)
        guard bytes.count >= userblockSize, pages >= 0, pages <= maxPages, ps >= 4096, ps.nonzeroBitCount == 1,
              xxh64(UnsafeRawBufferPointer(rebasing: bytes[0..<40]), seed: xxh64(UnsafeRawBufferPointer(rebasing: bytes[tableOffset..<userblockSize]))) == UInt64(truncatingIfNeeded: u64(40)) else {
            throw CheckpointError(.corrupt, file: path, "the llx integrity header is damaged")
        }
        guard bytes.count == size, (size - userblockSize + ps - 1) / ps == pages else {
            throw CheckpointError(.corrupt, file: path, "file is \(bytes.count) bytes but was written with \(size) (truncated or damaged)")
        }
        let bitsOffset = tableOffset + pages * 8
        var damaged = 0, damagedMeta = 0
        for p in 0..<pages {
            let lo = userblockSize + p * ps, hi = min(lo + ps, size)
            if xxh64(UnsafeRawBufferPointer(rebasing: bytes[lo..<hi])) != UInt64(truncatingIfNeeded: u64(tableOffset + p * 8)) {
                damaged += 1
                let rawOnly = (bytes[bitsOffset + p / 8] >> UInt8(p % 8)) & 1 == 1
                if !rawOnly { damagedMeta += 1 }
            }
        }
        if damagedMeta > 0 {
            throw CheckpointError(.corrupt, file: path, "checksum mismatch in \(damagedMeta) page(s) holding HDF5 metadata: the file is damaged (or was changed by a tool that does not renew the llx seal)")
        }
        return damaged == 0 ? .intact : .damagedData(pages: damaged)
    }

    /// Whether a sealed file is now longer than when it was sealed (an HDF5 library that added
    /// objects or attributes to it; damage does not change the size).
    static func grewSinceSeal(_ path: String) -> Bool {
        guard let map = try? MappedFile(path) else { return false }
        let bytes = map.bytes
        guard bytes.count >= userblockSize, magic.indices.allSatisfy({ bytes[$0] == magic[$0] }) else { return false }
        let sealed = Int(truncatingIfNeeded: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian)
        return sealed >= userblockSize && bytes.count > sealed
    }

    nonisolated(unsafe) private static var warned: Set<String> = []
    private static let warnedLock = NSLock()

    /// Says once per file and process that a file was edited by another program.
    static func warnStale(_ path: String) {
        warnedLock.lock(); defer { warnedLock.unlock() }
        if warned.insert(path).inserted {
            FileHandle.standardError.write(Data("warning: \(path): changed by another HDF5 program since llx wrote it (the llx seal is stale); HDF5 reads it whole, so llx loads it\n".utf8))
        }
    }

    /// Whether HDF5 reads the whole file (every object, attribute and dataset) without error,
    /// tried in a forked child so that a crash of the library on a damaged file ends only the
    /// child. Used when a sealed file's seal no longer matches its contents.
    /// A stop request (Ctrl-C) ends the wait: the child is killed and nil returned (a damaged
    /// file on which HDF5 never finished kept the caller waiting the whole timeout: fuzz seed
    /// 301 case 1046243).
    /// `maxData`: datasets and attributes of up to this many bytes are read in full (0: type and
    /// shape only; attributes never past 16 GB);
    /// `strict` false: only the structure (objects, links, attribute and dataset headers) must
    /// read; data HDF5 refuses or that is too large is left to the real read to report.
    static func trialRead(_ path: String, maxData: Int = 1 << 40, strict: Bool = true, timeout: Double = 600) -> Bool? {
        guard let cpath = strdup(path) else { return false }
        defer { free(cpath) }
        // Fork holding the HDF5 lock, so that no other thread of this process is inside HDF5.
        // The child touches neither the lock nor Swift objects: plain C, then _exit.
        H5Lib.sync { }   // the library is initialized before the child inherits it
        H5Lib.lock.lock()
        let pid = fork()
        if pid == 0 { _exit(llx_h5_trial_child(cpath, maxData, strict ? 1 : 0)) }
        H5Lib.lock.unlock()
        if pid < 0 { return false }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout * 1e9)
        var st: Int32 = 0
        while true {
            let r = waitpid(pid, &st, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { return false }
            if DispatchTime.now().uptimeNanoseconds > deadline || StopRequest.isSet {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &st, 0)
                return StopRequest.isSet ? nil : false
            }
            usleep(1000)
        }
        // exited normally (no signal) with status 0
        return st & 0x7f == 0 && (st >> 8) & 0xff == 0
    }

    /// Files from other tools (no llx seal) that a trial read found readable, by path, size,
    /// modification time and inode: checked once per process and version of the file.
    nonisolated(unsafe) private static var checkedForeign: Set<String> = []
    private static let checkedLock = NSLock()

    /// The file's version key and size (nil when it cannot be stat'ed).
    static func foreignKey(_ path: String) -> (key: String, size: Int)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return ("\(path)|\(st.st_size)|\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)|\(st.st_ino)", Int(st.st_size))
    }

    /// Makes sure HDF5 can read a file without a seal before this process lets it: HDF5 1.10
    /// corrupts its heap on some damaged files (a local heap whose size field is damaged makes it
    /// memcpy a negative size while listing a group: fuzz seed 303 case 1054179 ended in
    /// `malloc(): corrupted top size`). A trial read in a forked child (the structure, every
    /// attribute, and the datasets of up to 256 MB, and of up to 1024 times the file's size, of
    /// files up to 256 MB) takes that crash
    /// instead; errors reading data are left to the read that follows, with its messages.
    /// Throws a `.corrupt` error naming the file when the child failed.
    static func checkForeign(_ path: String) throws {
        guard let (key, size) = foreignKey(path) else { return }
        checkedLock.lock()
        let known = checkedForeign.contains(key)
        checkedLock.unlock()
        if known { return }
        // HDF5 can also loop for good on a damaged file (fuzz seed 304: a trial child
        // ran minutes): a walk that takes longer than a generous bound for the file's size
        // counts as a failure
        let bound = 30 + Double(size) / 20e6
        // Datasets are read in full up to 256 MB, and up to what the file can hold: 1024 times its
        // size (deflate, the strongest filter, stores at most ~1032 to 1) plus 1 MB. A damaged
        // 10 KB file whose element size claims hundreds of MB (fuzz: h5read-131926bafdfa) had
        // the child allocate and touch that much, 4-6 s of page faults on a 2-core VM.
        let maxData = size <= 256 << 20 ? min(256 << 20, 1024 * size + (1 << 20)) : 0
        guard let ok = trialRead(path, maxData: maxData, strict: false, timeout: bound) else {
            throw CheckpointError(.io, file: path, "stopped while HDF5 read the file in a separate process to check it")
        }
        guard ok else {
            throw CheckpointError(.corrupt, file: path, "HDF5 cannot read this file's structure: it is damaged (checked in a separate process, where HDF5 failed, crashed or did not finish)")
        }
        checkedLock.lock()
        checkedForeign.insert(key)
        checkedLock.unlock()
    }

    /// Writes the seal into the reserved user block of a closed HDF5 file. `rawRanges` are the
    /// absolute byte ranges of Fletcher-32-checked chunk data.
    static func seal(_ path: String, rawRanges: [Range<Int>]) throws {
        let map = try MappedFile(path)
        let size = map.size
        guard size >= userblockSize else { throw CheckpointError(.io, file: path, "file too short to seal") }
        let ps = pageSize(forDataBytes: size - userblockSize)
        let pages = (size - userblockSize + ps - 1) / ps
        var header = [UInt8](repeating: 0, count: userblockSize)
        header.replaceSubrange(0..<8, with: magic)
        func put<T: FixedWidthInteger>(_ v: T, _ o: Int) {
            withUnsafeBytes(of: v.littleEndian) { header.replaceSubrange(o..<(o + MemoryLayout<T>.size), with: $0) }
        }
        put(version, 8)
        put(UInt32(userblockSize), 12)
        put(UInt64(size), 16)
        put(UInt64(ps), 24)
        put(UInt64(pages), 32)
        let text = Array("\nllx: HDF5 file after this 64 KiB user block; it holds page checksums (xxHash64).\n".utf8)
        header.replaceSubrange(48..<(48 + text.count), with: text)
        // Merge the raw ranges, then mark the pages they cover entirely.
        let merged = rawRanges.sorted { $0.lowerBound < $1.lowerBound }.reduce(into: [Range<Int>]()) { acc, r in
            if let last = acc.last, r.lowerBound <= last.upperBound { acc[acc.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound) } else { acc.append(r) }
        }
        let bitsOffset = tableOffset + pages * 8
        var j = 0
        for p in 0..<pages {
            let lo = userblockSize + p * ps, hi = min(lo + ps, size)
            put(xxh64(UnsafeRawBufferPointer(rebasing: map.bytes[lo..<hi])), tableOffset + p * 8)
            while j < merged.count && merged[j].upperBound <= lo { j += 1 }
            if j < merged.count && merged[j].lowerBound <= lo && merged[j].upperBound >= hi {
                header[bitsOffset + p / 8] |= UInt8(1) << UInt8(p % 8)
            }
        }
        let tableHash = header.withUnsafeBytes { xxh64(UnsafeRawBufferPointer(rebasing: $0[tableOffset..<userblockSize])) }
        put(header.withUnsafeBytes { xxh64(UnsafeRawBufferPointer(rebasing: $0[0..<40]), seed: tableHash) }, 40)
        let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw CheckpointError(.io, file: path, "cannot open to seal: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        let n = header.withUnsafeBytes { pwrite(fd, $0.baseAddress, userblockSize, 0) }
        if n != userblockSize { throw CheckpointError(.io, file: path, "cannot write the integrity header") }
    }

    // xxHash64 (Yann Collet's published algorithm).
    static let p1: UInt64 = 11400714785074694791
    static let p2: UInt64 = 14029467366897019727
    static let p3: UInt64 = 1609587929392839161
    static let p4: UInt64 = 9650029242287828579
    static let p5: UInt64 = 2870177450012600261

    @inline(__always) static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
    @inline(__always) static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 { rotl(acc &+ input &* p2, 31) &* p1 }
    @inline(__always) static func merge(_ acc: UInt64, _ v: UInt64) -> UInt64 { (acc ^ round(0, v)) &* p1 &+ p4 }

    public static func xxh64(_ buf: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let n = buf.count
        guard let base = buf.baseAddress else { return avalanche(seed &+ p5) }
        var i = 0
        var h: UInt64
        if n >= 32 {
            var v1 = seed &+ p1 &+ p2, v2 = seed &+ p2, v3 = seed, v4 = seed &- p1
            while i + 32 <= n {
                v1 = round(v1, base.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian)
                v2 = round(v2, base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self).littleEndian)
                v3 = round(v3, base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self).littleEndian)
                v4 = round(v4, base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self).littleEndian)
                i += 32
            }
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = merge(h, v1); h = merge(h, v2); h = merge(h, v3); h = merge(h, v4)
        } else {
            h = seed &+ p5
        }
        h = h &+ UInt64(n)
        while i + 8 <= n {
            h ^= round(0, base.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian)
            h = rotl(h, 27) &* p1 &+ p4
            i += 8
        }
        if i + 4 <= n {
            h ^= UInt64(base.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian) &* p1
            h = rotl(h, 23) &* p2 &+ p3
            i += 4
        }
        while i < n {
            h ^= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) &* p5
            h = rotl(h, 11) &* p1
            i += 1
        }
        return avalanche(h)
    }

    @inline(__always) static func avalanche(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 33; h = h &* p2
        h ^= h >> 29; h = h &* p3
        h ^= h >> 32
        return h
    }
}
