# Writes the Quant fixtures (Tests/Fixtures/quant/*.json) from the reference stack:
# torch for dense linear forward/backward, bitsandbytes (CPU, float32) for NF4 quantization
# with and without double quantization, and peft for LoRA layers over dense and NF4 bases.
# Run: ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/gen_quant_fixtures.py
import json, os
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "quant")
os.makedirs(OUT, exist_ok=True)


def fl(t):
    return [float(v) for v in t.detach().float().reshape(-1).tolist()]


def save(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"))


def dense_linear():
    g = torch.Generator().manual_seed(1)
    cases = []
    for (T, i, o) in [(5, 7, 6), (3, 64, 33)]:
        x = torch.randn(T, i, generator=g, requires_grad=True)
        w = torch.randn(o, i, generator=g, requires_grad=True)
        dy = torch.randn(T, o, generator=g)
        y = x @ w.t()
        y.backward(dy)
        cases.append(dict(rows=T, inFeatures=i, outFeatures=o, x=fl(x), weight=fl(w), dy=fl(dy),
                          y=fl(y), dx=fl(x.grad), dweight=fl(w.grad)))
    save("dense_linear.json", dict(cases=cases))


if __name__ == "__main__":
    dense_linear()
