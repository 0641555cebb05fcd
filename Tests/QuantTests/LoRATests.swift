// LoRATests: Linear with LoRA over dense and NF4 bases against PEFT/torch fixtures (forward,
// gradients of x, A, B; merge), PEFT names and adapter_config.json, dropout, init.
import XCTest
import Foundation
import Tensor
import Quant
import NN

final class LoRATests: XCTestCase {
    func makeLayer(_ c: [String: Any], tileRows: Int = 0) throws -> Linear {
        let i = c.int("inFeatures"), o = c.int("outFeatures")
        let w = Tensor(shape: [o, i], floats: c.floats("weight"))
        let name = "model.layers.0.self_attn.q_proj"
        let base = c["base"] as? String ?? "dense"
        let lin: Linear
        if base == "dense" {
            lin = try Linear(name: name, inFeatures: i, outFeatures: o, weight: w)
        } else {
            lin = try Linear.nf4(name: name, inFeatures: i, outFeatures: o, weight: w, blocksize: 64, doubleQuant: base == "nf4dq")
            XCTAssertNil(lin.weight)
            assertSame(lin.denseWeight().floats(), c.floats("dequantWeight"), "bitsandbytes dequantized base")
        }
        lin.tileRows = tileRows
        let l = try lin.addLoRA(rank: c.int("r"), alpha: c.double("alpha"), useRSLoRA: c.bool("useRSLoRA"))
        XCTAssertEqual(Double(l.scale), c.double("scaling"), accuracy: 1e-7)
        try l.load(A: Tensor(shape: [c.int("r"), i], floats: c.floats("A")), B: Tensor(shape: [o, c.int("r")], floats: c.floats("B")))
        return lin
    }

    func testForwardBackwardMatchPEFT() throws {
        let fx = try Fixture.load("lora.json")
        let cases = fx.dicts("cases")
        XCTAssertEqual(cases.count, 4)
        for c in cases {
            for tile in [0, 7] {
                let what = "\(c["base"] ?? "") r=\(c.int("r")) tile=\(tile)"
                let lin = try makeLayer(c, tileRows: tile)
                let T = c.int("rows"), i = c.int("inFeatures"), o = c.int("outFeatures")
                let x = c.floats("x"), dy = c.floats("dy")
                var y = [Float](repeating: .nan, count: T * o)
                lin.forward(x, rows: T, out: &y)
                assertClose(y, c.floats("y"), rel: 1e-5, "y " + what)
                var dx = [Float](repeating: .nan, count: T * i)
                lin.backward(dy: dy, x: x, rows: T, dx: &dx)
                assertClose(dx, c.floats("dx"), rel: 1e-5, "dx " + what)
                guard let l = lin.lora else { XCTFail("no lora"); continue }
                assertClose(l.A.grad?.floats() ?? [], c.floats("dA"), rel: 1e-5, "dA " + what)
                assertClose(l.B.grad?.floats() ?? [], c.floats("dB"), rel: 1e-5, "dB " + what)
                // accumulate=true adds to dx; grads accumulate
                lin.backward(dy: dy, x: x, rows: T, dx: &dx, accumulate: true)
                assertClose(dx, c.floats("dx").map { 2 * $0 }, rel: 1e-5, "dx accumulated " + what)
                assertClose(l.B.grad?.floats() ?? [], c.floats("dB").map { 2 * $0 }, rel: 1e-5, "dB accumulated " + what)
                assertClose(lin.mergedWeight().floats(), c.floats("merged"), rel: 1e-5, "merged " + what)
                // Names: PEFT adapter keys; the trainable set is exactly A and B.
                XCTAssertEqual(lin.params.filter(\.trainable).map(\.name).sorted(), (fx["stateDictKeys"] as? [String]) ?? [])
                // merge folds the adapter: same output without LoRA.
                try lin.merge()
                XCTAssertNil(lin.lora)
                var y2 = [Float](repeating: .nan, count: T * o)
                lin.forward(x, rows: T, out: &y2)
                assertClose(y2, c.floats("y"), rel: 1e-5, "y after merge " + what)
            }
        }
    }

    func testNF4MergeRequantize() throws {
        let fx = try Fixture.load("lora.json")
        guard let c = fx.dicts("cases").first(where: { ($0["base"] as? String) == "nf4" }) else { return XCTFail("no nf4 case") }
        let lin = try makeLayer(c)
        let merged = lin.mergedWeight()
        try lin.merge(requantize: true)
        XCTAssertNotNil(lin.nf4)
        let expect = try NF4Tensor.quantize(merged, blocksize: 64, doubleQuant: false).dequantize().floats()
        assertSame(lin.denseWeight().floats(), expect, "requantized merge")
    }

