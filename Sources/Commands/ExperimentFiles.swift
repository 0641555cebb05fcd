// ExperimentFiles: the files export.experiment writes besides the data and the weights:
// train.py (transformers + PEFT + bitsandbytes under accelerate; the recipe is spliced in at
// @RECIPE@), the accelerate configs, the pinned requirements and the README.
import Foundation

enum ExperimentFiles {
    /// The versions the exported run was checked with (scripts/ref_env.sh installs them;
    /// scripts/check_export_experiment.sh runs the check). bitsandbytes runs NF4 on CUDA and, with
    /// its CPU backend, on CPU.
    static let requirements = """
    # the versions llx's export check (scripts/check_export_experiment.sh) ran with
    torch==2.15.0
    transformers==5.25.0
    peft==0.21.2
    accelerate==1.16.0
    safetensors==0.8.0
    tokenizers==0.23.3
    bitsandbytes==0.50.2; sys_platform == "linux"

    """

    /// DDP over `processes` processes: CUDA GPUs (NCCL) where there are, else CPU processes
    /// (gloo; train.py picks the backend). One process: no distribution.
    static func ddpConfig(processes: Int) -> String {
        """
        # accelerate config written by llx export.experiment: DDP over \(processes) process\(processes == 1 ? "" : "es")
        # (one per GPU; on a machine without CUDA the same file runs CPU processes with gloo).
        # The global batch is micro_batch x gradient accumulation x processes = llx's batch.
        compute_environment: LOCAL_MACHINE
        distributed_type: \(processes == 1 ? "'NO'" : "MULTI_GPU")
        num_machines: 1
        machine_rank: 0
        num_processes: \(processes)
        gpu_ids: all
        main_training_function: main
        mixed_precision: 'no'
        rdzv_backend: static
        same_network: true
        use_cpu: false

        """
    }

    /// FSDP (full shard) for models that do not fit one GPU with DDP (Llama-3-8B at long context).
    static func fsdpConfig(processes: Int) -> String {
        """
        # accelerate config written by llx export.experiment: FSDP (ZeRO-3-like full sharding) over
        # \(processes) GPUs, for an 8B base at long context. train.py stores NF4 weights in the
        # compute dtype (bnb_4bit_quant_storage) so that FSDP can shard them. Not checked by llx
        # (no GPU there): accelerate shards with FSDP on GPUs only; on a machine without CUDA this
        # file runs as DDP over CPU processes (train.py says so), a smoke test, not FSDP.
        # Launch: accelerate launch --config_file accelerate_fsdp.yaml train.py
        # (set num_processes to your GPU count; the global batch must stay llx's batch).
        compute_environment: LOCAL_MACHINE
        distributed_type: FSDP
        num_machines: 1
        machine_rank: 0
        num_processes: \(processes)
        mixed_precision: bf16
        rdzv_backend: static
        same_network: true
        use_cpu: false
        fsdp_config:
          fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
          fsdp_transformer_layer_cls_to_wrap: LlamaDecoderLayer
          fsdp_sharding_strategy: FULL_SHARD
          fsdp_backward_prefetch: BACKWARD_PRE
          fsdp_forward_prefetch: false
          fsdp_offload_params: false
          fsdp_state_dict_type: SHARDED_STATE_DICT
          fsdp_cpu_ram_efficient_loading: true
          fsdp_sync_module_states: true
          fsdp_use_orig_params: false

        """
    }

