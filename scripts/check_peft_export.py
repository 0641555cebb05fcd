"""PEFT loads what llx exports: llx builds a tiny model, adds LoRA (plain and rsLoRA) with
trainable embeddings, trains a few steps, and writes the base (`export.hf`) and the adapter
(`export.peft`); transformers + PEFT then load them with PeftModel.from_pretrained and must give
llx's logits (max abs difference printed; exit status 1 above 1e-4).

Needs the reference environment (torch, transformers, peft): scripts/ref_env.sh.
Run: ${LLX_REF_VENV:-.venv-ref}/bin/python scripts/check_peft_export.py
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LLX = os.path.join(ROOT, ".build", "release", "llx")

SCRIPT = """
let m = llama.init(llama.config("tiny"), seed: 3)
export.hf(m, "{d}/base")
lora(m, rank: 4, alpha: 8, use_rslora: {rs})
let tok = tokenizer.bytes()
train(m, data.from(["the quick brown fox jumps over the lazy dog", "hello world, this is llx"]), tok: tok,
      steps: 3, batch: 2, lr: 1e-2, schedule: "constant", progress: false)
export.peft(m, "{d}/adapter")
let ids = [1, 5, 9, 200, 17, 33, 100, 7]
write_json("{d}/out.json", {{ids: ids, logits: logits(m, ids).tolist()}})
"""


def main():
    worst = 0.0
    for rs in ("false", "true"):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "export.llx")
            with open(path, "w") as f:
                f.write(SCRIPT.format(d=d, rs=rs))
            subprocess.run([LLX, "run", path], check=True)
            out = json.load(open(os.path.join(d, "out.json")))
            base = AutoModelForCausalLM.from_pretrained(os.path.join(d, "base"), dtype=torch.float32).eval()
            model = PeftModel.from_pretrained(base, os.path.join(d, "adapter")).eval()
            with torch.no_grad():
                got = model(torch.tensor([out["ids"]])).logits[0]
            diff = (got - torch.tensor(out["logits"])).abs().max().item()
            print(f"use_rslora={rs}: max abs difference llx vs PEFT logits {diff:.3g}")
            worst = max(worst, diff)
    sys.exit(0 if worst < 1e-4 else 1)


if __name__ == "__main__":
    main()
