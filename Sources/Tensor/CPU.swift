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

    /// Re-executes the current program with OPENBLAS_CORETYPE set when OpenBLAS picked a core
    /// older than the CPU and the user set nothing. Returns only when no re-exec is needed or possible.
    public static func reexecIfMisdetected() {
        let env = ProcessInfo.processInfo.environment
        if env["OPENBLAS_CORETYPE"] != nil || env["LLX_BLAS_REEXEC"] != nil { return }
        guard let core = preferredCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv("LLX_BLAS_REEXEC", "1", 1)
        let args = CommandLine.arguments
        var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cargs.append(nil)
        execv("/proc/self/exe", cargs)
        // execv returned: keep running with the slower kernels rather than fail.
        unsetenv("OPENBLAS_CORETYPE")
        for p in cargs { free(p) }
    }
}
