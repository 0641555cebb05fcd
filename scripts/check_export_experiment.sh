#!/usr/bin/env bash
# The exported experiment runs on the Hugging Face stack and agrees with llx: on the tiny model
# (notebooks/models/tiny256), export.experiment writes a LoRA run (scripts/check_export_experiment.llx),
# `accelerate launch` trains it on CPU with 2 processes (gloo), llx trains the same recipe
# itself, and then
#   - the loss curves (transformers' trainer_state.json vs llx's train history) must agree
#     within LOSS_TOL (default 1e-5; see docs/language.md, "export.experiment", for why),
#   - the trained adapter loaded back into llx (lora.load_peft) must give PEFT's logits within 1e-4.
# Two runs (pick one by naming it: scripts/check_export_experiment.sh [ddp] [nf4]):
#   ddp   the f32 LoRA recipe with accelerate_config.yaml (DDP)
#   nf4   the recipe on the NF4 base (double quant): llx's qlora against bitsandbytes' CPU
#         backend (skipped, saying so, when the environment has no bitsandbytes)
# accelerate_fsdp.yaml is not checked: accelerate (1.16) shards with FSDP on GPUs only, and on
# CPU processes that file trains as DDP (train.py says so).
# Needs the reference environment (torch, transformers, peft, accelerate; bitsandbytes for nf4):
# scripts/ref_env.sh; and a release build (.build/release/llx).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VENV="${LLX_REF_VENV:-.venv-ref}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
LLX="${LLX:-$ROOT/.build/release/llx}"
LOSS_TOL="${LOSS_TOL:-1e-5}"
[ -x "$VENV/bin/python" ] || { echo "no $VENV/bin/python: run scripts/ref_env.sh" >&2; exit 2; }
"$VENV/bin/python" -c "import torch, transformers, peft, accelerate" || { echo "$VENV lacks torch/transformers/peft/accelerate: run scripts/ref_env.sh" >&2; exit 2; }
RUNS=("$@")
[ ${#RUNS[@]} -gt 0 ] || RUNS=(ddp nf4)
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for run in "${RUNS[@]}"; do
  case "$run" in
    ddp) quant=none; config=accelerate_config.yaml; expect="DistributedDataParallel" ;;
    nf4) quant=nf4; config=accelerate_config.yaml; expect="DistributedDataParallel"
         if ! "$VENV/bin/python" -c "import bitsandbytes" 2>/dev/null; then
           echo "check_export_experiment: nf4: skipped: $VENV has no bitsandbytes (scripts/ref_env.sh installs it)"
           continue
         fi ;;
    *) echo "check_export_experiment: unknown run '$run' (ddp or nf4)" >&2; exit 2 ;;
  esac
  echo "== check_export_experiment: $run ($config, quant $quant)"
  W="$WORK/$run"
  "$LLX" run scripts/check_export_experiment.llx export "$W" "$ROOT" "$quant"
  if ! PATH="$VENV/bin:$PATH" accelerate launch --config_file "$W/exp/$config" "$W/exp/train.py" > "$W/launch.log" 2>&1; then
    tail -40 "$W/launch.log"; echo "check_export_experiment: $run: accelerate launch failed" >&2; exit 1
  fi
  grep -E "^train.py" "$W/launch.log" || true
  grep -q "trained as $expect" "$W/launch.log" || { echo "check_export_experiment: $run: not trained as $expect" >&2; exit 1; }
  if [ "$quant" = nf4 ]; then
    grep -q "nf4 True" "$W/launch.log" || { echo "check_export_experiment: nf4: train.py did not quantize the base" >&2; exit 1; }
  fi
  "$LLX" run scripts/check_export_experiment.llx compare "$W" "$ROOT" "$quant"
  "$VENV/bin/python" scripts/check_export_experiment.py "$W" "$LOSS_TOL"
  echo "check_export_experiment: $run: ok"
done
