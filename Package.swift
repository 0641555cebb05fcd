// swift-tools-version:5.10
// llx: long-context experiments on Llama-3 as a small scripting language.
import PackageDescription
import Foundation

// Only the hot kernels (Tensor, NN, Quant, Llama) are compiled with bounds and overflow checks
// off (-Ounchecked) in release builds; they validate every user-reachable index at their API
// boundary before the hot loops. Everything that parses files or user input (Tokenizer,
// Checkpoint, Synth, Train, Eval, Lang, Commands, REPL) keeps Swift's checks, so a check missed
// at a boundary traps instead of corrupting memory (the cost, measured with `llx bench`, is in
// README.md). LLX_UNCHECKED=1 builds every module unchecked (Lang, Commands, REPL and llx too), for
// that comparison.
// The numeric modules are also compiled for the CPU that builds them (like llama.cpp's
// GGML_NATIVE): Swift's default x86-64 target has neither AVX nor FMA, so SIMD16<Float> kernels
// (exp, norms, NF4 dequantization, ...) would run as four SSE halves. A binary built this way
// needs a CPU with the same features; LLX_TARGET_CPU=x86-64 (or another LLVM CPU name) builds a
// portable one.
let env = ProcessInfo.processInfo.environment
let targetCPU = env["LLX_TARGET_CPU"] ?? "native"
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo", "-target-cpu", targetCPU], .when(configuration: .release))]
let unchecked = env["LLX_UNCHECKED"] == "1"
let checked: [SwiftSetting] = unchecked ? fast
    : [.unsafeFlags(["-wmo", "-target-cpu", targetCPU], .when(configuration: .release))]
// Lang, Commands, REPL and llx: Swift's default release flags, or -Ounchecked with LLX_UNCHECKED=1.
let plain: [SwiftSetting] = unchecked ? [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))] : []
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
        // The memory check every module uses (Memory.require); below Tensor and Lang.
        .target(name: "LLXSystem", swiftSettings: checked),
        .target(name: "CKernels", cSettings: cFast),
        .target(name: "Tensor", dependencies: ["CBLAS", "LLXSystem", "CKernels"], swiftSettings: fast),
        .target(name: "Tokenizer", swiftSettings: checked),
        .target(name: "Checkpoint", dependencies: ["Tensor", "CHDF5"], swiftSettings: checked),
        .target(name: "NN", dependencies: ["Tensor"], swiftSettings: fast),
        .target(name: "Quant", dependencies: ["Tensor", "NN", "CKernels"], swiftSettings: fast),
        .target(name: "Llama", dependencies: ["Tensor", "NN", "Quant", "Tokenizer", "Checkpoint"], swiftSettings: fast),
        .target(name: "Synth", dependencies: ["Tokenizer", "NN"], swiftSettings: checked),
        .target(name: "Train", dependencies: ["Tensor", "NN", "Tokenizer", "Checkpoint"], swiftSettings: checked),
        .target(name: "Eval", dependencies: ["Tensor", "NN", "Tokenizer", "Synth"], swiftSettings: checked),
        // The language: bounds-checked as usual; its compiled code keeps variables in frame slots
        // it owns (Compiler.swift), so the dynamic exclusivity checks on its class properties
        // (callDepth, caches) are turned off: they cost a thread-local access set per call.
        .target(name: "Lang", dependencies: ["LLXSystem"], swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))] + plain),
        .target(name: "Commands", dependencies: ["Lang", "Tensor", "NN", "Tokenizer", "Checkpoint", "Quant", "Llama", "Synth", "Train", "Eval"], swiftSettings: plain),
        .target(name: "REPL", dependencies: ["Lang", "NN", "Commands", "CReadline"], swiftSettings: plain),
        .executableTarget(name: "llx", dependencies: ["REPL", "Commands", "Tensor"], swiftSettings: plain),

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
