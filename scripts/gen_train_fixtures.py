"""Writes the Train module's reference fixtures to Tests/Fixtures/train/.

  adamw.json     torch.optim.AdamW + transformers LR schedules + clip_grad_norm_ runs:
                 initial parameters, the gradients of every step, the lr of every step,
                 the gradient norms and the parameters after the last step.
  chat_mask.json conversations, their Llama-3 chat-template token ids (byte-level ids plus
                 the Llama-3 special ids, see below) and the loss labels (-100 outside the
                 assistant replies and their <|eot_id|>).
  lora_grads.*   a tiny HF Llama with PEFT LoRA (see gen_lora below).

Run: ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/gen_train_fixtures.py
"""
import json
import math
import os
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "train")


def floats(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


# ---------------------------------------------------------------- AdamW + schedules + clipping

def gen_adamw():
    from transformers import (get_constant_schedule, get_constant_schedule_with_warmup,
                              get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup)
    cases = []
    configs = [
        dict(name="constant", schedule="constant", warmup=0, steps=5, lr=1e-2, wd=0.0, clip=None),
        dict(name="constant_warmup", schedule="constant_with_warmup", warmup=2, steps=5, lr=1e-2, wd=0.0, clip=None),
        dict(name="linear", schedule="linear", warmup=0, steps=6, lr=5e-3, wd=0.0, clip=None),
        dict(name="linear_warmup_wd", schedule="linear", warmup=2, steps=6, lr=5e-3, wd=0.1, clip=None),
        dict(name="cosine_warmup", schedule="cosine", warmup=1, steps=6, lr=2e-2, wd=0.01, clip=None),
        dict(name="linear_clip", schedule="linear", warmup=1, steps=5, lr=1e-2, wd=0.0, clip=1.0),
        dict(name="cosine_clip_betas", schedule="cosine", warmup=0, steps=5, lr=1e-2, wd=0.05, clip=0.5,
             betas=(0.8, 0.95), eps=1e-6),
    ]
    for ci, c in enumerate(configs):
        g = torch.Generator().manual_seed(100 + ci)
        shapes = {"a.weight": [3, 4], "b.lora_A": [2, 5], "c.bias": [7]}
        params = {n: torch.nn.Parameter(torch.randn(*s, generator=g)) for n, s in shapes.items()}
        betas = c.get("betas", (0.9, 0.999))
        eps = c.get("eps", 1e-8)
        opt = torch.optim.AdamW(list(params.values()), lr=c["lr"], betas=betas, eps=eps, weight_decay=c["wd"])
        total = c["steps"]
        if c["schedule"] == "constant":
            sched = get_constant_schedule(opt)
        elif c["schedule"] == "constant_with_warmup":
            sched = get_constant_schedule_with_warmup(opt, c["warmup"])
        elif c["schedule"] == "linear":
            sched = get_linear_schedule_with_warmup(opt, c["warmup"], total)
        else:
            sched = get_cosine_schedule_with_warmup(opt, c["warmup"], total)
        init = {n: floats(p) for n, p in params.items()}
        grads, lrs, norms = [], [], []
        for step in range(total):
            # the clip cases get large gradients so that clipping acts
            scale = 3.0 if c["clip"] is not None else 1.0
            gs = {n: torch.randn(*s, generator=g) * scale for n, s in shapes.items()}
            if step == 1:
                del gs["c.bias"]  # a parameter without a gradient this step is skipped
            grads.append({n: floats(v) for n, v in gs.items()})
            for n, p in params.items():
                p.grad = gs[n].clone() if n in gs else None
            if c["clip"] is not None:
                norms.append(float(torch.nn.utils.clip_grad_norm_(
                    [p for p in params.values() if p.grad is not None], c["clip"])))
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        cases.append(dict(name=c["name"], schedule=c["schedule"], warmup=c["warmup"], total_steps=total,
                          lr=c["lr"], betas=list(betas), eps=eps, weight_decay=c["wd"], clip=c["clip"],
                          shapes=shapes, init=init, grads=grads, lrs=lrs, norms=norms,
                          final={n: floats(p) for n, p in params.items()}))
    with open(os.path.join(OUT, "adamw.json"), "w") as f:
        json.dump({"cases": cases}, f)
    print("adamw.json:", len(cases), "cases")


# ---------------------------------------------------------------- conversation loss masks

# The Llama-3 instruct chat template as Meta's Hugging Face repositories ship it.
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

# The same template with {% generation %} around what an assistant turn adds after its header,
# so that transformers' apply_chat_template(return_assistant_tokens_mask=True) marks the tokens
# that carry the loss: the reply and its <|eot_id|>.
LLAMA3_TEMPLATE_GEN = (
    "{% for message in messages %}{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] | trim + '<|eot_id|>' }}{% endgeneration %}"
    "{% else %}{{ message['content'] | trim + '<|eot_id|>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

BYTE_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


def byte_tokenizer():
    """A Hugging Face fast tokenizer whose ids are the UTF-8 bytes (0..255) of the text and
    256.. for the Llama-3 special tokens above, in that order."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens(BYTE_SPECIALS)
    fast = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
    for i, s in enumerate(BYTE_SPECIALS):
        assert fast.convert_tokens_to_ids(s) == 256 + i, (s, fast.convert_tokens_to_ids(s))
    return fast


def gen_chat_mask():
    tok = byte_tokenizer()
    convs = [
        [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}],
        [{"role": "system", "content": "  Be brief.\n"}, {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": " Hello! \n"}, {"role": "user", "content": "Name a colour."},
         {"role": "assistant", "content": "Blue, or ü-umlaut grün."}],
        [{"role": "user", "content": "Read:\n\nThe needle is 7431.\n\nWhat is the needle?"},
         {"role": "assistant", "content": "The needle is 7431."}, {"role": "user", "content": "Thanks"}],
    ]
    out = []
    for conv in convs:
        ids = tok.apply_chat_template(conv, chat_template=LLAMA3_TEMPLATE, tokenize=True, return_dict=True)["input_ids"]
        r = tok.apply_chat_template(conv, chat_template=LLAMA3_TEMPLATE_GEN, tokenize=True, return_dict=True,
                                    return_assistant_tokens_mask=True)
        assert r["input_ids"] == ids, "the generation-tag template must render the same ids"
        labels = [t if m else -100 for t, m in zip(ids, r["assistant_masks"])]
        prompt = tok.apply_chat_template(conv, chat_template=LLAMA3_TEMPLATE, tokenize=True, return_dict=True,
                                         add_generation_prompt=True)["input_ids"]
        out.append({"messages": conv, "input_ids": ids, "labels": labels, "with_generation_prompt": prompt})
    with open(os.path.join(OUT, "chat_mask.json"), "w") as f:
        json.dump({"specials": BYTE_SPECIALS, "conversations": out}, f, ensure_ascii=False)
    print("chat_mask.json:", len(out), "conversations")


# ---------------------------------------------------------------- LoRA gradients and steps (PEFT)

LORA_CONFIG = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                   rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                   initializer_range=0.2, hidden_act="silu", attention_bias=False, mlp_bias=False)


def gen_lora():
    """A tiny Hugging Face Llama with PEFT LoRA (r=4, alpha=8, q/k/v/o, no dropout) and a
    trainable embed_tokens. lora_B is set non-zero so that every gradient is informative.

    lora_tiny/config.json, lora_tiny/model.safetensors   the base model (HF names)
    lora_tiny/adapter.safetensors  lora_A / lora_B / embed_tokens before training, PEFT's saved
                                   names without the "base_model.model." prefix
    lora_tiny/grads.safetensors    d(loss of sequence 0)/d(each trainable tensor)
    lora_tiny/after3.safetensors   the trainable tensors after 3 optimizer steps
    lora_tiny/run.json             sequences, labels, loss of sequence 0, step losses and lrs

    The 3 steps: batch = both sequences, micro-batch 1, loss weighted by each sequence's
    labelled-token count over the batch's (token-weighted mean), clip_grad_norm_ 1.0,
    AdamW(lr 1e-2, weight_decay 0.01) with get_linear_schedule_with_warmup(0, 3).
    """
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM, get_linear_schedule_with_warmup
    d = os.path.join(OUT, "lora_tiny")
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(1234)
    cfg = LlamaConfig(**LORA_CONFIG)
    cfg._attn_implementation = "eager"
    base = LlamaForCausalLM(cfg).float().eval()
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({**LORA_CONFIG, "architectures": ["LlamaForCausalLM"], "model_type": "llama",
                   "torch_dtype": "float32"}, f, indent=1)
    save_file({k: v.contiguous() for k, v in base.state_dict().items()}, os.path.join(d, "model.safetensors"))
    lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
    model = get_peft_model(base, lcfg)
    model.base_model.model.model.embed_tokens.weight.requires_grad_(True)
    g = torch.Generator().manual_seed(55)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    prefix = "base_model.model."
    # PEFT's saved names: without the "base_model.model." prefix and the ".default" adapter name
    trainable = [(n[len(prefix):].replace(".default", ""), p) for n, p in model.named_parameters() if p.requires_grad]
    save_file({n: p.detach().clone().contiguous() for n, p in trainable}, os.path.join(d, "adapter.safetensors"))

    seqs = [[int(x) for x in torch.randint(0, 96, (20,), generator=g)],
            [int(x) for x in torch.randint(0, 96, (13,), generator=g)]]
    labels = [list(seqs[0]), [-100] * 6 + seqs[1][6:]]
    labels[0][3] = -100

    def seq_loss(i):
        ids = torch.tensor([seqs[i]])
        return model(input_ids=ids, labels=torch.tensor([labels[i]])).loss

    model.train()
    loss0 = seq_loss(0)
    loss0.backward()
    save_file({n: p.grad.detach().clone().contiguous() for n, p in trainable}, os.path.join(d, "grads.safetensors"))
    model.zero_grad(set_to_none=True)

    params = [p for _, p in trainable]
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, 0, 3)
    counts = [sum(1 for l in lab[1:] if l != -100) for lab in labels]
    total = sum(counts)
    step_losses, lrs, norms = [], [], []
    for step in range(3):
        tot = 0.0
        for i in range(2):
            l = seq_loss(i)
            (l * counts[i] / total).backward()
            tot += float(l) * counts[i] / total
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, 1.0)))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step_losses.append(tot)
    save_file({n: p.detach().clone().contiguous() for n, p in trainable}, os.path.join(d, "after3.safetensors"))
    with open(os.path.join(d, "run.json"), "w") as f:
        json.dump({"ids": seqs, "labels": labels, "loss0": float(loss0), "step_losses": step_losses,
                   "lrs": lrs, "norms": norms, "lr": 1e-2, "weight_decay": 0.01, "clip": 1.0,
                   "lora_r": 4, "lora_alpha": 8, "targets": ["q_proj", "k_proj", "v_proj", "o_proj"],
                   "trainable": [n for n, _ in trainable]}, f, indent=1)
    print("lora_tiny: loss0", float(loss0), "step losses", step_losses, "norms", norms)


def gen_peft_dir():
    """Adapters as PEFT itself writes them (save_pretrained), for lora.load_peft: the lora_tiny
    base with LoRA r=4 on q/k/v/o and embed_tokens in modules_to_save (the paper's trained
    embeddings), once plain and once with use_rslora and alpha 6; B and the saved embedding
    are set non-zero / changed so that every part shows in the logits.

    peft_dirs/<name>/adapter_config.json, adapter_model.safetensors
    peft_dirs/expected.json    ids and the PEFT model's logits for each
    """
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
    root = os.path.join(OUT, "peft_dirs")
    os.makedirs(root, exist_ok=True)
    ids = [3, 17, 90, 5, 44, 61, 8, 23, 77, 1, 50]
    expected = {"ids": ids, "base": "lora_tiny", "logits": {}}
    for name, alpha, rs in [("plain", 8, False), ("rslora", 6, True)]:
        torch.manual_seed(1234)
        cfg = LlamaConfig(**LORA_CONFIG)
        cfg._attn_implementation = "eager"
        base = LlamaForCausalLM(cfg).float().eval()   # the same weights as lora_tiny/model.safetensors
        lcfg = LoraConfig(r=4, lora_alpha=alpha, lora_dropout=0.0, use_rslora=rs, bias="none",
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                          modules_to_save=["embed_tokens"], task_type="CAUSAL_LM")
        model = get_peft_model(base, lcfg)
        g = torch.Generator().manual_seed(77 if rs else 76)
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.3)
                if "modules_to_save" in n:
                    p.add_(torch.randn(p.shape, generator=g) * 0.1)
        d = os.path.join(root, name)
        model.save_pretrained(d)
        os.remove(os.path.join(d, "README.md"))   # PEFT's model card template
        model.eval()
        with torch.no_grad():
            expected["logits"][name] = floats(model(input_ids=torch.tensor([ids])).logits[0])
    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(expected, f)
    print("peft_dirs:", sorted(os.listdir(root)))


if __name__ == "__main__":
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    parts = sys.argv[1:] or ["adamw", "chat_mask", "lora", "peft_dir"]
    for p in parts:
        globals()["gen_" + p]()
