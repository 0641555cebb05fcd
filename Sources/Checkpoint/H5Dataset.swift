// H5Dataset: one HDF5 dataset: its element type and shape, and reading it as a Tensor
// (integers stay integers, float64 narrows to f32, uint16 tagged dtype = "bf16" is bf16),
// as float64 values, or as strings.
import Foundation
import CHDF5
import Tensor

public enum H5ElementType: Equatable, Sendable {
    case float(bytes: Int)
    case integer(bytes: Int, signed: Bool)
    case string
    case other
}

public final class H5Dataset: H5Node {

    public var shape: [Int] {
        get throws {
            try H5Lib.sync {
                let space = try H5ID(H5Dget_space(handle.id), H5Sclose, .format, file: filePath, object: path, "cannot read dataspace")
                return try H5Make.shape(of: space.id, file: filePath, object: path)
            }
        }
    }

    public var elementType: H5ElementType {
        get throws {
            try H5Lib.sync {
                let t = try H5ID(H5Dget_type(handle.id), H5Tclose, .format, file: filePath, object: path, "cannot read type")
                let size = H5Tget_size(t.id)
                // Only the sizes numbers come in: a mutated file declared 4,294,967,044-byte floats,
                // and HDF5 allocated a conversion buffer of one element (4 GB) to read two
                // (fuzz seed 301 cases 1016571, 1021732). Other sizes are not numeric data to llx.
                switch H5Tget_class(t.id) {
                case H5T_FLOAT: return [2, 4, 8].contains(size) ? .float(bytes: size) : .other
                case H5T_INTEGER: return [1, 2, 4, 8].contains(size) ? .integer(bytes: size, signed: H5Tget_sign(t.id) == H5T_SGN_2) : .other
                case H5T_STRING: return .string
                default: return .other
                }
            }
        }
    }

    /// Whether the uint16 data carry the bf16 tag.
    var isBF16: Bool { (try? attribute("dtype"))??.stringValue == "bf16" }

    /// The dtype name shown by `h5.ls`: f16 f32 f64 bf16 i8 i16 i32 i64 u8 u16 u32 u64 str other.
    public var dtypeName: String {
        get throws {
            switch try elementType {
            case .float(let b): return "f\(b * 8)"
            case .integer(let b, let s):
                if b == 2 && !s && isBF16 { return "bf16" }
                return "\(s ? "i" : "u")\(b * 8)"
            case .string: return "str"
            case .other: return "other"
            }
        }
    }

    /// The llx dtype `read()` returns, or nil when the data are not numeric.
    public var tensorDType: DType? {
        get throws {
            switch try elementType {
            case .float(let b): return b == 2 ? .f16 : .f32
            case .integer(let b, let s):
                if b == 1 && !s { return .u8 }
                if b == 2 && !s && isBF16 { return .bf16 }
                return (b < 4 || (b == 4 && s)) ? .i32 : .i64
            default: return nil
            }
        }
    }

    /// Reads the whole dataset as a tensor. Checksum failures throw a `.corrupt` error.
    public func read() throws -> Tensor {
        try H5Lib.sync {
            guard let dt = try tensorDType else {
                throw CheckpointError(.dtype, file: filePath, object: path, "dataset of \(try dtypeName) is not numeric")
            }
            if isBF16, try elementType != .integer(bytes: 2, signed: false) {
                throw CheckpointError(.dtype, file: filePath, object: path, "tagged dtype=bf16 but stored as \(try dtypeName), not uint16")
            }
            let shp = try shape
            try Memory.require(shape: shp, dtype: dt, "reading dataset '\(path)' of '\(filePath)'")
            let t = Tensor(zeros: shp, dtype: dt)
            if t.count == 0 { return t }
            var f16: H5ID?
            let mem: hid_t
            switch dt {
            case .f32: mem = llx_h5t_native_float()
            case .f16: f16 = try H5Make.f16(file: filePath, object: path); mem = f16!.id
            case .bf16: mem = llx_h5t_native_uint16()
            case .i32: mem = llx_h5t_native_int32()
            case .i64: mem = llx_h5t_native_int64()
            case .u8: mem = llx_h5t_native_uint8()
            }
            try H5Lib.check(H5Dread(handle.id, mem, hid_t(H5S_ALL), hid_t(H5S_ALL), h5Default, t.storage.bytes),
                            .corrupt, file: filePath, object: path, "cannot read data")
            _ = f16
            return t
        }
    }

    /// Reads a numeric dataset as float64 values in row-major order.
    public func readDoubles() throws -> [Double] {
        try H5Lib.sync {
            switch try elementType {
            case .float, .integer: break
            default: throw CheckpointError(.dtype, file: filePath, object: path, "dataset of \(try dtypeName) is not numeric")
            }
            let shp = try shape
            try Memory.require(shape: shp, dtype: .i64, "reading dataset '\(path)' of '\(filePath)' as float64")
            let n = shp.reduce(1, *)
            var out = [Double](repeating: 0, count: n)
            if n == 0 { return out }
            try H5Lib.check(H5Dread(handle.id, llx_h5t_native_double(), hid_t(H5S_ALL), hid_t(H5S_ALL), h5Default, &out),
                            .corrupt, file: filePath, object: path, "cannot read data")
            return out
        }
    }

    /// Reads a string dataset.
    public func readStrings() throws -> [String] {
        try H5Lib.sync {
            guard try elementType == .string else {
                throw CheckpointError(.dtype, file: filePath, object: path, "dataset of \(try dtypeName) is not a string dataset")
            }
            let t = try H5ID(H5Dget_type(handle.id), H5Tclose, .format, file: filePath, object: path, "cannot read type")
            let space = try H5ID(H5Dget_space(handle.id), H5Sclose, .format, file: filePath, object: path, "cannot read dataspace")
            let shp = try H5Make.shape(of: space.id, file: filePath, object: path)
            try Memory.require(count: Memory.elementCount(shp) ?? Int.max, elementSize: max(H5Tget_size(t.id), 8) + 16,
                               "reading string dataset '\(path)' of '\(filePath)' (shape \(shp))")
            let n = shp.reduce(1, *)
            return try h5ReadStrings(n: n, type: t.id, space: space.id, file: filePath, object: path) { mem, buf in
                H5Dread(handle.id, mem, hid_t(H5S_ALL), hid_t(H5S_ALL), h5Default, buf)
            }
        }
    }

    /// Whether the dataset is chunked with the Fletcher-32 filter.
    public var hasChecksum: Bool {
        H5Lib.sync {
            guard let dcpl = try? H5ID(H5Dget_create_plist(handle.id), H5Pclose, file: filePath, object: path, "") else { return false }
            let n = H5Pget_nfilters(dcpl.id)
            for i in 0..<max(n, 0) {
                var flags: UInt32 = 0
                var nelmts = 0
                var conf: UInt32 = 0
                let f = H5Pget_filter2(dcpl.id, UInt32(i), &flags, &nelmts, nil, 0, nil, &conf)
                if f == H5Z_FILTER_FLETCHER32 { return true }
            }
            return false
        }
    }
}
