#!/usr/bin/env bash
# Everything GPU-side, on a GPU host, from a folder made by bench/gpu_prepare.sh:
#   1. install the bundle into a fresh cache, verify it, and load the CUDA
#      variants with the C++ example (no Python in that process), then with
#      the Python `kernels` from the same cache (offline, lock-pinned);
#   2. correctness of our CUDA kernels against PyTorch (tests/gpu);
#   3. the kernels' benchmark against eager / torch.compile / copy bandwidth;
#   4. bundle / install throughput on that host's cores.
#   bench/gpu_run.sh PREPARED_DIR RESULTS_DIR
# Needs python3 with torch and the `kernels` package (pip-installed from wheels
# if need be). Each step's output goes to RESULTS_DIR.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
d="$(cd "$1" && pwd)"; results="$2"; mkdir -p "$results"
torch_lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
export LD_LIBRARY_PATH="$d/lib:$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" PYTHONUNBUFFERED=1 PATH="$d/bin:$PATH"
status=0
nvidia-smi -L | tee "$results/device.txt"

echo "== 1. bundle -> install -> verify -> C++ load_kernel (CUDA)"
cache="$(mktemp -d)/hub"
{
  "$d/bin/kernel-lock" install "$d/kernels.tar.zst" --cache "$cache" &&
  "$d/bin/kernel-lock" verify "$d/project" --cache "$cache" &&
  HF_HUB_CACHE="$cache" HF_HUB_OFFLINE=1 "$d/bin/load_kernel_example" --backend cuda "$d/project/kernel.lock" \
    kernels-test/activation kernels-test/rmsnorm
} 2>&1 | tee "$results/gpu_loader.log" || status=1

echo "== 1b. the Python kernels loads the same installed CUDA variants (offline, pinned)"
"$d/bin/kernel-lock" lock-fmt --python "$d/project/kernel.lock" > "$(dirname "$cache")/kernels.lock"
HF_HUB_CACHE="$cache" HF_HUB_OFFLINE=1 python3 "$root/tests/gpu/python_loads_installed.py" "$cache" \
  "$(dirname "$cache")/kernels.lock" 2>&1 | tee "$results/gpu_python_installed.log" || status=1

if [ -d "$d/python/kernel_lock" ]; then
  echo "== 1c. the same CUDA variants through the kernel_lock Python package (verified, sealed; patched kernels)"
  suffix="$(python3 -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
  [ -e "$d/python/kernel_lock/_native$suffix" ] || { status=1
    echo "no kernel_lock/_native$suffix for this host's python3 (prepare with GPU_EXTRA_PYTHONS, bench/gpu_python_build.sh)"; }
  # PYTHONPATH keeps what the caller set (e.g. the `kernels` package from wheels).
  PYTHONPATH="$d/python${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_CACHE="$cache" HF_HUB_OFFLINE=1 python3 "$root/bench/gpu_python_check.py" "$cache" \
    "$d/project/kernel.lock" 2>&1 | tee "$results/gpu_python_kernel_lock.log" || status=1
fi

# GPU_RUN_ONLY_LOADS=1: steps 1-1c only (the loads), for a short device session.
[ "${GPU_RUN_ONLY_LOADS:-0}" = 1 ] && exit $status

echo "== 2. correctness against PyTorch"
python3 "$root/tests/gpu/test_cuda_kernels.py" "$d/kb" 2>&1 | tee "$results/gpu_kernels_test.log" || status=1

echo "== 3. kernels benchmark"
python3 "$root/bench/gpu_kernels.py" "$d/kb" 2>&1 | grep -v -E '^W[0-9]{4} ' | tee "$results/gpu_kernels.md" || status=1

echo "== 4. bundle / install throughput"
"$d/bin/bundle_bench" --mb 2048 2>&1 | tee "$results/bundle_bench.md" || status=1
exit $status
