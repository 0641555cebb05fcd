#!/usr/bin/env bash
# Installs the real Llama-3 vocabulary (from the PyPI package quicktok-v1) into the llx
# data folder, where tokenizer.llama3() finds it:
#   ${LLX_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/llx}/llama3/{llama3.vocab,llama3.special}
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${LLX_VENV:-.venv}"
DATA="${LLX_DATA:-${XDG_DATA_HOME:-$HOME/.local/share}/llx}"
dest="$DATA/llama3"
if [ -s "$dest/llama3.vocab" ] && [ -s "$dest/llama3.special" ]; then exit 0; fi
src=$("$VENV/bin/python" -c 'import quicktok, os; print(os.path.join(os.path.dirname(quicktok.__file__), "data"))')
mkdir -p "$dest"
cp "$src/llama3.vocab" "$dest/llama3.vocab.tmp" && mv "$dest/llama3.vocab.tmp" "$dest/llama3.vocab"
cp "$src/llama3.special" "$dest/llama3.special.tmp" && mv "$dest/llama3.special.tmp" "$dest/llama3.special"
echo "install_vocab: Llama-3 vocabulary in $dest"
