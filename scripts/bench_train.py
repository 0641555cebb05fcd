"""LoRA training throughput: PyTorch + PEFT on CPU against llx, same shapes, same run.

The `small` preset of llx (vocab 8192, hidden 512, intermediate 1408, 8 layers, 8 heads, 4 kv
heads), f32, LoRA r=32 alpha=16 (no dropout) on q,k,v,o, embed_tokens trainable; sequences of
512 tokens, batch 4 (one [4, 512] batch per step in torch; four micro-batches of 1 in llx),
AdamW; with and without gradient checkpointing. llx runs the batch as one packed pass
(micro-batch 4, the same work as torch's [4, 512] batch) and also reports micro-batch 1.

The shared machines are noisy (one run can move by 30%), so torch and llx alternate for
--rounds rounds; each round prints both and their ratio, and the end prints the median ratio.

With --nf4 both sides train QLoRA as the paper: NF4 base weights with double quantization
(bitsandbytes in torch), the same adapters and trainable embeddings.

With --tiny [full|lora|qlora] both sides run the tiny-model regime instead: hidden 128, 3 layers, 4 heads /
2 KV heads, intermediate 352, tied embeddings (vocab --vocab, 512); `full` trains every parameter
on [32, 128] batches without checkpointing, `lora`/`qlora` train LoRA r=32 on q,k,v,o + the
embeddings on [8, 1024] batches with checkpointing (--seq / --batch override). The llx side is
`llx bench train` with LLX_TRAIN_TINY=<mode> (LLX_BIN names another binary). --compute bf16 runs
llx with a bf16 compute dtype (LLX_TRAIN_COMPUTE=bf16, as train(compute_dtype: "bf16")) and torch
both in f32 and under autocast bf16; the ratio is against the faster torch.

Run: ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/bench_train.py [--steps 2] [--rounds 3] [--nf4] [--no-llx] [--tiny [mode] [--compute bf16]]
The llx side is TrainBench.run, started through `llx bench train` (the environment variables
below choose its shape).
"""
import argparse
import os
import re
import subprocess
import sys
import time

import torch

SMALL = dict(vocab_size=8192, hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
             num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=8192,
             rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False)


def torch_model(cfg_dict, lora, nf4, checkpointing):
    """A LlamaForCausalLM from `cfg_dict` (seeded), optionally reloaded in NF4 with double
    quantization (bitsandbytes), with LoRA r=32/alpha 16 on q,k,v,o plus trainable embeddings
    (PEFT), and gradient checkpointing. Returns the model in train mode and its trainables."""
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(**cfg_dict)
    cfg._attn_implementation = "sdpa"
    model = LlamaForCausalLM(cfg).float()
    if nf4:  # the same weights reloaded through bitsandbytes
        import tempfile
        from transformers import BitsAndBytesConfig
        q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.float32)
        with tempfile.TemporaryDirectory() as d:
            model.save_pretrained(d)
            model = LlamaForCausalLM.from_pretrained(d, quantization_config=q, device_map="cpu", dtype=torch.float32)
    if lora:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=32, lora_alpha=16, lora_dropout=0.0,
                                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                                 task_type="CAUSAL_LM"))
        model.base_model.model.model.embed_tokens.weight.requires_grad_(True)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return model, [p for p in model.parameters() if p.requires_grad]


def torch_steps(model, params, vocab, seq, batch, steps, bf16=False):
    """AdamW steps on random [batch, seq] ids (clip 1.0); tokens/s over all but the first
    (warm-up) step. bf16: the forward under torch.autocast("cpu", torch.bfloat16), torch's own
    bf16 compute dtype (matrix products in bf16, weights and optimizer f32)."""
    opt = torch.optim.AdamW(params, lr=1e-4)
    g = torch.Generator().manual_seed(42)
    times = []
    for step in range(steps + 1):
        ids = torch.randint(0, vocab, (batch, seq), generator=g)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step > 0:
            times.append(time.perf_counter() - t0)
    return seq * batch * len(times) / sum(times)


