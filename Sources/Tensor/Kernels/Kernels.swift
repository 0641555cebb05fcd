// Kernels: the namespace of llx's raw-pointer compute kernels (row-major, contiguous f32).
// Each kernel lives in its own file (Norm, RoPE, Activation, CrossEntropy, Embedding, Attention);
// forward and backward come in pairs with symmetric names, and every buffer's shape is documented.
// Callers validate shapes; kernels that read ids validate them and throw `TensorError`.

public enum Kernels {}
