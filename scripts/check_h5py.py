#!/usr/bin/env python3
"""Checks an llx HDF5 checkpoint with h5py (the schema of docs/checkpoint-format.md).

Usage: check_h5py.py FILE

Verifies the root attributes (format = "llx", format_version = 1, kind), that every name of
dataset_order exists, that tensor data are chunked with the Fletcher-32 filter, that bf16 data
are uint16 tagged dtype = "bf16", and that NF4 state is complete. Prints one JSON object
describing every dataset (numpy dtype, shape, llx dtype, value bytes as hex, attributes) and
the root and group attributes, so a test can compare it with what llx wrote. Exits 1 with a
message on stderr when a check fails.
"""
import json
import sys

import h5py
import numpy as np


def fail(msg):
    print(f"check_h5py: {sys.argv[1]}: {msg}", file=sys.stderr)
    sys.exit(1)


def plain(v):
    """An attribute value as JSON."""
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


LLX = {"float32": "f32", "float16": "f16", "int32": "i32", "int64": "i64", "uint8": "u8", "float64": "f64"}


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    out = {"attributes": {}, "datasets": {}, "groups": {}}
    with h5py.File(sys.argv[1], "r") as f:
        if f.attrs.get("format") != "llx":
            fail(f"format is {f.attrs.get('format')!r}, not 'llx'")
        if int(f.attrs.get("format_version", -1)) != 1:
            fail("format_version is not 1")
        if not isinstance(f.attrs.get("kind"), str):
            fail("kind is missing")
        out["attributes"] = {k: plain(v) for k, v in f.attrs.items()}
        order = [plain(x) for x in f.attrs.get("dataset_order", [])]
        for name in order:
            if name not in f or not isinstance(f[name], h5py.Dataset):
                fail(f"dataset_order names {name!r}, which is not a dataset")

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                if len(obj.attrs):
                    out["groups"][name] = {k: plain(v) for k, v in obj.attrs.items()}
                return
            a = obj[()]
            arr = np.asarray(a)
            attrs = {k: plain(v) for k, v in obj.attrs.items()}
            llx = LLX.get(str(arr.dtype), str(arr.dtype))
            if arr.dtype == np.uint16:
                if attrs.get("dtype") != "bf16":
                    fail(f"{name}: uint16 dataset without dtype = 'bf16'")
                llx = "bf16"
            if arr.ndim > 0 and arr.size > 0 and not obj.fletcher32:
                fail(f"{name}: no Fletcher-32 checksum filter")
            if arr.ndim > 0 and arr.size > 0 and obj.chunks is None:
                fail(f"{name}: not chunked")
            if name.endswith(".codes") and attrs.get("quant_type") == "nf4":
                base = name[: -len(".codes")]
                n = int(np.prod(attrs["shape"]))
                blocks = -(-n // int(attrs["blocksize"]))
                if arr.size != (n + 1) // 2:
                    fail(f"{name}: {arr.size} codes for {n} values")
                if base + ".absmax" in f:
                    if f[base + ".absmax"].size != blocks:
                        fail(f"{base}.absmax: wrong size")
                elif f[base + ".qabsmax"].size != blocks or "offset" not in attrs:
                    fail(f"{base}: incomplete double-quantized state")
            out["datasets"][name] = {"numpy": str(arr.dtype), "llx": llx, "shape": list(arr.shape),
                                     "hex": np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes().hex(),
                                     "attributes": attrs}

        f.visititems(visit)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
