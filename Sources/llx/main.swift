// llx: the command-line entry. `llx` (REPL), `llx run file.llx`, `llx notebook file.llx -o out.md`,
// `llx bench [name]`, `llx --version`.
import Foundation
import Tensor
import REPL
import Commands

BLASCore.reexecIfMisdetected()

let usage = """
usage: llx                          start the REPL (reads commands from stdin when piped)
       llx run file.llx             run a script
       llx notebook file.llx [-o out.md]   run a notebook and write its report
       llx bench [name]             run the benchmarks (\(Commands.benchNames.joined(separator: ", ")))
       llx --version
"""

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
    guard args.count >= 2 else { Runner.printError(usage); exit(2) }
    exit(REPLMain.runScript(args[1]))
case "notebook":
    guard args.count >= 2 else { Runner.printError(usage); exit(2) }
    var out = (args[1] as NSString).deletingPathExtension + ".md"
    if let i = args.firstIndex(where: { $0 == "-o" || $0 == "--output" }), i + 1 < args.count { out = args[i + 1] }
    exit(REPLMain.runNotebook(args[1], out: out))
case "bench":
    exit(Commands.runBench(args.count > 1 ? args[1] : nil) { print($0); fflush(stdout) } ? 0 : 1)
case "-h", "--help", "help":
    print(usage)
default:
    if args[0].hasSuffix(".llx") { exit(REPLMain.runScript(args[0])) }
    Runner.printError("llx: unknown command '\(args[0])'\n" + usage)
    exit(2)
}