    func testPEFTNamesAndConfig() throws {
        let fx = try Fixture.load("lora.json")
        let keys = (fx["stateDictKeys"] as? [String]) ?? []
        XCTAssertEqual(keys, [PEFT.loraKey(module: "model.layers.0.self_attn.q_proj", matrix: .A),
                              PEFT.loraKey(module: "model.layers.0.self_attn.q_proj", matrix: .B)])
        XCTAssertEqual(PEFT.parseKey(keys[0])?.module, "model.layers.0.self_attn.q_proj")
        XCTAssertEqual(PEFT.parseKey(keys[1])?.matrix, .B)
        XCTAssertEqual(PEFT.parseKey("base_model.model.model.layers.3.mlp.up_proj.lora_A.default.weight")?.module, "model.layers.3.mlp.up_proj")
        XCTAssertNil(PEFT.parseKey("model.layers.0.self_attn.q_proj.weight"))
        let cfgObj = fx["adapterConfig"] as Any
        let data = try JSONSerialization.data(withJSONObject: cfgObj)
        let cfg = try LoRAConfig.parse(data)
        XCTAssertEqual(cfg.r, 4); XCTAssertEqual(cfg.loraAlpha, 8); XCTAssertEqual(cfg.targetModules, ["q_proj"])
        XCTAssertEqual(cfg.loraDropout, 0); XCTAssertFalse(cfg.useRSLoRA); XCTAssertEqual(cfg.taskType, "CAUSAL_LM")
        XCTAssertTrue(cfg.targets("model.layers.0.self_attn.q_proj")); XCTAssertFalse(cfg.targets("model.layers.0.self_attn.k_proj"))
        // What we write parses back, and carries PEFT's values for the shared fields.
        let out = try LoRAConfig(r: 16, loraAlpha: 32, targetModules: ["v_proj", "q_proj"], loraDropout: 0.05, useRSLoRA: true).jsonData()
        XCTAssertEqual(try LoRAConfig.parse(out), LoRAConfig(r: 16, loraAlpha: 32, targetModules: ["q_proj", "v_proj"], loraDropout: 0.05, useRSLoRA: true))
        let written = try JSONSerialization.jsonObject(with: out) as? [String: Any] ?? [:]
        let ref = cfgObj as? [String: Any] ?? [:]
        for k in ["bias", "peft_type", "task_type", "fan_in_fan_out", "inference_mode", "init_lora_weights", "lora_bias", "use_dora"] {
            XCTAssertEqual("\(written[k] ?? "nil")", "\(ref[k] ?? "nil")", k)
        }
        XCTAssertThrowsError(try LoRAConfig.parse(Data("{\"peft_type\":\"IA3\",\"r\":4}".utf8)))
        XCTAssertThrowsError(try LoRAConfig.parse(Data("[1]".utf8)))
    }

    func testAdapterTensorsRoundTrip() throws {
        let a = try Linear(name: "model.layers.0.mlp.up_proj", inFeatures: 6, outFeatures: 5, weight: Tensor(zeros: [5, 6]))
        try a.addLoRA(rank: 2, alpha: 4, seed: 1)
        let t = PEFT.adapterTensors([a])
        XCTAssertEqual(t.map(\.key), ["base_model.model.model.layers.0.mlp.up_proj.lora_A.weight",
                                      "base_model.model.model.layers.0.mlp.up_proj.lora_B.weight"])
        let b = try Linear(name: "model.layers.0.mlp.up_proj", inFeatures: 6, outFeatures: 5, weight: Tensor(zeros: [5, 6]))
        try b.addLoRA(rank: 2, alpha: 4, seed: 2)
        var dict: [String: Tensor] = [:]
        for (k, v) in t { dict[k] = v }
        try PEFT.loadAdapterTensors(dict, into: [b])
        XCTAssertEqual(b.lora?.A.value.floats(), a.lora?.A.value.floats())
        dict["base_model.model.model.layers.9.mlp.up_proj.lora_A.weight"] = Tensor(zeros: [2, 6])
        XCTAssertThrowsError(try PEFT.loadAdapterTensors(dict, into: [b]))
        XCTAssertThrowsError(try b.lora?.load(A: Tensor(zeros: [3, 6]), B: Tensor(zeros: [5, 2])))
    }

