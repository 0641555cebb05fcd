#!/usr/bin/env python3
"""Writes the Checkpoint fixtures to Tests/Fixtures/checkpoint/ with the reference libraries.

- st_basic.safetensors (python `safetensors`, torch API for bf16) + st_basic.json: every dtype,
  special values, a 0-d and an empty tensor, metadata; the JSON holds the bytes llx must read.
- sharded/ (huggingface_hub.save_torch_state_dict, tiny max_shard_size) + sharded.json.
- h5py_checkpoint.h5 + h5py_checkpoint.json: an llx-schema checkpoint written by h5py
  (see docs/checkpoint-format.md), and plain datasets of every dtype.

Run: ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/gen_checkpoint_fixtures.py
"""
import json
import os
import shutil

import numpy as np
import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "checkpoint")
os.makedirs(ROOT, exist_ok=True)

LLX_DTYPE = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16", torch.int32: "i32",
             torch.int64: "i64", torch.uint8: "u8", torch.float64: "f32", torch.bool: "u8"}


def llx_bytes(t):
    """Little-endian bytes of a tensor as llx reads it (F64 narrowed to f32, BOOL as u8)."""
    if t.dtype == torch.float64:
        t = t.to(torch.float32)
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    if t.dtype == torch.bfloat16:
        return t.contiguous().view(torch.int16).numpy().astype("<i2").tobytes().hex()
    return t.contiguous().numpy().tobytes().hex()


def expected(tensors):
    return {k: {"dtype": LLX_DTYPE[v.dtype], "shape": list(v.shape), "hex": llx_bytes(v)} for k, v in tensors.items()}


def safetensors_fixtures():
    g = torch.Generator().manual_seed(1234)
    specials = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 1e-7, float("inf"), float("-inf")])
    tensors = {
        "model.embed_tokens.weight": torch.randn(5, 3, generator=g),
        "model.layers.0.self_attn.q_proj.weight": torch.randn(3, 3, generator=g).to(torch.float16),
        "model.layers.0.mlp.up_proj.weight": torch.randn(4, 2, generator=g).to(torch.bfloat16),
        "specials.f32": specials.clone(),
        "specials.f16": specials.to(torch.float16),
        "specials.bf16": specials.to(torch.bfloat16),
        "ids.i32": torch.tensor([[1, -2, 2147483647], [-2147483648, 0, 7]], dtype=torch.int32),
        "ids.i64": torch.tensor([128000, -1, 9007199254740993, -9007199254740993], dtype=torch.int64),
        "codes.u8": torch.tensor([0, 1, 127, 128, 255], dtype=torch.uint8),
        "values.f64": torch.tensor([[0.1, -1e300], [3.5, 1e-40]], dtype=torch.float64),
        "mask.bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.25),
        "empty": torch.zeros(0, 4),
    }
    path = os.path.join(ROOT, "st_basic.safetensors")
    save_file(tensors, path, metadata={"format": "pt", "note": "llx fixture \"quoted\""})
    with open(os.path.join(ROOT, "st_basic.json"), "w") as f:
        json.dump({"metadata": {"format": "pt", "note": "llx fixture \"quoted\""}, "tensors": expected(tensors)}, f, indent=1)

    # A sharded checkpoint written by huggingface_hub the way transformers' save_pretrained does.
    from huggingface_hub import save_torch_state_dict
    shard_dir = os.path.join(ROOT, "sharded")
    shutil.rmtree(shard_dir, ignore_errors=True)
    os.makedirs(shard_dir)
    sd = {f"model.layers.{i}.mlp.down_proj.weight": torch.randn(8, 6, generator=g) for i in range(3)}
    sd["model.norm.weight"] = torch.randn(6, generator=g).to(torch.bfloat16)
    sd["lm_head.weight"] = torch.randn(7, 6, generator=g).to(torch.float16)
    save_torch_state_dict(sd, shard_dir, max_shard_size=300)
    with open(os.path.join(ROOT, "sharded.json"), "w") as f:
        json.dump({"tensors": expected(sd)}, f, indent=1)


if __name__ == "__main__":
    safetensors_fixtures()
    print("fixtures written to", os.path.normpath(ROOT))
