#!/usr/bin/env python3
# gen_llama_fixtures.py: reference numbers for the Llama module, from Hugging Face transformers.
# Pinned: transformers==5.24.0, torch==2.15.0 (CPU), safetensors==0.8.0.
# Run: CUDA_VISIBLE_DEVICES="" ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/gen_llama_fixtures.py
# Writes Tests/Fixtures/llama/:
#   <case>/            a Hugging Face model dir (config.json + model.safetensors, or sharded with an index)
#   <case>.expected.safetensors   input_ids, labels, logits [T, vocab], loss, loss_labels,
#                                 grad.<param name> (gradients of loss_labels), gen_prompt, gen_ids
#   rope.json          inverse frequencies / attention scaling from modeling_rope_utils
#   configs.json       config.json texts in every form in use and what transformers reads from them
#   sampling.json      logits warpers (temperature, top-k, top-p) as transformers' generate applies them
import copy
import json
import os
import shutil

import torch
from safetensors.torch import save_file
import transformers
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.generation.logits_process import (TemperatureLogitsWarper, TopKLogitsWarper,
                                                    TopPLogitsWarper)

assert transformers.__version__ == "5.24.0", f"pinned transformers 5.24.0, found {transformers.__version__}"
torch.set_grad_enabled(True)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "llama")

# Each case: config kwargs, sequence length, storage dtype, shards, config.json form.
CASES = [
    # grouped-query attention, untied, changed rope_theta; f32, single file
    dict(name="gqa_untied", cfg=dict(vocab_size=300, hidden_size=32, intermediate_size=88, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2, rope_theta=500000.0,
                                     max_position_embeddings=128, rms_norm_eps=1e-5, tie_word_embeddings=False),
         T=32, dtype="f32", live=True),
    # plain multi-head, tied embeddings, explicit head_dim != hidden/heads; bf16 storage
    dict(name="mha_tied_bf16", cfg=dict(vocab_size=290, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=4, head_dim=16,
                                        rope_theta=10000.0, max_position_embeddings=64, rms_norm_eps=1e-6,
                                        tie_word_embeddings=True),
         T=24, dtype="bf16"),
    # linear scaling written the legacy way (top-level rope_theta, rope_scaling with "type")
    dict(name="linear_legacy", cfg=dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=1, rope_theta=2e6,
                                        rope_scaling=dict(type="linear", factor=4.0),
                                        max_position_embeddings=64, rms_norm_eps=1e-5),
         T=28, dtype="f32", legacy=True),
    # dynamic NTK with T beyond max_position_embeddings; sharded
    dict(name="dynamic_sharded", cfg=dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                          num_attention_heads=2, num_key_value_heads=2, rope_theta=10000.0,
                                          rope_scaling=dict(rope_type="dynamic", factor=3.0),
                                          max_position_embeddings=16, rms_norm_eps=1e-5),
         T=40, dtype="f32", shards=True),
    # yarn (default betas, mscale from factor); f16 storage
    dict(name="yarn_f16", cfg=dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=1, rope_theta=10000.0,
                                   rope_scaling=dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=16),
                                   max_position_embeddings=64, rms_norm_eps=1e-5),
         T=36, dtype="f16"),
    # llama3 (Llama-3.1 style) with all three frequency bands present
    dict(name="llama3_scaling", cfg=dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=1, rope_theta=500000.0,
                                         rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                           high_freq_factor=4.0, original_max_position_embeddings=16),
                                         max_position_embeddings=128, rms_norm_eps=1e-5),
         T=32, dtype="f32"),
]

DT = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def build(case, seed):
    torch.manual_seed(seed)
    cfg = LlamaConfig(**copy.deepcopy(case["cfg"]), bos_token_id=1, eos_token_id=2, attn_implementation="eager")
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.12 * torch.randn_like(p))
        # storage precision: the reference computes in f32 with the stored (rounded) values
        dt = DT[case["dtype"]]
        for p in model.parameters():
            p.copy_(p.to(dt).to(torch.float32))
    return model


def write_config_legacy(path, cfg_kwargs, model_cfg):
    """config.json as Meta's Llama-3 / 3.1 releases write it: top-level rope_theta + rope_scaling."""
    d = json.load(open(path))
    d.pop("rope_parameters", None)
    d["rope_theta"] = cfg_kwargs["rope_theta"]
    d["rope_scaling"] = cfg_kwargs.get("rope_scaling")
    json.dump(d, open(path, "w"), indent=2, sort_keys=True)


