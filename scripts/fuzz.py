#!/usr/bin/env python3
"""Fuzzing harness for llx (issue 14): nothing a user types or loads may crash llx, hang it or
take unbounded memory.

    scripts/fuzz.sh scripts [--count N] [--seed S]   # grammar-aware llx programs
    scripts/fuzz.sh files   [--count N] [--seed S]   # mutated safetensors, HDF5, tokenizer.json,
                                                     # config.json, JSONL and PEFT adapter folders
    scripts/fuzz.sh replay                           # every kept reproducer once

Programs come from a small grammar of llx (statements, expressions, commands with edge-case
arguments: huge, negative and non-finite numbers, ragged lists, wrong types) and from mutations
of the kept corpus (Tests/Fuzz/corpus/scripts: token deletions, duplications and splices).
Files are mutated from the seeds in Tests/Fuzz/corpus/files (byte flips, truncation, inserted
bytes, JSON-aware changes: numbers made huge, negative or of another type, fields dropped) and
loaded by the command that reads that kind.

One llx process (piped mode, LLX_MEMORY_LIMIT=256M, address space limited to 8 GB) runs many
cases: each case is a file run through `run_script(path)` (a script) or one load command (a
file), followed by a marker line. An error is the expected outcome of a bad case; what counts
is the process: killed by a signal, a Swift "Fatal error", no marker within 10 s (a hang), or an
address-space failure. Such a case is saved under Tests/Fuzz/crashes/ (FuzzReproTests runs
each one through llx) and the process restarted. Counts and the findings are printed at the end.
"""
import argparse
import hashlib
import json
import os
import random
import resource
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
LLX = os.environ.get("LLX_BIN", os.path.join(ROOT, ".build", "release", "llx"))
CORPUS = os.path.join(ROOT, "Tests", "Fuzz", "corpus")
CRASHES = os.path.join(ROOT, "Tests", "Fuzz", "crashes")
TIMEOUT = 10.0

# ---------------------------------------------------------------------------------------------
# grammar-aware llx programs

NUMS = ["0", "1", "-1", "2", "3", "7", "64", "255", "256", "1000", "65536", "1_000_000", "2M", "4B",
        "9223372036854775807", "-9223372036854775808", "1e308", "-1e308", "1e-320", "0.5", "-0.0",
        "3.14159", "1Ki", "1Mi", "float(\"nan\")", "float(\"inf\")", "-float(\"inf\")", "2 ** 62", "2 ** 63"]
STRS = ['""', '"a"', '"hello world"', '"\\n\\t"', '"ünïcödé ✓ 😀"', '"%d %s %f %%"', '"<|eot_id|>"',
        '"\\u{0}"', '"x" + "y"', '"a,b,,c"', '"   spaced   "', '"""\n  multi\n  line\n  """']
