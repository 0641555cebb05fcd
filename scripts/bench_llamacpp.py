#!/usr/bin/env python3
"""bench_llamacpp.py: llx against llama.cpp on the same machine, side by side in one run.

End to end:
 1. llama.cpp from the source vendored in the llama-cpp-python sdist (`pip download --no-deps
    --no-binary llama-cpp-python llama-cpp-python`, unpacked; pass its vendor/llama.cpp as
    --llamacpp), built with `cmake -B build -DGGML_NATIVE=ON -DCMAKE_BUILD_TYPE=Release` and
    `cmake --build build -j 1 --target llama-bench` (done here when build/bin/llama-bench is missing);
 2. GGUF files of llx's `small` preset shape written with that tree's gguf-py, random weights:
    F32 (everything f32), F16 (every matrix f16, as llx's bf16 weights) and Q4_0 (the seven
    projections Q4_0, token_embd / output F16: the layout of llx's NF4 load path, NF4 projections
    with bf16 embedding and lm_head); no vocabulary (tokenizer.ggml.model "no_vocab");
 3. rounds alternating `llama-bench -t 2 -p 512 -n 0` / `-p 0 -n 32 -d 512` on the three files and
    `llx bench decode` (prefill of 512 tokens, decode of 32 after 512, with f32 / bf16 / NF4 weights);
 4. the median tokens/s of each side and the ratios llx / llama.cpp.

With --shape 8b (and --layers N to cut it), the llama3-8b shape instead: one Q4_0 file (random
Q4_0 blocks: the speed does not depend on the values) against `llx bench memory8b` (a sharded
bf16 HF directory of the same shape loaded by llama.load with quant "nf4", embeddings "bf16";
its speed run: prefill of --prompt tokens, decode of 32 after it).

Run (numpy is all it needs):  .venv/bin/python scripts/bench_llamacpp.py --llamacpp /work/llamacpp/llama_cpp_python-*/vendor/llama.cpp
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--llamacpp", required=True, help="the vendored llama.cpp source tree")
ap.add_argument("--llx", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".build/release/llx"))
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=3, help="llama-bench -r")
ap.add_argument("--cpus", default=None, help="run both sides under taskset -c CPUS (e.g. 0: one core, --threads 1): "
                "on a loaded machine one pinned thread a side compares the kernels without llama.cpp's thread barriers")
ap.add_argument("--shape", default="small", choices=["small", "8b"])
ap.add_argument("--layers", type=int, default=0, help="cut the 8b shape to this many layers (0: all 32)")
ap.add_argument("--prompt", type=int, default=512, help="prefill length (-p) and decode depth (-d)")
ap.add_argument("--write-only", action="store_true", help="write the GGUF files and stop")
ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "llx_gguf"), help="folder for the GGUF files")
args = ap.parse_args()

root = os.path.abspath(args.llamacpp)
sys.path.insert(0, os.path.join(root, "gguf-py"))
import numpy as np  # noqa: E402
import gguf  # noqa: E402

bench_bin = os.path.join(root, "build", "bin", "llama-bench")
pin = ["taskset", "-c", args.cpus] if args.cpus else []
os.environ["LLX_THREADS"] = str(args.threads)   # llx uses every core unless told
if not os.path.exists(bench_bin):
    subprocess.run(["cmake", "-B", "build", "-DGGML_NATIVE=ON", "-DCMAKE_BUILD_TYPE=Release"], cwd=root, check=True)
    subprocess.run(["nice", "-n", "5", "cmake", "--build", "build", "-j", "1", "--target", "llama-bench"], cwd=root, check=True)

# llx's "small" preset (Sources/Llama/LlamaConfig.swift), or llama3-8b
V, C, I, L, HQ, HKV = 8192, 512, 1408, 8, 8, 4
if args.shape == "8b":
    V, C, I, L, HQ, HKV = 128256, 4096, 14336, args.layers or 32, 32, 8
D = C // HQ
PROJ = {"attn_q": (HQ * D, C), "attn_k": (HKV * D, C), "attn_v": (HKV * D, C), "attn_output": (C, HQ * D),
        "ffn_gate": (I, C), "ffn_up": (I, C), "ffn_down": (C, I)}


def write_gguf(path, kind):
    """kind: F32, F16 or Q4_0 (projections Q4_0, embedding / output F16)."""
    if os.path.exists(path):
        return
    rng = np.random.default_rng(0)
    w = gguf.GGUFWriter(path + ".tmp", "llama", use_temp_file=True)
    w.add_context_length(8192); w.add_embedding_length(C); w.add_block_count(L)
    w.add_feed_forward_length(I); w.add_head_count(HQ); w.add_head_count_kv(HKV)
    w.add_rope_dimension_count(D); w.add_layer_norm_rms_eps(1e-5); w.add_rope_freq_base(500000.0)
    w.add_vocab_size(V); w.add_tokenizer_model("no_vocab")
    w.add_file_type({"F32": 0, "F16": 1, "Q4_0": 2}[kind])

    def matrix(name, shape, proj):
        if kind == "Q4_0" and proj and args.shape == "8b":
            # random Q4_0 blocks (f16 scale + 16 bytes of nibbles per 32 values): no quantization pass
            blocks = np.frombuffer(rng.bytes(shape[0] * shape[1] // 32 * 18), np.uint8).reshape(shape[0], shape[1] // 32, 18).copy()
            blocks[:, :, 0:2] = np.frombuffer(np.float16(0.0025).tobytes(), np.uint8)
            w.add_tensor(name, blocks.reshape(shape[0], -1), raw_dtype=gguf.GGMLQuantizationType.Q4_0)
            return
        if args.shape == "8b":
            a = (rng.random(size=shape, dtype=np.float32) * 0.07 - 0.035).astype(np.float16 if kind != "F32" else np.float32)
            w.add_tensor(name, a)
            return
        a = rng.normal(0, 0.02, size=shape).astype(np.float32)
        if kind == "F32":
            w.add_tensor(name, a)
        elif kind == "F16" or not proj:
            w.add_tensor(name, a.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q4_0),
                         raw_dtype=gguf.GGMLQuantizationType.Q4_0)

    matrix("token_embd.weight", (V, C), False)
    for l in range(L):
        w.add_tensor(f"blk.{l}.attn_norm.weight", np.ones(C, np.float32))
        w.add_tensor(f"blk.{l}.ffn_norm.weight", np.ones(C, np.float32))
        for n, shape in PROJ.items():
            matrix(f"blk.{l}.{n}.weight", shape, True)
    w.add_tensor("output_norm.weight", np.ones(C, np.float32))
    matrix("output.weight", (V, C), False)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    os.replace(path + ".tmp", path)


os.makedirs(args.out, exist_ok=True)
kinds = ("Q4_0",) if args.shape == "8b" else ("F32", "F16", "Q4_0")
tag = "small" if args.shape == "small" else f"8b-{L}l"
files = {k: os.path.join(args.out, f"{tag}-{k.lower()}.gguf") for k in kinds}
for k, p in files.items():
    write_gguf(p, k)
if args.write_only:
    sys.exit(0)


def llama_bench():
    out = {}
    P = str(args.prompt)
    for flags, key in ((["-p", P, "-n", "0"], "prefill"), (["-p", "0", "-n", "32", "-d", P], "decode")):
        # --repack 0: the repacked Q4_0 kernels of a GGML_NATIVE build use AMX, which this VM
        # rejects (SIGILL); the plain Q4_0 kernels run.
        cmd = pin + [bench_bin, "-t", str(args.threads), "-r", str(args.reps), "--repack", "0", "-o", "json"] + flags
        for p in files.values():
            cmd += ["-m", p]
        res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        for r in res:
            kind = next(k for k, p in files.items() if os.path.basename(p) == os.path.basename(r["model_filename"]))
            out[(kind, key)] = r["avg_ts"]
    return out


def llx_bench():
    # llx uses every core (2 here): compare with --threads equal to the core count
    if args.shape == "8b":
        env = dict(os.environ, LLX_8B_LAYERS=str(L), LLX_8B_TOKENS="", LLX_8B_DECODE="32", LLX_8B_PREFILL=str(args.prompt),
                   LLX_8B_REPS=str(args.reps))
        text = subprocess.run(pin + [args.llx, "bench", "memory8b"], check=True, capture_output=True, text=True, env=env).stdout
        for line in text.splitlines():
            if "llama.load" in line or "planner" in line or "speed" in line:
                print("  llx: " + line.strip(), flush=True)
        m = re.search(r"prefill T=\d+ ([\d.]+) tokens/s, decode after \d+ ([\d.]+) tokens/s", text)
        if not m:
            sys.exit("llx bench memory8b printed no speed:\n" + text)
        return {("nf4", "prefill"): float(m.group(1)), ("nf4", "decode"): float(m.group(2))}
    text = subprocess.run(pin + [args.llx, "bench", "decode"], check=True, capture_output=True, text=True).stdout
    out = {}
    for m in re.finditer(r"weights (\w+): prefill T=512 ([\d.]+) tokens/s, decode after 512 ([\d.]+) tokens/s", text):
        out[(m.group(1), "prefill")] = float(m.group(2))
        out[(m.group(1), "decode")] = float(m.group(3))
    if not out:
        sys.exit("llx bench decode printed no results:\n" + text)
    return out


rounds = []
for i in range(args.rounds):
    lc, lx = llama_bench(), llx_bench()
    rounds.append((lc, lx))
    print(f"round {i + 1}: llama.cpp " + ", ".join(f"{k[0]} {k[1]} {v:.3g}" for k, v in sorted(lc.items()))
          + " | llx " + ", ".join(f"{k[0]} {k[1]} {v:.3g}" for k, v in sorted(lx.items())), flush=True)


def med(side, key):
    return statistics.median(r[side][key] for r in rounds)


print(f"\nmedian of {args.rounds} rounds, {args.threads} threads, tokens/s (llx / llama.cpp):")
print("| llx weights | llama.cpp | prefill 512: llx | llama.cpp | ratio | decode after 512: llx | llama.cpp | ratio |")
print("|---|---|---|---|---|---|---|---|")
print(f"shape {tag}, prompt {args.prompt}")
for lxk, lck in ((("f32", "F32"), ("bf16", "F16"), ("nf4", "Q4_0")) if args.shape == "small" else (("nf4", "Q4_0"),)):
    p1, p2 = med(1, (lxk, "prefill")), med(0, (lck, "prefill"))
    d1, d2 = med(1, (lxk, "decode")), med(0, (lck, "decode"))
    # two decimals below 10 tokens/s (the 8B shape's llama.cpp figures round to 0.4 otherwise)
    f = lambda v: f"{v:.2f}" if v < 10 else (f"{v:.1f}" if v < 1000 else f"{v:.0f}")
    print(f"| {lxk} | {lck} | {f(p1)} | {f(p2)} | {p1 / p2:.2f}x | {f(d1)} | {f(d2)} | {d1 / d2:.2f}x |")
