// swift-tools-version:5.10
// llx: long-context experiments on Llama-3 as a small scripting language.
import PackageDescription

// Numeric modules are compiled with bounds checks off in release builds;
// their own code validates every user-reachable index before the hot loops.
let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

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
        // Tensor <- Quant <- Llama <- Train, Eval; Checkpoint sees tensors, never models;
        // Lang sees no ML at all; Commands joins them; REPL and llx sit on top.
        .target(name: "Tensor", dependencies: ["CBLAS"], swiftSettings: fast),
        .target(name: "Tokenizer", swiftSettings: fast),
        .target(name: "Checkpoint", dependencies: ["Tensor", "CHDF5"], swiftSettings: fast),
        .target(name: "Quant", dependencies: ["Tensor"], swiftSettings: fast),
        .target(name: "Llama", dependencies: ["Tensor", "Quant", "Tokenizer", "Checkpoint"], swiftSettings: fast),
        .target(name: "Synth", dependencies: ["Tokenizer"], swiftSettings: fast),
        .target(name: "Train", dependencies: ["Tensor", "Quant", "Llama", "Synth", "Tokenizer", "Checkpoint"], swiftSettings: fast),
        .target(name: "Eval", dependencies: ["Tensor", "Tokenizer", "Synth"], swiftSettings: fast),
        .target(name: "Lang"),
        .target(name: "Commands", dependencies: ["Lang", "Tensor", "Tokenizer", "Checkpoint", "Quant", "Llama", "Synth", "Train", "Eval"]),
        .target(name: "REPL", dependencies: ["Lang", "Commands", "CReadline"]),
        .executableTarget(name: "llx", dependencies: ["REPL", "Commands", "Tensor"]),

        // Tests: one target per module. Fixtures live in Tests/Fixtures, written by scripts/.
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "Tensor"]),
        .testTarget(name: "QuantTests", dependencies: ["Quant", "Tensor"]),
        .testTarget(name: "LlamaTests", dependencies: ["Llama", "Tensor", "Tokenizer", "Quant", "Checkpoint"]),
        .testTarget(name: "TrainTests", dependencies: ["Train", "Llama", "Tensor", "Quant", "Synth", "Tokenizer", "Checkpoint"]),
        .testTarget(name: "EvalTests", dependencies: ["Eval", "Synth", "Tokenizer", "Tensor"]),
        .testTarget(name: "LangTests", dependencies: ["Lang"]),
        .testTarget(name: "CommandsTests", dependencies: ["Commands", "Lang"]),
        .testTarget(name: "REPLTests", dependencies: ["REPL", "Commands", "Lang"]),
    ]
)
