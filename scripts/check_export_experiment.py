"""The PEFT half of scripts/check_export_experiment.sh: the adapter the exported experiment
trained (WORK/exp/output) on its base, through transformers + PEFT, and its logits on the ids of
WORK/llx_logits.json, compared with llx's logits of the same adapter loaded with lora.load_peft.
An NF4 recipe's base is quantized by bitsandbytes on CPU as train.py does (nf4_on_cpu), and its
Linear4bit layers are kept off bitsandbytes' packed AVX512-bf16 inference path, which rounds the
block scales to bf16 (and refuses rows that are not a multiple of the block).
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
    kw = {}
    if recipe["quant"] == "nf4":
        sys.path.insert(0, exp)
        from train import nf4_on_cpu
        ok, what = nf4_on_cpu()
        if not ok:
            sys.exit(f"check_export_experiment.py: {what}")
        print(what)
        from transformers import BitsAndBytesConfig
        kw = {"quantization_config": BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                        bnb_4bit_use_double_quant=recipe["double_quant"],
                                                        bnb_4bit_compute_dtype=torch.float32),
              "device_map": {"": "cpu"}}
    model = AutoModelForCausalLM.from_pretrained(base, config=config, dtype=torch.float32, **kw)
    for m in model.modules():
        if hasattr(m, "support_avx512bf16_for_cpu"):
            m.support_avx512bf16_for_cpu = False
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
