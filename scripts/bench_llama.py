#!/usr/bin/env python3
# bench_llama.py: transformers' LlamaForCausalLM on the llx "small" preset, CPU f32, this machine:
# prefill of 512 tokens (KV cache, logits of the last position), greedy decode steps, and a
# training forward+backward on 512 tokens. Compare with LlamaBench (llx) on the same machine.
# Pinned like the fixtures: transformers==5.24.0, torch==2.15.0.
# Run: CUDA_VISIBLE_DEVICES="" ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/bench_llama.py
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.cache_utils import DynamicCache

T, STEPS, REPS = 512, 32, 2
cfg = LlamaConfig(vocab_size=8192, hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
                  num_attention_heads=8, num_key_value_heads=4, rope_theta=500000.0, rms_norm_eps=1e-5,
                  max_position_embeddings=8192, attn_implementation="sdpa")
torch.manual_seed(0)
model = LlamaForCausalLM(cfg).eval()
ids = torch.randint(0, cfg.vocab_size, (1, T))
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

best_pre, best_dec, best_train = 1e9, 1e9, 1e9
for _ in range(REPS):
    with torch.no_grad():
        cache = DynamicCache(config=cfg)
        t0 = time.perf_counter()
        out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        best_pre = min(best_pre, time.perf_counter() - t0)
        cache = out.past_key_values
        t0 = time.perf_counter()
        for _ in range(STEPS):
            nxt = out.logits[:, -1:].argmax(-1)
            out = model(input_ids=nxt, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
        best_dec = min(best_dec, time.perf_counter() - t0)
    model.zero_grad()
    t0 = time.perf_counter()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    best_train = min(best_train, time.perf_counter() - t0)

print(f"prefill T={T}: {T / best_pre:.0f} tokens/s")
print(f"decode (KV cache, after {T}): {STEPS / best_dec:.1f} tokens/s")
print(f"train forward+backward T={T}: {T / best_train:.0f} tokens/s")
