// QuantError: the errors of the Quant module (shapes, values, file formats).

public enum QuantError: Error, CustomStringConvertible {
    case shape(String)
    case value(String)
    case format(String)

    public var description: String {
        switch self {
        case .shape(let s), .value(let s), .format(let s): return s
        }
    }
}