    static func readme(recipe: [String: Any], baseRef: String?, tokenizer: Bool, dropped: Int, truncated: Int) -> String {
        func v(_ k: String) -> String { recipe[k].map { "\($0)" } ?? "-" }
        let base = baseRef.map { "referenced, not copied: `\($0)` (the weights llx loaded; `config.json` here overrides its RoPE)" }
            ?? "written by llx into `base/` (\(v("base_dtype")); llx made this model, so there is no other copy)"
        return """
        # An llx experiment for transformers + PEFT + accelerate

        Written by llx's `export.experiment`. It is the `train(...)` run of the llx session, set up
        for the Hugging Face stack: the same base, initial adapter, data order and recipe.

        ## Run

        ```sh
        pip install -r requirements.txt
        accelerate launch --config_file accelerate_config.yaml train.py     # DDP, \(v("processes")) process(es)
        # an 8B base on several GPUs:
        accelerate launch --config_file accelerate_fsdp.yaml train.py
        ```

        (from any folder: the paths are relative to train.py). It leaves the adapter
        (`adapter_config.json`, `adapter_model.safetensors`, `llx_base.json`), `trainer_state.json` and `experiment.json` (the recipe run)
        in `output/` (or `$LLX_OUTPUT`). Back in llx:

        ```
        let s = load_trainer_state("output")          # s.steps, s.loss, s.lr, s.history
        plot.line(s.steps, {gpu: s.loss}, title: "loss")
        lora.load_peft(llama.load(BASE), "output")    # the trained adapter, its RoPE applied
        ```

        Needs: Python 3.10+, the packages of `requirements.txt`; NF4 (`quant: nf4`) needs bitsandbytes.
        Without CUDA, train.py runs on CPU processes (gloo) in f32, NF4 through bitsandbytes' CPU
        backend; where that cannot quantize, it keeps an NF4 recipe's base dense and says so (the
        losses then differ from llx's NF4 run by NF4's rounding). accelerate shards with FSDP on GPUs
        only: on CPU the FSDP config runs as DDP (replicated), which train.py says.

        ## What is here

        | file | |
        |---|---|
        | `config.json` | the model config with the session's rope_theta / rope_scaling (\(((recipe["llx_base"] as? [String: Any])?["rope_theta"]).map { "\($0)" } ?? "")) |
        | base | \(base) |
        | `init_adapter/` | the adapter as it was at export (PEFT format): llx's lora_A draws, lora_B, and the modules trained whole; train.py starts from it |
        | `data.jsonl` | the \(v("examples")) training sequences in `conversations` / `text` format, in llx's order: step after step, each step's batch of \(v("batch")) in a row (\(v("steps")) steps); nothing is shuffled in Python (a sequential sampler)\(dropped + truncated > 0 ? "; llx left out \(dropped) record(s) and cut \(truncated) to max_len" : "") |
        | `tokens.jsonl` | llx's token ids and loss labels of each line of data.jsonl; train.py tokenizes data.jsonl itself (Llama-3 chat template, loss on the assistant replies and their `<|eot_id|>` only) and stops if it disagrees with these |
        | `tokenizer/` | \(tokenizer ? "the tokenizer files" : "(none: train.py uses tokens.jsonl as it is)") |
        | `train.py` | transformers `Trainer` + PEFT `LoraConfig`; the recipe is `RECIPE` at its top |
        | `experiment.json` | the same recipe as JSON |
        | `accelerate_config.yaml`, `accelerate_fsdp.yaml` | DDP over \(v("processes")) process(es) (GPUs, or CPU processes with gloo); FSDP full shard for 8B (GPUs) |
        | `requirements.txt` | pinned versions (those llx's check ran with) |

        ## The recipe

        LoRA rank \(v("rank")), alpha \(v("alpha")), dropout \(v("dropout")), rsLoRA \(v("use_rslora")), on \(v("targets")); trained whole
        (PEFT `modules_to_save`): \(v("modules_to_save")); base quantization \(v("quant")) (double quant \(v("double_quant"))).
        AdamW lr \(v("lr")), betas \(v("betas")), eps \(v("eps")), weight decay \(v("weight_decay")) on every trainable
        tensor (as llx); schedule \(v("schedule")) with \(v("warmup")) warmup steps over \(v("steps")) steps; batch \(v("batch"))
        sequences a step (micro batch \(v("micro_batch")) x accumulation x processes); gradient clipping \(v("clip"))
        (0: none); max length \(v("max_len")); gradient checkpointing \(v("checkpointing")). The loss of a step is the
        mean over all its loss tokens (transformers' `num_items_in_batch`, averaged across processes),
        as in llx.

        Differences that remain: with dropout > 0 the dropout masks are torch's, not llx's; on CUDA
        the compute dtype is bf16 (set `LLX_COMPUTE_DTYPE=float32` for llx's f32); transformers logs
        the learning rate of the step it took.

        """
    }

