#!/usr/bin/env python3
"""Writes the word-level tokenizer fixtures (Tests/Fixtures/tokenizer/) with the Hugging Face
`tokenizers` library (WordLevel model, WordLevelTrainer).

  wordlevel_corpus.txt   the training corpus (committed, hand-written; read here, not written):
                         one text per line, with ties in word counts, Unicode words (both
                         precomposed and combining forms), punctuation runs, digits, special-token
                         text and unusual whitespace.
  wordlevel/<case>.tokenizer.json
                         the tokenizer each case trains (Tokenizer.save), plus `added_flags`: a
                         trained tokenizer with added tokens using single_word / lstrip / rstrip /
                         normalized and a Digits(individual_digits=False) pre-tokenizer.
  wordlevel_cases.json   per case: the training options, the ids of the test texts (added tokens
                         split out as HF always does, and with encode_special_tokens=True), and
                         decodes with and without skip_special_tokens.
  wordlevel_classes.json which scalars the Whitespace pre-tokenizer treats as \\w and \\s, and
                         which Digits isolates (char::is_numeric), probed over all of Unicode.

Run: ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/gen_wordlevel_fixtures.py
(any Python with `pip install tokenizers` works).
"""
import json
import os

import tokenizers
from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, trainers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "tokenizer")
LLAMA3 = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


def corpus():
    with open(os.path.join(OUT, "wordlevel_corpus.txt"), encoding="utf-8") as f:
        return f.read().split("\n")


TEXTS = [
    "the cat sat on the mat .",
    "The Cat SAT",                                   # case matters: unseen forms -> unk
    "apple banana cherry durian",                    # durian unseen
    "Zebra zebra zebras",
    "café cafe\u0301 caf\u00e9s naïve",
    "Ελληνικά Привет мир! 日本語 中文",
    "snake_case __dunder__ camelCase PascalCase",
    "2024 3.14 1,000,000 42 12345 007",
    "x² y² ½ ⅛ Ⅻ ٣٤٥ ۱۲۳",
    "abc123def version2 a1b2c3 v1.2.3",
    "don't it's wait... what?! no -- !!! ??? ...",
    "emoji 🚀🔥 👍🏽 👨\u200d👩\u200d👧",
    "zero\u200dwidth zero\u200cnon soft\u00adhyphen",
    "tabs\tand\u00a0nbsp\u3000ideographic\u2003em",
    "",
    "   \t\n  ",
    "!",
    "[UNK] unknownword [UNK]",
    "<|begin_of_text|>Hello<|eot_id|>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nthe cat<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nbe brief<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nthe dog sat<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\napple . <|eot_id|><|end_of_text|>",
    "text<|eot_id|>glued<|end_of_text|>",
    "<|eot_id <|eot_id|> eot_id|>",
    "e\u0301 n\u0303 ñ combining",
    "https://example.com/path?q=1 user@example.com",
    "def f(x): return x ** 2",
    "mark park tie_a tie_b tie_c one two three",
    "new\u088fchar \U000125d5",                      # Unicode 17 scalars (unassigned for HF's regex)
    # for added_flags: single_word, lstrip / rstrip, an added token inside a special one
    "category cat concat cat's _cat cat_ (cat) a  <sep>  b\t<sep>c <mask>   <mask>d",
    "log logs catalog xyzxyz eot <|eot_id|> 12ab34 <sep><sep>",
]


def whitespace():
    return pre_tokenizers.Whitespace()


def whitespace_digits(individual=True):
    return pre_tokenizers.Sequence([pre_tokenizers.Whitespace(),
                                    pre_tokenizers.Digits(individual_digits=individual)])


CASES = [
    # name, digits, vocab_size, min_frequency, special tokens, unk token
    ("ws_v1000_f0", False, 1000, 0, LLAMA3 + ["[UNK]"], "[UNK]"),
    ("ws_v40_f0", False, 40, 0, LLAMA3 + ["[UNK]"], "[UNK]"),
    ("ws_v25_f0", False, 25, 0, ["[UNK]"], "[UNK]"),
    ("ws_v1000_f2", False, 1000, 2, LLAMA3 + ["[UNK]"], "[UNK]"),
    ("ws_v30_f3", False, 30, 3, ["<pad>", "[UNK]"] + LLAMA3, "[UNK]"),
    ("digits_v1000_f0", True, 1000, 0, LLAMA3 + ["[UNK]"], "[UNK]"),
    ("digits_v50_f0", True, 50, 0, LLAMA3 + ["[UNK]"], "[UNK]"),
    ("digits_v1000_f2", True, 1000, 2, ["<unk>"] + LLAMA3, "<unk>"),
    # specials that are also corpus words, and a repeated special: ids with holes, as HF's
    # vocab map keeps the last id given to a string
    ("collide_v1000_f0", False, 1000, 0, ["[UNK]", "the", "cat", "[UNK]"] + LLAMA3, "[UNK]"),
    # fewer slots than special tokens: the rest become added tokens after the model vocab
    ("tiny_v3_f0", False, 3, 0, LLAMA3 + ["[UNK]"], "[UNK]"),
]


