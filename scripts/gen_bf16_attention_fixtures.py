# Generates Tests/Fixtures/tensor/bf16_attention.json: causal grouped-query attention of a packed
# batch (two sequences) and its gradients with a bf16 compute dtype, against which llx's
# attentionForwardBF16 / attentionBackwardBF16 (the bf16 training path on AMX) are checked.
# Two references:
#   torch_*: torch's own bf16 attention, F.scaled_dot_product_attention on q, k, v converted
#            to bfloat16 (what autocast bf16 runs), backward through the conversions to f32;
#   def_*:   the definition llx implements, in float64: q, k, v, dO, the probabilities P and
#            dS rounded to bf16 (round to nearest even) where they enter a matrix product,
#            everything else (softmax, its gradient, the sums) exact.
# Run: ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/gen_bf16_attention_fixtures.py
import json, math, os
import torch
import torch.nn.functional as F

torch.manual_seed(2027)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "tensor")
os.makedirs(OUT, exist_ok=True)

Hq, Hkv, D = 4, 2, 32
lengths = [66, 9]           # llx's blocks of 64 query rows: a second, partial block; a short sequence
T = sum(lengths)
group = Hq // Hkv
scale = 1 / math.sqrt(D)
q = torch.randn(T, Hq * D)
k = torch.randn(T, Hkv * D)
v = torch.randn(T, Hkv * D)
dout = torch.randn(T, Hq * D)


def f32(t, digits=9):   # inputs exact; results to 7 digits (the fixture stays small)
    return [float("%.*g" % (digits, x)) for x in t.detach().to(torch.float32).reshape(-1).tolist()]


def bf(t):
    return t.to(torch.bfloat16).to(torch.float64)


def heads(x, h, n):   # [n, h*D] -> [h, n, D]
    return x.reshape(n, h, D).transpose(0, 1)


def torch_bf16():
    qs, ks, vs = (t.clone().requires_grad_(True) for t in (q, k, v))
    outs = []
    s0 = 0
    for n in lengths:
        qh = heads(qs[s0:s0 + n], Hq, n).to(torch.bfloat16)
        kh = heads(ks[s0:s0 + n], Hkv, n).to(torch.bfloat16).repeat_interleave(group, dim=0)
        vh = heads(vs[s0:s0 + n], Hkv, n).to(torch.bfloat16).repeat_interleave(group, dim=0)
        o = F.scaled_dot_product_attention(qh, kh, vh, is_causal=True)
        outs.append(o.to(torch.float32).transpose(0, 1).reshape(n, Hq * D))
        s0 += n
    out = torch.cat(outs)
    out.backward(dout)
    return out, qs.grad, ks.grad, vs.grad


def definition():
    out = torch.zeros(T, Hq * D, dtype=torch.float64)
    dq = torch.zeros_like(out)
    dk = torch.zeros(T, Hkv * D, dtype=torch.float64)
    dv = torch.zeros_like(dk)
    s0 = 0
    for n in lengths:
        mask = torch.ones(n, n, dtype=torch.bool).tril()
        for h in range(Hq):
            kvh = h // group
            cq = slice(h * D, (h + 1) * D)
            ck = slice(kvh * D, (kvh + 1) * D)
            rows = slice(s0, s0 + n)
            Q, K, V, dO = bf(q[rows, cq]), bf(k[rows, ck]), bf(v[rows, ck]), bf(dout[rows, cq])
            S = (Q @ K.t()) * scale
            S = S.masked_fill(~mask, float("-inf"))
            P = torch.softmax(S, dim=-1)
            O = bf(P) @ V
            out[rows, cq] = O
            delta = (dout[rows, cq].double() * O).sum(-1, keepdim=True)
            dP = dO @ V.t()
            dS = P * (dP - delta) * scale
            dq[rows, cq] = bf(dS) @ K
            dk[rows, ck] += bf(dS).t() @ Q
            dv[rows, ck] += bf(P).t() @ dO
        s0 += n
    return out, dq, dk, dv


t_out, t_dq, t_dk, t_dv = torch_bf16()
d_out, d_dq, d_dk, d_dv = definition()
case = dict(lengths=lengths, hq=Hq, hkv=Hkv, d=D, scale=scale, q=f32(q), k=f32(k), v=f32(v), dout=f32(dout),
            torch_out=f32(t_out, 7), torch_dq=f32(t_dq, 7), torch_dk=f32(t_dk, 7), torch_dv=f32(t_dv, 7),
            def_out=f32(d_out, 7), def_dq=f32(d_dq, 7), def_dk=f32(d_dk, 7), def_dv=f32(d_dv, 7))
for name, a, b in [("out", t_out, d_out), ("dq", t_dq, d_dq), ("dk", t_dk, d_dk), ("dv", t_dv, d_dv)]:
    print(name, "torch bf16 vs definition: max abs diff %.3g, max |value| %.3g" %
          ((a.double() - b).abs().max().item(), b.abs().max().item()))
with open(os.path.join(OUT, "bf16_attention.json"), "w") as f:
    json.dump(dict(torch=torch.__version__, case=case), f)
print("wrote", os.path.join(OUT, "bf16_attention.json"))
