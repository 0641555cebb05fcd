# Generates the Tensor module's torch goldens: Tests/Fixtures/tensor/kernels.json.
# Run: ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/gen_tensor_fixtures.py
# Inputs are f32 values; references are computed with torch in float64 from those exact
# f32 inputs (RoPE angles in f32 as transformers' LlamaRotaryEmbedding forms them).
import json, os, math
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "tensor")
os.makedirs(OUT, exist_ok=True)


def f32(t):
    # 9 significant digits round-trip an f32 exactly and keep the file small
    return [float("%.9g" % v) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def rnd(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).to(torch.float32)


cases = {}

# RMSNorm (LlamaRMSNorm): x * rsqrt(mean(x^2) + eps) * weight
rows, dim, eps = 5, 37, 1e-5
x = rnd(rows, dim); w = rnd(dim) * 0.5 + 1; dout = rnd(rows, dim)
xd = x.double().requires_grad_(); wd = w.double().requires_grad_()
var = xd.pow(2).mean(-1, keepdim=True)
y = wd * (xd * torch.rsqrt(var + eps))
y.backward(dout.double())
cases["rmsnorm"] = dict(rows=rows, dim=dim, eps=eps, x=f32(x), weight=f32(w), dout=f32(dout),
                        out=f32(y), dx=f32(xd.grad), dweight=f32(wd.grad),
                        rstd=f32(torch.rsqrt(var + eps)))

# RoPE, rotate-half convention, arbitrary positions, arbitrary inverse frequencies.
def rotate_half(t):
    h = t.shape[-1] // 2
    return torch.cat((-t[..., h:], t[..., :h]), dim=-1)

T, heads, hd = 7, 3, 16
positions = [0, 3, 5, 100, 1000, 7, 2]
inv_freq = (1.0 / (500000.0 ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))).float()
inv_freq[1] *= 0.25  # any inverse-frequency vector (e.g. after llama3 scaling)
scaling = 1.25
pos = torch.tensor(positions, dtype=torch.float32)
freqs = (inv_freq[None, :, None].float() @ pos[None, None, :]).transpose(1, 2)[0]  # [T, hd/2], f32 as HF
emb = torch.cat((freqs, freqs), dim=-1)
cos = (emb.cos() * scaling).float(); sin = (emb.sin() * scaling).float()
x = rnd(T, heads, hd); dout = rnd(T, heads, hd)
xd = x.double().requires_grad_()
y = xd * cos.double()[:, None, :] + rotate_half(xd) * sin.double()[:, None, :]
y.backward(dout.double())
cases["rope"] = dict(T=T, heads=heads, headDim=hd, positions=positions, invFreq=f32(inv_freq),
                     attentionScaling=scaling, cos=f32(cos), sin=f32(sin), x=f32(x), dout=f32(dout),
                     out=f32(y), dx=f32(xd.grad))

# SwiGLU
n = 50
g = rnd(n, scale=3); u = rnd(n); dout = rnd(n)
gd = g.double().requires_grad_(); ud = u.double().requires_grad_()
y = F.silu(gd) * ud
y.backward(dout.double())
cases["swiglu"] = dict(n=n, gate=f32(g), up=f32(u), dout=f32(dout), out=f32(y), dgate=f32(gd.grad), dup=f32(ud.grad))

# Cross-entropy rows with ignore_index -100; dlogits of scale * sum(losses)
n, V, scale = 6, 37, 0.25
z = rnd(n, V, scale=4); z[2, 5] = 60.0  # a large logit: the row must stay finite
tg = [3, -100, 5, 36, 0, -100]
zd = z.double().requires_grad_()
losses = F.cross_entropy(zd, torch.tensor(tg), ignore_index=-100, reduction="none")
(losses.sum() * scale).backward()
cases["cross_entropy"] = dict(n=n, vocab=V, scale=scale, logits=f32(z), targets=tg, losses=f32(losses),
                              dlogits=f32(zd.grad), mean=float(F.cross_entropy(zd.detach(), torch.tensor(tg), ignore_index=-100)))