def torch_bench(seq, batch, steps, checkpointing, nf4=False):
    """The small preset with LoRA (QLoRA with nf4)."""
    model, params = torch_model(SMALL, lora=True, nf4=nf4, checkpointing=checkpointing)
    return torch_steps(model, params, SMALL["vocab_size"], seq, batch, steps)


def tiny_cfg(vocab):
    return dict(vocab_size=vocab, hidden_size=128, intermediate_size=352, num_hidden_layers=3,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
                rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=True)


def torch_tiny(mode, seq, batch, steps, vocab, bf16=False):
    """The tiny regime in torch: full training (all parameters, no checkpointing, one [batch, seq]
    batch) or LoRA r=32 on q,k,v,o + embeddings with checkpointing (NF4 base with mode qlora)."""
    lora = mode in ("lora", "qlora")
    model, params = torch_model(tiny_cfg(vocab), lora=lora, nf4=mode == "qlora", checkpointing=lora)
    return torch_steps(model, params, vocab, seq, batch, steps, bf16=bf16)


def llx_tiny(root, mode, seq, batch, steps, vocab, threads, compute="f32"):
    env = dict(os.environ, LLX_TRAIN_BENCH="1", LLX_TRAIN_TINY=mode, LLX_TRAIN_SEQ=str(seq), LLX_TRAIN_BATCH=str(batch),
               LLX_TRAIN_STEPS=str(steps), LLX_TRAIN_VOCAB=str(vocab), LLX_TRAIN_THREADS=str(threads),
               LLX_TRAIN_COMPUTE=compute)
    binary = os.environ.get("LLX_BIN") or os.path.join(root, ".build", "release", "llx")
    r = subprocess.run([binary, "bench", "train"], cwd=root, env=env, capture_output=True, text=True)
    m = re.search(r"train bench tiny \w+: ([0-9.]+) tokens/s", r.stdout + r.stderr)
    if not m:
        print((r.stdout + r.stderr)[-3000:], file=sys.stderr)
        return None
    return float(m.group(1))


def tiny_main(a, root):
    mode = a.tiny
    seq = a.seq if a.seq_set else (128 if mode == "full" else 1024)
    batch = a.batch if a.batch_set else (32 if mode == "full" else 8)
    print(f"tiny {mode}: hidden 128, 3 layers, vocab {a.vocab}, seq {seq}, batch {batch}, {a.steps} timed steps; "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads) and llx alternate", flush=True)
    # On a loaded machine torch's OpenMP threads spin at their barriers and 2 threads can run
    # 10x slower than 1, so each side runs at 1 thread and at all threads; the ratio compares
    # the best of each.
    counts = sorted({1, os.cpu_count() or 1})
    ratios = []
    for rnd in range(1, a.rounds + 1):
        tt = {}
        for th in counts:
            torch.set_num_threads(th)
            tt[th] = torch_tiny(mode, seq, batch, a.steps, a.vocab)
            if a.compute == "bf16":
                # torch's bf16 compute dtype too: the ratio is against the faster of the two
                tt[(th, "bf16")] = torch_tiny(mode, seq, batch, a.steps, a.vocab, bf16=True)
        print(f"round {rnd} torch: " + ", ".join(
            f"{k if isinstance(k, int) else k[0]} threads{'' if isinstance(k, int) else ' autocast bf16'} {v:.1f}"
            for k, v in tt.items()) + " tokens/s", flush=True)
        if a.no_llx:
            continue
        lx = {th: llx_tiny(root, mode, seq, batch, a.steps, a.vocab, th, a.compute) for th in counts}
        lx = {th: v for th, v in lx.items() if v is not None}
        if not lx:
            continue
        r = max(lx.values()) / max(tt.values())
        ratios.append(r)
        f32 = max(v for k, v in tt.items() if isinstance(k, int))
        extra = f" (against torch f32 alone {max(lx.values()) / f32:.2f}x)" if a.compute == "bf16" else ""
        print(f"round {rnd} llx {a.compute}: " + ", ".join(f"{th} threads {v:.1f}" for th, v in lx.items())
              + f" tokens/s; best llx / best torch {r:.2f}x{extra}", flush=True)
    if ratios:
        rs = sorted(ratios)
        print(f"median ratio llx/torch, tiny {mode}: {rs[len(rs) // 2]:.2f}x (rounds: {', '.join(f'{x:.2f}' for x in ratios)})")


