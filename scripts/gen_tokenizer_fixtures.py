#!/usr/bin/env python3
"""Writes the tokenizer fixtures (Tests/Fixtures/tokenizer/) from the reference libraries.

  llama3_corpus.json  >= 200 varied texts with their Llama-3 ids from quicktok (which encodes
                      exactly as tiktoken), the pre-tokenizer pieces from the `regex` module
                      (where its Unicode 17 classes agree with quicktok's Unicode 16 ones),
                      a few encodings with special tokens allowed, and decode cases (invalid
                      UTF-8 -> U+FFFD as bytes.decode(errors="replace")).
  unicode_classes.json  \\p{L}, \\p{N}, \\s ranges (quicktok's class table) and Python's str.isspace.
  chat.json           conversations rendered and tokenized by transformers' apply_chat_template
                      with Meta-Llama-3-8B-Instruct's template string (tokenizer: the Llama-3
                      vocabulary as a Hugging Face fast tokenizer built here), plus byte-tokenizer ids.
  hf_subset.tokenizer.json, hf_trained.tokenizer.json, hf_ids.json
                      two small tokenizer.json files built with the `tokenizers` library (a
                      Llama-3 subset with sparse special ids; a BPE trained on part of the corpus)
                      and their ids for the corpus texts.

Run: ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/gen_tokenizer_fixtures.py
"""
import base64
import json
import os
import random
import sys

import quicktok
import regex
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "tokenizer")
PAT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
TEMPLATE = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
            "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim "
            "+ '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
            "{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant"
            "<|end_header_id|>\n\n' }}{% endif %}")

rng = random.Random(20240418)


# ---------------------------------------------------------------- corpus
def handmade():
    t = [
        "Hello, world!", "The quick brown fox jumps over the lazy dog.", "", "a", " ", "  ", "\n",
        "I'M HERE. YOU'LL SEE. It'S fine, we'Ve 'Re 'D 'M 'T 'LL 's", "don't can't won't y'all o'clock",
        "x'ſheep 'ſ 'ſt", "'", "''", "'''s", "' s", "rock 'n' roll", "’s curly ‘quotes’ „low“",
        "'S'LL'RE'VE'M'D'T", "it's'S", "He said 'hello'", "'re're're",
        "trailing spaces   ", "   leading spaces", "a  b   c    d", "tab\there\t\tend\t",
        "line\nbreak\n\nparagraph\n\n\n", "windows\r\nline\r\nendings\r\n", "\r\n\r\n  \t\r\n",
        "mixed \n \t \r\n  x", "  \n  hello", " \n\n ", "\t\tfoo", "\r", "\r\r\n\n\r", "a\u000bb\u000cc",
        "sep\u001cfile\u001dgroup\u001erec\u001funit", "a\u001c\u001c!", "nbsp\u00a0here \u00a0x\u00a0",
        "ideographic\u3000space", "line\u2028sep\u2029para", "nel\u0085x", "en\u2002em\u2003thin\u2009x",
        "zero\u200bwidth\u200cjoin\u200dx", "\ufeffBOM", "soft\u00adhyphen",
        "1234567890123456789", "3.14159 2.71828 1e-10 6.022e23", "1,000,000 and 1.000.000",
        "0xDEADBEEF 0b1010 0o777", "٣٤٥٦٧ ۱۲۳ १२३४ ১২৩", "½ ¼ ¾ ⅓ ² ³ ¹", "Ⅻ ⅻ Ⅰ", "①②③ ⑴⑵",
        "x²+y²=z²", "abc123def4567ghi", "12345abc", "$1,234.56 €99 £3 ¥1000", "99.99% 100%",
        "!!!???...", "...\n\n", "-->\r\n", "<!-- comment -->\n", "::: ;;; ,,, ...", "?!\n\r\n",
        "def f(x):\n    return [i**2 for i in range(100)]  # 1+2+3==6\n",
        "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
        "SELECT * FROM users WHERE id = 42 AND name LIKE '%bob%';",
        "https://example.com/path?q=1&x=2#frag <html><body>x</body></html>",
        "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}", "$ ls -la | grep '^d' > out.txt 2>&1",
        "café résumé naïve — Zürich", "e\u0301 a\u0308\u0301 o\u0328\u0304", "Z̴̡̪̫͉̈́ͅa̷̙͍͛l̸̰̓g̶̰̈o",
        "日本語のトークナイザー 中文 한국어", "久久夜色精品国产噜噜亚洲AV中文ENGLISH", "ひらがな カタカナ ｶﾀｶﾅ",
        "مرحبا بالعالم، كيف حالك؟ ١٢٣", "שָׁלוֹם עוֹלָם! מה שלומך?", "Привет, мир! ЁЖИК", "Γειά σου κόσμε ς σ",
        "नमस्ते दुनिया हिन्दी", "สวัสดีชาวโลก", "ሰላም ዓለም", "Բարեւ աշխարհ", "გამარჯობა",
        "emoji 🚀🔥👍 mixed", "👨‍👩‍👧‍👦 family", "🇫🇷🇯🇵 flags", "👍🏽 skin", "❤️ ✨ ☃",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝 𝟏𝟐𝟑", "𐍈𐌰𐌹 gothic", "𒀀𒀁 cuneiform", "\ue000\uf8ff private", "\U000f0000 plane15",
        "ǅungla ǈ ʰʲ ˈstress", "İstanbul ıi", "ﬁle ﬂow", "ＡＢＣ１２３ fullwidth", "K Å Ω", "ß ẞ ſ",
        "\u180ebetween", "a\u0300\u0301\u0302", "\u0301start", "x\u20dd", "⁰⁴ ₀₁", "〇〡〢 ৴",
        "tab\t'stuff", "\n's", " 's", "\t's", "!'s", "1's", "'s1", "a\n\nb\r\n\r\nc",
        "<|begin_of_text|>Hello<|eot_id|>", "<|start_header_id|>user<|end_header_id|>",
        "<|reserved_special_token_42|> and <|reserved_special_token_4|>", "<|eot_id",
        "A" * 50, "ab" * 40, " " * 17 + "x", "\n" * 9, "-" * 33, "=" * 80 + "\n",
        "wörd" * 20, "€" * 12, "🙂" * 7,
        "\U000125D5335452480972 \u0558abc x\u0558 \U0001246F12",   # Unicode 17 scalars (unassigned in 16)
    ]
    return t