# Embedding
vocab, dim = 11, 5
table = rnd(vocab, dim); ids = [3, 0, 3, 10, 7, 3]; dout = rnd(len(ids), dim)
td = table.double().requires_grad_()
y = F.embedding(torch.tensor(ids), td)
y.backward(dout.double())
cases["embedding"] = dict(vocab=vocab, dim=dim, table=f32(table), ids=ids, dout=f32(dout), out=f32(y), dtable=f32(td.grad))

# Causal GQA attention; query i at position Tk - Tq + i.
def attention_case(Tq, Tk, Hq, Hkv, D):
    q = rnd(Tq, Hq, D); k = rnd(Tk, Hkv, D); v = rnd(Tk, Hkv, D); dout = rnd(Tq, Hq, D)
    qd, kd, vd = (t.double().requires_grad_() for t in (q, k, v))
    scale = 1 / math.sqrt(D)
    off = Tk - Tq
    mask = torch.arange(Tk)[None, :] <= (torch.arange(Tq)[:, None] + off)  # [Tq, Tk]
    Q = qd.permute(1, 0, 2); K = kd.permute(1, 0, 2); Vv = vd.permute(1, 0, 2)
    o = F.scaled_dot_product_attention(Q[None], K[None], Vv[None], attn_mask=mask[None, None],
                                       scale=scale, enable_gqa=True)[0]
    o = o.permute(1, 0, 2)
    o.backward(dout.double())
    rep = Hq // Hkv
    s = (Q @ K.repeat_interleave(rep, 0).transpose(1, 2)) * scale
    s = s.masked_fill(~mask[None], float("-inf"))
    lse = torch.logsumexp(s, -1)  # [Hq, Tq]
    return dict(Tq=Tq, Tk=Tk, Hq=Hq, Hkv=Hkv, D=D, scale=scale, q=f32(q), k=f32(k), v=f32(v), dout=f32(dout),
                out=f32(o), lse=f32(lse), dq=f32(qd.grad), dk=f32(kd.grad), dv=f32(vd.grad))

cases["attention"] = attention_case(70, 70, 4, 2, 16)
cases["attention_cache"] = attention_case(5, 77, 4, 1, 16)
cases["attention_mha"] = attention_case(130, 130, 2, 2, 24)

with open(os.path.join(OUT, "kernels.json"), "w") as f:
    json.dump(cases, f)
print("wrote", os.path.join(OUT, "kernels.json"), os.path.getsize(os.path.join(OUT, "kernels.json")), "bytes")

# ---- Tensor-level goldens: Tests/Fixtures/tensor/ops.json ----
import numpy as np

ops = {}
x = rnd(3, 5, 7); dout = rnd(3, 5, 7)
for name, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
    for axis in (1, -1):
        xd = x.double().requires_grad_()
        y = fn(xd, dim=axis)
        y.backward(dout.double())
        ops[f"{name}_{axis}"] = dict(x=f32(x), shape=list(x.shape), axis=axis, dout=f32(dout), out=f32(y), dx=f32(xd.grad))

# cross-entropy over [B, T, V] logits, mean over non-ignored targets (HF loss)
z = rnd(2, 4, 9, scale=3); tg = torch.tensor([[1, 8, -100, 0], [4, 4, 2, -100]])
zd = z.double().requires_grad_()
loss = F.cross_entropy(zd.reshape(-1, 9), tg.reshape(-1), ignore_index=-100)
loss.backward()
zs = z.double().requires_grad_()
loss_sum = F.cross_entropy(zs.reshape(-1, 9), tg.reshape(-1), ignore_index=-100, reduction="sum")
loss_sum.backward()
ops["cross_entropy"] = dict(logits=f32(z), shape=list(z.shape), targets=tg.reshape(-1).tolist(), loss=float(loss.detach()),
                            dlogits=f32(zd.grad), loss_sum=float(loss_sum.detach()), dlogits_sum=f32(zs.grad))