def llx_bench(root, seq, batch, steps, nf4=False):
    env = dict(os.environ, LLX_TRAIN_BENCH="1", LLX_TRAIN_SEQ=str(seq), LLX_TRAIN_BATCH=str(batch), LLX_TRAIN_STEPS=str(steps),
               LLX_TRAIN_QUANT="nf4" if nf4 else "none")
    out = ""
    binary = os.path.join(root, ".build", "release", "llx")
    if os.path.exists(binary):
        r = subprocess.run([binary, "bench", "train"], cwd=root, env=env, capture_output=True, text=True)
        out = r.stdout + r.stderr
    else:
        out = f"{binary} not found: build it first (swift build -c release)"
    res = {}
    for line in out.splitlines():
        m = re.search(r"train bench: checkpointing (on|off)(, micro-batch 1)?: ([0-9.]+) tokens/s", line)
        if m:
            res[(m.group(1) == "on", m.group(2) is not None)] = float(m.group(3))
    if not res:
        print(out[-3000:], file=sys.stderr)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--nf4", action="store_true", help="QLoRA: NF4 base weights (bitsandbytes on the torch side)")
    ap.add_argument("--no-llx", action="store_true")
    ap.add_argument("--tiny", nargs="?", const="full", choices=["full", "lora", "qlora"],
                    help="the tiny-model regime (hidden 128, 3 layers, tied embeddings): full training "
                         "(default seq 128, batch 32) or LoRA/QLoRA with checkpointing (seq 1024, batch 8)")
    ap.add_argument("--vocab", type=int, default=512, help="vocabulary of the --tiny model")
    ap.add_argument("--compute", choices=["f32", "bf16"], default="f32",
                    help="--tiny: llx's compute dtype (train(compute_dtype:)); with bf16 torch also runs under "
                         "autocast bf16 and the ratio is against the faster torch")
    a = ap.parse_args()
    a.seq_set = any(x == "--seq" or x.startswith("--seq=") for x in sys.argv)
    a.batch_set = any(x == "--batch" or x.startswith("--batch=") for x in sys.argv)
    torch.set_num_threads(os.cpu_count() or 1)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    if a.tiny:
        return tiny_main(a, root)
    ratios = {False: [], True: []}
    for rnd in range(1, a.rounds + 1):
        tt = {}
        for ckpt in (False, True):
            tt[ckpt] = torch_bench(a.seq, a.batch, a.steps, ckpt, a.nf4)
            print(f"round {rnd} torch+peft: checkpointing {'on' if ckpt else 'off'}: {tt[ckpt]:.1f} tokens/s", flush=True)
        if a.no_llx:
            continue
        lx = llx_bench(root, a.seq, a.batch, a.steps, a.nf4)
        for ckpt in (False, True):
            if (ckpt, False) in lx:
                r = lx[(ckpt, False)] / tt[ckpt]
                ratios[ckpt].append(r)
                one = lx.get((ckpt, True))
                extra = f" (micro-batch 1: {one:.1f} tokens/s, {one / tt[ckpt]:.2f}x)" if one else ""
                print(f"round {rnd} llx:        checkpointing {'on' if ckpt else 'off'}: {lx[(ckpt, False)]:.1f} tokens/s, "
                      f"ratio llx/torch {r:.2f}x{extra}", flush=True)
    for ckpt in (False, True):
        if ratios[ckpt]:
            rs = sorted(ratios[ckpt])
            print(f"median ratio llx/torch, checkpointing {'on' if ckpt else 'off'}: {rs[len(rs) // 2]:.2f}x "
                  f"(rounds: {', '.join(f'{x:.2f}' for x in ratios[ckpt])})")


if __name__ == "__main__":
    main()
