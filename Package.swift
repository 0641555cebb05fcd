// swift-tools-version:5.10
// llx: long-context experiments on Llama-3 as a small scripting language.
import PackageDescription
import Foundation

// Numeric modules are compiled with bounds checks off in release builds;
// their own code validates every user-reachable index before the hot loops.
// They are also compiled for the CPU that builds them (like llama.cpp's GGML_NATIVE): Swift's
// default x86-64 target has neither AVX nor FMA, so SIMD16<Float> kernels (exp, norms, NF4
// dequantization, ...) would run as four SSE halves. A binary built this way needs a CPU with
// the same features; LLX_TARGET_CPU=x86-64 (or another LLVM CPU name) builds a portable one.
let targetCPU = ProcessInfo.processInfo.environment["LLX_TARGET_CPU"] ?? "native"
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo", "-target-cpu", targetCPU], .when(configuration: .release))]
// The C decode kernels (Sources/CKernels) for the same CPU; no FMA contraction, so each kernel's
// rounding is the one its source spells out.
let cFast: [CSetting] = [.unsafeFlags(["-O3", "-march=\(targetCPU)", "-ffp-contract=off"])]

let package = Package(
    name: "llx",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "llx", targets: ["llx"]),
    ],
    targets: [
        // System libraries (Debian: libopenblas-dev, libhdf5-dev, libreadline-dev).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CReadline", pkgConfig: "readline", providers: [.apt(["libreadline-dev"])]),

        // Libraries. Dependencies point one way:
        // Tensor <- NN <- Quant <- Llama; NN <- Train, Eval (they never see Llama: the model
        // conforms to NN's protocols); Checkpoint sees tensors, never models; Lang sees no ML at
        // all; Commands joins them; REPL and llx sit on top. scripts/check_imports.py checks it.
        .target(name: "CKernels", cSettings: cFast),
        .target(name: "Tensor", dependencies: ["CBLAS", "CKernels"], swiftSettings: fast),
        .target(name: "Tokenizer", swiftSettings: fast),
        .target(name: "Checkpoint", dependencies: ["Tensor", "CHDF5"], swiftSettings: fast),
        .target(name: "NN", dependencies: ["Tensor"], swiftSettings: fast),
        .target(name: "Quant", dependencies: ["Tensor", "NN", "CKernels"], swiftSettings: fast),
        .target(name: "Llama", dependencies: ["Tensor", "NN", "Quant", "Tokenizer", "Checkpoint"], swiftSettings: fast),
        .target(name: "Synth", dependencies: ["Tokenizer", "NN"], swiftSettings: fast),
        .target(name: "Train", dependencies: ["Tensor", "NN", "Tokenizer", "Checkpoint"], swiftSettings: fast),
        .target(name: "Eval", dependencies: ["Tensor", "NN", "Tokenizer", "Synth"], swiftSettings: fast),
        .target(name: "Lang"),
        .target(name: "Commands", dependencies: ["Lang", "Tensor", "NN", "Tokenizer", "Checkpoint", "Quant", "Llama", "Synth", "Train", "Eval"]),
        .target(name: "REPL", dependencies: ["Lang", "NN", "Commands", "CReadline"]),
        .executableTarget(name: "llx", dependencies: ["REPL", "Commands", "Tensor"]),

        // Tests: one target per module. Fixtures live in Tests/Fixtures, written by scripts/.
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "Tensor"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Tensor"]),
        .testTarget(name: "QuantTests", dependencies: ["Quant", "NN", "Tensor"]),
        .testTarget(name: "LlamaTests", dependencies: ["Llama", "NN", "Tensor", "Tokenizer", "Quant", "Checkpoint"]),
        .testTarget(name: "TrainTests", dependencies: ["Train", "NN", "Llama", "Tensor", "Quant", "Tokenizer", "Checkpoint"]),
        .testTarget(name: "EvalTests", dependencies: ["Eval", "NN", "Synth", "Tokenizer", "Tensor"]),
        .testTarget(name: "LangTests", dependencies: ["Lang"]),
        .testTarget(name: "CommandsTests", dependencies: ["Commands", "Lang"]),
        .testTarget(name: "REPLTests", dependencies: ["REPL", "Commands", "Lang"]),
    ]
)
