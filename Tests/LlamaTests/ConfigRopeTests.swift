// ConfigRopeTests: config.json parsing in every form in use vs what transformers 5.24 reads,
// presets, errors naming fields, and RoPE inverse frequencies / attention scaling vs
// transformers' modeling_rope_utils.
import Foundation
import XCTest
import Llama

final class ConfigRopeTests: XCTestCase {
    func testConfigFormsMatchTransformers() throws {
        let cases = try Fixtures.json("configs.json") as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 7)
        for c in cases {
            let name = c["name"] as! String
            let json = c["json"] as! [String: Any]
            let e = c["expected"] as! [String: Any]
            let data = try JSONSerialization.data(withJSONObject: json)
            let cfg = try LlamaConfig(jsonData: data, source: name)
            XCTAssertEqual(cfg.vocabSize, e["vocab_size"] as? Int, name)
            XCTAssertEqual(cfg.hiddenSize, e["hidden_size"] as? Int, name)
            XCTAssertEqual(cfg.intermediateSize, e["intermediate_size"] as? Int, name)
            XCTAssertEqual(cfg.numHiddenLayers, e["num_hidden_layers"] as? Int, name)
            XCTAssertEqual(cfg.numAttentionHeads, e["num_attention_heads"] as? Int, name)
            XCTAssertEqual(cfg.numKeyValueHeads, e["num_key_value_heads"] as? Int, name)
            XCTAssertEqual(cfg.headDim, e["head_dim"] as? Int, name)
            XCTAssertEqual(cfg.maxPositionEmbeddings, e["max_position_embeddings"] as? Int, name)
            XCTAssertEqual(cfg.rmsNormEps, num(e["rms_norm_eps"])!, accuracy: 1e-15, name)
            XCTAssertEqual(cfg.tieWordEmbeddings, e["tie_word_embeddings"] as? Bool, name)
            XCTAssertEqual(cfg.bosTokenId, e["bos_token_id"] as? Int, name)
            XCTAssertEqual(cfg.eosTokenIds, (e["eos_token_id"] as? [Int]) ?? [], name)
            let rp = e["rope_parameters"] as! [String: Any]
            XCTAssertEqual(cfg.ropeTheta, num(rp["rope_theta"])!, name)
            let type = rp["rope_type"] as! String
            if type == "default" { XCTAssertNil(cfg.ropeScaling, name); continue }
            let s = try XCTUnwrap(cfg.ropeScaling, name)
            XCTAssertEqual(s.ropeType.rawValue, type, name)
            XCTAssertEqual(s.factor, num(rp["factor"]), name)
            XCTAssertEqual(s.originalMaxPositionEmbeddings, rp["original_max_position_embeddings"] as? Int, name)
            XCTAssertEqual(s.lowFreqFactor, num(rp["low_freq_factor"]), name)
            XCTAssertEqual(s.highFreqFactor, num(rp["high_freq_factor"]), name)

            // Round trip through our writer and Codable.
            let again = try LlamaConfig(jsonData: try cfg.jsonData())
            XCTAssertEqual(again, cfg, name)
            let coded = try JSONDecoder().decode(LlamaConfig.self, from: try JSONEncoder().encode(cfg))
            XCTAssertEqual(coded, cfg, name)
        }
    }

    func testPresets() throws {
        let tiny = try LlamaConfig.preset("tiny")
        XCTAssertEqual([tiny.vocabSize, tiny.hiddenSize, tiny.intermediateSize, tiny.numHiddenLayers,
                        tiny.numAttentionHeads, tiny.numKeyValueHeads, tiny.maxPositionEmbeddings],
                       [264, 64, 176, 2, 4, 2, 8192])
        XCTAssertEqual(tiny.ropeTheta, 500000)
        let small = try LlamaConfig.preset("small")
        XCTAssertEqual([small.vocabSize, small.hiddenSize, small.intermediateSize, small.numHiddenLayers,
                        small.numAttentionHeads, small.numKeyValueHeads], [8192, 512, 1408, 8, 8, 4])
        let big = try LlamaConfig.preset("llama3-8b")
        XCTAssertEqual([big.vocabSize, big.hiddenSize, big.intermediateSize, big.numHiddenLayers,
                        big.numAttentionHeads, big.numKeyValueHeads, big.headDim, big.maxPositionEmbeddings],
                       [128256, 4096, 14336, 32, 32, 8, 128, 8192])
        XCTAssertEqual(big.ropeTheta, 500000); XCTAssertEqual(big.rmsNormEps, 1e-5)
        XCTAssertThrowsError(try LlamaConfig.preset("huge")) { XCTAssertTrue("\($0)".contains("huge")) }
    }

    func testConfigErrorsNameTheField() throws {
        func err(_ d: [String: Any]) -> String {
            do { _ = try LlamaConfig(json: d); return "no error" } catch { return "\(error)" }
        }
        let base: [String: Any] = ["vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
                                   "num_hidden_layers": 1, "num_attention_heads": 2]
        XCTAssertEqual(err(base), "no error")
        for k in ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"] {
            var d = base; d[k] = nil
            XCTAssertTrue(err(d).contains(k), err(d))
        }
        var d = base; d["num_key_value_heads"] = 3
        XCTAssertTrue(err(d).contains("num_key_value_heads"), err(d))
        d = base; d["rope_scaling"] = ["rope_type": "llama3", "factor": 8.0]
        XCTAssertTrue(err(d).contains("low_freq_factor"), err(d))
        d = base; d["rope_scaling"] = ["type": "weird", "factor": 2.0]
        XCTAssertTrue(err(d).contains("weird"), err(d))
        d = base; d["hidden_size"] = "big"
        XCTAssertTrue(err(d).contains("hidden_size"), err(d))
        XCTAssertThrowsError(try LlamaConfig(jsonData: Data("{".utf8), source: "x/config.json")) {
            XCTAssertTrue("\($0)".contains("x/config.json"))
        }
    }

    func testRopeMatchesTransformers() throws {
        let cases = try Fixtures.json("rope.json") as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 12)
        for c in cases {
            let name = "\(c["name"]!) seq_len=\(c["seq_len"] ?? "nil")"
            let cfg = try LlamaConfig(json: c["config"] as! [String: Any])
            let seq = c["seq_len"] as? Int
            let (inv, att) = RoPE.inverseFrequencies(headDim: cfg.headDim, theta: cfg.ropeTheta, scaling: cfg.ropeScaling,
                                                     maxPositionEmbeddings: cfg.maxPositionEmbeddings, seqLen: seq)
            let ref = doubles(c["inv_freq"]).map { Float($0) }
            XCTAssertEqual(inv.count, ref.count, name)
            var worst: Float = 0
            for i in ref.indices { worst = max(worst, abs(inv[i] - ref[i]) / max(abs(ref[i]), 1e-30)) }
            XCTAssertLessThan(worst, 2e-6, name)
            XCTAssertEqual(Double(att), num(c["attention_scaling"])!, accuracy: 1e-6, name)
        }
    }
}
