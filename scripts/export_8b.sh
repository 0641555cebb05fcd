#!/usr/bin/env bash
# Peak RSS of export.hf on the Llama-3-8B shape (random NF4 weights + QLoRA, bf16 shards):
#   scripts/export_8b.sh [LAYERS]     (default 32; fewer layers of the same shape to extrapolate)
# scripts/export_8b.llx prints the peak RSS after building the model and after the export (the
# export's own cost is the difference); /usr/bin/time -v confirms the process's peak, and the
# size the merged model would have in f32 is printed for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
LLX="${LLX:-.build/release/llx}"
LAYERS="${1:-32}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
/usr/bin/time -v "$LLX" run scripts/export_8b.llx "$OUT/hf" "$LAYERS" 2> "$OUT/time.txt"
grep "Maximum resident set size" "$OUT/time.txt" | awk '{printf "process peak RSS (time -v): %.2f GiB\n", $6 / 1048576}'
du -sh "$OUT/hf"
python3 - "$LAYERS" <<'PY'
import sys
L = int(sys.argv[1])
p = 128256 * 4096 * 2 + L * (4096 * 4096 * 2 + 4096 * 1024 * 2 + 3 * 4096 * 14336) + (2 * L + 1) * 4096
print(f"{L} layers: {p / 1e9:.2f}B parameters; merged f32 {p * 4 / 2**30:.1f} GiB, bf16 {p * 2 / 2**30:.1f} GiB")
PY
