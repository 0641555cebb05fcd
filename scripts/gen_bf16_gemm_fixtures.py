# Generates Tests/Fixtures/tensor/bf16_gemm.json: matrix products with a bf16 compute dtype, as
# torch defines them (operands converted with Tensor.to(torch.bfloat16), round to nearest even;
# products of bf16 values are exact in f32), against which llx's AMX kernel (BLAS.bf16Compute)
# is checked. The reference sums in float64; llx sums in f32, so the test allows the f32
# rounding of a K-term sum and nothing more: the difference between rounded and unrounded
# operands is hundreds of times larger.
# Run: ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/gen_bf16_gemm_fixtures.py
import json, os
import torch

torch.manual_seed(4242)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "tensor")
os.makedirs(OUT, exist_ok=True)


def f32(t):
    return [float("%.9g" % v) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def bf(t):
    return t.to(torch.bfloat16).to(torch.float64)


cases = []
# (M, N, K, transA, transB, alpha, beta): edges in every dimension (tiles are 16 x 16 x 32)
for (M, N, K, ta, tb, alpha, beta) in [(5, 7, 40, False, False, 1.0, 0.0),
                                         (33, 17, 40, True, False, 1.0, 0.0),
                                         (16, 48, 32, False, True, 1.0, 0.0),
                                         (20, 33, 64, True, True, 1.0, 0.0),
                                         (1, 1, 33, False, False, 1.0, 0.0),
                                         (34, 33, 64, False, False, 0.5, 2.0),
                                         (20, 18, 130, True, False, 1.0, 1.0)]:
    a = torch.randn(K, M) if ta else torch.randn(M, K)      # stored as BLAS reads it
    b = torch.randn(N, K) if tb else torch.randn(K, N)
    c0 = torch.randn(M, N)
    opa = a.t() if ta else a
    opb = b.t() if tb else b
    out = alpha * (bf(opa) @ bf(opb)) + beta * c0.double()
    bound = (bf(opa).abs() @ bf(opb).abs()) * abs(alpha) + abs(beta) * c0.double().abs()
    cases.append(dict(m=M, n=N, k=K, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta,
                      a=f32(a), b=f32(b), c=f32(c0), out=f32(out), bound=f32(bound)))

# rounding: op(A) times the identity gives op(A) rounded to bf16: ties to even, carries into
# the exponent, subnormals, the largest finite values
vals = [1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 1 + 2 ** -8 + 2 ** -20, 2 - 2 ** -9, 3.0e38,
        -3.3e38, 1e-40, -2.5e-39, 0.1, -0.3, 65504.0, 1 / 3, 2 ** -126, 1.00390625, 1.01171875]
K = 32
a = torch.zeros(2, K)
a[0, :len(vals)] = torch.tensor(vals, dtype=torch.float32)
a[1, :] = torch.randn(K)
eye = torch.eye(K)
cases.append(dict(m=2, n=K, k=K, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, a=f32(a), b=f32(eye),
                  c=f32(torch.zeros(2, K)), out=f32(a.to(torch.bfloat16).to(torch.float32)),
                  bound=f32(torch.zeros(2, K))))

with open(os.path.join(OUT, "bf16_gemm.json"), "w") as f:
    json.dump(dict(torch=torch.__version__, cases=cases), f)
print("wrote", os.path.join(OUT, "bf16_gemm.json"), len(cases), "cases")
