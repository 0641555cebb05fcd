# PyTorch on the shapes of `llx bench`: sgemm GFLOP/s (torch.mm) at n = 512, 1024, 2048 and causal
# GQA attention forward + backward at T = 16384, D = 64, 8 query / 2 key-value heads
# (F.scaled_dot_product_attention, is_causal, K/V repeated per query head), tokens/s and peak RSS.
# Run: CUDA_VISIBLE_DEVICES="" /work/venv/bin/python scripts/bench_tensor.py [T]
import resource, sys, time
import torch
import torch.nn.functional as F

torch.manual_seed(0)
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


T = int(sys.argv[1]) if len(sys.argv) > 1 else 16384
D, Hq, Hkv = 64, 8, 2
base = peak_rss_mb()
q = torch.randn(1, Hq, T, D, requires_grad=True)
k = torch.randn(1, Hkv, T, D, requires_grad=True)
v = torch.randn(1, Hkv, T, D, requires_grad=True)
dout = torch.randn(1, Hq, T, D)
c0 = cpu_s(); t0 = time.perf_counter()
rep = Hq // Hkv
out = F.scaled_dot_product_attention(q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), is_causal=True)
c1 = cpu_s(); t1 = time.perf_counter()
out.backward(dout)
c2 = cpu_s(); t2 = time.perf_counter()
print(f"attention fwd+bwd T={T} D={D} heads {Hq}/{Hkv}: fwd {t1 - t0:.2f} s, bwd {t2 - t1:.2f} s, "
      f"{T / (t2 - t0):.0f} tokens/s (CPU time fwd {c1 - c0:.2f} s, bwd {c2 - c1:.2f} s), peak RSS increase {peak_rss_mb() - base:.1f} MB")
del q, k, v, out, dout

for n in (512, 1024, 2048):
    a = torch.randn(n, n); b = torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(5 if n < 2048 else 2):
        t = time.perf_counter(); torch.mm(a, b); best = min(best, time.perf_counter() - t)
    print(f"sgemm n={n}: {2 * n ** 3 / best / 1e9:.1f} GFLOP/s")
