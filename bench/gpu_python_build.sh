#!/usr/bin/env bash
# Builds kernel_lock._native for a CPython other than the build's, for a GPU
# host whose python3 differs from KERNEL_LOCK_PYTHON (e.g. the H200 host's 3.12
# when the build used 3.11; the extension is tied to one CPython minor
# version): src/native.cpp and nanobind's sources compiled against PYTHON's
# headers, linked with BUILD_DIR's libraries (the same loader, hub, cache and
# core the build's own extension links). The result lands in PKG_DIR next to
# the package's Python files as _native<PYTHON's EXT_SUFFIX>; extensions for
# several versions can sit side by side (Python picks its own).
#
#   bench/gpu_python_build.sh BUILD_DIR PYTHON PKG_DIR
#
# PYTHON: an interpreter of the target minor version with its headers (e.g.
# ~/.pyenv/versions/3.12.1/bin/python here; any 3.12.x gives the same ABI).
# nanobind and torch (headers, libraries) come from the build's configuration
# (CMakeCache.txt); override with NANOBIND_DIR / TORCH_DIR (torch's package
# directory) where the build's paths do not exist. Torch must be the version
# the GPU host runs. bench/gpu_prepare.sh calls this for GPU_EXTRA_PYTHONS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -ne 3 ]; then echo "usage: $0 BUILD_DIR PYTHON PKG_DIR" >&2; exit 2; fi
build="$(cd "$1" && pwd)"; py="$2"; pkg="$3"
cache_var() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
nb="${NANOBIND_DIR:-$(dirname "$(cache_var nanobind_DIR)")}"
torch="${TORCH_DIR:-$(cd "$(cache_var Torch_DIR)/../../.." && pwd)}"
pyinc="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
suffix="$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
for f in "$pyinc/Python.h" "$nb/src/nb_func.cpp" "$torch/include/torch/library.h" "$build/loader/libkernel_lock_loader.so"; do
  [ -f "$f" ] || { echo "gpu_python_build: missing $f" >&2; exit 1; }
done
cxx="${CXX:-c++}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
common=(-O2 -DNDEBUG -fPIC -fvisibility=hidden -ffunction-sections -fdata-sections)
nb_flags=(-std=c++17 -DNB_BUILD -DNB_COMPACT_ASSERTIONS -isystem "$pyinc" -I "$nb/include"
  -isystem "$nb/ext/robin_map/include" -fno-strict-aliasing -mtls-dialect=gnu2)
cuda_inc=(); [ -d /usr/local/cuda/include ] && cuda_inc=(-isystem /usr/local/cuda/include)
pids=()
for src in "$nb"/src/nb_combined.cpp; do  # nanobind's one translation unit (NB_STATIC)
  "$cxx" "${common[@]}" "${nb_flags[@]}" -c "$src" -o "$work/nb.o" & pids+=($!)
done
"$cxx" "${common[@]}" -std=gnu++20 -Os -Dkernel_lock_native_EXPORTS \
  -I "$root/loader/include" -I "$root/core/include" -I "$root/cache/include" -I "$root/hub/include" \
  -I "$build/generated" -isystem "$pyinc" -isystem "$nb/include" -isystem "$torch/include" \
  -isystem "$torch/include/torch/csrc/api/include" "${cuda_inc[@]}" \
  -c "$root/python/src/native.cpp" -o "$work/native.o" & pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done
mkdir -p "$pkg"
cp "$root"/python/kernel_lock/*.py "$pkg/"
tl="$torch/lib"
"$cxx" -shared -o "$pkg/_native$suffix" -Wl,--gc-sections -Wl,-rpath,'$ORIGIN' "$work/native.o" "$work/nb.o" \
  "$build/loader/libkernel_lock_loader.so" "$build/hub/libkernel_lock_hub.a" \
  "$build/cache/libkernel_lock_cache.a" "$build/core/libkernel_lock_core.a" \
  -L "$tl" -Wl,--no-as-needed -ltorch -ltorch_cpu -ltorch_cuda -lc10_cuda -lc10 -Wl,--as-needed \
  -lyaml-cpp -ltomlplusplus -lcurl -lcrypto
strip --strip-debug "$pkg/_native$suffix"
echo "gpu_python_build: $pkg/_native$suffix"
