#!/usr/bin/env bash
# Peak RSS of export.hf on the Llama-3-8B shape (random NF4 weights + QLoRA, bf16 shards):
#   scripts/export_8b.sh [LAYERS]     (default 32; fewer layers of the same shape to extrapolate)
# Runs scripts/export_8b.llx twice under /usr/bin/time -v: building the model only, then
# building and exporting; prints both peaks (the export's own cost is their difference) and the
# size the merged model would have in f32.
set -euo pipefail
cd "$(dirname "$0")/.."
LLX="${LLX:-.build/release/llx}"
LAYERS="${1:-32}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
peak() { grep "Maximum resident set size" "$1" | awk '{printf "%.2f", $6 / 1048576}'; }
/usr/bin/time -v "$LLX" run scripts/export_8b.llx "$OUT/hf" "$LAYERS" build-only 2> "$OUT/build.time"
/usr/bin/time -v "$LLX" run scripts/export_8b.llx "$OUT/hf" "$LAYERS" 2> "$OUT/export.time"
du -sh "$OUT/hf"
python3 - "$LAYERS" <<'PY'
import sys
L = int(sys.argv[1])
p = 128256 * 4096 * 2 + L * (4096 * 4096 * 2 + 4096 * 1024 * 2 + 3 * 4096 * 14336) + (2 * L + 1) * 4096
print(f"{L} layers: {p / 1e9:.2f}B parameters; merged f32 {p * 4 / 2**30:.1f} GiB, bf16 {p * 2 / 2**30:.1f} GiB")
PY
echo "peak RSS building the model: $(peak "$OUT/build.time") GiB; building + export.hf: $(peak "$OUT/export.time") GiB"
