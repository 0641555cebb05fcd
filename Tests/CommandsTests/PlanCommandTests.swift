// PlanCommandTests: `plan(m, tokens: ...)` returns the planner's record, and the long-running
// commands refuse, before allocating, a run the planner says would not fit (an artificially
// small LLX_MEMORY_LIMIT makes the refusal deterministic); the session goes on.
import XCTest
import Foundation
import Lang
import Commands

final class PlanCommandTests: InterpreterTestCase {
    func testPlanRecord() throws {
        try run("let m = llama.init(\"small\", seed: 0)")
        XCTAssertEqual(try run("let p = plan(m, tokens: 81920, time: false)\nprint(p.kv_cache_bytes, p.kv_dtype, p.fits, p.seconds)"),
                       "\(2 * 8 * 256 * 81920 * 4) f32 true nil\n")
        XCTAssertEqual(try run("print(plan(m, tokens: 100, kind: \"train\", time: false).kv_cache_bytes)"), "0\n")
        XCTAssertTrue(error("plan(m, tokens: 0)").contains("tokens"))
        XCTAssertTrue(error("plan(m, tokens: 10, kind: \"decode\")").contains("kind"))
    }

    func testLongRunsAreRefusedUnderASmallLimit() throws {
        try run("""
        let m = llama.init("small", seed: 0)
        let tok = tokenizer.bytes()
        let text = "ab " * 30000
        """)
        setenv("LLX_MEMORY_LIMIT", "64M", 1)
        XCTAssertEqual(try run("print(plan(m, tokens: 81920, time: false).fits)"), "false\n")
        let e = error("eval.ppl(m, tok, [text], window: 90001)")
        XCTAssertTrue(e.contains("eval.ppl") && e.contains("KV cache") && e.contains("of memory is available"), e)
        let g = error("generate(m, tok, text, max_tokens: 10)")
        XCTAssertTrue(g.contains("generate: a KV cache for") && g.contains("of memory is available"), g)
        // a short run still fits under the same limit, and the session goes on
        unsetenv("LLX_MEMORY_LIMIT")
        XCTAssertEqual(try run("print(len(text))"), "90000\n")
    }
}
