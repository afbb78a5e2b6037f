#!/usr/bin/env bash
# Prepares a folder for a GPU host (which has python3 + torch + nvcc, but not
# our build dependencies): our CUDA-enabled build's binaries and the Debian
# runtime libraries they need, our kernels in the Hub layout, and a bundle of
# the example requirements resolved against the fixture Hub. bench/gpu_run.sh
# runs everything GPU-side from that folder.
#
#   bench/gpu_prepare.sh BUILD_DIR OUT_DIR
#
# BUILD_DIR: configured with -DKERNEL_LOCK_BUILD_CUDA_KERNELS=ON (e.g.
# -DKERNEL_LOCK_CUDA_CAPABILITIES=9.0a for H100/H200) and built.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -ne 2 ]; then echo "usage: $0 BUILD_DIR OUT_DIR" >&2; exit 2; fi
build="$(cd "$1" && pwd)"; out="$2"
kl="$build/cli/kernel-lock"
kl_dev="$build/testing/kernel-lock-dev"  # fixture Hubs (built with the tests)
if ! ls "$build"/hub-kernels/activation/build/*-cu* >/dev/null 2>&1; then
  echo "gpu_prepare: no CUDA variant in $build/hub-kernels (configure with -DKERNEL_LOCK_BUILD_CUDA_KERNELS=ON)" >&2
  exit 1
fi
rm -rf "$out"; mkdir -p "$out/bin" "$out/lib" "$out/kb"
cp -r "$build/hub-kernels" "$build/hub-kernels-v1" "$out/kb/"
cp "$kl" "$build/examples/load_kernel/load_kernel_example" "$build/bench/bundle_bench" "$out/bin/"
cp "$(command -v zstd)" "$out/bin/"  # bundle_bench compares with tar --zstd; GPU images may lack zstd(1)
cp -L "$build"/loader/libkernel_lock_loader.so* "$build"/loader/libkernel_lock_pyshim.so "$out/lib/"
strip --strip-debug "$out"/bin/* "$out"/lib/libkernel_lock_*.so*  # travels small
# The kernel_lock Python package (bench/gpu_python_check.py), when built; its
# extension finds the loader in lib/ through LD_LIBRARY_PATH (bench/gpu_run.sh).
if ls "$build"/python/kernel_lock/_native*.so >/dev/null 2>&1; then
  mkdir -p "$out/python" && cp -r "$build/python/kernel_lock" "$out/python/"
  strip --strip-debug "$out"/python/kernel_lock/_native*.so
  # The GPU host's python3 may be another minor version than the build's
  # (the H200 host: 3.12): GPU_EXTRA_PYTHONS="/path/to/python3.12 ..." adds an
  # extension for each (bench/gpu_python_build.sh; Python picks its own).
  for py in ${GPU_EXTRA_PYTHONS:-}; do
    bash "$root/bench/gpu_python_build.sh" "$build" "$py" "$out/python/kernel_lock"
  done
fi
# Runtime libraries outside glibc and torch (libcurl, libarchive, yaml-cpp, ...).
for f in "$out"/bin/* "$out"/lib/*.so* "$out"/python/kernel_lock/_native*.so; do
  [ -e "$f" ] || continue
  ldd "$f" | awk '/=> \// {print $3}'
done | sort -u | grep -v -E '/(libc|libm|libpthread|libdl|librt|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so|/torch/lib/|libkernel_lock' \
  | while read -r lib; do cp -L "$lib" "$out/lib/"; done

work="$(mktemp -d)"
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
bash "$root/fixtures/build_fixture_hub.sh" "$work/hub" "$kl_dev" >/dev/null
"$kl_dev" serve "$work/hub" --port 0 --port-file "$work/port" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
export HF_ENDPOINT="http://127.0.0.1:$(cat "$work/port")" HF_HUB_CACHE="$work/cache"
mkdir -p "$out/project"
cp "$root/fixtures/requirements/example/kernels.yaml" "$out/project/"
"$kl" -q resolve "$out/project"
"$kl" -q bundle "$out/project" -o "$out/kernels.tar.zst"
echo "$out: $(du -sh "$out" | cut -f1) (tar -czf it when it must travel small)"
