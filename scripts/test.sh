#!/usr/bin/env bash
# Runs the whole test suite: sets up what is missing, then `swift test` in release mode
# (numeric tests are far too slow in debug builds).
set -euo pipefail
cd "$(dirname "$0")/.."
LLX_SKIP_BUILD=1 bash scripts/setup.sh
export LLX_VENV="${LLX_VENV:-$PWD/.venv}"
# The REPL and notebook tests drive the built llx binary, so build it first.
swift build -c release
swift test -c release "$@"
