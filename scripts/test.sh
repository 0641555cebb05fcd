#!/usr/bin/env bash
# Runs the whole test suite: sets up what is missing, builds llx, then `swift test` in
# release mode (numeric tests are far too slow in debug builds). Ends with one summary line
# "tests: N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
LLX_SKIP_BUILD=1 bash scripts/setup.sh
export LLX_VENV="${LLX_VENV:-$PWD/.venv}"
# The REPL and notebook tests drive the built llx binary, so build it first.
swift build -c release
log=$(mktemp)
set +e
swift test -c release --disable-swift-testing "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with" "$log" | tail -1)
rm -f "$log"
if [[ "$summary" =~ Executed\ ([0-9]+)\ tests?,\ with\ ([0-9]+)\ tests?\ skipped\ and\ ([0-9]+)\ failures? ]]; then
  total=${BASH_REMATCH[1]}; skipped=${BASH_REMATCH[2]}; failed=${BASH_REMATCH[3]}
  echo "tests: $((total - skipped - failed)) passed, $failed failed, $skipped skipped"
elif [[ "$summary" =~ Executed\ ([0-9]+)\ tests?,\ with\ ([0-9]+)\ failures? ]]; then
  total=${BASH_REMATCH[1]}; failed=${BASH_REMATCH[2]}
  echo "tests: $((total - failed)) passed, $failed failed"
fi
exit "$status"
