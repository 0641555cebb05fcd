#!/usr/bin/env bash
# Creates the reference Python environment used by the fixture generators and peer
# benchmarks (torch CPU, transformers, peft, bitsandbytes, accelerate, h5py, quicktok, metric
# packages; accelerate launches the runs export.experiment writes: scripts/check_export_experiment.sh).
# Not needed to build or test llx: the fixtures it writes are committed.
#   LLX_REF_VENV (default .venv-ref) names the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LLX_REF_VENV:-.venv-ref}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check torch transformers peft bitsandbytes accelerate \
  h5py quicktok-v1 safetensors numpy rouge fuzzywuzzy python-Levenshtein jieba tokenizers
echo "ref_env: $VENV ready"