POOLS = {
    "word": ["the", "The", "THE", "model", "Attention", "context", "LONG", "sequence", "tokens", "is",
             "needle", "haystack", "rotary", "embeddings", "quantization", "über", "naïve", "façade",
             "señor", "Straße", "élan", "x", "I", "a"],
    "contr": ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'ve", "'VE", "'m", "'M", "'ll", "'LL",
              "'lL", "'d", "'D", "'x", "'"],
    "num": None,
    "ws": [" ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", "   \n", " \t ", "\u00a0", "\u3000", "\r",
           "\n \n", " \r\n ", "\t\n\t"],
    "punct": [".", ",", "!", "?", "...", "--", "(", ")", "[", "]", "{", "}", "\"", "#", "@", "$",
              "%", "&", "*", "+", "=", "/", "\\", "|", "<", ">", "~", "`", "^", "_", ";", ":",
              "«", "»", "¿", "¡", "§", "¶", "©", "™", "°", "•", "→", "∑", "√", "∞", "≠", "—", "–"],
    "script": ["中文", "日本語", "한국어", "العربية", "עברית", "русский", "ελληνικά", "हिन्दी",
               "ไทย", "ქართული", "Ελλάδα", "😀", "🚀", "🇩🇪", "👩‍💻", "ä", "é", "ñ", "ø", "ç"],
}


def rand_piece():
    k = rng.choice(["word"] * 6 + ["contr", "num", "num", "ws", "ws", "ws", "punct", "punct",
                                   "script", "script", "cp"])
    if k == "num":
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 12)))
    if k == "cp":
        return random_codepoint()
    return rng.choice(POOLS[k])