# views and broadcasting, checked against numpy
a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
ops["slice_1"] = dict(out=a[::-1, 1:-1, ::2].reshape(-1).tolist(), shape=list(a[::-1, 1:-1, ::2].shape))
ops["slice_2"] = dict(out=a[-1, :, -2].reshape(-1).tolist(), shape=list(a[-1, :, -2].shape))
ops["slice_3"] = dict(out=a[:, None, 3:0:-2, ...].reshape(-1).tolist(), shape=list(a[:, None, 3:0:-2, ...].shape))
ops["slice_4"] = dict(out=a[..., -7:100:3].reshape(-1).tolist(), shape=list(a[..., -7:100:3].shape))
b = np.arange(5, dtype=np.float32) * 0.5
c = (np.arange(4, dtype=np.float32) - 1).reshape(4, 1)
ops["broadcast"] = dict(out=(a * b + c - a.transpose(0, 1, 2) / (c + 3)).reshape(-1).tolist())
ops["permute_sum"] = dict(out=a.transpose(2, 0, 1).sum(axis=1).reshape(-1).tolist(), shape=list(a.transpose(2, 0, 1).sum(axis=1).shape))

# PyTorch's printing
torch.set_printoptions(precision=4)
prints = {}
prints["fixed"] = ([[1.5, -2.25, 3.0], [4.125, 5.0, -6.0]], str(torch.tensor([[1.5, -2.25, 3.0], [4.125, 5.0, -6.0]])))
prints["whole"] = ([1.0, 2.0, -30.0], str(torch.tensor([1.0, 2.0, -30.0])))
prints["sci"] = ([1e-5, 2.0, 3e5], str(torch.tensor([1e-5, 2.0, 3e5])))
prints["scalar"] = (3.25, str(torch.tensor(3.25)))
prints["rank3"] = ([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.5]]], str(torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.5]]])))
ops["prints"] = {k: dict(values=np.array(v[0], dtype=np.float32).reshape(-1).tolist(), shape=list(np.array(v[0]).shape), text=v[1]) for k, v in prints.items()}
big = torch.arange(2000, dtype=torch.float32).reshape(40, 50) / 4
ops["prints"]["big"] = dict(values=f32(big), shape=[40, 50], text=str(big))

with open(os.path.join(OUT, "ops.json"), "w") as f:
    json.dump(ops, f)
print("wrote ops.json", os.path.getsize(os.path.join(OUT, "ops.json")), "bytes")

# ---- f16 / bf16 round-to-nearest-even conversion: Tests/Fixtures/tensor/halfs.json ----
special = [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, 1e6, -1e6, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-10,
           1.0009765625, 1.00048828125, 1.000732421875, 1.00146484375, 3.4e38, -3.4e38, 1.17e-38, 9.2e-41,
           float("inf"), float("-inf")]
ties_bf16 = [float(np.frombuffer(np.uint32(x).tobytes(), dtype=np.float32)[0]) for x in (0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0x7F7F8000)]
vals = torch.tensor(special + ties_bf16, dtype=torch.float32)
rand_vals = torch.cat([torch.randn(200) * 10 ** torch.randint(-9, 6, (200,)).float(), torch.randn(50) * 1e-6])
vals = torch.cat([vals, rand_vals.float()])
halfs = dict(
    bits32=[int(x) for x in vals.view(torch.int32).tolist()],
    f16=[int(x) & 0xFFFF for x in vals.half().view(torch.int16).tolist()],
    bf16=[int(x) & 0xFFFF for x in vals.bfloat16().view(torch.int16).tolist()],
)
with open(os.path.join(OUT, "halfs.json"), "w") as f:
    json.dump(halfs, f)
print("wrote halfs.json")
