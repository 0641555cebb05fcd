"""The PEFT half of scripts/check_export_experiment.sh: the adapter the exported experiment
trained (WORK/exp/output) on its base, through transformers + PEFT, and its logits on the ids of
WORK/llx_logits.json, compared with llx's logits of the same adapter loaded with lora.load_peft.
Prints the max abs difference; exit status 1 above 1e-4 (or when the loss curves differ by more
than the tolerance given as the second argument).

Run: python scripts/check_export_experiment.py WORK [loss_tolerance]
"""
import json
import os
import sys

import torch
from peft import PeftModel
from transformers import AutoConfig, AutoModelForCausalLM


def main():
    work = sys.argv[1]
    tol = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-5
    exp = os.path.join(work, "exp")
    recipe = json.load(open(os.path.join(exp, "experiment.json")))
    base = os.path.join(exp, recipe["base"]) if recipe["base_written_by_llx"] else recipe["base"]
    config = AutoConfig.from_pretrained(exp)
    model = AutoModelForCausalLM.from_pretrained(base, config=config, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, os.path.join(exp, "output")).eval()
    out = json.load(open(os.path.join(work, "llx_logits.json")))
    with torch.no_grad():
        got = model(torch.tensor([out["ids"]])).logits[0]
    diff = (got - torch.tensor(out["logits"])).abs().max().item()
    print(f"max |logits difference| llx vs PEFT (trained adapter): {diff:.3g}")
    print(f"max |loss difference| llx vs transformers over {out['steps']} steps: {out['loss_diff']:.3g} (tolerance {tol:g})")
    ok = diff < 1e-4 and out["loss_diff"] < tol and out["steps"] == len(json.load(open(os.path.join(work, "llx_run.json")))["loss"])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
