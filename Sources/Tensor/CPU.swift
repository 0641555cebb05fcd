// CPU: what the processor can do, and the OpenBLAS core that matches it.
// Debian's OpenBLAS 0.3.21 detects recent Xeons as "Prescott" (SSE3 kernels, ~5x slower);
// `BLASCore.preferredCoreType` names the core to request through OPENBLAS_CORETYPE.
import Foundation

public enum CPU {
    /// The flags line of /proc/cpuinfo (empty where unavailable).
    public static let flags: Set<String> = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            if let colon = line.firstIndex(of: ":") {
                return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
            }
        }
        return []
    }()

    public static var modelName: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return "unknown"
    }
}

public enum BLASCore {
    /// Cores whose kernels lack AVX-512: if OpenBLAS picked one of these on an AVX-512 CPU,
    /// it misdetected the processor.
    static let preAVX512: Set<String> = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                         "Sandybridge", "Haswell", "Zen", "Atom", "Katmai", "Coppermine",
                                         "Northwood", "Banias", "Unknown", "unknown"]

    /// The OPENBLAS_CORETYPE to request on this CPU, or nil when OpenBLAS's own choice is right.
    public static func preferredCoreType(current: String = BLAS.coreName, flags: Set<String> = CPU.flags) -> String? {
        let cur = current.trimmingCharacters(in: .whitespaces)
        guard flags.contains("avx512f"), flags.contains("avx512bw"), flags.contains("avx512vl") else {
            if flags.contains("avx2"), flags.contains("fma"), ["Prescott", "Core2", "Penryn", "Nehalem", "Sandybridge"].contains(cur) {
                return "Haswell"
            }
            return nil
        }
        guard preAVX512.contains(cur) else { return nil }
        return flags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX"
    }

    /// OpenBLAS worker threads spin (sched_yield) for about 2^28 cycles after each call before
    /// sleeping; between GEMMs llx runs its own threaded kernels, and the spinning workers take
    /// the cores from them (about 20% of a training step here, seen with perf). 2^18 cycles
    /// (~0.1 ms) keeps them hot across back-to-back calls (decoding) and asleep otherwise:
    /// measured on the small preset, training +15-20%, prefill +10%, decode unchanged.
    public static let threadTimeout = "18"

    /// Re-executes the current program with OPENBLAS_CORETYPE set when OpenBLAS picked a core
    /// older than the CPU, and (with LLX_THREADING=openblas) OPENBLAS_THREAD_TIMEOUT set to
    /// `threadTimeout`, for each variable the user has not set (OpenBLAS reads both only when it
    /// loads). Returns only when no re-exec is needed or possible.
    public static func reexecIfMisdetected() {
        let env = ProcessInfo.processInfo.environment
        if env["LLX_BLAS_REEXEC"] != nil { return }
        var changed = false
        if env["OPENBLAS_CORETYPE"] == nil, let core = preferredCoreType() {
            setenv("OPENBLAS_CORETYPE", core, 1); changed = true
        }
        // (only OpenBLAS's own threads spin: with the one pool, the default, it runs single-threaded)
        if env["LLX_THREADING"] == "openblas" && env["OPENBLAS_THREAD_TIMEOUT"] == nil && env["GOTO_THREAD_TIMEOUT"] == nil {
            setenv("OPENBLAS_THREAD_TIMEOUT", threadTimeout, 1); changed = true
        }
        guard changed else { return }
        setenv("LLX_BLAS_REEXEC", "1", 1)
        let args = CommandLine.arguments
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cargs.append(nil)
        execv("/proc/self/exe", cargs)
        // execv returned: keep running with OpenBLAS's own choices rather than fail.
        if env["OPENBLAS_CORETYPE"] == nil { unsetenv("OPENBLAS_CORETYPE") }
        if env["OPENBLAS_THREAD_TIMEOUT"] == nil { unsetenv("OPENBLAS_THREAD_TIMEOUT") }
        unsetenv("LLX_BLAS_REEXEC")
        for p in cargs { free(p) }
    }
}
