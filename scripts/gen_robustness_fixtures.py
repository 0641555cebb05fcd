#!/usr/bin/env python3
"""Fixtures for the robustness tests (Tests/CommandsTests/RobustnessTests.swift), written by
h5py so that llx is tested on files it did not write itself:

- Tests/Fixtures/checkpoint/f64.h5: float64 datasets whose values an f32 tensor cannot hold
  (1e-300 underflows to 0, 1e300 overflows to inf, 0.1 rounds), a float64 matrix, an int64 and
  a float32 dataset, so that h5.read must refuse float64 (never narrow it silently) and
  h5.values must give the float64 numbers exactly.
- Tests/Fixtures/checkpoint/huge_declared.h5: a chunked float32 dataset that declares shape
  [100000, 100000] (40 GB) but has no chunk written (the file is a few kB): reading it must be
  refused by the memory check before anything is allocated.
- Tests/Fixtures/checkpoint/f64.json: the values, as Python's repr writes them, for the tests.

Run with the tests' environment: /work/main/.venv/bin/python scripts/gen_robustness_fixtures.py
(any Python with h5py and numpy).
"""
import json
import os

import h5py
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "Tests", "Fixtures", "checkpoint")

vec = np.array([1e-300, 0.1, -2.5, 1e300, 3.0], dtype=np.float64)
mat = np.array([[1e-300, 2e-310], [1.0 / 3.0, -7.0]], dtype=np.float64)
ints = np.array([1, -2, 3], dtype=np.int64)
f32 = np.array([0.5, 1.5], dtype=np.float32)

with h5py.File(os.path.join(out, "f64.h5"), "w") as f:
    f.create_dataset("vec", data=vec)
    f.create_dataset("mat", data=mat)
    f.create_dataset("ints", data=ints)
    f.create_dataset("f32", data=f32)

with h5py.File(os.path.join(out, "huge_declared.h5"), "w") as f:
    f.create_dataset("big", shape=(100000, 100000), dtype="f4", chunks=(64, 64))

with open(os.path.join(out, "f64.json"), "w") as f:
    json.dump({
        "vec": [repr(float(x)) for x in vec],
        "mat": [[repr(float(x)) for x in row] for row in mat],
        "vec_as_f32": [repr(float(np.float32(x))) for x in vec],
        "ints": [int(x) for x in ints],
    }, f, indent=1)
    f.write("\n")
print("wrote f64.h5, huge_declared.h5, f64.json in", os.path.normpath(out))