DTYPES = ['"f32"', '"f16"', '"bf16"', '"i32"', '"i64"', '"u8"', '"f64"', '"nope"', '1']


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.vars = ["x0"]
        self.depth = 0

    def choice(self, xs):
        return self.r.choice(xs)

    def small(self):
        return str(self.r.choice([0, 1, 2, 3, 4, 5, 8, -1, -2, 16]))

    def shape(self):
        k = self.r.randint(0, 3)
        dims = [self.r.choice(["0", "1", "2", "3", "4", "-1", "100000", "1000000", "2 ** 40", "2 ** 62"]) if self.r.random() < 0.15
                else str(self.r.randint(0, 5)) for _ in range(k)]
        return "[" + ", ".join(dims) + "]"

    def lst(self):
        n = self.r.randint(0, 4)
        if self.r.random() < 0.2:   # ragged
            return "[[1, 2], [3]]"
        return "[" + ", ".join(self.expr() for _ in range(n)) + "]"

    def nested_nums(self):
        rows = self.r.randint(1, 3)
        cols = self.r.randint(1, 3)
        return "[" + ", ".join("[" + ", ".join(self.choice(NUMS[:20]) for _ in range(cols)) + "]" for _ in range(rows)) + "]"

    def record(self):
        keys = ["a", "b", "rank", "lr", "text", "role", "content"]
        n = self.r.randint(0, 3)
        return "{" + ", ".join(f"{self.choice(keys)}: {self.expr()}" for _ in range(n)) + "}"

    def tensor(self):
        c = self.r.randint(0, 9)
        if c == 0: return f"tensor({self.nested_nums()})"
        if c == 1: return f"zeros({self.shape()})"
        if c == 2: return f"ones({self.shape()}, dtype: {self.choice(DTYPES)})"
        if c == 3: return f"randn({self.shape()}, seed: {self.small()})"
        if c == 4: return f"arange({self.choice(NUMS)})"
        if c == 5: return f"eye({self.small()})"
        if c == 6: return f"full({self.shape()}, {self.choice(NUMS)})"
        if c == 7: return f"rand({self.shape()})"
        if c == 8: return f"tensor({self.lst()})"
        return f"tensor([1, 2, 3, 4, 5, 6]).reshape({self.shape()})"

    def command(self):
        t = self.tensor
        e = self.expr
        opts = [
            lambda: f"{t()} + {t()}", lambda: f"{t()} @ {t()}", lambda: f"{t()} * {e()}",
            lambda: f"sum({t()}, axis: {self.small()})", lambda: f"mean({t()})", lambda: f"max({t()}, axis: {self.small()})",
            lambda: f"softmax({t()}, axis: {self.small()})", lambda: f"{t()}[{self.index()}]",
            lambda: f"{t()}.reshape({self.shape()})", lambda: f"{t()}.to({self.choice(DTYPES)})", lambda: f"{t()}.item()",
            lambda: f"{t()}.tolist()", lambda: f"{t()}.T", lambda: f"matmul({t()}, {t()})", lambda: f"argmax({t()})",
            lambda: f"allclose({t()}, {t()})", lambda: f"maxabs({t()})", lambda: f"exp({t()})", lambda: f"log({e()})",
            lambda: f"len({e()})", lambda: f"str({e()})", lambda: f"repr({e()})", lambda: f"int({e()})", lambda: f"float({e()})",
            # small bounds: ranges are still materialized as lists (lazy ranges are another
            # branch's work; Tests/Fuzz/known has the finding)
            lambda: f"range({self.small()}, {self.small()}, {self.choice(['1', '2', '-1', '0'])})", lambda: f"sorted({self.lst()})",
            lambda: f"reversed({e()})", lambda: f"enumerate({self.lst()})", lambda: f"zip({self.lst()}, {self.lst()})",
            lambda: f"join({self.lst()}, {self.choice(STRS)})", lambda: f"split({self.choice(STRS)}, {self.choice(STRS)})",
            lambda: f"format({e()}, {self.choice(NUMS)})", lambda: f"round({e()}, {self.small()})",
            lambda: f"{self.choice(STRS)} % {self.lst()}", lambda: f"{self.choice(STRS)}.replace({self.choice(STRS)}, {self.choice(STRS)})",
            lambda: f"keys({self.record()})", lambda: f"{self.record()} + {self.record()}", lambda: f"abs({e()})",
            lambda: f"floor({e()})", lambda: f"sqrt({e()})", lambda: f"min({self.lst()})", lambda: f"contains({e()}, {e()})",
            lambda: f"tokenizer.bytes().encode({self.choice(STRS)})", lambda: f"tokenizer.bytes().decode({self.lst()})",
            lambda: f"tokenizer.bytes().chat([{{role: {self.choice(STRS)}, content: {self.choice(STRS)}}}])",
            lambda: f"llama.config(\"tiny\", {self.choice(['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'head_dim', 'rope_theta'])}: {self.choice(NUMS)})",
            lambda: f"llama.init(llama.config(\"tiny\", num_hidden_layers: 1, {self.choice(['vocab_size', 'hidden_size', 'intermediate_size'])}: {self.choice(NUMS)}), seed: 0)",
            lambda: f"nf4({t()})", lambda: f"data.from({self.lst()})", lambda: f"score.f1({self.choice(STRS)}, {self.choice(STRS)})",
            lambda: f"score.rouge_l({self.choice(STRS)}, {self.choice(STRS)})", lambda: f"plot.heatmap({self.nested_nums()})",
            lambda: f"plot.line({self.lst()}, {self.lst()})", lambda: f"read_json({self.choice(STRS)})",
            lambda: f"type({e()})", lambda: f"help({e()})", lambda: f"has({self.record()}, {self.choice(STRS)})",
            lambda: f"{self.lst()}[{self.index()}]", lambda: f"{self.choice(STRS)}[{self.index()}]",
            lambda: f"{self.choice(NUMS)} {self.choice(['+', '-', '*', '/', '//', '%', '**', '<', '==', 'and', 'or'])} {self.choice(NUMS)}",
        ]
        return self.choice(opts)()

    def index(self):
        parts = []
        for _ in range(self.r.randint(1, 3)):
            c = self.r.randint(0, 4)
            if c == 0: parts.append(self.choice(NUMS[:12]))
            elif c == 1: parts.append(f"{self.small()}:{self.small()}")
            elif c == 2: parts.append(f"::{self.choice(['-1', '2', '0', '-3'])}")
            elif c == 3: parts.append("nil")
            else: parts.append(":")
        return ", ".join(parts)

    def expr(self):
        self.depth += 1
        try:
            if self.depth > 3:
                return self.choice(NUMS + STRS + self.vars + ["nil", "true"])
            c = self.r.random()
            if c < 0.25: return self.choice(NUMS + STRS + self.vars + ["nil", "false", "[]", "{}"])
            if c < 0.35: return self.lst()
            if c < 0.42: return self.record()
            if c < 0.55: return self.tensor()
            return self.command()
        finally:
            self.depth -= 1

    def stmt(self, depth=0):
        c = self.r.random()
        if c < 0.3:
            v = f"x{len(self.vars)}"
            self.vars.append(v)
            return f"let {v} = {self.expr()}"
        if c < 0.4: return f"{self.choice(self.vars)} = {self.expr()}"
        if c < 0.5: return f"print({self.expr()})"
        if c < 0.55 and depth < 2:
            body = "\n".join("    " + self.stmt(depth + 1) for _ in range(self.r.randint(1, 3)))
            return f"if {self.expr()} {{\n{body}\n}} else {{\n    {self.stmt(depth + 1)}\n}}"
        if c < 0.6 and depth < 2:
            body = "\n".join("    " + self.stmt(depth + 1) for _ in range(self.r.randint(1, 2)))
            it = self.choice(["range(3)", "[1, 2]", '"ab"', "{a: 1}", "tensor([[1, 2], [3, 4]])", self.lst()])
            return f"for i{depth} in {it} {{\n{body}\n}}"
        if c < 0.63 and depth < 2:
            return f"let w{depth} = 0\nwhile w{depth} < {self.small()} {{ w{depth} += 1\n    {self.stmt(depth + 1)} }}"
        if c < 0.67:
            return f"fn f{depth}(a, b: {self.expr()}) {{ return {self.expr()} }}\nprint(f{depth}({self.expr()}))"
        if c < 0.7: return f"{self.choice(self.vars)}[{self.index()}] = {self.expr()}"
        return self.expr()

    def program(self):
        lines = ["let x0 = " + self.expr()]
        for _ in range(self.r.randint(1, 8)):
            lines.append(self.stmt())
        return "\n".join(lines) + "\n"


