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


def nf4_cases():
    import bitsandbytes.functional as F
    from bitsandbytes.backends.default.ops import _dequantize_4bit_compute
    g = torch.Generator().manual_seed(2)
    specs = [((33, 64), 64, 1.0), ((7, 13), 64, 1.0), ((5,), 64, 1.0), ((90, 100), 32, 0.02),
             ((3, 50), 64, 1.0), ((16, 256), 128, 3.0), ((4, 96), 64, 1e-4), ((2, 33), 32, 1.0),
             ((1, 300), 256, 1.0), ((1, 1100), 1024, 0.5), ((4100,), 4096, 2.0)]   # larger blocks, partial last ones
    cases = []
    for shape, bs, scale in specs:
        x = torch.randn(*shape, generator=g) * scale
        if shape == (3, 50):  # a full zero block and a zero partial last block
            x.view(-1)[0:64] = 0
            x.view(-1)[128:150] = 0
        if shape == (2, 33):  # a block of exact code values and midpoints, scaled
            c = F.get_4bit_type("nf4", device="cpu")
            mids = (c[:-1] + c[1:]) / 2
            v = torch.cat([c, mids, -mids[:1]])[:32] * 2.5
            x.view(-1)[0:32] = v
        for dq in (False, True):
            packed, st = F.quantize_4bit(x, blocksize=bs, compress_statistics=dq, quant_type="nf4")
            deq = F.dequantize_4bit(packed, st)
            # bitsandbytes' generic (flattened-block) dequantization, as on CUDA. Its AVX-512 CPU
            # kernel indexes absmax per row (row * (cols // blocksize) + col // blocksize), which
            # differs when cols is not a multiple of blocksize; llx follows the flattened layout.
            absmax = F.dequantize_blockwise(st.absmax, st.state2) + st.offset if dq else st.absmax
            flat = _dequantize_4bit_compute(packed.reshape(-1), absmax.float(), F.get_4bit_type("nf4", device="cpu"),
                                            bs, list(shape), torch.float32)
            agrees = bool(torch.equal(flat.reshape(-1), deq.reshape(-1)))
            assert agrees or shape[-1] % bs != 0, shape
            case = dict(shape=list(shape), blocksize=bs, doubleQuant=dq, x=fl(x),
                        codes=[int(v) for v in packed.reshape(-1).tolist()], dequant=fl(flat),
                        bnbCPUDequantAgrees=agrees)
            if dq:
                case.update(qabsmax=[int(v) for v in st.absmax.tolist()], absmax2=fl(st.state2.absmax),
                            offset=float(st.offset), code2=fl(st.state2.code), blocksize2=st.state2.blocksize)
            else:
                case.update(absmax=fl(st.absmax))
            cases.append(case)
    save("nf4.json", dict(bitsandbytes=__import__("bitsandbytes").__version__, nf4=fl(F.get_4bit_type("nf4", device="cpu")),
                          cases=cases))


def torch_sums():
    # Deterministic float32 vectors x[i] = ((i * 7919) % 10007) / 10007 * 0.5 + 0.01 (float32 ops),
    # summed by torch; the offset of NF4 double quantization is such a mean.
    import numpy as np
    out = []
    for n in [1, 5, 17, 100, 1000, 4099, 32768, 40000, 70001]:
        i = np.arange(n, dtype=np.int64)
        x = ((i * 7919) % 10007).astype(np.float32) / np.float32(10007) * np.float32(0.5) + np.float32(0.01)
        t = torch.from_numpy(x.astype(np.float32))
        out.append(dict(n=n, sum=float(t.sum()), mean=float(t.mean())))
    save("torch_sum.json", dict(threads=torch.get_num_threads(), cases=out))


def lora_cases():
    # PEFT LoRA on a one-layer model (module "model.layers.0.self_attn.q_proj", like Llama), with
    # B set to random non-zero values; forward output and gradients of x, A, B for loss = sum(y * dy).
    # NF4 bases: the weight is quantized with bitsandbytes, dequantized, and the same math runs in torch.
    import tempfile
    import bitsandbytes.functional as F
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    class Attn(torch.nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.q_proj = torch.nn.Linear(i, o, bias=False)

    class Layer(torch.nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.self_attn = Attn(i, o)

    class Inner(torch.nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.layers = torch.nn.ModuleList([Layer(i, o)])

    class Tiny(torch.nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.model = Inner(i, o)

        def forward(self, x):
            return self.model.layers[0].self_attn.q_proj(x)

        def prepare_inputs_for_generation(self, *args, **kwargs):  # PEFT's CAUSAL_LM wrapper asks for it
            return kwargs

    g = torch.Generator().manual_seed(3)
    cases = []
    config_json = None
    keys = None
    for (T, i, o, r, alpha, rs, base) in [(5, 24, 20, 4, 8, False, "dense"), (3, 64, 48, 8, 16, True, "dense"),
                                          (4, 64, 48, 4, 8, False, "nf4"), (6, 128, 40, 2, 4, True, "nf4dq")]:
        m = Tiny(i, o)
        w = torch.randn(o, i, generator=g) * 0.1
        base_w = w
        case = dict(rows=T, inFeatures=i, outFeatures=o, r=r, alpha=alpha, useRSLoRA=rs, base=base, weight=fl(w))
        if base != "dense":
            packed, st = F.quantize_4bit(w, blocksize=64, compress_statistics=(base == "nf4dq"), quant_type="nf4")
            base_w = F.dequantize_4bit(packed, st)
            case["dequantWeight"] = fl(base_w)
        with torch.no_grad():
            m.model.layers[0].self_attn.q_proj.weight.copy_(base_w)
        cfg = LoraConfig(r=r, lora_alpha=alpha, target_modules=["q_proj"], lora_dropout=0.0, use_rslora=rs,
                         bias="none", task_type="CAUSAL_LM")
        pm = get_peft_model(m, cfg)
        lin = pm.base_model.model.model.layers[0].self_attn.q_proj
        with torch.no_grad():
            lin.lora_B["default"].weight.copy_(torch.randn(o, r, generator=g) * 0.5)
            lin.lora_A["default"].weight.copy_(torch.randn(r, i, generator=g) * 0.3)
        x = torch.randn(T, i, generator=g, requires_grad=True)
        dy = torch.randn(T, o, generator=g)
        y = pm.base_model.model(x)  # the wrapped Tiny with LoRA injected
        (y * dy).sum().backward()
        A, B = lin.lora_A["default"].weight, lin.lora_B["default"].weight
        merged = base_w + (B @ A) * lin.scaling["default"]
        case.update(scaling=float(lin.scaling["default"]), A=fl(A), B=fl(B), x=fl(x), dy=fl(dy), y=fl(y),
                    dx=fl(x.grad), dA=fl(A.grad), dB=fl(B.grad), merged=fl(merged))
        cases.append(case)
        if config_json is None:
            keys = sorted(get_peft_model_state_dict(pm).keys())
            with tempfile.TemporaryDirectory() as d:
                pm.save_pretrained(d)
                with open(os.path.join(d, "adapter_config.json")) as f:
                    config_json = json.load(f)
                from safetensors.torch import load_file
                file_keys = sorted(load_file(os.path.join(d, "adapter_model.safetensors")).keys())
            assert keys == file_keys, (keys, file_keys)
    save("lora.json", dict(cases=cases, adapterConfig=config_json, stateDictKeys=keys))


if __name__ == "__main__":
    dense_linear()
    nf4_cases()
    torch_sums()
    lora_cases()