    static let trainPy = #"""
#!/usr/bin/env python3
"""An llx experiment on transformers + PEFT (+ bitsandbytes for NF4), written by llx's
export.experiment. Run it from anywhere with

    accelerate launch --config_file DIR/accelerate_config.yaml DIR/train.py

It trains the LoRA recipe in RECIPE (the settings of llx's `train`) from llx's own initial
adapter (init_adapter/) on data.jsonl in llx's order (a sequential sampler: nothing is
shuffled here; the global batch of every step is llx's batch of that step), and leaves the
adapter (adapter_config.json + adapter_model.safetensors + llx_base.json) and
trainer_state.json in DIR/output/. See README.md.

Environment: LLX_COMPUTE_DTYPE (float32 | bfloat16; default bfloat16 on CUDA, float32 on
CPU), LLX_OUTPUT (default DIR/output).
"""
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RECIPE = json.loads(r"""
@RECIPE@
""")

import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, Trainer, TrainingArguments, set_seed
from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

IGNORE = -100


def here(p):
    return p if os.path.isabs(p) else os.path.join(HERE, p)


def rank0():
    return int(os.environ.get("RANK", "0")) == 0


def say(*a):
    if rank0():
        print("train.py:", *a, flush=True)


def fail(msg):
    print("train.py: error: " + msg, file=sys.stderr, flush=True)
    sys.exit(2)


# ---- data: llx's tokenization and loss masks, redone here and checked against llx's ----

def chat_text(messages, generation_prompt):
    """llx's Llama-3 chat template (Meta-Llama-3-8B-Instruct's: content stripped, BOS first)."""
    s = ""
    for i, m in enumerate(messages):
        if i == 0:
            s += "<|begin_of_text|>"
        s += "<|start_header_id|>" + m["role"] + "<|end_header_id|>\n\n" + m["content"].strip() + "<|eot_id|>"
    if generation_prompt:
        s += "<|start_header_id|>assistant<|end_header_id|>\n\n"
    return s


class Tok:
    def __init__(self, path):
        from tokenizers import Tokenizer
        self.t = Tokenizer.from_file(path)
        self.bos = self.t.token_to_id("<|begin_of_text|>")