def random_codepoint():
    while True:
        r = rng.random()
        if r < 0.7:
            c = rng.randint(0x80, 0xFFFF)
        elif r < 0.9:
            c = rng.randint(0x10000, 0x2FFFF)
        else:
            c = rng.randint(0x20, 0x7F)
        if not 0xD800 <= c <= 0xDFFF:
            return chr(c)


def generated(n):
    out = []
    for _ in range(n):
        out.append("".join(rand_piece() for _ in range(rng.randint(1, 40))))
    for _ in range(20):   # random code point soup
        out.append("".join(random_codepoint() for _ in range(rng.randint(5, 60))))
    return out


def long_texts():
    digits = "".join(rng.choice("0123456789") for _ in range(1001))
    letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(1500))
    cjk = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(400))
    return [digits, letters, cjk, " " * 3000 + "end", "\r\n" * 300, "a" * 700,
            "!@#$%^&*()" * 60, ("word " * 200).strip()]


def corpus():
    texts = handmade() + generated(190) + long_texts()
    seen, out = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


# ---------------------------------------------------------------- reference tokenizers
def byte_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = byte_to_unicode()


def tstr(b):
    return "".join(B2U[x] for x in b)


def read_quicktok_vocab(path):
    import struct
    d = open(path, "rb").read()
    n = struct.unpack("<I", d[:4])[0]
    p, ranks = 4, {}
    for _ in range(n):
        ln = struct.unpack("<H", d[p:p + 2])[0]
        tok = d[p + 2:p + 2 + ln]
        ranks[tok] = struct.unpack("<I", d[p + 2 + ln:p + 6 + ln])[0]
        p += 6 + ln
    return ranks


def read_uniclass(path):
    import struct
    d = open(path, "rb").read()
    p, secs = 0, []
    while p < len(d):
        n = struct.unpack("<I", d[p:p + 4])[0]
        p += 4
        secs.append([list(struct.unpack("<2I", d[p + 8 * i:p + 8 * i + 8])) for i in range(n)])
        p += 8 * n
    assert len(secs) == 3, len(secs)
    return {"L": secs[0], "N": secs[1], "S": secs[2]}