def mutate_text(rng, text, others):
    toks = text.replace("\n", " \n ").split(" ")
    for _ in range(rng.randint(1, 4)):
        if not toks: break
        c = rng.randint(0, 4)
        i = rng.randrange(len(toks))
        if c == 0: del toks[i]
        elif c == 1: toks.insert(i, toks[rng.randrange(len(toks))])
        elif c == 2 and others:
            o = rng.choice(others).replace("\n", " \n ").split(" ")
            j = rng.randrange(len(o)); toks[i:i] = o[j:j + rng.randint(1, 12)]
        elif c == 3: toks[i] = rng.choice(NUMS + STRS + ["(", ")", "[", "]", "{", "}", ",", ":", "..", "fn", "let"])
        else: toks[i] = toks[i][::-1]
    return " ".join(toks).replace(" \n ", "\n")

# ---------------------------------------------------------------------------------------------
# file mutations


def seed_files():
    """The seeds: (kind, path) for every kept file under Tests/Fuzz/corpus/files."""
    out = []
    base = os.path.join(CORPUS, "files")
    for name in sorted(os.listdir(base)):
        p = os.path.join(base, name)
        kind = name.split("-", 1)[0]
        out.append((kind, p))
    return out


def mutate_json(rng, obj):
    if isinstance(obj, dict) and obj:
        k = rng.choice(list(obj.keys()))
        c = rng.randint(0, 3)
        if c == 0: del obj[k]
        else: obj[k] = mutate_json(rng, obj[k])
        return obj
    if isinstance(obj, list) and obj:
        i = rng.randrange(len(obj))
        c = rng.randint(0, 3)
        if c == 0: del obj[i]
        elif c == 1: obj.append(obj[i])
        else: obj[i] = mutate_json(rng, obj[i])
        return obj
    return rng.choice([0, -1, 1, 2 ** 31, 2 ** 63 - 1, -2 ** 63, 1e308, 1e-320, 0.5, "", "x" * 50, None, True, [], {},
                       "<|eot_id|>", "\u00ff\u0000", 10 ** 20])


