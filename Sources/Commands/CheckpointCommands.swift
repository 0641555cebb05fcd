// CheckpointCommands: `save` / `load` of models (with adapters, NF4 state and config),
// tensors, records and eval results as llx HDF5 checkpoints (schema:
// docs/checkpoint-format.md), and plain HDF5 datasets (`h5.ls`, `h5.read`, `h5.write`).
// The mapping between models and checkpoint contents lives here: Checkpoint never sees models.
import Foundation
import Lang
import Tensor
import Quant
import Llama
import Eval
import Checkpoint

enum CheckpointCommands {
    static func json(_ v: Value) throws -> String { try JSON.serialize(v) }

    static func attr(_ v: Value) throws -> AttrValue? {
        switch v {
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .bool(let b): return .int(b ? 1 : 0)
        case .string(let s): return .string(s)
        case .list(let l) where !l.isEmpty && l.allSatisfy({ if case .int = $0 { return true }; return false }): return .ints(l.map { $0.asInt! })
        case .list(let l) where !l.isEmpty && l.allSatisfy({ if case .double = $0 { return true }; return false }): return .doubles(l.map { $0.asDouble! })
        case .list(let l) where !l.isEmpty && l.allSatisfy({ $0.asString != nil }): return .strings(l.map { $0.asString! })
        default: return nil
        }
    }

    static func value(_ a: AttrValue) -> Value {
        switch a {
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .ints(let l): return .list(l.map { .int($0) })
        case .doubles(let l): return .list(l.map { .double($0) })
        case .strings(let l): return .list(l.map { .string($0) })
        }
    }

    // MARK: models

    static func stripPEFT(_ n: String) -> String { n.hasPrefix(PEFT.prefix) ? String(n.dropFirst(PEFT.prefix.count)) : n }

    static func modelContent(_ m: LlamaModel) throws -> CheckpointContent {
        var c = CheckpointContent(kind: "model")
        c.attributes["config"] = .string(String(decoding: try m.config.jsonData(), as: UTF8.self))
        var trainable: [String] = []
        var nf4Weights = Set<String>()
        for layer in m.layers {
            for l in layer.linears {
                guard let q = l.nf4 else { continue }
                let base = "tensors/" + l.name + ".weight"
                nf4Weights.insert(l.name + ".weight")
                c.tensors.append((base + ".codes", Tensor(shape: [q.codes.count], ints: q.codes.map { Int($0) }, dtype: .u8)))
                var at: [String: AttrValue] = ["quant_type": .string("nf4"), "blocksize": .int(q.blocksize), "shape": .ints(q.shape)]
                if let qa = q.qabsmax, let a2 = q.absmax2 {
                    c.tensors.append((base + ".qabsmax", Tensor(shape: [qa.count], ints: qa.map { Int($0) }, dtype: .u8)))
                    c.tensors.append((base + ".absmax2", Tensor(shape: [a2.count], floats: a2)))
                    at["offset"] = .double(Double(q.offset)); at["blocksize2"] = .int(NF4Tensor.blocksize2)
                } else if let a = q.absmax {
                    c.tensors.append((base + ".absmax", Tensor(shape: [a.count], floats: a)))
                }
                c.datasetAttributes[base + ".codes"] = at
            }
        }
        for p in m.parameters {
            c.tensors.append(("tensors/" + stripPEFT(p.name), p.value))
            if p.trainable { trainable.append(p.name) }
        }
        if m.lmHead !== m.embedTokens, m.parameters.first(where: { $0 === m.lmHead }) == nil {
            c.tensors.append(("tensors/lm_head.weight", m.lmHead.value))
        }
        c.attributes["trainable"] = .strings(trainable.isEmpty ? [""] : trainable)
        if let info = QuantCommands.adapters[ObjectIdentifier(m)], QuantCommands.allLinears(m).contains(where: { $0.lora != nil }) {
            let lora = Record([("r", .int(info.config.r)), ("lora_alpha", .double(info.config.loraAlpha)),
                               ("lora_dropout", .double(info.config.loraDropout)), ("use_rslora", .bool(info.config.useRSLoRA)),
                               ("target_modules", .list(info.config.targetModules.map { .string($0) })),
                               ("seed", .int(Int(bitPattern: UInt(info.seed)))),
                               ("dropout_steps", .record(Record(QuantCommands.allLinears(m).compactMap { l in
                                   l.lora.map { ($0.module, Value.int(Int(bitPattern: UInt($0.dropoutStep)))) } })))])
            c.attributes["lora"] = .string(try json(.record(lora)))
        }
        return c
    }

