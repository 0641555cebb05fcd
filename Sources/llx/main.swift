// llx: the command-line entry. `llx` (REPL), `llx run file.llx [-p name=value] [arg ...]`,
// `llx notebook file.llx|file.ipynb -o out.md [-p name=value]`, `llx serve --jsonl` (the Jupyter
// kernel's back end), `llx kernel install [--user]`, `llx bench [name]`, `llx --version`.
// LLX_THREADS=n sets the compute threads before anything runs.
import Foundation
import Tensor
import REPL
import Commands

BLASCore.reexecIfMisdetected()

// LLX_THREADS: compute threads (llx's loops and BLAS) from the start, as threads(n) sets them;
// benchmarks pin llx to fewer cores than the machine has with it.
if let s = ProcessInfo.processInfo.environment["LLX_THREADS"] {
    guard let n = Int(s), n >= 1 else {
        FileHandle.standardError.write(Data("llx: LLX_THREADS must be a whole number >= 1, got '\(s)'\n".utf8))
        exit(2)
    }
    Parallel.threads = n
    BLAS.threads = n
}

let usage = """
usage: llx                          start the REPL (reads commands from stdin when piped)
       llx run file.llx [-p name=value ...] [arg ...]
                                    run a script; the extra arguments are the list `args`
       llx notebook file.llx|file.ipynb [-o out.md] [-p name=value ...]
                                    run a notebook and write its reports: Markdown (default
                                    file.md) and Jupyter (the same name with .ipynb)
       llx kernel install [--user | --sys-prefix | --prefix DIR] [--python PATH]
                                    install the llx Jupyter kernel (llx kernel install --help)
       llx serve --jsonl            one session driven by JSON lines on stdin/stdout (the
                                    Jupyter kernel's back end; docs/language.md)
       llx docs [--write FILE]      print every command's reference (--write: replace the
                                    generated section of FILE, docs/language.md)
       llx bench [name]             run the benchmarks (\(Commands.benchNames.joined(separator: ", ")))
       llx fuzz --scripts N --files M [--seed S] [--jobs J]
                                    the fuzzing harness (llx fuzz --help)
       llx --version
options:
  -p, --parameter name=value   override a default of the '# %% parameters' cell (a script
                               without one gets it as a global); the value is an llx literal
                               (8, 200M, 5e-5, true, nil, "text", [1, 2]), anything else is
                               a string (-p model=tiny gives "tiny")
  -o, --output out.md          where the notebook report goes (out.ipynb beside it)
  --                           what follows are script arguments, even if they start with '-'
"""

/// Reads the arguments after `run`/`notebook`; a bad command line exits with status 2.
func invocation(_ rest: ArraySlice<String>, allowOutput: Bool) -> Invocation {
    do { return try Invocation.parse(Array(rest), allowOutput: allowOutput) } catch {
        Runner.printError("llx: \(error)\n(llx --help shows the usage)")
        exit(2)
    }
}

func runScript(_ rest: ArraySlice<String>) -> Never {
    let inv = invocation(rest, allowOutput: false)
    guard let script = inv.positional.first else { Runner.printError(usage); exit(2) }
    exit(REPLMain.runScript(script, parameters: inv.parameters, args: Array(inv.positional.dropFirst())))
}

let args = Array(CommandLine.arguments.dropFirst())
if args.first == "--version" || args.first == "version" {
    print("llx 0.1.0")
    print("BLAS: OpenBLAS core \(BLAS.coreName), \(BLAS.threads) threads (\(CPU.modelName))")
    exit(0)
}
switch args.first {
case nil:
    exit(REPLMain.start())
case "run":
    runScript(args.dropFirst())
case "notebook":
    let inv = invocation(args.dropFirst(), allowOutput: true)
    guard let nb = inv.positional.first else { Runner.printError(usage); exit(2) }
    if inv.positional.count > 1 {
        Runner.printError("llx: notebook takes one file, got also '\(inv.positional[1])'\n(llx --help shows the usage)")
        exit(2)
    }
    let out = inv.output ?? (nb as NSString).deletingPathExtension + ".md"
    exit(REPLMain.runNotebook(nb, out: out, parameters: inv.parameters))
case "serve":
    guard args.count == 2, args[1] == "--jsonl" else {
        Runner.printError("usage: llx serve --jsonl  (JSON requests on stdin, one a line; docs/language.md)")
        exit(2)
    }
    exit(Serve.run())
case "kernel":
    if args.count >= 2, args[1] == "install" {
        if args.contains("-h") || args.contains("--help") { print(KernelSpec.usage); exit(0) }
        exit(KernelSpec.install(Array(args.dropFirst(2))))
    }
    Runner.printError(KernelSpec.usage)
    exit(2)
case "bench":
    exit(Commands.runBench(args.count > 1 ? args[1] : nil) { print($0); fflush(stdout) } ? 0 : 1)
case "docs":
    // the generated command reference (docs/language.md's last section)
    if args.count == 3, args[1] == "--write" {
        let path = args[2]
        let old = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        do { try Reference.updated(old).write(toFile: path, atomically: true, encoding: .utf8) } catch {
            Runner.printError("llx docs: cannot write \(path): \(error.localizedDescription)")
            exit(1)
        }
        exit(0)
    }
    guard args.count == 1 else { Runner.printError("usage: llx docs [--write docs/language.md]"); exit(2) }
    print(Reference.section(), terminator: "")
case "fuzz":
    if args.contains("-h") || args.contains("--help") { print(Fuzz.usage); exit(0) }
    exit(Fuzz.main(Array(args.dropFirst())))
case "-h", "--help", "help":
    print(usage)
default:
    if args[0].hasSuffix(".llx") { runScript(args[...]) }
    Runner.printError("llx: unknown command '\(args[0])'\n" + usage)
    exit(2)
}
