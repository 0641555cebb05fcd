// KernelSpec: `llx kernel install [--user | --sys-prefix | --prefix DIR] [--name NAME]
// [--display-name TEXT] [--python PATH]` writes the Jupyter kernelspec (`kernels/NAME/kernel.json`)
// of the llx kernel: a small Python kernel on ipykernel (python/llx_kernel, installed into
// .venv by scripts/setup.sh) that drives this binary's `llx serve --jsonl`. The spec names the
// Python that has llx_kernel and the absolute path of this llx binary (`LLX_BINARY`).
import Foundation
import Lang

public enum KernelSpec {
    public static let usage = """
    usage: llx kernel install [--user | --sys-prefix | --prefix DIR] [--name NAME]
                              [--display-name TEXT] [--python PATH]
      --user          for this user (~/.local/share/jupyter/kernels, or $JUPYTER_DATA_DIR/kernels)
      --sys-prefix    into the Python environment of the kernel (<sys.prefix>/share/jupyter/kernels)
      --prefix DIR    into DIR/share/jupyter/kernels
                      (none of them: system-wide, /usr/local/share/jupyter/kernels)
      --name NAME     the kernelspec's name (default llx)
      --display-name  the name Jupyter shows (default llx)
      --python PATH   the Python that runs the kernel; it needs ipykernel and llx_kernel
                      (default: $LLX_PYTHON, $LLX_VENV/bin/python, the .venv of llx's checkout,
                      then python3)
    """

    struct Options {
        var place = "system"   // user, sys-prefix, prefix, system
        var prefix: String? = nil
        var name = "llx"
        var displayName = "llx"
        var python: String? = nil
    }

    static func parse(_ args: [String]) throws -> Options {
        var o = Options()
        var i = 0
        func value(_ flag: String) throws -> String {
            guard i + 1 < args.count else { throw UsageError("\(flag) needs a value") }
            i += 1
            return args[i]
        }
        var places: [String] = []
        while i < args.count {
            let a = args[i]
            switch a {
            case "--user": places.append(a); o.place = "user"
            case "--sys-prefix": places.append(a); o.place = "sys-prefix"
            case "--prefix": places.append(a); o.place = "prefix"; o.prefix = try value(a)
            case "--name":
                o.name = try value(a)
                guard !o.name.isEmpty, o.name.unicodeScalars.allSatisfy({ $0 == "_" || $0 == "-" || $0 == "." || ($0.isASCII && CharacterSet.alphanumerics.contains($0)) })
                else { throw UsageError("--name '\(o.name)': a kernelspec name has letters, digits, '.', '_' and '-' only") }
            case "--display-name": o.displayName = try value(a)
            case "--python": o.python = try value(a)
            default: throw UsageError("kernel install: unknown option '\(a)'")
            }
            i += 1
        }
        if places.count > 1 { throw UsageError("kernel install: give one of \(places.joined(separator: ", ")), not several") }
        return o
    }

    /// This executable's absolute path.
    static var binaryPath: String {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        let a = CommandLine.arguments[0]
        let url = a.hasPrefix("/") ? URL(fileURLWithPath: a) : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(a)
        return url.standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// The Python to run the kernel with, when none is given.
    static func defaultPython() -> String {
        let env = ProcessInfo.processInfo.environment
        if let p = env["LLX_PYTHON"], !p.isEmpty { return p }
        let fm = FileManager.default
        if let v = env["LLX_VENV"], !v.isEmpty {
            let p = URL(fileURLWithPath: v, relativeTo: URL(fileURLWithPath: fm.currentDirectoryPath)).appendingPathComponent("bin/python").path
            if fm.isExecutableFile(atPath: p) { return p }
        }
        // the checkout the binary was built in: <repo>/.build/<config>/llx
        var dir = URL(fileURLWithPath: binaryPath).deletingLastPathComponent()
        for _ in 0..<5 {
            let p = dir.appendingPathComponent(".venv/bin/python").path
            if fm.isExecutableFile(atPath: p) { return p }
            dir = dir.deletingLastPathComponent()
        }
        return "python3"
    }

    /// Runs `python -c code`; (status, stdout + stderr).
    static func python(_ python: String, _ code: String) -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, "-c", code]
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        do { try p.run() } catch { return (127, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// `llx kernel install ...`: 0 installed, 1 it could not be (the Python lacks the kernel
    /// package, the folder is not writable), 2 a bad command line.
    public static func install(_ args: [String]) -> Int32 {
        let o: Options
        do { o = try parse(args) } catch {
            Runner.printError("llx: \(error)\n" + usage)
            return 2
        }
        let py = o.python ?? defaultPython()
        let (status, out) = python(py, "import sys, ipykernel, llx_kernel; print(sys.prefix)")
        guard status == 0 else {
            Runner.printError("""
            error: the Python '\(py)' cannot run the llx kernel (it needs the packages ipykernel and llx_kernel):
            \(out.trimmingCharacters(in: .whitespacesAndNewlines))
            scripts/setup.sh installs them into .venv; or give --python PATH (or set LLX_PYTHON)
            """)
            return 1
        }
        let sysPrefix = out.split(separator: "\n").last.map(String.init) ?? ""
        let env = ProcessInfo.processInfo.environment
        let kernels: String
        switch o.place {
        case "user":
            if let d = env["JUPYTER_DATA_DIR"], !d.isEmpty { kernels = d + "/kernels" }
            else {
                #if os(macOS)
                kernels = NSHomeDirectory() + "/Library/Jupyter/kernels"
                #else
                let data = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.local/share"
                kernels = data + "/jupyter/kernels"
                #endif
            }
        case "sys-prefix": kernels = sysPrefix + "/share/jupyter/kernels"
        case "prefix": kernels = (o.prefix ?? "") + "/share/jupyter/kernels"
        default: kernels = "/usr/local/share/jupyter/kernels"
        }
        let dir = URL(fileURLWithPath: kernels).appendingPathComponent(o.name)
        // the Python as a path the kernel can start from anywhere
        var pythonPath = py
        if py.contains("/") && !py.hasPrefix("/") {
            pythonPath = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(py).standardizedFileURL.path
        }
        let spec = Record([
            ("argv", .list([.string(pythonPath), .string("-m"), .string("llx_kernel"), .string("-f"), .string("{connection_file}")])),
            ("display_name", .string(o.displayName)),
            ("language", .string("llx")),
            ("interrupt_mode", .string("signal")),
            ("env", .record(Record([("LLX_BINARY", .string(binaryPath))]))),
            ("metadata", .record(Record([("debugger", .bool(false))]))),
        ])
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try AtomicFile.write(try JSON.serialize(.record(spec), indent: 1) + "\n", to: dir.appendingPathComponent("kernel.json").path)
        } catch {
            Runner.printError("error: cannot write the kernelspec into '\(dir.path)': \(error)"
                              + (o.place == "system" ? " (try --user or --sys-prefix)" : ""))
            return 1
        }
        print("installed the llx kernelspec '\(o.name)' in \(dir.path)")
        print("  python: \(pythonPath)\n  llx:    \(binaryPath)")
        return 0
    }
}
