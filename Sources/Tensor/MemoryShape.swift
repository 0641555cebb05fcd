// MemoryShape: the memory check (LLXSystem's `Memory`, re-exported to every module that
// imports Tensor) for a tensor of a given shape and dtype.
@_exported import LLXSystem

extension Memory {
    /// The same check for a tensor of `shape` and `dtype`: names the shape and the dtype.
    public static func require(shape: [Int], dtype: DType, _ what: String) throws {
        guard let n = elementCount(shape) else {
            try require(nil, "\(what): a \(dtype.rawValue) tensor of shape \(shape)")
            return
        }
        try require(count: n, elementSize: dtype.size, "\(what): a \(dtype.rawValue) tensor of shape \(shape)")
    }

}
