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


def h5_bytes(a):
    return np.ascontiguousarray(a).tobytes().hex()


def h5py_fixtures():
    """An llx-schema model checkpoint and a plain HDF5 file, both written by h5py."""
    import h5py
    import bitsandbytes.functional as bnbf

    g = torch.Generator().manual_seed(99)
    expect = {"attributes": {}, "tensors": {}, "doubles": {}, "dataset_attributes": {}}
    path = os.path.join(ROOT, "h5py_checkpoint.h5")
    with h5py.File(path, "w") as f:
        config = {"hidden_size": 8, "num_hidden_layers": 1, "vocab_size": 16, "rope_theta": 500000.0}
        f.attrs["format"] = "llx"
        f.attrs["format_version"] = 1
        f.attrs["kind"] = "model"
        f.attrs["config"] = json.dumps(config, sort_keys=True)
        f.attrs["step"] = np.int64(12)
        f.attrs["lr"] = 5e-5
        f.attrs["rng_state"] = np.array([1, 2, -3], dtype=np.int64)
        f.attrs["targets"] = ["q_proj", "v_proj"]
        expect["attributes"] = {"config": json.dumps(config, sort_keys=True), "step": 12, "lr": 5e-5,
                                "rng_state": [1, 2, -3], "targets": ["q_proj", "v_proj"]}

        def put(name, arr, llx_dtype, bf16=False):
            d = f.create_dataset(name, data=arr, chunks=True if arr.ndim else None, fletcher32=bool(arr.ndim))
            if bf16:
                d.attrs["dtype"] = "bf16"
            expect["tensors"][name] = {"dtype": llx_dtype, "shape": list(arr.shape), "hex": h5_bytes(arr)}
            return d

        put("tensors/model.embed_tokens.weight", torch.randn(16, 8, generator=g).numpy(), "f32")
        put("tensors/model.norm.weight", torch.randn(8, generator=g).numpy().astype(np.float16), "f16")
        bf = torch.randn(4, 8, generator=g).to(torch.bfloat16)
        put("tensors/lm_head.weight", bf.view(torch.int16).numpy().view(np.uint16), "bf16", bf16=True)
        put("tensors/model.layers.0.self_attn.q_proj.lora_A.weight", torch.randn(2, 8, generator=g).numpy(), "f32")
        put("ids/i32", np.array([[1, -2], [2147483647, -2147483648]], dtype=np.int32), "i32")
        put("ids/i64", np.array([128000, -1, 2**60], dtype=np.int64), "i64")
        put("ids/u8", np.array([0, 7, 255], dtype=np.uint8), "u8")
        put("scalar", np.array(2.5, dtype=np.float32), "f32")

        # NF4 state made by bitsandbytes (double quantization).
        w = torch.randn(8, 16, generator=g)
        q, st = bnbf.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
        base = "tensors/model.layers.0.self_attn.v_proj.weight"
        d = put(base + ".codes", q.numpy(), "u8")
        d.attrs["quant_type"] = "nf4"
        d.attrs["blocksize"] = 64
        d.attrs["shape"] = np.array(list(w.shape), dtype=np.int64)
        d.attrs["blocksize2"] = st.state2.blocksize
        d.attrs["offset"] = float(st.offset)
        expect["dataset_attributes"][base + ".codes"] = {"quant_type": "nf4", "blocksize": 64, "shape": [8, 16],
                                                         "blocksize2": st.state2.blocksize, "offset": float(st.offset)}
        put(base + ".qabsmax", st.absmax.numpy(), "u8")
        put(base + ".absmax2", st.state2.absmax.numpy(), "f32")

        loss = np.array([2.5, 2.25, 1.875, float("nan")], dtype=np.float64)
        f.create_dataset("history/loss", data=loss, chunks=True, fletcher32=True)
        expect["doubles"]["history/loss"] = h5_bytes(loss)
        f.create_group("optimizer").attrs["betas"] = np.array([0.9, 0.999])
        expect["group_attributes"] = {"optimizer": {"betas": [0.9, 0.999]}}
    with open(os.path.join(ROOT, "h5py_checkpoint.json"), "w") as fp:
        json.dump(expect, fp, indent=1)

    # A plain (non-llx) HDF5 file for h5.ls / h5.read.
    plain = os.path.join(ROOT, "h5py_plain.h5")
    with h5py.File(plain, "w") as f:
        f["x"] = np.arange(6, dtype=np.float64).reshape(2, 3) / 3
        f["grp/ids"] = np.array([5, -6, 7], dtype=np.int16)
        f["grp/tokens"] = np.array([128000, 9906], dtype=np.int64)
        f["half"] = np.array([1.5, -0.25], dtype=np.float16)
        f["big_endian"] = np.array([1.0, 2.0], dtype=">f4")
        f["names"] = np.array([b"a", b"bc"])
        f.attrs["note"] = "plain file"


if __name__ == "__main__":
    safetensors_fixtures()
    h5py_fixtures()
    print("fixtures written to", os.path.normpath(ROOT))
