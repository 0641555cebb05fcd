#!/usr/bin/env bash
# The per-process fuzzing harness (scripts/fuzz.py): grammar-aware llx scripts and mutated files
# through one piped release llx, findings saved under Tests/Fuzz/crashes/. For long runs use the
# in-process harness, `llx fuzz --scripts N --files M --seed S --jobs J` (Sources/REPL/Fuzz.swift),
# which makes the same kinds of cases and runs them in worker processes without a pipe per case.
#   scripts/fuzz.sh scripts --count 100000 --seed 1
#   scripts/fuzz.sh files --count 10000 --seed 1
#   scripts/fuzz.sh replay
set -euo pipefail
cd "$(dirname "$0")/.."
test -x .build/release/llx || swift build -c release
exec python3 scripts/fuzz.py "$@"
