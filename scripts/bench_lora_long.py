#!/usr/bin/env python3
"""bench_lora_long.py: LoRA training on the small preset at a long sequence (16K tokens by
default), checkpointing on, llx against PyTorch + PEFT on the same machine in the same run.

Both sides: llx's `small` shape (vocab 8192, hidden 512, intermediate 1408, 8 layers, 8 heads, 4
KV heads), f32, LoRA r=32 alpha 16 on q,k,v,o with embed_tokens trainable, one sequence of
--seq random tokens per step (batch 1), AdamW, gradient checkpointing. Each side runs in its own
process under /usr/bin/time -v (peak RSS of the whole process, the interpreter included) for
--steps timed steps after one warm-up step; sides alternate for --rounds rounds.

Run: .venv-ref/bin/python scripts/bench_lora_long.py [--seq 16384] [--steps 2] [--rounds 1]
"""
import argparse, os, re, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("--seq", type=int, default=16384)
ap.add_argument("--steps", type=int, default=2)
ap.add_argument("--rounds", type=int, default=1)
ap.add_argument("--no-checkpointing", action="store_true")
ap.add_argument("--llx-first", action="store_true", help="run the llx side of each round first")
ap.add_argument("--torch-timeout", type=float, default=None, help="stop the torch side after this many seconds (reported, not fatal)")
ap.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
ap.add_argument("--llx", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".build/release/llx"))
args = ap.parse_args()
ckpt = not args.no_checkpointing

if args.torch_only:
    import time
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=8192, hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
                      num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=args.seq,
                      rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False)
    cfg._attn_implementation = "sdpa"
    model = LlamaForCausalLM(cfg).float()
    model = get_peft_model(model, LoraConfig(r=32, lora_alpha=16, lora_dropout=0.0,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                             task_type="CAUSAL_LM"))
    model.base_model.model.model.embed_tokens.weight.requires_grad_(True)
    if ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    g = torch.Generator().manual_seed(1)
    rates = []
    for s in range(args.steps + 1):
        ids = torch.randint(0, 8192, (1, args.seq), generator=g)
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step(); opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        if s > 0:
            rates.append(args.seq / dt)
    print(f"torch tokens/s {sum(rates) / len(rates):.1f} (steps {len(rates)}, loss {loss.item():.4f}, torch {torch.__version__}, threads {torch.get_num_threads()})")
    sys.exit(0)


def timed(cmd, timeout=None):
    try:
        out = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    text = out.stdout + out.stderr
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{text[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) * 1024
    rate = float(re.search(r"tokens/s ([\d.]+)", text).group(1))
    plan = "\n  ".join(m.group(0) for m in re.finditer(r"(plan: |planner train |llx train ).*", text))
    return rate, rss, plan or None


rows = []
for r in range(args.rounds):
    def torch_side():
        return timed([sys.executable, os.path.abspath(__file__), "--torch-only", "--seq", str(args.seq), "--steps", str(args.steps)]
                     + ([] if ckpt else ["--no-checkpointing"]), timeout=args.torch_timeout)

    def llx_side():
        x = timed([args.llx, "run", os.path.join(os.path.dirname(os.path.abspath(__file__)), "lora_long.llx"),
                   "-p", f"n={args.seq}", "-p", f"steps={args.steps}", "-p", f"checkpointing={'true' if ckpt else 'false'}"])
        print(f"round {r + 1}: llx {x[0]:.1f} tokens/s, peak RSS {x[1] / 1e6:.0f} MB", flush=True)
        if x[2]:
            print("  llx " + x[2], flush=True)
        return x
    if args.llx_first:
        x = llx_side(); t = torch_side()
    else:
        t = torch_side(); x = llx_side()
    rows.append((t, x))
    if t is None:
        print(f"round {r + 1}: torch stopped after {args.torch_timeout:.0f} s without finishing its {args.steps + 1} steps", flush=True)
        continue
    print(f"round {r + 1}: torch {t[0]:.1f} tokens/s, peak RSS {t[1] / 1e6:.0f} MB | llx {x[0]:.1f} tokens/s, peak RSS {x[1] / 1e6:.0f} MB"
          f" (llx / torch speed {x[0] / t[0]:.2f}x, memory {x[1] / t[1]:.2f}x)", flush=True)
