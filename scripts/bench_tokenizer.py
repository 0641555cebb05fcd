#!/usr/bin/env python3
"""Tokenizer speed: llx (Swift) vs quicktok on the same ~1 MB text.

Runs the Swift benchmark (llx bench tokenizer, which writes its generated
text to $TMPDIR/llx_tokenizer_bench.txt, or reads --text FILE via $LLX_BENCH_TEXT), then times quicktok's encode_ordinary and tiktoken-style
encode on that file (and tiktoken itself if installed) and prints the ratios.

  ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/bench_tokenizer.py [--no-swift] [--skip-build] [--text FILE]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import quicktok


def best_of(fn, n=3):
    best = float("inf")
    out = None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-swift", action="store_true", help="do not run the Swift benchmark first")
    ap.add_argument("--skip-build", action="store_true", help="do not build llx when .build/release/llx is missing")
    ap.add_argument("--text", default=os.path.join(tempfile.gettempdir(), "llx_tokenizer_bench.txt"))
    a = ap.parse_args()
    a.text_given = "--text" in sys.argv
    swift_mbs = None
    if not a.no_swift:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
        env = dict(os.environ)
        if a.text_given:
            env["LLX_BENCH_TEXT"] = a.text
        binary = os.environ.get("LLX_BIN") or os.path.join(root, ".build", "release", "llx")
        if not os.path.exists(binary) and not a.skip_build:
            subprocess.run(["swift", "build", "-c", "release"], cwd=root, check=True)
        r = subprocess.run([binary, "bench", "tokenizer"], cwd=root, capture_output=True, text=True, env=env)
        m = re.search(r"tokenizer bench: .*", r.stdout + r.stderr)
        if not m:
            sys.exit("Swift benchmark failed:\n" + (r.stdout + r.stderr)[-3000:])
        cold = re.search(r"tokenizer bench \(cold cache\): .*", r.stdout + r.stderr)
        if cold:
            print("llx     ", cold.group(0))
        print("llx     ", m.group(0))
        swift_mbs = float(re.search(r"= ([0-9.]+) MB/s", m.group(0)).group(1))
    if not os.path.exists(a.text):
        sys.exit(f"{a.text} not found: run the Swift benchmark first (drop --no-swift)")
    text = open(a.text, encoding="utf-8", newline="").read()
    mb = len(text.encode()) / 1e6
    enc = quicktok.get_encoding("llama3")
    rows = []
    secs, ids = best_of(lambda: enc.encode_ordinary(text))
    rows.append(("quicktok encode_ordinary", secs, len(ids)))
    secs, ids2 = best_of(lambda: enc.encode(text, disallowed_special=()))
    rows.append(("quicktok encode (tiktoken API)", secs, len(ids2)))
    try:
        import tiktoken  # optional: the original, built from the same ranks
        pat = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
        ranks = {enc.decode_single_token_bytes(i): i for i in range(128000)}
        tk = tiktoken.Encoding("llama3", pat_str=pat, mergeable_ranks=ranks, special_tokens={})
        secs, ids3 = best_of(lambda: tk.encode_ordinary(text))
        rows.append(("tiktoken encode_ordinary", secs, len(ids3)))
    except ImportError:
        print("(tiktoken not installed; quicktok encodes exactly as tiktoken)")
    for name, secs, n in rows:
        line = f"{name:32s} {mb:.2f} MB, {n} tokens: {secs:.3f} s = {mb / secs:.2f} MB/s, {n / secs:.0f} tokens/s"
        if swift_mbs:
            line += f"; llx/quicktok speed ratio {swift_mbs / (mb / secs):.2f}"
        print(line)


if __name__ == "__main__":
    main()
