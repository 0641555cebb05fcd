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

Run: ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/bench_train.py [--steps 2] [--rounds 3] [--nf4] [--no-llx]
The llx side is TrainBench.run, started through `LLX_TRAIN_BENCH=1 swift test -c release
--filter TrainBenchTests` (or `llx bench train` where the binary dispatches it).
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


def torch_bench(seq, batch, steps, checkpointing, nf4=False):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(**SMALL)
    cfg._attn_implementation = "sdpa"
    model = LlamaForCausalLM(cfg).float()
    if nf4:  # QLoRA: the same weights reloaded through bitsandbytes in NF4 with double quantization
        import tempfile
        from transformers import BitsAndBytesConfig
        q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.float32)
        with tempfile.TemporaryDirectory() as d:
            model.save_pretrained(d)
            model = LlamaForCausalLM.from_pretrained(d, quantization_config=q, device_map="cpu", dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=32, lora_alpha=16, lora_dropout=0.0,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                             task_type="CAUSAL_LM"))
    model.base_model.model.model.embed_tokens.weight.requires_grad_(True)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    g = torch.Generator().manual_seed(42)
    times = []
    for step in range(steps + 1):
        ids = torch.randint(0, SMALL["vocab_size"], (batch, seq), generator=g)
        t0 = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step > 0:  # the first step warms up
            times.append(time.perf_counter() - t0)
    return seq * batch * len(times) / sum(times)


def llx_bench(root, seq, batch, steps, nf4=False):
    env = dict(os.environ, LLX_TRAIN_BENCH="1", LLX_TRAIN_SEQ=str(seq), LLX_TRAIN_BATCH=str(batch), LLX_TRAIN_STEPS=str(steps),
               LLX_TRAIN_QUANT="nf4" if nf4 else "none")
    out = ""
    binary = os.path.join(root, ".build", "release", "llx")
    if os.path.exists(binary):
        r = subprocess.run([binary, "bench", "train"], cwd=root, env=env, capture_output=True, text=True)
        out = r.stdout + r.stderr
    for extra in (["--skip-build"], []):  # the built tests if they are there, else build them
        if "train bench: checkpointing" in out:
            break
        r = subprocess.run(["swift", "test", "-c", "release", *extra, "--filter", "TrainBenchTests"], cwd=root,
                           env=env, capture_output=True, text=True)
        out = r.stdout + r.stderr
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
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
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
