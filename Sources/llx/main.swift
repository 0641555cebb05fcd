// llx: the command-line entry. `llx` (REPL), `llx run file.llx`, `llx notebook file.llx -o out.md`,
// `llx bench`, `llx --version`.
import Foundation
import Tensor
import REPL

BLASCore.reexecIfMisdetected()

let args = Array(CommandLine.arguments.dropFirst())
if args.first == "--version" || args.first == "version" {
    print("llx 0.1.0")
    print("BLAS: OpenBLAS core \(BLAS.coreName), \(BLAS.threads) threads (\(CPU.modelName))")
    exit(0)
}
switch args.first {
case "run":
    guard args.count >= 2 else { Runner.printError("usage: llx run file.llx"); exit(2) }
    exit(Runner.runFile(args[1]))
case "bench":
    TensorBench.run { print($0) }
    exit(0)
default:
    print("llx: not yet implemented: \(args.joined(separator: " "))")
    exit(1)
}