def hf_from_ranks(ranks, specials):
    """A byte-level BPE tokenizer.json equivalent to a tiktoken rank table (merges derived as
    transformers' TikTokenConverter derives them), with the Llama-3 pre-tokenizer."""
    vocab, merges = {}, []
    for tok, rank in ranks.items():
        vocab[tstr(tok)] = rank
        if len(tok) == 1:
            continue
        local = []
        for i in range(1, len(tok)):
            l, r = tok[:i], tok[i:]
            if l in ranks and r in ranks:
                local.append((l, r, rank))
        local.sort(key=lambda x: (ranks[x[0]], ranks[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda x: x[2])
    bpe = models.BPE(vocab=vocab, merges=[(tstr(l), tstr(r)) for l, r, _ in merges], ignore_merges=True)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PAT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    j = json.loads(tok.to_str())
    j["added_tokens"] = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for s, i in specials]
    return Tokenizer.from_str(json.dumps(j))


def main():
    os.makedirs(OUT, exist_ok=True)
    qt = quicktok.get_encoding("llama3")
    data_dir = os.path.join(os.path.dirname(quicktok.__file__), "data")
    ranks = read_quicktok_vocab(os.path.join(data_dir, "llama3.vocab"))
    specials = [(qt.decode([i]), i) for i in range(128000, 128256)]
    texts = corpus()
    assert len(texts) >= 200, len(texts)

    # quicktok's character classes (its uniclass.bin: u32 count + (lo, hi) u32 pairs, for \p{L},
    # \p{N}, \s). They follow Unicode 16; the installed regex module knows Unicode 17, so its pieces
    # are a reference only for texts without scalars the two classify differently.
    classes = read_uniclass(os.path.join(data_dir, "uniclass.bin"))
    reL, reN, reS = regex.compile(r"\p{L}"), regex.compile(r"\p{N}"), regex.compile(r"\s")
    in_ranges = lambda rs, c: any(a <= c <= b for a, b in rs)

    def regex_agrees(t):
        for ch in set(t):
            c = ord(ch)
            if ((reL.match(ch) is not None) != in_ranges(classes["L"], c) or
                    (reN.match(ch) is not None) != in_ranges(classes["N"], c) or
                    (reS.match(ch) is not None) != in_ranges(classes["S"], c)):
                return False
        return True

    # Llama-3 ids (quicktok), pieces (regex module), special-token encodings.
    cases = []
    for t in texts:
        ids = qt.encode_ordinary(t)
        assert qt.decode(ids) == t
        cases.append({"text": t, "ids": ids, "pieces": regex.findall(PAT, t) if regex_agrees(t) else None})
    print(f"{sum(c['pieces'] is None for c in cases)} texts hold Unicode 17 scalars: no regex-module pieces")
    special_cases = []
    for t in [x for x in texts if "<|" in x] + ["<|begin_of_text|><|begin_of_text|>x<|end_of_text|>",
                                                "a<|eot_id|>\n\nb<|reserved_special_token_250|>"]:
        special_cases.append({"text": t, "ids": qt.encode(t, allowed_special="all")})

    # Decoding: id sequences that cut UTF-8 characters apart, plus unknown ids.
    byte_ids = [ranks[bytes([b])] for b in range(256)]
    decode_cases = []
    for _ in range(60):
        ids = [rng.choice(byte_ids[0x80:]) if rng.random() < 0.6 else rng.randrange(0, 128256)
               for _ in range(rng.randint(1, 8))]
        raw = b"".join(qt.decode_single_token_bytes(i) for i in ids)
        decode_cases.append({"ids": ids, "text": raw.decode("utf-8", errors="replace")})
    for raw in [b"\xe2\x82", b"\xf0\x9f\x98", b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                b"\xe0\x80\xaf", b"\xc0\xaf", b"a\xf0\x9fb", b"\xf8\x88\x80\x80\x80"]:
        ids = [byte_ids[b] for b in raw]
        decode_cases.append({"ids": ids, "text": raw.decode("utf-8", errors="replace")})

    # Cross-check the reference: the Hugging Face form of the same vocabulary agrees with quicktok.
    hf = hf_from_ranks(ranks, specials)
    hf_mismatch = [c["text"] for c in cases if "<|" not in c["text"] and hf.encode(c["text"], add_special_tokens=False).ids != c["ids"]]
    n_plain = sum("<|" not in c["text"] for c in cases)
    print(f"HF(Llama-3 as tokenizer.json) vs quicktok: {n_plain - len(hf_mismatch)}/{n_plain} agree "
          "(texts without special-token text)")
    for t in hf_mismatch[:5]:
        print("  differs:", repr(t[:80]))

    with open(os.path.join(OUT, "llama3_corpus.json"), "w") as f:
        json.dump({"reference": f"quicktok {quicktok.__version__} llama3 (tiktoken encode_ordinary semantics)",
                   "pattern": PAT, "cases": cases, "special_cases": special_cases,
                   "decode_cases": decode_cases}, f, ensure_ascii=True, separators=(",", ":"))

    # Unicode classes as the regex module sees them, and Python's isspace.
    def ranges(pred):
        out, start = [], None
        for c in range(0x110000 + 1):
            ok = c <= 0x10FFFF and not 0xD800 <= c <= 0xDFFF and pred(c)
            if ok and start is None:
                start = c
            elif not ok and start is not None:
                out.append([start, c - 1])
                start = None
        return out
    with open(os.path.join(OUT, "unicode_classes.json"), "w") as f:
        json.dump({"reference": f"quicktok {quicktok.__version__} uniclass.bin; Python str.isspace",
                   "L": classes["L"], "N": classes["N"], "S": classes["S"],
                   "pyspace": ranges(lambda c: chr(c).isspace())}, f, separators=(",", ":"))

    # Chat template through transformers.
    from transformers import PreTrainedTokenizerFast
    ptf = PreTrainedTokenizerFast(tokenizer_object=hf, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
    convs = [
        [{"role": "user", "content": "Hello!"}],
        [{"role": "system", "content": "You are a helpful assistant."},
         {"role": "user", "content": "  What is 2+2?\n\n"}],
        [{"role": "system", "content": "\tBe brief.\u3000"}, {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": " Hello! How can I help?  "}, {"role": "user", "content": "Tell me a joke."}],
        [{"role": "user", "content": ""}],
        [{"role": "user", "content": "\u001cfile sep\u001f and nbsp\u00a0"}],
        [{"role": "user", "content": "'s contraction first"}],
        [{"role": "user", "content": "123 numbers first"}],
        [{"role": "user", "content": "日本語で答えて 🚀"}],
        [{"role": "user", "content": "text with <|eot_id|> inside"}],
        [{"role": "tool", "content": "{\"result\": 42}"}],
        [{"role": "user", "content": "line1\r\nline2\n\n\nline3   "}],
    ]
    chats = []
    for conv in convs:
        for gen in (True, False):
            text = ptf.apply_chat_template(conv, chat_template=TEMPLATE, add_generation_prompt=gen, tokenize=False)
            ids = ptf.apply_chat_template(conv, chat_template=TEMPLATE, add_generation_prompt=gen, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            ids = list(ids)
            byte_ids = []
            for piece in regex.split(r"(<\|begin_of_text\|>|<\|end_of_text\|>|<\|start_header_id\|>|"
                                     r"<\|end_header_id\|>|<\|eot_id\|>)", text):
                names = {"<|begin_of_text|>": 256, "<|end_of_text|>": 257, "<|start_header_id|>": 258,
                         "<|end_header_id|>": 259, "<|eot_id|>": 260}
                byte_ids += [names[piece]] if piece in names else list(piece.encode())
            chats.append({"messages": conv, "generation_prompt": gen, "text": text, "ids": ids,
                          "byte_ids": byte_ids})
    with open(os.path.join(OUT, "chat.json"), "w") as f:
        json.dump({"reference": "transformers apply_chat_template, Meta-Llama-3-8B-Instruct template",
                   "template": TEMPLATE, "chats": chats}, f, ensure_ascii=True, separators=(",", ":"))

    # Small tokenizer.json files.
    sub_ranks = {t: r for t, r in ranks.items() if r < 2500}
    sub = hf_from_ranks(sub_ranks, specials)
    sub.save(os.path.join(OUT, "hf_subset.tokenizer.json"))
    trainer = trainers.BpeTrainer(vocab_size=700, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"])
    tr = Tokenizer(models.BPE())
    tr.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PAT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tr.decoder = decoders.ByteLevel()
    train_texts = [t for t in texts[:150]] * 3
    tr.train_from_iterator(train_texts, trainer=trainer)
    tr.save(os.path.join(OUT, "hf_trained.tokenizer.json"))
    tr = Tokenizer.from_file(os.path.join(OUT, "hf_trained.tokenizer.json"))
    hf_cases = []
    for t in texts:
        if len(t) > 600:
            continue
        hf_cases.append({"text": t, "subset": sub.encode(t, add_special_tokens=False).ids,
                         "trained": tr.encode(t, add_special_tokens=False).ids})
    sp_texts = ["<|begin_of_text|>Hi<|eot_id|>", "a<|end_of_text|>b <|reserved_special_token_7|>"]
    hf_special = [{"text": t, "subset": sub.encode(t, add_special_tokens=False).ids,
                   "trained": tr.encode(t, add_special_tokens=False).ids} for t in sp_texts]
    with open(os.path.join(OUT, "hf_ids.json"), "w") as f:
        json.dump({"reference": "tokenizers " + __import__("tokenizers").__version__,
                   "cases": hf_cases, "special_cases": hf_special}, f, ensure_ascii=True, separators=(",", ":"))
    total = sum(os.path.getsize(os.path.join(OUT, x)) for x in os.listdir(OUT))
    print(f"{len(cases)} corpus texts, {len(chats)} chats, {len(hf_cases)} tokenizer.json cases; "
          f"fixtures {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
