// H5: plain HDF5 datasets for the `h5.ls`, `h5.read`, `h5.write` commands, readable and
// writable by any HDF5 tool. `write` never leaves a half-written file: it works on a copy
// in the same folder and renames it over the original.
import Foundation
import Tensor

public struct H5Entry: Equatable, Sendable {
    /// Absolute dataset path ("/tensors/model.norm.weight").
    public let name: String
    /// File dtype name: f16 f32 f64 bf16 i8 i16 i32 i64 u8 u16 u32 u64 str other.
    public let dtype: String
    public let shape: [Int]

    public init(name: String, dtype: String, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }
}

public enum H5 {
    /// Every dataset of the file, depth first in name order.
    public static func ls(_ path: String) throws -> [H5Entry] {
        try H5Lib.sync {
            let root = try H5File.open(path).root
            return try root.datasetPaths().map { p in
                let d = try root.dataset(p)
                return H5Entry(name: "/" + p, dtype: try d.dtypeName, shape: try d.shape)
            }
        }
    }

    /// A dataset as a tensor: integer datasets give integer tensors. A float64 dataset is refused
    /// (an llx tensor holds f32 at most, and narrowing changes values: 1e-300 becomes 0) unless
    /// `narrow` asks for the f32 conversion; `readDoubles` reads it exactly.
    public static func read(_ path: String, _ name: String, narrow: Bool = false) throws -> Tensor {
        try H5Lib.sync {
            let d = try H5File.open(path).root.dataset(name)
            if !narrow, case .float(let b) = try d.elementType, b > 4 {
                throw CheckpointError(.dtype, file: path, object: name,
                                      "is a float\(b * 8) dataset, which an llx tensor (f32 at most) cannot hold without rounding its values")
            }
            return try d.read()
        }
    }

    /// The file dtype name of one dataset (as `ls` gives it).
    public static func dtypeName(_ path: String, _ name: String) throws -> String {
        try H5Lib.sync { try H5File.open(path).root.dataset(name).dtypeName }
    }

    /// A numeric dataset as float64 values (row-major) with its shape.
    public static func readDoubles(_ path: String, _ name: String) throws -> (values: [Double], shape: [Int]) {
        try H5Lib.sync {
            let d = try H5File.open(path).root.dataset(name)
            return (try d.readDoubles(), try d.shape)
        }
    }

    /// Writes (or replaces) one dataset, creating the file if needed; atomic.
    public static func write(_ path: String, _ name: String, _ t: Tensor) throws {
        try modify(path) { root in try root.createDataset(name, t, replace: true) }
    }

    /// Writes (or replaces) one float64 dataset; atomic.
    public static func write(_ path: String, _ name: String, doubles: [Double], shape: [Int]? = nil) throws {
        try modify(path) { root in try root.createDataset(name, doubles: doubles, shape: shape, replace: true) }
    }

    /// Applies `body` to a copy of the file (or a new file) and renames the copy into place.
    static func modify(_ path: String, _ body: (H5Group) throws -> Void) throws {
        try AtomicFile.replace(path) { tmp in
            let exists = FileManager.default.fileExists(atPath: path)
            if exists {
                // A foreign or damaged file is reported, never overwritten (nor its damage resealed).
                if try H5File.open(path).damagedData {
                    throw CheckpointError(.corrupt, file: path, "page checksums show damaged data; not modifying it")
                }
                do { try FileManager.default.copyItem(atPath: path, toPath: tmp) } catch {
                    throw CheckpointError(.io, file: path, "cannot copy to a temporary file: \(error.localizedDescription)")
                }
            }
            try H5Lib.sync {
                let file = exists ? try H5File.open(tmp, writable: true) : try H5File.create(tmp)
                try body(try file.root)
                try file.flush()
                try file.close()
            }
        }
    }
}
