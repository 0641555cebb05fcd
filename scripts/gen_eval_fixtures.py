"""Writes Tests/Fixtures/eval/metrics.json: prediction/reference pairs scored by the reference
implementations that llx's Eval/Score.swift reproduces.

- LongBench metrics.py (qa_f1_score, rouge_score, code_sim_score, classification_score,
  count_score, retrieval_score, normalize_answer), re-stated here from their published
  definitions and run on the real `rouge` (1.0.1) and `fuzzywuzzy` (+python-Levenshtein)
  packages.
- The raw package values too: Rouge().get_scores(p, r)[0]['rouge-l']['f'] (None where the
  package raises) and fuzz.ratio(p, r).

Run: ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/gen_eval_fixtures.py
"""
import json
import os
import random
import re
import string
from collections import Counter

from fuzzywuzzy import fuzz
from rouge import Rouge

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "eval")


# ---- LongBench metrics, from their definitions -------------------------------------------
def normalize_answer(s):
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def f1_score(prediction, ground_truth):
    common = Counter(prediction) & Counter(ground_truth)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction)
    recall = 1.0 * num_same / len(ground_truth)
    return (2 * precision * recall) / (precision + recall)


def qa_f1_score(prediction, ground_truth):
    return f1_score(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def rouge_score(prediction, ground_truth):
    try:
        scores = Rouge().get_scores([prediction], [ground_truth], avg=True)
    except Exception:
        return 0.0
    return scores["rouge-l"]["f"]


def rouge_raw(prediction, ground_truth):
    try:
        return Rouge().get_scores(prediction, ground_truth)[0]["rouge-l"]["f"]
    except Exception:
        return None


def code_sim_score(prediction, ground_truth):
    all_lines = prediction.lstrip("\n").split("\n")
    prediction = ""
    for line in all_lines:
        if ("`" not in line) and ("#" not in line) and ("//" not in line):
            prediction = line
            break
    return fuzz.ratio(prediction, ground_truth) / 100


def classification_score(prediction, ground_truth, all_classes):
    em_match_list = []
    for class_name in all_classes:
        if class_name in prediction:
            em_match_list.append(class_name)
    for match_term in em_match_list:  # removal while iterating, as published
        if match_term in ground_truth and match_term != ground_truth:
            em_match_list.remove(match_term)
    if ground_truth in em_match_list:
        return 1.0 / len(em_match_list)
    return 0.0


def count_score(prediction, ground_truth):
    numbers = re.findall(r"\d+", prediction)
    right = sum(1 for n in numbers if str(n) == str(ground_truth))
    return 0.0 if len(numbers) == 0 else right / len(numbers)


def retrieval_score(prediction, ground_truth):
    matches = re.findall(r"Paragraph (\d+)", ground_truth)
    if not matches:
        return 0.0  # LongBench raises IndexError here; llx defines 0
    gt = matches[0]
    numbers = re.findall(r"\d+", prediction)
    right = sum(1 for n in numbers if str(n) == str(gt))
    return 0.0 if len(numbers) == 0 else right / len(numbers)


# ---- pairs --------------------------------------------------------------------------------
HAND = [
    ("", ""),
    ("", "Paris"),
    ("Paris", ""),
    ("Paris", "Paris"),
    ("paris", "Paris"),
    ("The answer is Paris.", "Paris"),
    ("Paris, France.", "paris france"),
    ("an apple a day", "the apple"),
    ("A cat sat on the mat.", "The cat sat on a mat"),
    ("...", "..."),
    (".", "a"),
    ("Hello. World.", "hello world"),
    ("Hello.World", "Hello. World."),
    ("the the the", "the"),
    ("  spaced   out  \t text \n", "spaced out text"),
    ("Don't stop believing!", "dont stop believing"),
    ("U.S.A.", "USA"),
    ("Café au lait", "cafe au lait"),
    ("Café au lait", "Café au lait"),
    ("ÉCOLE normale", "école normale"),
    ("Ünïcödé text ok", "unicode text ok"),
    ("ΟΔΥΣΣΕΥΣ went home", "οδυσσευς went home"),
    ("Straße", "strasse"),
    ("東京は日本の首都です。", "東京"),
    ("北京 上海 广州", "上海"),
    ("emoji 🎉 party 🎉", "party 🎉"),
    ("naïve café", "naive cafe"),
    ("İstanbul", "istanbul"),
    ("1, 2, 3, 4", "3"),
    ("There are 12 paragraphs, 12 total.", "12"),
    ("I count 7 unique ones", "7"),
    ("Paragraph 3 and Paragraph 5", "Paragraph 3"),
    ("Answer: 3", "Paragraph 3"),
    ("The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.",
     "\n\nThe best thing to do in San Francisco is sitting in Dolores Park and eating a hamburg on a sunny day.\n\n"),
    ("\n\nThe best thing to do in San Francisco is sitting in Dolores Park and eating a hamburg on a sunny day.\n\n",
     "\n\nThe best thing to do in San Francisco is sitting in Dolores Park and eating a hamburg on a sunny day.\n\n"),
    ("Sitting in Dolores Park.", "The best thing to do in San Francisco is sitting in Dolores Park."),
    ("I don't know.", "The best thing to do in San Francisco is sitting in Dolores Park."),
    ("a b c d e f", "f e d c b a"),
    ("x y x y x y", "y x y x"),
    ("one two. three four. five", "five. four three. two one"),
    ("the quick brown fox jumps over the lazy dog", "the lazy dog jumps over the quick brown fox"),
    ("def foo(x):\n    return x + 1", "def foo(x):"),
    ("\n\n    return x + 1\n", "    return x + 1"),
    ("```python\n# comment\nresult = compute(a, b)\n```", "result = compute(a, b)"),
    ("// js comment\nconst y = 2;", "const y = 2;"),
    ("# only comments\n# here", "x = 1"),
    ("for i in range(10):", "for i in range(n):"),
    ("print('hello world')", "print(\"hello world\")"),
    ("abc", "abd"),
    ("kitten", "sitting"),
    ("flaw", "lawn"),
    ("abcd", "dcba"),
    ("ab", "ba"),
    ("abcdefgh", "abcdefgx"),
    ("aaaa", "aa"),
    ("Positive", "positive"),
    ("The sentiment is Negative.", "Negative"),
    ("This is about Sports and sports news", "Sports"),
    ("tab\tseparated\twords", "tab separated words"),
    ("line\u2028break and\u00a0nbsp", "line break and nbsp"),
    ("under_score words", "under score words"),
    ("a-b-c", "abc"),
    ("An an AN aN", ""),
    ("theatre then the", "theatre then"),
    ("ａｂｃ full width", "abc full width"),
    ("١٢٣ arabic digits 123", "123"),
    ("Mixed CASE Words", "mixed case words"),
    ("repeated repeated repeated words words", "repeated words"),
    ("What is it? It is 42.", "42"),
    ("The pass key is 68231. Remember it.", "68231"),
]

CLASSES = ["Sports", "Science", "Business", "World", "Positive", "Negative", "Neutral", "positive", "Science Fiction"]
CLASS_PAIRS = [
    ("This is about Sports", "Sports"),
    ("This is about Sports and Science", "Science"),
    ("Science Fiction", "Science Fiction"),
    ("Science Fiction", "Science"),
    ("It is Positive, not Negative", "Positive"),
    ("positive", "Positive"),
    ("Business World", "World"),
    ("", "World"),
    ("Neutral Neutral", "Neutral"),
    ("Negative", "Negative sentiment"),
]

WORDS = ("the a an cat dog park city river mountain blue green red quick slow jumps runs eats "
         "Paris London Tokyo 12 7 2024 . , ! ? ; : - ' \" ( ) café naïve 東京 日本 über "
         "The A An Dog PARK").split()


def random_pairs(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        def text():
            k = rng.randint(0, 14)
            parts = []
            for _ in range(k):
                w = rng.choice(WORDS)
                parts.append(w)
                r = rng.random()
                parts.append(" " if r < 0.8 else ("" if r < 0.9 else rng.choice(["  ", "\n", ". ", "\t"])))
            return "".join(parts)
        p = text()
        r = text() if rng.random() < 0.7 else p.upper()
        out.append((p, r))
    return out


def long_pairs(n, seed):
    """Summary-length texts over a tiny vocabulary: many repeated words, so the LCS walk's
    tie-breaking decides which words enter the union."""
    rng = random.Random(seed)
    vocab = ["the", "cat", "dog", "ran", "sat", "on", "a", "mat", "and", "then", "it", "slept"]
    def text():
        sentences = []
        for _ in range(rng.randint(1, 6)):
            sentences.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 40))))
        return ". ".join(sentences) + rng.choice(["", ".", ". "])
    return [(text(), text()) for _ in range(n)]


def main():
    os.makedirs(OUT, exist_ok=True)
    pairs = HAND + random_pairs(80, 1234) + long_pairs(25, 99)
    rows = []
    for p, r in pairs:
        rows.append({
            "pred": p,
            "ref": r,
            "normalized_pred": normalize_answer(p),
            "f1": float(qa_f1_score(p, r)),
            "rouge_l": float(rouge_score(p, r)),
            "rouge_l_package": rouge_raw(p, r),
            "fuzz_ratio": int(fuzz.ratio(p, r)),
            "edit_sim": float(code_sim_score(p, r)),
            "count": float(count_score(p, r)),
            "retrieval": float(retrieval_score(p, r)),
        })
    cls = [{"pred": p, "ref": r, "classification": classification_score(p, r, CLASSES)} for p, r in CLASS_PAIRS]
    with open(os.path.join(OUT, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump({"pairs": rows, "classes": CLASSES, "classification": cls}, f, ensure_ascii=False, indent=0)
    print(f"wrote {len(rows)} pairs, {len(cls)} classification cases")


if __name__ == "__main__":
    main()
