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


if __name__ == "__main__":
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    parts = sys.argv[1:] or ["adamw"]
    for p in parts:
        globals()["gen_" + p]()
