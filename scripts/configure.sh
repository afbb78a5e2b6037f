#!/usr/bin/env bash
# Configures a build directory (default: build/) against the reference Python
# environment from scripts/setup.sh. Usage: scripts/configure.sh [BUILD_DIR] [cmake args...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"; shift || true
pyenv="$(bash "$root/scripts/setup.sh" | tail -n 1)"
python="$pyenv/bin/python"
torch_dir="$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "share", "cmake", "Torch"))')"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTorch_DIR="$torch_dir" -DKERNEL_LOCK_PYTHON="$python" "${launcher[@]}" "$@" >&2
echo "$build"
