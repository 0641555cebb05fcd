#!/usr/bin/env bash
# The exported experiment runs on the Hugging Face stack and agrees with llx: on the tiny model
# (notebooks/models/tiny256), export.experiment writes a LoRA run (scripts/check_export_experiment.llx),
# `accelerate launch` trains it on CPU with 2 processes (gloo), llx trains the same recipe
# itself, and then
#   - the loss curves (transformers' trainer_state.json vs llx's train history) must agree
#     within LOSS_TOL (default 1e-5; see docs/language.md, "export.experiment", for why),
#   - the trained adapter loaded back into llx (lora.load_peft) must give PEFT's logits within 1e-4.
# Needs the reference environment (torch, transformers, peft, accelerate): scripts/ref_env.sh;
# and a release build (.build/release/llx).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VENV="${LLX_REF_VENV:-.venv-ref}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
LLX="${LLX:-$ROOT/.build/release/llx}"
LOSS_TOL="${LOSS_TOL:-1e-5}"
[ -x "$VENV/bin/python" ] || { echo "no $VENV/bin/python: run scripts/ref_env.sh" >&2; exit 2; }
"$VENV/bin/python" -c "import torch, transformers, peft, accelerate" || { echo "$VENV lacks torch/transformers/peft/accelerate: run scripts/ref_env.sh" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$LLX" run scripts/check_export_experiment.llx export "$WORK" "$ROOT"
PATH="$VENV/bin:$PATH" accelerate launch --config_file "$WORK/exp/accelerate_config.yaml" "$WORK/exp/train.py"
"$LLX" run scripts/check_export_experiment.llx compare "$WORK" "$ROOT"
"$VENV/bin/python" scripts/check_export_experiment.py "$WORK" "$LOSS_TOL"
