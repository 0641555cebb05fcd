#!/usr/bin/env bash
# Runs a folder written by llx's export.experiment the way a GPU machine would, here on CPU:
#   scripts/run_exported.sh DIR [CONFIG]
# launches `accelerate launch --config_file DIR/CONFIG DIR/train.py` (CONFIG: accelerate_config.yaml,
# the DDP config, or accelerate_fsdp.yaml) with 2 CPU processes (gloo backend; train.py picks it
# when there is no CUDA) in the reference environment (LLX_REF_VENV, default .venv-ref:
# scripts/ref_env.sh). The adapter and trainer_state.json land in DIR/output (or $LLX_OUTPUT);
# llx reads them back with load_trainer_state and lora.load_peft (notebooks/export_roundtrip.llx).
# The folder's own processes count is kept unless PROCESSES is set (e.g. PROCESSES=2 for a
# folder exported with processes: 8); the global batch must stay a multiple of micro batch x processes.
set -euo pipefail
DIR="${1:?usage: scripts/run_exported.sh DIR [accelerate_config.yaml|accelerate_fsdp.yaml]}"
CONFIG="${2:-accelerate_config.yaml}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${LLX_REF_VENV:-.venv-ref}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
[ -f "$DIR/train.py" ] || { echo "run_exported: $DIR/train.py does not exist (write DIR with export.experiment)" >&2; exit 2; }
[ -f "$DIR/$CONFIG" ] || { echo "run_exported: $DIR/$CONFIG does not exist" >&2; exit 2; }
[ -x "$VENV/bin/accelerate" ] || { echo "run_exported: no $VENV/bin/accelerate: run scripts/ref_env.sh" >&2; exit 2; }
EXTRA=()
[ -n "${PROCESSES:-}" ] && EXTRA=(--num_processes "$PROCESSES")
export PATH="$VENV/bin:$PATH"
echo "run_exported: accelerate launch --config_file $DIR/$CONFIG ${EXTRA[*]} $DIR/train.py"
exec accelerate launch --config_file "$DIR/$CONFIG" "${EXTRA[@]}" "$DIR/train.py"