    static func loadModel(_ c: CheckpointContent, path: String) throws -> LlamaModel {
        guard case .string(let cj)? = c.attributes["config"] else { throw LangRuntimeError(.io, "load: '\(path)' has no model config") }
        let config = try LlamaConfig(jsonData: Data(cj.utf8), source: path)
        let m = try LlamaModel(config: config, seed: 0)
        // NF4 bases
        for layer in m.layers {
            for (proj, l) in zip(QuantCommands.projections, layer.linears) {
                let base = "tensors/" + l.name + ".weight"
                guard let codes = c.tensor(base + ".codes") else { continue }
                let at = c.datasetAttributes[base + ".codes"] ?? [:]
                guard case .int(let bs)? = at["blocksize"], case .ints(let shape)? = at["shape"] else {
                    throw LangRuntimeError(.io, "load: '\(path)': \(base).codes lacks blocksize/shape attributes")
                }
                var offset: Float = 0
                if case .double(let o)? = at["offset"] { offset = Float(o) }
                // bytes: a damaged file's value past 255 is an error, not a trap
                func bytes(_ t: Tensor, _ what: String) throws -> [UInt8] {
                    try t.ints().map {
                        guard let b = UInt8(exactly: $0) else {
                            throw LangRuntimeError(.io, "load: '\(path)': \(base).\(what) holds \($0), not a byte (0...255)")
                        }
                        return b
                    }
                }
                let q = try NF4Tensor(codes: try bytes(codes, "codes"), absmax: c.tensor(base + ".absmax")?.floats(),
                                      qabsmax: try c.tensor(base + ".qabsmax").map { try bytes($0, "qabsmax") },
                                      absmax2: c.tensor(base + ".absmax2")?.floats(), offset: offset, shape: shape, blocksize: bs)
                QuantCommands.setLinear(layer, proj, try Linear(name: l.name, inFeatures: l.inFeatures, outFeatures: l.outFeatures, nf4: q))
            }
        }
        // adapters
        if case .string(let lj)? = c.attributes["lora"], case .record(let lr) = try JSON.parse(lj) {
            let targets = (lr["target_modules"]?.asList ?? []).map { $0.description }
            let r = lr["r"]?.asInt ?? 8, alpha = lr["lora_alpha"]?.asDouble ?? 16, dropout = lr["lora_dropout"]?.asDouble ?? 0
            var rs = false
            if case .bool(let b)? = lr["use_rslora"] { rs = b }
            // The adapters' seed (files before it was saved: 0) and dropout counters, so the
            // dropout masks go on as they would have in the run that saved the model.
            let seed = UInt64(UInt(bitPattern: lr["seed"]?.asInt ?? 0))
            let steps = lr["dropout_steps"]?.asRecord
            for layer in m.layers {
                for (proj, l) in zip(QuantCommands.projections, layer.linears) where targets.contains(proj) {
                    let lora = try l.addLoRA(rank: r, alpha: alpha, dropout: Float(dropout), useRSLoRA: rs, seed: seed)
                    if let s = steps?[lora.module]?.asInt { lora.dropoutStep = UInt64(UInt(bitPattern: s)) }
                }
            }
            QuantCommands.adapters[ObjectIdentifier(m)] = AdapterInfo(config: LoRAConfig(r: r, loraAlpha: alpha, targetModules: targets,
                                                                                         loraDropout: dropout, useRSLoRA: rs),
                                                                    quantized: m.layers.first?.qProj.nf4 != nil, seed: seed)
        }
        for p in m.parameters {
            guard let t = c.tensor("tensors/" + stripPEFT(p.name)) else {
                throw LangRuntimeError(.io, "load: '\(path)' is missing tensor \(stripPEFT(p.name))")
            }
            guard t.shape == p.value.shape else {
                throw LangRuntimeError(.io, "load: '\(path)': \(p.name) has shape \(t.shape), the config gives \(p.value.shape)")
            }
            p.value = t.to(.f32).contiguous()
        }
        if case .strings(let tr)? = c.attributes["trainable"] {
            let set = Set(tr)
            m.setTrainable { set.contains($0) }
        }
        return m
    }

    // MARK: records and results

    static func recordContent(_ r: Record) throws -> CheckpointContent {
        var c = CheckpointContent(kind: "record")
        var jsonKeys: [String] = []
        for (k, v) in r.pairs {
            if case .host(let h) = v, let t = h as? TensorValue { c.tensors.append(("tensors/" + k, t.tensor)); continue }
            if case .host(let h) = v, let mv = h as? ModelValue {
                throw LangRuntimeError(.type, "save: a record field holding a model (\(k): \(mv.typeName)) cannot be saved; save the model on its own")
            }
            if let a = try attr(v), !Checkpoint.reservedAttributes.contains(k) { c.attributes[k] = a; continue }
            c.attributes["json:" + k] = .string(try json(v)); jsonKeys.append(k)
        }
        c.attributes["record_order"] = .strings(r.keys.isEmpty ? [""] : r.keys)
        return c
    }

