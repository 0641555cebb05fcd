// DType: the element types of llx tensors and exact f32 <-> f16 / bf16 conversion
// (round to nearest, ties to even; NaN stays NaN; overflow goes to infinity).

public enum DType: String, CaseIterable, Sendable {
    case f32, f16, bf16, i32, i64, u8

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i64: return 8
        case .u8: return 1
        }
    }

    public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// Parses a user-facing dtype name ("f32", "float32", "bfloat16", "int64", ...).
    public init?(name: String) {
        switch name.lowercased() {
        case "f32", "float32", "float": self = .f32
        case "f16", "float16", "half": self = .f16
        case "bf16", "bfloat16": self = .bf16
        case "i32", "int32": self = .i32
        case "i64", "int64", "int", "long": self = .i64
        case "u8", "uint8", "byte": self = .u8
        default: return nil
        }
    }
}

/// Exact conversions between f32 and the 16-bit storage formats.
public enum Half {
    /// f32 -> bf16 bits, round to nearest even; NaN keeps a quiet NaN payload.
    @inline(__always)
    public static func bf16Bits(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: (b >> 16) | 0x0040) }
        let lsb = (b >> 16) & 1
        let rounded = b &+ 0x7FFF &+ lsb
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    @inline(__always)
    public static func fromBF16Bits(_ h: UInt16) -> Float {
        Float(bitPattern: UInt32(h) << 16)
    }

    /// f32 -> IEEE binary16 bits, round to nearest even, subnormals exact.
    @inline(__always)
    public static func f16Bits(_ x: Float) -> UInt16 {
        #if arch(x86_64) || arch(arm64)
        return Float16(x).bitPattern
        #else
        return softF16Bits(x)
        #endif
    }

    @inline(__always)
    public static func fromF16Bits(_ h: UInt16) -> Float {
        #if arch(x86_64) || arch(arm64)
        return Float(Float16(bitPattern: h))
        #else
        return softFromF16Bits(h)
        #endif
    }

    /// Portable software f16 encoding (used on platforms without Float16 and as a test oracle).
    public static func softF16Bits(_ x: Float) -> UInt16 {
        let b = x.bitPattern
        let sign = UInt16((b >> 16) & 0x8000)
        let exp = Int((b >> 23) & 0xFF)
        var man = b & 0x7F_FFFF
        if exp == 0xFF { return sign | 0x7C00 | (man != 0 ? 0x200 | UInt16(man >> 13) : 0) }
        let e = exp - 127 + 15
        if e >= 0x1F { return sign | 0x7C00 }
        if e <= 0 {
            if e < -10 { return sign }
            man |= 0x80_0000
            let shift = UInt32(14 - e)
            let half = UInt32(1) << (shift - 1)
            let rest = man & ((UInt32(1) << shift) - 1)
            var r = man >> shift
            if rest > half || (rest == half && (r & 1) == 1) { r += 1 }
            return sign | UInt16(r)
        }
        var r = (UInt32(e) << 10) | (man >> 13)
        let rest = man & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && (r & 1) == 1) { r += 1 }
        return sign | UInt16(r)
    }

    public static func softFromF16Bits(_ h: UInt16) -> Float {
        let sign: UInt32 = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1F)
        let man = UInt32(h & 0x3FF)
        if exp == 0 {
            let v = Float(man) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -v : v
        }
        if exp == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (man << 13)) }
        return Float(bitPattern: sign | (UInt32(exp - 15 + 127) << 23) | (man << 13))
    }
}
