#!/usr/bin/env python3
"""Checkpoint save/load beside h5py: runs `llx bench checkpoint` with LLX_BENCH_DIR set (so its
model-sized HDF5 file stays), then times h5py writing the same datasets (chunked, fletcher32, as
llx writes them) and reading them back, best of 3.

    python3 scripts/bench_checkpoint.py          # needs .build/release/llx and h5py (.venv)
"""
import os
import subprocess
import sys
import tempfile
import time

import h5py

root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
binary = os.environ.get("LLX_BIN") or os.path.join(root, ".build", "release", "llx")
with tempfile.TemporaryDirectory() as d:
    r = subprocess.run([binary, "bench", "checkpoint"], env=dict(os.environ, LLX_BENCH_DIR=d), capture_output=True, text=True)
    out = r.stdout + r.stderr
    line = next((l for l in out.splitlines() if l.startswith("checkpoint bench:")), None)
    if r.returncode != 0 or line is None or "error" in line:
        sys.exit("llx bench checkpoint failed:\n" + out[-3000:])
    print("llx ", line)
    path = os.path.join(d, "small.h5")
    f = h5py.File(path, "r")
    names = []
    f.visit(lambda n: names.append(n) if isinstance(f[n], h5py.Dataset) else None)
    data = {n: f[n][()] for n in names}
    f.close()
    best = [1e9, 1e9]
    for _ in range(3):
        t = time.time()
        with h5py.File(path + ".py.h5", "w") as g:
            for n, a in data.items():
                g.create_dataset(n, data=a, chunks=True if a.ndim else None, fletcher32=bool(a.ndim))
            g.flush()
        best[0] = min(best[0], time.time() - t)
        t = time.time()
        with h5py.File(path + ".py.h5", "r") as g:
            for n in names:
                g[n][()]
        best[1] = min(best[1], time.time() - t)
    print("h5py save %.3f s load %.3f s" % tuple(best))