    static func loadRecord(_ c: CheckpointContent) throws -> Value {
        var r = Record()
        var order: [String] = []
        if case .strings(let o)? = c.attributes["record_order"] { order = o.filter { !$0.isEmpty } }
        var all: [String: Value] = [:]
        for (n, t) in c.tensors where n.hasPrefix("tensors/") { all[String(n.dropFirst(8))] = .host(TensorValue(t)) }
        for (k, a) in c.attributes where !["record_order", "format", "format_version", "kind", "dataset_order"].contains(k) {
            if k.hasPrefix("json:"), case .string(let s) = a { all[String(k.dropFirst(5))] = try JSON.parse(s) }
            else { all[k] = value(a) }
        }
        for k in order { if let v = all[k] { r[k] = v } }
        for k in all.keys.sorted() where r[k] == nil { r[k] = all[k] }
        return .record(r)
    }

    static func evalAttr(_ a: EvalAttribute) -> AttrValue {
        switch a {
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .ints(let l): return .ints(l)
        case .doubles(let l): return .doubles(l)
        case .strings(let l): return .strings(l)
        }
    }
    static func evalAttr(_ a: AttrValue) -> EvalAttribute {
        switch a {
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .ints(let l): return .ints(l)
        case .doubles(let l): return .doubles(l)
        case .strings(let l): return .strings(l)
        }
    }

    static func resultContent(_ r: any EvalResult) -> CheckpointContent {
        var c = CheckpointContent(kind: "eval_result")
        for (k, a) in r.attributes { c.attributes[k == "kind" ? "result_kind" : k] = evalAttr(a) }
        c.tensors = r.tensors
        return c
    }

    static func loadResult(_ c: CheckpointContent) throws -> Value {
        var attrs: [String: EvalAttribute] = [:]
        for (k, a) in c.attributes where !["format", "format_version", "kind", "dataset_order"].contains(k) {
            attrs[k == "result_kind" ? "kind" : k] = evalAttr(a)
        }
        var ts: [String: Tensor] = [:]
        for (n, t) in c.tensors { ts[n] = t }
        return .host(ResultValue(try EvalResults.from(tensors: ts, attributes: attrs)))
    }

