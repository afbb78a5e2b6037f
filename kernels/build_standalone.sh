#!/usr/bin/env bash
# Builds only our kernels (kernels/) into the Hub layout, with nothing but
# python3 + torch, cmake, ninja and (for CUDA) nvcc: no kernel-lock libraries,
# no Debian -dev packages (Python headers are used when present).
#
#   kernels/build_standalone.sh BUILD_DIR [extra cmake args...]
#
# Environment: PYTHON (default python3; must import torch), CUDA_CAPS (CUDA
# capabilities, default build.toml's list, e.g. CUDA_CAPS="9.0a" for H100 only),
# CUDA=0 to skip the CUDA variants, JOBS (default: all cores), CXX / CUDAHOSTCXX (a
# GCC that links the shared libstdc++: configure refuses one that finds only libstdc++.a).
# Output: BUILD_DIR/hub-kernels/<name>/build/<variant>/ (API version 2) and
# BUILD_DIR/hub-kernels-v1/<name>/build/<variant>/ (API version 1), for
# <name> in activation, rmsnorm; variants torch<MM>-cxx11-cpu-<arch>-linux and
# torch<MM>-cxx11-cu<MM>-<arch>-linux.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [cmake args...]" >&2
  exit 2
fi
build="$1"; shift
python="${PYTHON:-python3}"
torch_dir="$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "share", "cmake", "Torch"))')"
args=(-DTorch_DIR="$torch_dir" -DPython3_EXECUTABLE="$(command -v "$python")" -DCMAKE_BUILD_TYPE=Release)
if [ "${CUDA:-1}" = 0 ]; then
  args+=(-DKERNEL_LOCK_BUILD_CUDA_KERNELS=OFF)
else
  if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
  fi
  args+=(-DKERNEL_LOCK_BUILD_CUDA_KERNELS=ON)
  [ -n "${CUDA_CAPS:-}" ] && args+=("-DKERNEL_LOCK_CUDA_CAPABILITIES=$CUDA_CAPS")
fi
command -v ccache >/dev/null 2>&1 && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
cmake -S "$here" -B "$build" "${gen[@]}" "${args[@]}" "$@"
cmake --build "$build" --target kernel_lock_hub_kernels -j "${JOBS:-$(nproc)}"
find "$build/hub-kernels" "$build/hub-kernels-v1" -name metadata.json | sort
