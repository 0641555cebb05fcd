// Errors: the one typed error of the Checkpoint module. Every error names the file and,
// where there is one, the tensor/dataset/attribute it is about.

public struct CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case io          // cannot open/read/write/rename the file
        case format      // not a file of the expected format, or a malformed header/schema
        case corrupt     // truncated data, checksum failure, inconsistent offsets
        case missing     // a tensor/dataset/attribute that must be there is not
        case dtype       // an unsupported or unexpected element type
        case shape       // a shape that does not match
        case argument    // a bad argument from the caller (duplicate name, bad path, ...)
    }

    public let kind: Kind
    public let file: String
    public let object: String?
    public let message: String

    public init(_ kind: Kind, file: String, object: String? = nil, _ message: String) {
        self.kind = kind
        self.file = file
        self.object = object
        self.message = message
    }

    public var description: String {
        if let o = object { return "\(file): '\(o)': \(message)" }
        return "\(file): \(message)"
    }
}
