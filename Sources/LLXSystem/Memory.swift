// Memory: the one check that an allocation whose size comes from user input or a file fits
// in the memory the machine has free, made before allocating, so that `zeros([100000, 100000])`
// or a corrupt shape in a checkpoint is an error naming the size instead of a fatal
// "failed to allocate" that ends the process (and, in the REPL, the session).
//
// LLXSystem is the lowest module, below Tensor and Lang, so that every module that allocates
// from a size it was given calls this one check: tensor factories and broadcasting (Tensor),
// safetensors and HDF5 reading (Checkpoint), model configs and generation (Llama), LoRA (Quant),
// string and list repetition (Lang), the commands. Tensor re-exports it (`Memory.require(shape:
// dtype:)` is there, since dtypes are Tensor's). Small requests (under `checkThreshold`) are not
// checked: the kernels allocate scratch all the time, and reading /proc/meminfo costs ~10 µs.
import Foundation

/// An allocation refused because it does not fit in the available memory (or overflows Int).
public struct MemoryError: Error, CustomStringConvertible, Sendable {
    public let what: String
    /// The bytes asked for; nil when the size overflows a 64-bit integer.
    public let bytes: Int?
    public let available: Int

    public var description: String {
        let need = bytes.map { "\(Memory.format($0)) (\($0) bytes)" } ?? "more than 2^63 bytes"
        return "\(what) needs \(need) but only \(Memory.format(available)) of memory is available"
    }
}

public enum Memory {
    /// Gives the memory malloc holds in its arenas for freed blocks back to the system (glibc's
    /// malloc_trim(0), not in Swift's Glibc module, looked up once), so that the RSS shows what
    /// is live: the fuzz workers' RSS guard and the planner's measurements read it.
    public static let trimFreed: () -> Void = {
        guard let h = dlopen(nil, RTLD_NOW), let f = dlsym(h, "malloc_trim") else { return {} }
        let trim = unsafeBitCast(f, to: (@convention(c) (Int) -> Int32).self)
        return { _ = trim(0) }
    }()

    /// Frees memory kept for reuse and returns the bytes it freed (set by Tensor's Recycled).
    nonisolated(unsafe) public static var releaseKept: (() -> Int)?

    /// Requests below this many bytes are not checked (unless LLX_MEMORY_LIMIT is set, as tests
    /// do to see the check at small sizes: then every request is).
    public static var checkThreshold: Int { getenv("LLX_MEMORY_LIMIT") == nil ? 32 << 20 : 0 }

    /// Bytes of memory available to a new allocation: MemAvailable from /proc/meminfo, capped by
    /// `LLX_MEMORY_LIMIT` (bytes, or with a K/M/G suffix) when set. Nil when neither is known
    /// (then nothing is refused).
    public static func available() -> Int? {
        var result: Int? = nil
        if let p = getenv("LLX_MEMORY_LIMIT"), let limit = parseSize(String(cString: p)) {
            result = limit
        }
        if let meminfo = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in meminfo.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                let fields = line.split(separator: " ")
                if fields.count >= 2, let kb = Int(fields[1]) {
                    let bytes = kb.multipliedReportingOverflow(by: 1024)
                    if !bytes.overflow { result = min(result ?? Int.max, bytes.partialValue) }
                }
            }
        }
        return result
    }

    /// Throws `MemoryError` when `bytes` (nil: it overflowed) is more than the available memory.
    public static func require(_ bytes: Int?, _ what: @autoclosure () -> String) throws {
        if let b = bytes, b < checkThreshold { return }
        guard let avail = available() else {
            if bytes == nil { throw MemoryError(what: what(), bytes: nil, available: 0) }
            return
        }
        if let b = bytes, b <= avail { return }
        // memory kept for reuse (Tensor's Recycled) goes back first, then the check is made again
        if let release = releaseKept, let b = bytes, release() > 0, let now = available(), b <= now { return }
        throw MemoryError(what: what(), bytes: bytes, available: avail)
    }

    /// The same for `count` elements of `elementSize` bytes each (the product checked for overflow).
    public static func require(count: Int, elementSize: Int, _ what: @autoclosure () -> String) throws {
        let (b, o) = max(count, 0).multipliedReportingOverflow(by: elementSize)
        try require(o ? nil : b, what())
    }

    /// The element count of a shape, or nil when it overflows (or an extent is negative).
    public static func elementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (m, o) = n.multipliedReportingOverflow(by: d)
            if o { return nil }
            n = m
        }
        return n
    }

    /// "40.0 GB" (decimal units, as `free -h --si` and the kernel's meminfo in kB are read).
    public static func format(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b >= 1e12 { return String(format: "%.1f TB", b / 1e12) }
        if b >= 1e9 { return String(format: "%.1f GB", b / 1e9) }
        if b >= 1e6 { return String(format: "%.1f MB", b / 1e6) }
        if b >= 1e3 { return String(format: "%.1f kB", b / 1e3) }
        return "\(bytes) bytes"
    }

    static func parseSize(_ s: String) -> Int? {
        let t = s.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int)] = [("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)]
        for (u, m) in units where t.uppercased().hasSuffix(u) {
            guard let v = Int(t.dropLast()) else { return nil }
            let (r, o) = v.multipliedReportingOverflow(by: m)
            return o ? nil : r
        }
        return Int(t)
    }
}

/// The stop request (Ctrl-C) of the llx code that is running, for library code below the
/// language that waits on something outside it (a child process): set by the interpreter for
/// each entry, nil outside one.
public enum StopRequest {
    nonisolated(unsafe) public static var flag: UnsafePointer<Int32>? = nil
    public static var isSet: Bool { (flag?.pointee ?? 0) != 0 }
}
