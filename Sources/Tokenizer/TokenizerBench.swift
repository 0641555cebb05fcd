// TokenizerBench: encode speed of the Llama-3 tokenizer on a generated ~1 MB mixed text (prose,
// code, numbers, some non-Latin scripts). scripts/bench_tokenizer.py times quicktok on the same
// text (written to a temporary file that both read) so the ratio can be reported.

import Foundation

public enum TokenizerBench {
    /// The benchmark text: deterministic, about `bytes` bytes of UTF-8.
    public static func text(bytes: Int = 1 << 20) -> String {
        let words = ["the", "model", "attention", "context", "window", "of", "a", "long", "sequence",
                     "tokens", "is", "passkey", "needle", "in", "haystack", "retrieval", "evaluation",
                     "Transformer", "Llama", "rotary", "embedding", "scaling", "and", "we", "find",
                     "that", "it's", "don't", "THEY'LL", "café", "naïve", "Zürich", "日本語", "中文",
                     "한국어", "Привет", "мир", "مرحبا", "שלום", "🚀", "emoji"]
        var rng: UInt64 = 0x1234_5678
        func next() -> Int {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: rng >> 33)
        }
        var s = ""
        s.reserveCapacity(bytes + 200)
        while s.utf8.count < bytes {
            switch next() % 10 {
            case 0:
                s += "def f\(next() % 100)(x, y):\n    return x * \(next() % 1000) + y  # note\n"
            case 1:
                s += " \(next() % 100_000).\(next() % 100) "
            case 2:
                s += ".\n\n"
            default:
                for _ in 0..<(3 + next() % 12) { s += " " + words[next() % words.count] }
                s += next() % 3 == 0 ? "," : "."
            }
        }
        return s
    }

    /// Encodes the text a few times with the Llama-3 tokenizer and logs MB/s and tokens/s. The
    /// text is also written to $TMPDIR/llx_tokenizer_bench.txt for scripts/bench_tokenizer.py.
    /// With $LLX_BENCH_TEXT set, that file is measured instead of the generated text.
    public static func run(_ log: (String) -> Void) {
        let tok: TextTokenizer
        do { tok = try Tokenizers.llama3() } catch {
            log("tokenizer bench: \(error)")
            return
        }
        var path = NSTemporaryDirectory() + "llx_tokenizer_bench.txt"
        let t: String
        if let p = ProcessInfo.processInfo.environment["LLX_BENCH_TEXT"], !p.isEmpty {
            guard let s = try? String(contentsOfFile: p, encoding: .utf8) else {
                log("tokenizer bench: cannot read \(p)")
                return
            }
            t = s
            path = p
        } else {
            t = text()
            try? t.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let mb = Double(t.utf8.count) / 1e6
        func timed(_ tk: TextTokenizer) -> (Double, Int) {
            let start = DispatchTime.now().uptimeNanoseconds
            let count = tk.encode(t, bos: false).count
            return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, count)
        }
        // Cold: a fresh tokenizer (empty piece cache), first pass. Warm: best of 3 passes.
        if let fresh = try? Tokenizers.load(path: Tokenizers.llama3Directory + "/llama3.vocab") {
            let (secs, count) = timed(fresh)
            log(String(format: "tokenizer bench (cold cache): %.2f MB, %d tokens: %.3f s = %.2f MB/s, %.0f tokens/s",
                       mb, count, secs, mb / secs, Double(count) / secs))
        }
        var best = Double.infinity
        var count = 0
        for _ in 0..<3 {
            let (secs, c) = timed(tok)
            best = min(best, secs)
            count = c
        }
        log(String(format: "tokenizer bench: %.2f MB, %d tokens, best of 3: %.3f s = %.2f MB/s, %.0f tokens/s (text in %@)",
                   mb, count, best, mb / best, Double(count) / best, path))
    }
}