    def enc(self, s):
        return self.t.encode(s, add_special_tokens=False).ids


def conversation(tok, messages):
    """Loss on each assistant reply and its <|eot_id|> only: a reply i spans
    [len(chat(messages[:i], generation prompt)), len(chat(messages[:i+1]))), as in llx."""
    full = tok.enc(chat_text(messages, False))
    labels = [IGNORE] * len(full)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = tok.enc(chat_text(messages[:i], True))
        end = len(full) if i == len(messages) - 1 else len(tok.enc(chat_text(messages[: i + 1], False)))
        if full[: len(before)] != before or end > len(full):
            fail("the chat template does not render conversation prefixes as prefixes")
        labels[len(before):end] = full[len(before):end]
    return full, labels


def examples():
    records = [json.loads(l) for l in open(here("data.jsonl"))]
    ref = [json.loads(l) for l in open(here("tokens.jsonl"))]
    if len(records) != len(ref):
        fail(f"data.jsonl has {len(records)} records, tokens.jsonl {len(ref)}")
    tok = Tok(here("tokenizer/tokenizer.json")) if os.path.exists(here("tokenizer/tokenizer.json")) else None
    if tok is None:
        say("no tokenizer/tokenizer.json: using llx's token ids (tokens.jsonl)")
    max_len = RECIPE["max_len"]
    out = []
    for i, (r, want) in enumerate(zip(records, ref)):
        if "input_ids" in r:
            ids, labels = r["input_ids"], r["labels"]
        elif tok is None:
            ids, labels = want["input_ids"], want["labels"]
        elif "conversations" in r:
            ids, labels = conversation(tok, r["conversations"])
        else:
            ids = [tok.bos] + tok.enc(r["text"])
            labels = list(ids)
        if max_len and len(ids) > max_len:
            if "conversations" in r:
                fail(f"data.jsonl line {i + 1}: a conversation of {len(ids)} tokens, longer than max_len {max_len}")
            ids, labels = ids[:max_len], labels[:max_len]
        if ids != want["input_ids"] or labels != want["labels"]:
            k = next((j for j in range(min(len(ids), len(want["input_ids"])))
                      if ids[j] != want["input_ids"][j] or labels[j] != want["labels"][j]), min(len(ids), len(want["input_ids"])))
            fail(f"data.jsonl line {i + 1}: this tokenizer gives other ids or labels than llx's (tokens.jsonl line {i + 1}), "
                 f"first at position {k}; the runs would not be the same experiment")
        out.append({"input_ids": ids, "labels": labels})
    return out


class Rows(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def collate(rows):
    """Right padding: a causal model's outputs at real positions do not see the padding."""
    n = max(len(r["input_ids"]) for r in rows)
    ids = torch.zeros(len(rows), n, dtype=torch.long)
    labels = torch.full((len(rows), n), IGNORE, dtype=torch.long)
    mask = torch.zeros(len(rows), n, dtype=torch.long)
    for i, r in enumerate(rows):
        k = len(r["input_ids"])
        ids[i, :k] = torch.tensor(r["input_ids"])
        labels[i, :k] = torch.tensor(r["labels"])
        mask[i, :k] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def token_mean_loss(outputs, labels, num_items_in_batch=None):
    """llx's loss: the sum of the token losses over the loss tokens of the whole step (every
    micro batch of every process: transformers' num_items_in_batch), so a step's gradient is
    that of the mean over all its loss tokens, whatever the sequences' lengths."""
    logits = outputs.logits.float()
    ce = torch.nn.functional.cross_entropy(logits[:, :-1, :].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1).to(logits.device),
                                           ignore_index=IGNORE, reduction="sum")
    if num_items_in_batch is None:
        return ce / (labels[:, 1:] != IGNORE).sum()
    return ce / num_items_in_batch


def nf4_on_cpu():
    """Whether bitsandbytes' CPU backend runs this NF4 recipe here: (True, what runs) or (False, why not).
    It is checked on a matrix whose rows are not a multiple of the 64-value block (tiny256's
    down_proj has 352 inputs): bitsandbytes 0.50.2's CPU dequantize_4bit kernel takes the blocks
    row by row, while quantize_4bit (and llx) lay them over the flattened tensor, so such weights
    come back wrong (max error 0.79 on tiny256's down_proj, whose largest weight is 0.97). When
    the check finds that, the CPU kernel is replaced by a dequantization over flat blocks."""
    try:
        import bitsandbytes
        import bitsandbytes.functional as bf
    except ImportError as e:
        return False, f"no bitsandbytes ({e})"
    w = torch.randn(64, 96, generator=torch.Generator().manual_seed(0))

    def error():
        q, st = bf.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
        return (bf.dequantize_4bit(q, st) - w).abs().max().item()

