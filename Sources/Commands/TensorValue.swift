// TensorValue: a tensor as a language value — fields `.shape .dtype .T .grad .requires_grad`,
// methods `reshape to item tolist`, printing in NumPy style. A model parameter's `.grad` is
// the parameter's gradient, the one store the tape and the model's backward both fill.
import Foundation
import Lang
import LLXSystem
import Tensor
import NN

final class TensorValue: HostObject {
    var tensor: Tensor
    /// The model parameter this tensor is the value of (its `.grad` is the parameter's, even
    /// after the parameter's value was replaced; `.requires_grad` follows `trainable`).
    var param: Parameter? = nil

    init(_ t: Tensor) { tensor = t }

    var typeName: String { "Tensor" }
    var fieldNames: [String] { ["shape", "dtype", "T", "grad", "requires_grad", "ndim", "numel", "reshape", "to", "item", "tolist"] }
    var length: Int? { tensor.shape.first }

    func getField(_ name: String) throws -> Value {
        switch name {
        case "shape": return .list(tensor.shape.map { .int($0) })
        case "dtype": return .string(tensor.dtype.rawValue)
        case "ndim": return .int(tensor.shape.count)
        case "numel": return .int(tensor.count)
        case "T": return .host(TensorValue(TensorOps.transpose(tensor)))
        case "grad": return (param?.grad ?? tensor.grad).map { .host(TensorValue($0)) } ?? .null
        case "requires_grad": return .bool(tensor.requiresGrad || (param?.trainable ?? false))
        case "item": return method(name, []) { _ in try self.item() }
        case "tolist": return method(name, []) { _ in try self.tolist() }
        case "reshape": return method(name, [.variadic("shape", .oneOf(.int, .shape))]) { a in
            var shape: [Int] = []
            if a.rest.count == 1, let l = a.rest[0].asList { shape = l.compactMap { $0.asInt } } else { shape = a.rest.compactMap { $0.asInt } }
            return .host(TensorValue(try TensorOps.reshape(self.tensor, shape)))
        }
        case "to": return method(name, [Param("dtype", .string)]) { a in
            let n = try a.string("dtype")
            guard let d = DType(name: n) else { throw a.error("dtype", "must be one of f32 f16 bf16 i32 i64 u8, got \"\(n)\"") }
            return .host(TensorValue(self.tensor.to(d)))
        }
        default:
            throw LangRuntimeError(.name, "Tensor has no field '\(name)'")
        }
    }

    func setField(_ name: String, _ value: Value) throws {
        switch name {
        case "requires_grad":
            guard case .bool(let b) = value else { throw LangRuntimeError(.type, "requires_grad must be a bool, got \(value.typeNameWithArticle)") }
            if b && !tensor.dtype.isFloatingPoint { throw LangRuntimeError(.type, "only floating-point tensors can require gradients (dtype \(tensor.dtype.rawValue))") }
            tensor.requiresGrad = b
        case "grad":
            if value.isNil { param?.grad = nil; tensor.grad = nil; return }
            throw LangRuntimeError(.type, "grad can only be reset to nil")
        default:
            if fieldNames.contains(name) { throw LangRuntimeError(.name, "field '\(name)' of Tensor cannot be set") }
            throw LangRuntimeError(.name, "Tensor has no field '\(name)'")
        }
    }

    func method(_ name: String, _ params: [Param], _ body: @escaping (BoundArguments) throws -> Value) -> Value {
        .command(Command("Tensor.\(name)", params, help: "") { a, _ in try body(a) })
    }

    func item() throws -> Value {
        guard tensor.count == 1 else { throw LangRuntimeError(.value, "item: the tensor has \(tensor.count) elements (shape \(tensor.shape)); item needs exactly one") }
        return scalarValue(0)
    }

    func scalarValue(_ i: Int) -> Value {
        if tensor.dtype.isFloatingPoint { return .double(Double(tensor.floats()[i])) }
        return .int(tensor.ints()[i])
    }

    /// Bytes a nested list takes per item (the value, its share of the list's buffer and of
    /// the boxes of the lists themselves), for the memory check before `tolist` builds it.
    static let listItemBytes = 48

    /// The values as nested lists (a number for a 0-d tensor). The lists hold every element plus
    /// one list per row at every level, so [2^40, 1, 0] (no elements) is refused by the memory
    /// check like any list too large for the memory available.
    func tolist() throws -> Value {
        let shape = tensor.shape
        var items = 0, level = 1, overflow = false
        for d in shape {
            let (l, o1) = level.multipliedReportingOverflow(by: max(d, 0))
            let (n, o2) = items.addingReportingOverflow(l)
            overflow = overflow || o1 || o2
            level = l; items = n
        }
        try Memory.require(count: overflow ? Int.max : items, elementSize: TensorValue.listItemBytes,
                           "tolist() of a tensor of shape \(shape): nested lists of \(overflow ? "over 2^63" : String(items)) items")
        let isFloat = tensor.dtype.isFloatingPoint
        let fl = isFloat ? tensor.floats().map { Value.double(Double($0)) } : tensor.ints().map { Value.int($0) }
        if shape.isEmpty { return fl.first ?? .null }
        // level by level from the innermost: chunks of the level below become lists of this one
        var cur = fl
        for dim in stride(from: shape.count - 1, through: 0, by: -1) {
            let d = shape[dim]
            let outer = dim == 0 ? 1 : shape[..<dim].reduce(1, *)
            var next: [Value] = []
            next.reserveCapacity(outer)
            for o in 0..<outer { next.append(.list(Array(cur[(o * d)..<((o + 1) * d)]))) }
            cur = next
        }
        return cur[0]
    }

    var description: String { TensorOps.format(tensor) }

    func elements() throws -> [Value]? {
        guard let n = tensor.shape.first else { throw LangRuntimeError(.type, "cannot iterate over a 0-d tensor") }
        // a row is a tensor view and its host box (~300 bytes): reversed(zeros([2 ** 40, 0]))
        // asked for 35 TB and ended the process (fuzz seed 303 case 509962)
        try Memory.require(count: n, elementSize: 320, "the \(n) rows of a tensor of shape \(tensor.shape)")
        var rows: [Value] = []
        rows.reserveCapacity(n)
        for i in 0..<n {
            if i & 4095 == 4095, StopRequest.isSet { throw LangRuntimeError(.interrupted, "interrupted") }
            rows.append(try getIndex([.index(.int(i))]))
        }
        return rows
    }

    func getIndex(_ items: [IndexItem]) throws -> Value {
        let r = try TensorOps.index(tensor, items)
        return .host(TensorValue(r))
    }

    func setIndex(_ items: [IndexItem], _ value: Value) throws {
        try TensorOps.setIndex(tensor, items, try Convert.tensor(value, "[]=", "value"))
    }

    func representation(_ mime: String) -> String? {
        if mime == "application/json" { return try? JSON.serialize(tolist()) }
        return nil
    }
}