def train(digits, vocab_size, min_frequency, specials, unk):
    tok = Tokenizer(models.WordLevel(unk_token=unk))
    tok.pre_tokenizer = whitespace_digits() if digits else whitespace()
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=specials, show_progress=False)
    tok.train_from_iterator(corpus(), trainer=trainer)
    return tok


def encodings(tok):
    """ids of TEXTS, with added tokens split out and with encode_special_tokens; None where HF
    raises (no unk token in the vocabulary)."""
    out, plain = [], []
    for t in TEXTS:
        tok.encode_special_tokens = False
        try:
            out.append(tok.encode(t, add_special_tokens=False).ids)
        except Exception:
            out.append(None)
        tok.encode_special_tokens = True
        try:
            plain.append(tok.encode(t, add_special_tokens=False).ids)
        except Exception:
            plain.append(None)
    tok.encode_special_tokens = False
    return out, plain


def decodes(tok, id_lists):
    dec, skip = [], []
    for ids in id_lists:
        dec.append(tok.decode(ids, skip_special_tokens=False))
        skip.append(tok.decode(ids, skip_special_tokens=True))
    return dec, skip


def write_case(name, tok, extra):
    os.makedirs(os.path.join(OUT, "wordlevel"), exist_ok=True)
    rel = f"wordlevel/{name}.tokenizer.json"
    tok.save(os.path.join(OUT, rel))
    tok = Tokenizer.from_file(os.path.join(OUT, rel))   # what a reader of the file gets
    ids, plain = encodings(tok)
    decode_inputs = [x for x in ids if x is not None] + [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 99999]]
    dec, skip = decodes(tok, decode_inputs)
    with open(os.path.join(OUT, rel), encoding="utf-8") as f:
        saved = json.load(f)
    # [word, id] pairs by id: a list, since a JSON object reader may merge canonically
    # equivalent keys ("café" precomposed and with a combining accent)
    vocab = sorted(saved["model"]["vocab"].items(), key=lambda kv: kv[1])
    added = [[t["content"], t["id"], t["special"]] for t in saved["added_tokens"]]
    case = {"name": name, "file": rel, "vocab_size": tok.get_vocab_size(with_added_tokens=True),
            "vocab": vocab, "added": added,
            "ids": ids, "ids_plain": plain, "decode_ids": decode_inputs, "decode": dec,
            "decode_skip": skip}
    case.update(extra)
    return case


def classes():
    ws = pre_tokenizers.Whitespace()
    dg = pre_tokenizers.Digits(individual_digits=True)
    word, space, num = [], [], []
    for v in range(0x110000):
        if 0xD800 <= v <= 0xDFFF:
            continue
        c = chr(v)
        p = [s for s, _ in ws.pre_tokenize_str("a" + c)]
        if p == ["a" + c]:
            word.append(v)
        elif p == ["a"]:
            space.append(v)
        else:
            assert p == ["a", c], (v, p)
        if [s for s, _ in dg.pre_tokenize_str("a" + c)] == ["a", c]:
            num.append(v)

    def ranges(xs):
        out = []
        for v in xs:
            if out and out[-1][1] == v - 1:
                out[-1][1] = v
            else:
                out.append([v, v])
        return out
    return {"reference": f"tokenizers {tokenizers.__version__}: Whitespace on 'a'+c, Digits(individual) on 'a'+c",
            "word": ranges(word), "space": ranges(space), "numeric": ranges(num)}


def main():
    cases = []
    for name, digits, vs, mf, specials, unk in CASES:
        tok = train(digits, vs, mf, specials, unk)
        cases.append(write_case(name, tok, {
            "digits": digits, "train_vocab_size": vs, "min_frequency": mf,
            "special_tokens": specials, "unk_token": unk}))

    # Added tokens with the flags a loader must honour, on a contiguous-Digits tokenizer.
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = whitespace_digits(individual=False)
    tok.train_from_iterator(corpus(), trainer=trainers.WordLevelTrainer(
        vocab_size=200, special_tokens=["[UNK]"] + LLAMA3, show_progress=False))
    tok.add_tokens([AddedToken("cat", single_word=True), AddedToken("<sep>", lstrip=True, rstrip=True),
                    AddedToken("log", normalized=False), AddedToken("xyz"), AddedToken("eot")])
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True)])
    cases.append(write_case("added_flags", tok, {"digits": "contiguous"}))

    with open(os.path.join(OUT, "wordlevel_cases.json"), "w", encoding="utf-8") as f:
        f.write('{"reference": %s,\n "texts": %s,\n "cases": [\n' % (
            json.dumps(f"tokenizers {tokenizers.__version__}"), json.dumps(TEXTS, ensure_ascii=False)))
        f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")
    with open(os.path.join(OUT, "wordlevel_classes.json"), "w") as f:
        json.dump(classes(), f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
