#!/usr/bin/env bash
# Sets up a fresh Debian machine for llx and builds it in release mode.
# Idempotent: on a machine that already has everything it only checks and rebuilds.
#   - apt: libopenblas-dev libhdf5-dev libreadline-dev pkg-config (only when missing)
#   - a small Python environment (.venv) with quicktok-v1 (the Llama-3 vocabulary), h5py, numpy,
#     tokenizers (WordLevelTests checks that it reads llx's saved tokenizer.json), nbformat,
#     nbclient, ipykernel, jupyter_client and the llx kernel package python/ (JupyterTests;
#     `llx kernel install --sys-prefix` then makes the kernel visible to this environment's Jupyter)
#   - the Llama-3 vocabulary into the llx data folder (scripts/install_vocab.sh)
#   - swift build -c release
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in libopenblas-dev libhdf5-dev libreadline-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

VENV="${LLX_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import quicktok, h5py, numpy, safetensors, tokenizers, nbformat, nbclient, ipykernel, jupyter_client' >/dev/null 2>&1; then
  echo "setup: installing Python packages into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check quicktok-v1 h5py numpy safetensors tokenizers \
    nbformat nbclient ipykernel jupyter_client
fi
# the llx Jupyter kernel (python/llx_kernel), editable: the kernelspec of `llx kernel install`
# runs this checkout's code with this Python
if ! "$VENV/bin/python" -c 'import llx_kernel, os, sys; sys.exit(os.path.realpath(llx_kernel.__file__) != os.path.realpath(sys.argv[1]))' \
     "python/llx_kernel/__init__.py" >/dev/null 2>&1; then
  echo "setup: installing the llx kernel package (python/) into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e python
fi

LLX_VENV="$VENV" bash scripts/install_vocab.sh

if [ "${LLX_SKIP_BUILD:-0}" != "1" ]; then
  echo "setup: swift build -c release"
  swift build -c release 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\] (Compiling|Emitting|Write|Linking|Merging|Applying)' || true
  test -x .build/release/llx
fi
echo "setup: done"
