// QuantKind: how a model stores the weights of its linear layers: dense f32, or frozen NF4
// (QLoRA). The raw values are llx's spelling ("none", "nf4"), parsed in Commands.

public enum QuantKind: String, CaseIterable, Sendable {
    /// Dense f32 weights.
    case dense = "none"
    /// NF4 codes with blockwise statistics (NF4.swift).
    case nf4
}