def mutate_bytes(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        c = rng.randint(0, 5)
        if not b: b = bytearray(b"\0")
        i = rng.randrange(len(b))
        if c == 0: b[i] ^= 1 << rng.randrange(8)
        elif c == 1: b[i] = rng.choice([0, 0xFF, 0x7F, 0x80])
        elif c == 2: del b[i:i + rng.randint(1, 16)]
        elif c == 3: b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif c == 4: b = b[:i]
        else:   # a little-endian integer field made huge
            if i + 8 <= len(b): b[i:i + 8] = struct.pack("<q", rng.choice([2 ** 62, -1, 2 ** 40, 2 ** 31 - 1]))
    return bytes(b)


# the shape of the model the seeds in Tests/Fuzz/corpus/files were made with (scripts/fuzz_seeds.llx)
SMALL = 'llama.config("tiny", num_hidden_layers: 1, hidden_size: 16, intermediate_size: 32, num_attention_heads: 2, num_key_value_heads: 1)'


def make_file_case(rng, kind, seed, workdir, n):
    """Writes the mutated case and returns (path, llx command that loads it)."""
    d = os.path.join(workdir, f"f{n}")
    if os.path.isdir(seed):
        shutil.copytree(seed, d)
        files = sorted(os.listdir(d))
        victim = os.path.join(d, rng.choice(files))
        data = open(victim, "rb").read()
        if victim.endswith(".json") and rng.random() < 0.7:
            try:
                data = json.dumps(mutate_json(rng, json.loads(data))).encode()
            except Exception:
                data = mutate_bytes(rng, data)
        else:
            data = mutate_bytes(rng, data)
        open(victim, "wb").write(data)
        path = d
    else:
        os.makedirs(d)
        path = os.path.join(d, os.path.basename(seed).split("-", 1)[1])
        data = open(seed, "rb").read()
        if seed.endswith((".json", ".jsonl")) and rng.random() < 0.7:
            try:
                if seed.endswith(".jsonl"):
                    lines = [json.loads(l) for l in data.decode().splitlines() if l.strip()]
                    i = rng.randrange(len(lines)); lines[i] = mutate_json(rng, lines[i])
                    data = "\n".join(json.dumps(l) for l in lines).encode()
                else:
                    data = json.dumps(mutate_json(rng, json.loads(data))).encode()
            except Exception:
                data = mutate_bytes(rng, data)
        else:
            data = mutate_bytes(rng, data)
        open(path, "wb").write(data)
    q = json.dumps(path)
    cmd = {
        "h5": f"h5.ls({q}); load({q})",
        "h5read": f"for e in h5.ls({q}) {{ h5.read({q}, e.name, dtype: \"f32\"); h5.values({q}, e.name) }}",
        "hfdir": f"llama.load({q}); llama.load({q}, quant: \"nf4\")",
        "tokenizer": f"let t = tokenizer.load({q}); t.decode(t.encode(\"hello world, Ünïcode 123\")); t.vocab_size",
        "jsonl": f"let d = data.jsonl({q}); len(d); train(llama.init(llama.config(\"tiny\", num_hidden_layers: 1), seed: 0), d, tok: tokenizer.bytes(), steps: 1, batch: 1, max_len: 64, progress: false)",
        "peft": f"lora.load_peft(llama.init({SMALL}, seed: 0), {q})",
    }.get(kind, f"load({q})")
    return path, cmd

# ---------------------------------------------------------------------------------------------
# the runner


class Runner:
    def __init__(self, log):
        self.p = None
        self.log = log
        self.stderr = []

    def start(self):
        def limits():
            resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
            os.setpgrp()
        # 256 MB: large enough for every seed and small model, small enough that a legal but
        # huge request (a model of vocab 10^6) is refused at once rather than computed for minutes
        env = dict(os.environ, LLX_MEMORY_LIMIT="256M", OPENBLAS_NUM_THREADS="1")
        self.p = subprocess.Popen([LLX], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env, preexec_fn=limits)
        self.stderr = []
        t = threading.Thread(target=self._drain, args=(self.p.stderr,), daemon=True)
        t.start()

    def _drain(self, f):
        for raw in f:
            line = raw.decode("utf-8", "replace")
            self.stderr.append(line)
            if len(self.stderr) > 200: del self.stderr[:100]

    def stop(self):
        if self.p and self.p.poll() is None:
            try:
                os.killpg(self.p.pid, 9)
            except Exception:
                pass
        if self.p:
            self.p.wait()
        self.p = None

    def run(self, entry, n):
        """Runs one entry; returns None (fine) or a finding string."""
        if self.p is None or self.p.poll() is not None:
            self.start()
        marker = f"@@{n}@@"
        try:
            self.p.stdin.write((entry + "\n" + f'print("{marker}")\n').encode())
            self.p.stdin.flush()
        except BrokenPipeError:
            pass
        deadline = time.time() + TIMEOUT
        fd = self.p.stdout.fileno()
        buf = b""
        while True:
            left = deadline - time.time()
            if left <= 0:
                self.stop()
                return "hang (no answer in %.0f s)" % TIMEOUT
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 1 << 16)
            if chunk == b"":
                code = self.p.wait()
                time.sleep(0.1)
                err = "".join(self.stderr)
                self.p = None
                lines = [l for l in err.splitlines() if not l.startswith("0x") and l.strip()]
                return f"process ended (status {code}): " + " | ".join(lines[:6])[:600]
            buf = (buf + chunk)[-4096:]
            if marker.encode() in buf:
                err = "".join(self.stderr)
                self.stderr.clear()
                if "Fatal error" in err or "failed to allocate" in err:
                    self.stop()
                    return "fatal error: " + err.strip()[-400:]
                return None