def run_case(case, seed):
    name = case["name"]
    model = build(case, seed)
    cfg = model.config
    T, V = case["T"], cfg.vocab_size
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, V, (1, T), generator=g)
    labels = ids.clone()
    labels[0, :5] = -100          # a masked prompt
    labels[0, T // 2] = -100      # and one masked position inside

    out = model(input_ids=ids)
    logits = out.logits[0].detach().clone()
    loss = model(input_ids=ids, labels=ids).loss.detach().clone()
    model.zero_grad()
    loss_labels = model(input_ids=ids, labels=labels).loss
    loss_labels.backward()
    tensors = {"input_ids": ids[0].to(torch.int64), "labels": labels[0].to(torch.int64),
               "logits": logits, "loss": loss.reshape(1), "loss_labels": loss_labels.detach().reshape(1)}
    for pname, p in model.named_parameters():
        tensors["grad." + pname] = p.grad.detach().clone()

    if case.get("live"):
        # rope_theta / rope_scaling changed on the live model (llx: m.rope_theta = 200M; m.rope_scaling = ...)
        from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
        live_cfg = copy.deepcopy(model.config)
        live_cfg.rope_parameters = dict(rope_type="llama3", rope_theta=200e6, factor=8.0, low_freq_factor=1.0,
                                        high_freq_factor=4.0, original_max_position_embeddings=16)
        saved = model.model.rotary_emb
        model.model.rotary_emb = LlamaRotaryEmbedding(live_cfg)
        with torch.no_grad():
            tensors["logits_live"] = model(input_ids=ids).logits[0].detach().clone()
        model.model.rotary_emb = saved

    prompt = ids[:, :8]
    with torch.no_grad():
        gen = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=20,
                             do_sample=False, eos_token_id=None, pad_token_id=0)
    tensors["gen_prompt"] = prompt[0].to(torch.int64)
    tensors["gen_ids"] = gen[0, 8:].to(torch.int64)
    assert len(set(tensors["gen_ids"].tolist())) > 2, f"{name}: trivial generation"
    save_file({k: v.detach().clone().contiguous() for k, v in tensors.items()}, os.path.join(OUT, f"{name}.expected.safetensors"))

    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    save_model = model.to(DT[case["dtype"]])
    kw = dict(max_shard_size="40KB") if case.get("shards") else {}
    save_model.save_pretrained(d, safe_serialization=True, **kw)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(d, extra)):
            os.remove(os.path.join(d, extra))
    if case.get("legacy"):
        write_config_legacy(os.path.join(d, "config.json"), case["cfg"], cfg)
    files = sorted(os.listdir(d))
    print(f"{name}: T={T} loss={loss.item():.6f} loss_labels={loss_labels.item():.6f} files={files} "
          f"gen={tensors['gen_ids'].tolist()}")


def rope_fixture():
    """inv_freq + attention scaling straight from ROPE_INIT_FUNCTIONS, at the real head_dim 128."""
    out = []
    base = dict(vocab_size=128, hidden_size=4096, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192)
    variants = [
        ("default", dict(rope_theta=500000.0), [None]),
        ("default_200M", dict(rope_theta=200e6), [None]),
        ("linear", dict(rope_theta=500000.0, rope_scaling=dict(rope_type="linear", factor=8.0)), [None]),
        ("dynamic", dict(rope_theta=500000.0, rope_scaling=dict(rope_type="dynamic", factor=4.0)),
         [None, 100, 8192, 9000, 32768]),
        ("yarn", dict(rope_theta=500000.0, rope_scaling=dict(rope_type="yarn", factor=4.0,
                                                             original_max_position_embeddings=8192)), [None]),
        ("yarn_betas_notrunc", dict(rope_theta=10000.0, max_position_embeddings=32768,
                                    rope_scaling=dict(rope_type="yarn", factor=8.0, beta_fast=16.0, beta_slow=2.0,
                                                      truncate=False, original_max_position_embeddings=4096)), [None]),
        ("yarn_mscale", dict(rope_theta=10000.0, max_position_embeddings=16384,
                             rope_scaling=dict(rope_type="yarn", factor=4.0, mscale=0.707, mscale_all_dim=1.0,
                                               original_max_position_embeddings=4096)), [None]),
        ("yarn_attn_factor", dict(rope_theta=10000.0, max_position_embeddings=16384,
                                  rope_scaling=dict(rope_type="yarn", factor=4.0, attention_factor=0.8,
                                                    original_max_position_embeddings=4096)), [None]),
        ("llama3", dict(rope_theta=500000.0, max_position_embeddings=131072,
                        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                          original_max_position_embeddings=8192)), [None]),
        ("llama3_200M", dict(rope_theta=200e6, max_position_embeddings=131072,
                             rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=2.0,
                                               high_freq_factor=8.0, original_max_position_embeddings=8192)), [None]),
    ]
    for name, kw, seqs in variants:
        cfg = LlamaConfig(**{**base, **kw})
        rt = cfg.rope_parameters["rope_type"]
        for s in seqs:
            if rt == "default":
                from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
                inv, att = LlamaRotaryEmbedding.compute_default_rope_parameters(cfg)
            else:
                inv, att = ROPE_INIT_FUNCTIONS[rt](cfg, None, seq_len=s)
            out.append(dict(name=name, config=json.loads(cfg.to_json_string()), seq_len=s,
                            inv_freq=inv.tolist(), attention_scaling=float(att)))
    json.dump(out, open(os.path.join(OUT, "rope.json"), "w"))


