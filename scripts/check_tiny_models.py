#!/usr/bin/env python3
"""Checks that the models the ten-fold notebook ships load in the reference stack.

For notebooks/models/tiny256, tiny256-x10 and tiny256-h8: Hugging Face `tokenizers` loads tokenizer.json
and encodes a needle prompt to the ids llx gives; transformers' LlamaForCausalLM loads the
directory (its rope_theta included) and gives llx's logits on those ids.

    scripts/ref_env.sh && .venv-ref/bin/python scripts/check_tiny_models.py
"""
import json, os, subprocess, sys, tempfile

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLX = os.path.join(ROOT, ".build", "release", "llx")
MODELS = os.path.join(ROOT, "notebooks", "models")


def llx_ids_and_logits(model_dir, out):
    code = f'''
let tok = tokenizer.load("{model_dir}")
let m = llama.load("{model_dir}")
let c = synth.retrieval(tok, count: 1, length: 400, distractors: 2, seed: 5)[0]
let ids = tok.chat([c.conversations[0]])
write_json("{out}.json", {{ids: ids, text: c.conversations[0].content}})
h5.write("{out}.h5", "/logits", logits(m, ids))
'''
    subprocess.run([LLX], input=code, text=True, check=True, cwd=ROOT)
    with open(out + ".json") as f:
        meta = json.load(f)
    import h5py
    with h5py.File(out + ".h5") as f:
        logits = f["/logits"][()]
    return meta, logits


def main():
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in ["tiny256", "tiny256-x10", "tiny256-h8"]:
            d = os.path.join(MODELS, name)
            meta, ref = llx_ids_and_logits(d, os.path.join(tmp, name))
            tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
            from transformers import AutoConfig
            cfg = AutoConfig.from_pretrained(d)
            # the chat template as text, specials recognised (llx's tok.chat)
            text = ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n" + meta["text"].strip()
                    + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
            ids = tok.encode(text, add_special_tokens=False).ids
            assert ids == meta["ids"], f"{name}: tokenizers gives other ids"
            model = LlamaForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
            with torch.no_grad():
                out = model(torch.tensor([ids])).logits[0].numpy()
            diff = float(np.abs(out - ref).max())
            worst = max(worst, diff)
            print(f"{name}: rope_theta {getattr(cfg, 'rope_theta', None) or (getattr(cfg, 'rope_parameters', None) or {}).get('rope_theta')}, {len(ids)} ids identical, max |logits - llx| {diff:.2e}")
    ok = worst < 1e-3
    print("ok" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