    static func register(into r: Registry) {
        r.register("save", [Param("x"), Param("path", .string)],
                   help: "Writes a model (with adapters, quantized state and config), a tensor, a record of values and tensors, or an eval result to an llx HDF5 file, atomically.") { a, _ in
            let path = try a.string("path")
            let content: CheckpointContent
            switch a["x"] {
            case .host(let h as ModelValue): content = try modelContent(h.model)
            case .host(let h as TensorValue): content = CheckpointContent(kind: "tensor", tensors: [("tensor", h.tensor)])
            case .host(let h as ResultValue): content = resultContent(h.result)
            case .record(let rec): content = try recordContent(rec)
            default: throw a.error("x", "must be a model, a tensor, a record or an eval result, got \(a["x"].typeNameWithArticle)")
            }
            try Checkpoint.save(content, to: path)
            return .null
        }
        r.register("load", [Param("path", .string)], help: "Reads back what save wrote, as the same kind of value.") { a, _ in
            let path = try a.string("path")
            guard FileManager.default.fileExists(atPath: path) else { throw a.error("path", "'\(path)' does not exist") }
            let c = try Checkpoint.load(path)
            switch c.kind {
            case "model": return .host(ModelValue(try loadModel(c, path: path)))
            case "tensor":
                guard let t = c.tensor("tensor") else { throw LangRuntimeError(.io, "load: '\(path)' has no 'tensor' dataset") }
                return .host(TensorValue(t))
            case "eval_result": return try loadResult(c)
            default: return try loadRecord(c)
            }
        }
        r.register("copy", [Param("x")],
                   help: "An independent copy of a model (its adapters, quantized state, config and trainable flags, as save and load keep them: to start several runs from one base) or of a tensor. Lists and records are values: they need no copy.") { a, _ in
            switch a["x"] {
            case .host(let h as ModelValue):
                var c = try modelContent(h.model)
                c.tensors = c.tensors.map { ($0.0, $0.1.clone()) }   // no storage shared with the original
                return .host(ModelValue(try loadModel(c, path: "copy")))
            case .host(let h as TensorValue):
                return .host(TensorValue(h.tensor.clone()))
            case .host(let h):
                throw a.error("x", "must be a model or a tensor (or a plain value), got \(h.typeName)")
            default:
                return a["x"]
            }
        }
        r.register("h5.ls", [Param("path", .string)], help: "The datasets of an HDF5 file: a list of {name, dtype, shape} records.") { a, _ in
            .list(try H5.ls(try a.string("path")).map { e in
                .record(Record([("name", .string(e.name)), ("dtype", .string(e.dtype)), ("shape", .list(e.shape.map { .int($0) }))]))
            })
        }
        r.register("h5.read", [Param("path", .string), Param("name", .string), .named("dtype", .string, optional: true)],
                   help: "A dataset of an HDF5 file as a tensor (integer datasets give integer tensors, usable as token ids). A float64 dataset is refused unless dtype: is given (\"f32\" rounds it knowingly); h5.values reads it exactly.") { a, _ in
            let path = try a.string("path"), name = try a.string("name")
            guard a.has("dtype") else {
                do { return .host(TensorValue(try H5.read(path, name))) } catch let e as CheckpointError where e.kind == .dtype && (try? H5.dtypeName(path, name)) == "f64" {
                    throw LangRuntimeError(.value, "h5.read: \(e): pass dtype: \"f32\" to round it to f32, or use h5.values(path, name) for its float64 numbers")
                }
            }
            return .host(TensorValue(try H5.read(path, name, narrow: true).to(try TensorCommands.dtype(a))))
        }
        r.register("h5.values", [Param("path", .string), Param("name", .string)],
                   help: "A numeric dataset of an HDF5 file as (nested) lists of numbers: float64 values exactly (llx floats are float64), integers as ints.") { a, _ in
            let path = try a.string("path"), name = try a.string("name")
            let kind = try H5.dtypeName(path, name)
            let isInt = kind.hasPrefix("i") || kind.hasPrefix("u")
            // integers through an integer tensor (exact up to 2^63), floats as float64
            let shape: [Int], doubles: [Double], ints: [Int]
            if isInt {
                let t = try H5.read(path, name)
                (shape, ints, doubles) = (t.shape, t.ints(), [])
            } else {
                let r = try H5.readDoubles(path, name)
                (shape, ints, doubles) = (r.shape, [], r.values)
            }
            let n = isInt ? ints.count : doubles.count
            try Memory.require(count: n, elementSize: 48, "h5.values: '\(name)' of '\(path)' as \(n) llx numbers")
            func nest(_ dim: Int, _ start: Int) -> Value {
                if dim == shape.count { return isInt ? .int(ints[start]) : .double(doubles[start]) }
                let inner = shape[(dim + 1)...].reduce(1, *)
                return .list((0..<shape[dim]).map { nest(dim + 1, start + $0 * inner) })
            }
            return nest(0, 0)
        }
        r.register("h5.write", [Param("path", .string), Param("name", .string), Param("t", TensorCommands.tensorLike), .named("dtype", .string, optional: true)],
                   help: "Writes a tensor (or a number or nested list of numbers) as a dataset, adding to an existing file or creating it. dtype: \"f64\" writes float64 (numbers exactly); a number outside the f32 range is refused without it.") { a, _ in
            let path = try a.string("path"), name = try a.string("name")
            let want = try a.optionalString("dtype")
            if let w = want, ["f64", "float64", "double"].contains(w.lowercased()) {
                if case .host(let h) = a["t"], let tv = h as? TensorValue {
                    let t = tv.tensor.toF32()
                    try H5.write(path, name, doubles: t.floats().map { Double($0) }, shape: t.shape)
                } else {
                    let (shape, flat, _) = try Convert.numbers(a["t"], "h5.write", "t")
                    try H5.write(path, name, doubles: flat, shape: shape)
                }
                return .null
            }
            if case .host(let h) = a["t"], h is TensorValue {} else {
                let (_, flat, _) = try Convert.numbers(a["t"], "h5.write", "t")
                let fp = want.flatMap { DType(name: $0) }?.isFloatingPoint ?? true
                if fp, let i = flat.firstIndex(where: { x in x.isFinite && abs(Double(Float(x)) - x) > 1e-7 * abs(x) }) {
                    throw a.error("t", "value \(flat[i]) (element \(i)) is outside the f32 range and would become \(Float(flat[i])); pass dtype: \"f64\" to write float64")
                }
            }
            let d: DType? = try want.map { _ in try TensorCommands.dtype(a) }
            try H5.write(path, name, try Convert.tensor(a["t"], "h5.write", "t", dtype: d))
            return .null
        }
    }
}