def configs_fixture():
    """config.json texts in every form in use, with what transformers 5.24 reads from them."""
    texts = {
        # Meta-Llama-3-8B (as released): top-level rope_theta, no scaling
        "llama3_8b": dict(architectures=["LlamaForCausalLM"], attention_bias=False, attention_dropout=0.0,
                          bos_token_id=128000, eos_token_id=128001, hidden_act="silu", hidden_size=4096,
                          initializer_range=0.02, intermediate_size=14336, max_position_embeddings=8192,
                          model_type="llama", num_attention_heads=32, num_hidden_layers=32, num_key_value_heads=8,
                          pretraining_tp=1, rms_norm_eps=1e-05, rope_scaling=None, rope_theta=500000.0,
                          tie_word_embeddings=False, torch_dtype="bfloat16", transformers_version="4.40.0.dev0",
                          use_cache=True, vocab_size=128256),
        # Llama-3.1-8B-Instruct (as released): rope_scaling with rope_type llama3, eos list
        "llama31_8b_instruct": dict(architectures=["LlamaForCausalLM"], attention_bias=False, attention_dropout=0.0,
                                    bos_token_id=128000, eos_token_id=[128001, 128008, 128009], hidden_act="silu",
                                    hidden_size=4096, initializer_range=0.02, intermediate_size=14336,
                                    max_position_embeddings=131072, mlp_bias=False, model_type="llama",
                                    num_attention_heads=32, num_hidden_layers=32, num_key_value_heads=8,
                                    pretraining_tp=1, rms_norm_eps=1e-05,
                                    rope_scaling=dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                                      original_max_position_embeddings=8192, rope_type="llama3"),
                                    rope_theta=500000.0, tie_word_embeddings=False, torch_dtype="bfloat16",
                                    transformers_version="4.43.0.dev0", use_cache=True, vocab_size=128256),
        # older transformers: rope_scaling with `type`, no head_dim / num_key_value_heads
        "legacy_type_linear": dict(model_type="llama", hidden_size=512, intermediate_size=1024, num_hidden_layers=2,
                                   num_attention_heads=8, vocab_size=1000, rope_theta=1e6,
                                   rope_scaling=dict(type="linear", factor=2.0), unknown_field_xyz=[1, 2, 3]),
        "legacy_dynamic_no_theta": dict(model_type="llama", hidden_size=256, intermediate_size=512,
                                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                        vocab_size=1000, max_position_embeddings=4096,
                                        rope_scaling=dict(type="dynamic", factor=2.0)),
        "yarn_no_original": dict(model_type="llama", hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                                 num_attention_heads=4, vocab_size=1000, max_position_embeddings=4096,
                                 rope_theta=10000.0, tie_word_embeddings=True, head_dim=32,
                                 rope_scaling=dict(rope_type="yarn", factor=2.0)),
    }
    # transformers 5 as it writes them
    texts["transformers5_llama3"] = json.loads(LlamaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, rope_theta=500000.0, max_position_embeddings=256,
        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=64)).to_json_string())
    texts["transformers5_default"] = json.loads(LlamaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
        rope_theta=200e6, tie_word_embeddings=True).to_json_string())
    out = []
    for name, d in texts.items():
        c = LlamaConfig.from_dict(dict(d))
        rp = dict(c.rope_parameters)
        rp.pop("type", None)
        eos = c.eos_token_id if isinstance(c.eos_token_id, list) else [c.eos_token_id]
        out.append(dict(name=name, json=d, expected=dict(
            vocab_size=c.vocab_size, hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
            num_hidden_layers=c.num_hidden_layers, num_attention_heads=c.num_attention_heads,
            num_key_value_heads=c.num_key_value_heads, head_dim=c.head_dim,
            max_position_embeddings=c.max_position_embeddings, rms_norm_eps=c.rms_norm_eps,
            tie_word_embeddings=c.tie_word_embeddings, bos_token_id=c.bos_token_id, eos_token_id=eos,
            rope_parameters=rp)))
    json.dump(out, open(os.path.join(OUT, "configs.json"), "w"), indent=1)


def sampling_fixture():
    """Probabilities after transformers' warpers (temperature -> top_k -> top_p, as generate orders them)."""
    torch.manual_seed(7)
    out = []
    for (temp, k, p) in [(1.0, 0, 1.0), (0.7, 0, 1.0), (1.0, 5, 1.0), (1.0, 0, 0.9), (0.8, 10, 0.75),
                         (1.3, 3, 0.5), (0.5, 0, 0.3)]:
        logits = torch.randn(1, 40) * 2
        logits[0, 3] = logits[0, 7]  # a tie
        s = logits.clone()
        if temp != 1.0:
            s = TemperatureLogitsWarper(temp)(None, s)
        if k > 0:
            s = TopKLogitsWarper(k)(None, s)
        if p < 1.0:
            s = TopPLogitsWarper(p)(None, s)
        probs = torch.softmax(s, dim=-1)
        out.append(dict(temperature=temp, top_k=k, top_p=p, logits=logits[0].tolist(), probs=probs[0].tolist()))
    json.dump(out, open(os.path.join(OUT, "sampling.json"), "w"))


def main():
    os.makedirs(OUT, exist_ok=True)
    for i, case in enumerate(CASES):
        run_case(case, 1000 + 17 * i)
    rope_fixture()
    configs_fixture()
    sampling_fixture()


if __name__ == "__main__":
    main()
