#!/usr/bin/env python3
"""Language microbenchmarks in CPython: the same programs as `llx bench lang`
(Sources/Commands/LangBench.swift), written as a Python programmer would.

Each benchmark is a function timed around one call (its input built before the timer),
best of --repeat runs. Prints one JSON object per line: {"name": ..., "seconds": ..., "check": ...};
`check` is the benchmark's result, which llx must reproduce (it checks the two agree).
"""
import argparse
import json
import time


def loop(n):
    s = 0
    for i in range(n):
        s = s + 1
    return s


def while_loop(n):
    i = 0
    s = 0
    while i < n:
        s = s + i
        i = i + 1
    return s


def arith(n):
    acc = 0.0
    for i in range(n):
        acc = acc + (i % 7) * 1.5 - i / 3.0
    return round(acc, 3)


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def list_build(n):
    xs = []
    for i in range(n):
        xs.append(i * 2)
    return len(xs) + xs[n // 2]


def record_build(n):
    rs = []
    for i in range(n):
        rs.append({"id": i, "name": f"r{i}", "score": i * 0.5})
    return len(rs) + len(rs[n - 1]["name"])


def string_format(n):
    total = 0
    for i in range(n):
        s = f"step {i}: loss {i * 0.001:.4f}"
        total = total + len(s)
    return total


def make_records(n):
    return [{"id": i, "name": f"item{i}", "score": (i * 37) % 101, "tags": ["a", "b"] if i % 3 == 0 else ["c"]}
            for i in range(n)]


def transform(rs):
    out = []
    for r in rs:
        if r["score"] > 20:
            out.append({"key": r["name"].upper(), "value": r["score"] * 2, "even": r["id"] % 2 == 0,
                        "ntags": len(r["tags"])})
    total = 0
    for o in out:
        total = total + o["value"] + o["ntags"]
    return total


TOPLEVEL = """
s = 0
for i in range(1000000):
    s = s + 1
"""

# (name, setup returning the argument, function, size note) -- sizes match LangBench.swift
BENCHES = [
    ("loop", lambda: 1000000, loop),
    ("while", lambda: 1000000, while_loop),
    ("arith", lambda: 300000, arith),
    ("fib", lambda: 24, fib),
    ("list_build", lambda: 100000, list_build),
    ("record_build", lambda: 50000, record_build),
    ("string_format", lambda: 100000, string_format),
    ("json_transform", lambda: make_records(50000), transform),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default=None, help="comma-separated benchmark names")
    ap.add_argument("--cpu", action="store_true", help="time by the thread's CPU time (time.thread_time)")
    args = ap.parse_args()
    clock = time.thread_time if args.cpu else time.perf_counter
    only = set(args.only.split(",")) if args.only else None
    for name, setup, fn in BENCHES:
        if only and name not in only:
            continue
        best, check = float("inf"), None
        for _ in range(args.repeat):
            x = setup()
            t0 = clock()
            check = fn(x)
            best = min(best, clock() - t0)
        print(json.dumps({"name": name, "seconds": best, "check": check}), flush=True)
    if not only or "toplevel_loop" in only:
        best = float("inf")
        for _ in range(args.repeat):
            g = {}
            code = compile(TOPLEVEL, "<toplevel>", "exec")
            t0 = clock()
            exec(code, g)
            best = min(best, clock() - t0)
        print(json.dumps({"name": "toplevel_loop", "seconds": best, "check": g["s"]}), flush=True)


if __name__ == "__main__":
    main()