    func testInitFollowsPEFT() throws {
        let i = 400, o = 30, r = 8
        let lin = try Linear(name: "model.layers.1.self_attn.v_proj", inFeatures: i, outFeatures: o, weight: Tensor(zeros: [o, i]))
        let l = try lin.addLoRA(rank: r, alpha: 16, seed: 7)
        XCTAssertEqual(l.scale, 2)
        let a = l.A.value.floats()
        let bound = 1 / Float(i).squareRoot()
        XCTAssertTrue(a.allSatisfy { abs($0) <= bound })
        let mean = a.reduce(0, +) / Float(a.count)
        let varc = a.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(a.count)
        XCTAssertEqual(mean, 0, accuracy: 0.05 * bound)
        XCTAssertEqual(varc, bound * bound / 3, accuracy: 0.1 * bound * bound / 3)   // U(-b, b) variance
        XCTAssertTrue(l.B.value.floats().allSatisfy { $0 == 0 })
        let other = try LoRA(module: "model.layers.2.self_attn.v_proj", inFeatures: i, outFeatures: o, rank: r, alpha: 16, seed: 7)
        XCTAssertNotEqual(other.A.value.floats(), a)
        let rs = try LoRA(module: "m", inFeatures: 4, outFeatures: 4, rank: 16, alpha: 8, useRSLoRA: true)
        XCTAssertEqual(rs.scale, 2)
        XCTAssertThrowsError(try lin.addLoRA(rank: 4, alpha: 8))
        XCTAssertThrowsError(try LoRA(module: "m", inFeatures: 4, outFeatures: 4, rank: 0, alpha: 8))
        XCTAssertThrowsError(try LoRA(module: "m", inFeatures: 4, outFeatures: 4, rank: 2, alpha: 8, dropout: 1))
    }

    func testDropoutGradientsMatchFiniteDifferences() throws {
        let T = 3, i = 10, o = 7
        var rng = SplitMix64(seed: 5)
        func rnd(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.nextUnit() * 2 - 1) } }
        let lin = try Linear(name: "m", inFeatures: i, outFeatures: o, weight: Tensor(shape: [o, i], floats: rnd(o * i)))
        let l = try lin.addLoRA(rank: 3, alpha: 6, dropout: 0.4, seed: 3)
        try l.load(A: Tensor(shape: [3, i], floats: rnd(3 * i)), B: Tensor(shape: [o, 3], floats: rnd(o * 3)))
        lin.training = true
        let x = rnd(T * i), dy = rnd(T * o)
        func loss(_ xx: [Float]) -> Double {
            l.dropoutStep = 11
            var y = [Float](repeating: 0, count: T * o)
            lin.forward(xx, rows: T, out: &y)
            return zip(y, dy).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = loss(x)
        var dx = [Float](repeating: 0, count: T * i)
        lin.backward(dy: dy, x: x, rows: T, dx: &dx)
        let eps: Float = 1e-2
        for k in 0..<(T * i) {
            var xp = x, xm = x
            xp[k] += eps; xm[k] -= eps
            let num = (loss(xp) - loss(xm)) / Double(2 * eps)
            XCTAssertEqual(Double(dx[k]), num, accuracy: 2e-3, "dx[\(k)]")
        }
        // The mask differs between steps and drops about p of the inputs; eval mode has no dropout.
        let big = 20000
        let wide = try Linear(name: "w", inFeatures: big, outFeatures: 1, weight: Tensor(zeros: [1, big]))
        let wl = try wide.addLoRA(rank: 1, alpha: 1, dropout: 0.25, seed: 1)
        try wl.load(A: Tensor(shape: [1, big], floats: [Float](repeating: 1, count: big)), B: Tensor(shape: [1, 1], floats: [1]))
        wide.training = true
        var y: Float = 0
        wide.forward([Float](repeating: 1, count: big), rows: 1, out: &y)
        XCTAssertEqual(Double(y) / Double(big), 1, accuracy: 0.03)   // inverted dropout keeps the mean
        var g = [Float](repeating: 0, count: big)
        wide.backward(dy: [1], x: [Float](repeating: 1, count: big), rows: 1, dx: &g)
        let zeros = g.filter { $0 == 0 }.count
        XCTAssertEqual(Double(zeros) / Double(big), 0.25, accuracy: 0.02)
        wide.training = false
        wide.forward([Float](repeating: 1, count: big), rows: 1, out: &y)
        XCTAssertEqual(y, Float(big))
    }
}
