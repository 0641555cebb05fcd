#!/usr/bin/env bash
# Sets up a fresh Debian machine for llx and builds it in release mode.
# Idempotent: on a machine that already has everything it only checks and rebuilds.
#   - checks that Swift is installed (and says how to get it when it is not)
#   - apt: libopenblas-dev libhdf5-dev libreadline-dev pkg-config, and python3-venv when
#     `python3 -m venv` cannot work (only when missing; as root, or through sudo)
#   - a small Python environment (.venv) with quicktok-v1 (the Llama-3 vocabulary), h5py, numpy,
#     tokenizers (WordLevelTests checks that it reads llx's saved tokenizer.json), nbformat,
#     nbclient, ipykernel, jupyter_client and the llx kernel package python/ (JupyterTests;
#     `llx kernel install --sys-prefix` then makes the kernel visible to this environment's Jupyter)
#   - the Llama-3 vocabulary into the llx data folder (scripts/install_vocab.sh)
#   - swift build -c release
set -euo pipefail
cd "$(dirname "$0")/.."

# Swift is not in Debian's archive: say where to get it rather than fail later in `swift build`.
if ! command -v swift >/dev/null 2>&1; then
  cat >&2 <<'MSG'
setup: Swift is not installed (no `swift` on PATH). llx needs Swift 5.10 or later (6.x tested).
  Install it with swiftly, the official toolchain installer (https://www.swift.org/install/linux/):
    curl -O https://download.swift.org/swiftly/linux/swiftly-$(uname -m).tar.gz
    tar zxf swiftly-$(uname -m).tar.gz && ./swiftly init
  or unpack a toolchain from https://www.swift.org/download/ and put its usr/bin on PATH,
  then run scripts/setup.sh again.
MSG
  exit 1
fi

need=()
for pkg in libopenblas-dev libhdf5-dev libreadline-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
# `python3 -m venv` needs ensurepip, which Debian ships in python3-venv, not in python3.
if ! command -v python3 >/dev/null 2>&1; then
  need+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  need+=(python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "setup: missing Debian packages: ${need[*]}" >&2
      echo "setup: run this script as root, or install them: apt-get install ${need[*]}" >&2
      exit 1
    fi
  fi
  echo "setup: installing ${need[*]}"
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
