#!/usr/bin/env bash
# bench_context.sh: peak resident set size against prompt length. For each length, a fresh llx
# process runs scripts/context_ppl.llx (perplexity over one window of that many tokens on a
# random model: chunked prefill into a KV cache, log-probabilities streamed) under
# /usr/bin/time -v and prints one table row. Memory should grow only by the KV cache
# (small preset, f32 cache: 8 layers x 2 x 256 floats = 16 KB per token) plus a bounded constant.
# Usage: scripts/bench_context.sh [preset] [length ...]     (default: small 1024 8192 32768)
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-small}; shift || true
lengths=${*:-1024 8192 32768}
echo "| preset | tokens | peak RSS (MB, 10^6 bytes) | planner (MB) | wall (s) | planner time (s; windows >= 8192) | llx |"
echo "|---|---|---|---|---|---|---|"
for n in $lengths; do
    out=$(/usr/bin/time -v .build/release/llx run scripts/context_ppl.llx -p n="$n" -p preset="$preset" 2>&1)
    rss=$(echo "$out" | awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}')
    wall=$(echo "$out" | awk '/Elapsed \(wall clock\)/ {print $NF}')
    line=$(echo "$out" | grep '^tokens ' || echo "$out" | tail -3)
    planned=$(echo "$out" | awk '/^planner peak/ {print $3}')
    ptime=$(echo "$out" | awk '/^planner time/ {print $3}')
    echo "| $preset | $n | $((rss * 1024 / 1000000)) | $planned | $wall | ${ptime:--} | $line |"
    echo "$out" | grep -E '^\[eval.ppl\] plan:' || true
done
