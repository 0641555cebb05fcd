#!/bin/bash
# The checked build's cost: alternates two llx binaries (the default build, whose parsers and
# language keep Swift's checks, and one built with LLX_UNCHECKED=1, every module -Ounchecked)
# on `llx bench NAME`, ROUNDS rounds, each run under /usr/bin/time (user + system CPU seconds
# of the process and its wall seconds) beside the bench's own lines. On a shared machine read
# the CPU seconds: wall-clock figures follow the load. Run from the repository root.
#
#   LLX_UNCHECKED=1 swift build -c release --scratch-path .build-unchecked
#   scripts/bench_checked.sh .build/release/llx .build-unchecked/release/llx 5 OUTDIR tokenizer checkpoint lang llama
#
# LLX_BENCH_CPU=1 is set (lang reports CPU time); LLX_BENCH_TEXT passes through (tokenizer).
set -euo pipefail
if [ $# -lt 5 ]; then
  echo "usage: $0 CHECKED_LLX UNCHECKED_LLX ROUNDS OUTDIR bench..." >&2
  exit 2
fi
A=$1; B=$2; ROUNDS=$3; OUT=$4; shift 4
mkdir -p "$OUT"
for r in $(seq 1 "$ROUNDS"); do
  for b in "$@"; do
    for v in checked unchecked; do
      bin=$A; [ $v = unchecked ] && bin=$B
      echo "### round $r bench $b $v $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/$b.log"
      LLX_BENCH_CPU=1 /usr/bin/time -f "time: user %U sys %S wall %e" "$bin" bench "$b" >> "$OUT/$b.log" 2>&1
    done
  done
done
echo "wrote $OUT/*.log"