    bound = 0.16 * w.abs().max().item()  # NF4's widest gap is 0.304 of a block's absmax
    try:
        err = error()
    except Exception as e:
        return False, f"bitsandbytes {bitsandbytes.__version__} cannot quantize on CPU ({type(e).__name__}: {e})"
    what = f"NF4 through bitsandbytes {bitsandbytes.__version__} on CPU"
    if err > bound:
        def dequantize_flat(A, absmax, blocksize, quant_type, shape, dtype):
            codes = A.view(torch.uint8).reshape(-1)
            q = torch.stack([codes >> 4, codes & 0xF], dim=1).reshape(-1).long()
            n = 1
            for d in shape:
                n *= d
            values = bf.get_4bit_type(quant_type, device=A.device)[q[:n]]
            return (values * absmax.float()[torch.arange(n) // blocksize]).reshape(shape).to(dtype)

        torch.library.register_kernel("bitsandbytes::dequantize_4bit", "cpu", dequantize_flat)
        fixed = error()
        if fixed > bound:
            return False, f"bitsandbytes {bitsandbytes.__version__}'s CPU NF4 round trip is off by {err:.3g} (> {bound:.3g})"
        what += (f" (its CPU dequantize_4bit was off by {err:.3g} on rows that are not a multiple of the block; "
                 f"replaced by flat blocks: {fixed:.3g})")
    return True, what


class LLXTrainer(Trainer):
    def get_decay_parameter_names(self, model):
        # llx's AdamW decays every trainable tensor (transformers leaves out norms and biases)
        return [n for n, _ in model.named_parameters()]


def main():
    cuda = torch.cuda.is_available()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    fsdp = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    dtype = getattr(torch, os.environ.get("LLX_COMPUTE_DTYPE", "bfloat16" if cuda else "float32"))
    if fsdp and not cuda:
        # accelerate shards with FSDP on GPUs only: on CPU processes (gloo) its state stays
        # MULTI_CPU, i.e. DDP (accelerate 1.16), and its FSDP plugin refuses sync_module_states
        # ("FSDP parameter initialization with `sync_module_states=True` is not supported on
        # cpu"), which cpu_ram_efficient_loading forces on. So that the FSDP file can still be
        # tried on CPU (loading, data, recipe), every process loads the weights itself, in f32,
        # and the run is replicated, not sharded; train.py says so.
        os.environ["FSDP_SYNC_MODULE_STATES"] = "false"
        os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] = "false"
        os.environ["ACCELERATE_MIXED_PRECISION"] = "no"
        say("the FSDP config on CPU: accelerate shards with FSDP on GPUs only, so this run is DDP over CPU processes "
            "(replicated, not sharded)")
    micro, batch = RECIPE["micro_batch"], RECIPE["batch"]
    if batch % (micro * world):
        fail(f"llx's batch {batch} is not a multiple of micro_batch {micro} x {world} processes")
    accum = batch // (micro * world)
    set_seed(RECIPE["seed"])

    rows = examples()
    if len(rows) != RECIPE["steps"] * batch:
        fail(f"data.jsonl holds {len(rows)} sequences; {RECIPE['steps']} steps of batch {batch} need {RECIPE['steps'] * batch}")

    config = AutoConfig.from_pretrained(HERE)  # config.json: the session's rope_theta / rope_scaling
    kw = {"config": config, "dtype": dtype}
    nf4 = RECIPE["quant"] == "nf4"
    bnb = nf4 and cuda
    if nf4 and not cuda:
        bnb, what = nf4_on_cpu()
        if bnb:
            say(what)
        else:
            say(f"NF4 cannot run on this CPU: {what}; the base stays dense "
                f"({dtype}), so the losses differ from llx's NF4 run by the quantization error")
    if bnb:
        from transformers import BitsAndBytesConfig
        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=RECIPE["double_quant"],
            bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_storage=dtype if fsdp else torch.uint8)
        if not fsdp:
            kw["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0")) if cuda else "cpu"}
    # base/ here when llx wrote it; else the path or hub name llx's model came from
    base = here(RECIPE["base"]) if RECIPE["base_written_by_llx"] else RECIPE["base"]
    model = AutoModelForCausalLM.from_pretrained(base, **kw)
    if bnb:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=RECIPE["checkpointing"],
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
    to_save = list(RECIPE["modules_to_save"]) or None  # a copy: PEFT extends the list it is given
    lora = LoraConfig(r=RECIPE["rank"], lora_alpha=RECIPE["alpha"], lora_dropout=RECIPE["dropout"],
                      target_modules=RECIPE["targets"], use_rslora=RECIPE["use_rslora"], modules_to_save=to_save,
                      bias="none", task_type="CAUSAL_LM",
                      ensure_weight_tying=bool(to_save) and bool(getattr(config, "tie_word_embeddings", False)))
    model = get_peft_model(model, lora)
    # llx's initial adapter (its lora_A draws; B = 0; the trainable embeddings' start)
    init = load_file(here("init_adapter/adapter_model.safetensors"))
    emb, head = "base_model.model.model.embed_tokens.weight", "base_model.model.lm_head.weight"
    if lora.ensure_weight_tying and emb in init and head not in init:
        init[head] = init[emb]  # llx's tied head is the embedding; PEFT's weight tying keeps a key for it
    res = set_peft_model_state_dict(model, init)
    if res.unexpected_keys:
        fail(f"init_adapter has tensors this model has no place for: {res.unexpected_keys[:4]}")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if trainable != RECIPE["trainable_parameters"]:
        fail(f"{trainable} trainable parameters here, {RECIPE['trainable_parameters']} in llx")
    say(f"{world} process(es), micro batch {micro} x accumulation {accum} x {world} = batch {batch}; "
        f"{RECIPE['steps']} steps; {trainable} trainable parameters; compute {dtype}; nf4 {bnb}; "
        f"{'FSDP' if fsdp else 'DDP' if world > 1 else 'one process'} config on {'CUDA' if cuda else 'CPU (gloo)' if world > 1 else 'CPU'}")

    out = os.environ.get("LLX_OUTPUT", here("output"))
    args = TrainingArguments(
        output_dir=out, per_device_train_batch_size=micro, gradient_accumulation_steps=accum,
        max_steps=RECIPE["steps"], learning_rate=RECIPE["lr"], lr_scheduler_type=RECIPE["schedule"],
        warmup_steps=RECIPE["warmup"], weight_decay=RECIPE["weight_decay"], adam_beta1=RECIPE["betas"][0],
        adam_beta2=RECIPE["betas"][1], adam_epsilon=RECIPE["eps"], optim="adamw_torch",
        max_grad_norm=RECIPE["clip"] or 0.0, logging_steps=1, save_strategy="no", report_to="none",
        train_sampling_strategy="sequential", dataloader_drop_last=False, remove_unused_columns=False,
        gradient_checkpointing=RECIPE["checkpointing"], gradient_checkpointing_kwargs={"use_reentrant": False},
        # train(compute_dtype: "bf16") is autocast to bf16 here, as the Trainer's bf16 flag does
        bf16=(cuda and dtype == torch.bfloat16) or RECIPE.get("compute_dtype") == "bf16", use_cpu=not cuda,
        seed=RECIPE["seed"],
        average_tokens_across_devices=True, ddp_find_unused_parameters=False,
        ddp_backend=None if cuda else "gloo")
    trainer = LLXTrainer(model=model, args=args, train_dataset=Rows(rows), data_collator=collate,
                         compute_loss_func=token_mean_loss)
    trainer.train()
    say(f"trained as {type(trainer.model_wrapped).__name__}")
    trainer.save_model(out)
    if trainer.is_world_process_zero():
        trainer.state.save_to_json(os.path.join(out, "trainer_state.json"))
        # the base's RoPE travels with the adapter (lora.load_peft applies or checks it)
        with open(os.path.join(out, "llx_base.json"), "w") as f:
            json.dump(RECIPE["llx_base"], f, indent=2, sort_keys=True)
        # the recipe this run trained (the folder's experiment.json), so that a results folder
        # says which experiment it is
        shutil.copyfile(here("experiment.json"), os.path.join(out, "experiment.json"))
        say(f"adapter and trainer_state.json in {out}")


if __name__ == "__main__":
    main()
"""#
}
