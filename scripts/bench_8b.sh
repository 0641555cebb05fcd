#!/usr/bin/env bash
# bench_8b.sh: peak RSS of the llama3-8b shape on the path llama.load takes (a sharded bf16 HF
# directory of random weights, loaded with quant "nf4", embeddings "bf16"; bf16 KV cache),
# through `llx bench memory8b`: the load, then perplexity-style prefills (chunked, every
# position's log-probability streamed), each phase's peak beside the planner's prediction.
#   scripts/bench_8b.sh full      256 and 4096 tokens on all 32 layers (16 GB written to
#                                 /tmp/llx-8b-hf the first time; about 6 GB of RAM)
#   scripts/bench_8b.sh cut [N] [T]  the 8B shape cut to N layers (default 2): a prompt's prefill
#                                 of T tokens (default 32768), last logits only (as generate;
#                                 all 32K rows of the 128K-vocabulary head would take longer
#                                 than the layers)
# Each run is one process under /usr/bin/time -v; the lines of llx bench memory8b follow.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-full}
if [ "$mode" = full ]; then
    export LLX_8B_TOKENS=${LLX_8B_TOKENS:-256,4096}
    /usr/bin/time -v .build/release/llx bench memory8b 2>&1 | grep -E 'wrote|llama.load|prefill|speed|planner|failed|Maximum resident|Elapsed'
else
    export LLX_8B_LAYERS=${2:-2} LLX_8B_TOKENS=${3:-32768} LLX_8B_LOGITS=last
    /usr/bin/time -v .build/release/llx bench memory8b 2>&1 | grep -E 'wrote|llama.load|prefill|planner|failed|Maximum resident|Elapsed'
fi