def save_crash(kind, content_path, entry, finding):
    os.makedirs(CRASHES, exist_ok=True)
    h = hashlib.sha1(entry.encode() + (open(content_path, "rb").read() if content_path and os.path.isfile(content_path) else b"")).hexdigest()[:12]
    d = os.path.join(CRASHES, f"{kind}-{h}")
    os.makedirs(d, exist_ok=True)
    if content_path:
        dst = os.path.join(d, "case")
        if os.path.isdir(content_path): shutil.copytree(content_path, dst, dirs_exist_ok=True)
        else: shutil.copy(content_path, dst + os.path.splitext(content_path)[1])
    open(os.path.join(d, "finding.txt"), "w").write(finding + "\n")
    open(os.path.join(d, "entry.llx"), "w").write(entry + "\n")
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["scripts", "files", "replay"])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep-every", type=int, default=2000, help="keep every Nth generated script in the corpus")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="llx-fuzz-")
    runner = Runner(print)
    findings = []
    t0 = time.time()
    try:
        if a.mode == "scripts":
            cdir = os.path.join(CORPUS, "scripts")
            corpus = [open(os.path.join(cdir, f)).read() for f in sorted(os.listdir(cdir)) if f.endswith(".llx")]
            for n in range(a.count):
                g = Gen(rng)
                text = g.program() if rng.random() < 0.7 or not corpus else mutate_text(rng, rng.choice(corpus), corpus)
                path = os.path.join(work, f"s{n % 64}.llx")
                open(path, "w").write(text)
                entry = f"run_script({json.dumps(path)})"
                f = runner.run(entry, n)
                if f:
                    d = save_crash("script", path, 'run_script("CASE")', f)
                    findings.append((d, f))
                    print(f"[{n}] {f}\n  saved in {d}", flush=True)
                if a.keep_every and n % a.keep_every == a.keep_every - 1:
                    open(os.path.join(cdir, f"gen-{a.seed}-{n}.llx"), "w").write(text)
                if n % 1000 == 999:
                    print(f"{n + 1} scripts, {len(findings)} findings, {time.time() - t0:.0f} s", flush=True)
        elif a.mode == "files":
            seeds = seed_files()
            for n in range(a.count):
                kind, seed = rng.choice(seeds)
                path, cmd = make_file_case(rng, kind, seed, work, n)
                f = runner.run(cmd, n)
                if f:
                    d = save_crash(kind, path, cmd.replace(json.dumps(path), '"CASE"'), f)
                    findings.append((d, f))
                    print(f"[{n}] {kind}: {f}\n  saved in {d}", flush=True)
                shutil.rmtree(os.path.dirname(path) if not os.path.isdir(path) else path, ignore_errors=True)
                if n % 1000 == 999:
                    print(f"{n + 1} files, {len(findings)} findings, {time.time() - t0:.0f} s", flush=True)
        else:
            for n, name in enumerate(sorted(os.listdir(CRASHES)) if os.path.isdir(CRASHES) else []):
                d = os.path.join(CRASHES, name)
                case = next(os.path.join(d, c) for c in sorted(os.listdir(d)) if c.startswith("case"))
                entry = open(os.path.join(d, "entry.llx")).read().strip().replace('"CASE"', json.dumps(case))
                f = runner.run(entry, n)
                if f: findings.append((d, f))
                print(name, f or "ok", flush=True)
    finally:
        runner.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"fuzz {a.mode}: {a.count if a.mode != 'replay' else ''} cases, seed {a.seed}, {len(findings)} findings, {time.time() - t0:.0f} s")
    sys.exit(1 if findings else 0)


if __name__ == "__main__":
    main()
