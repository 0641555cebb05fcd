#!/usr/bin/env bash
# The fuzzing harness (scripts/fuzz.py): grammar-aware llx scripts and mutated files through the
# release build of llx, findings saved under Tests/Fuzz/crashes/.
#   scripts/fuzz.sh scripts --count 100000 --seed 1
#   scripts/fuzz.sh files --count 10000 --seed 1
#   scripts/fuzz.sh replay
set -euo pipefail
cd "$(dirname "$0")/.."
test -x .build/release/llx || swift build -c release
exec python3 scripts/fuzz.py "$@"
