#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang in BUILD_DIR/fuzz and runs each
# for a bounded time, seeded with the format fixtures. Exits 77 (ctest SKIP) when
# clang or its libFuzzer runtime is missing. Usage: scripts/fuzz-smoke.sh BUILD_DIR [SECONDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:?usage: scripts/fuzz-smoke.sh BUILD_DIR [SECONDS_PER_TARGET]}/fuzz"
seconds="${2:-${KERNEL_LOCK_FUZZ_SECONDS:-30}}"
jobs="${KERNEL_LOCK_JOBS:-2}"

cc="$(command -v clang || true)"
cxx="$(command -v clang++ || true)"
if [ -z "$cc" ] || [ -z "$cxx" ]; then
  echo "fuzz-smoke: SKIP: clang/clang++ not found (install clang and libclang-rt-dev)" >&2
  exit 77
fi
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long) { return 0; }' > "$probe/p.cpp"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" 2>"$probe/err"; then
  echo "fuzz-smoke: SKIP: $cxx cannot link libFuzzer: $(head -c 300 "$probe/err")" >&2
  exit 77
fi

mkdir -p "$build"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
CC="$cc" CXX="$cxx" cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKERNEL_LOCK_BUILD_FUZZERS=ON -DKERNEL_LOCK_BUILD_LOADER=OFF -DKERNEL_LOCK_BUILD_KERNELS=OFF \
  -DKERNEL_LOCK_BUILD_TESTS=OFF "${launcher[@]}" >"$build/configure.log" 2>&1 || {
  cat "$build/configure.log" >&2
  exit 1
}
cmake --build "$build" --target fuzzers -j "$jobs"

# Seeds: the fixtures of each format, good and bad. Each target gets its own
# scratch corpus so that the checked-in fixtures are never written to.
declare -A seeds=(
  [lockfile]="$root/fixtures/requirements $root/fixtures/bad/lock $root/fixtures/python-kernels"
  [kernels_yaml]="$root/fixtures/requirements $root/fixtures/bad/yaml"
  [pyproject_toml]="$root/fixtures/requirements $root/fixtures/bad/toml $root/fixtures/python-kernels"
  [sigstore_bundle]="$root/fixtures/sigstore"
  [trusted_root]="$root/fixtures/sigstore"
)
declare -A patterns=([lockfile]='*.lock' [kernels_yaml]='*.yaml' [pyproject_toml]='*.toml'
                     [sigstore_bundle]='*.sigstore' [trusted_root]='trusted_root*.json')
# Inputs may be as long as the largest seed (Sigstore bundles and trusted roots exceed 8 KiB).
declare -A max_len=([sigstore_bundle]=65536 [trusted_root]=65536)
status=0
for name in lockfile kernels_yaml pyproject_toml sigstore_bundle trusted_root; do
  corpus="$build/corpus/$name"
  rm -rf "$corpus" && mkdir -p "$corpus"
  for dir in ${seeds[$name]}; do
    [ -d "$dir" ] || continue
    find "$dir" -type f -name "${patterns[$name]}" -exec cp --backup=numbered -t "$corpus" {} + 2>/dev/null || true
  done
  echo "fuzz-smoke: fuzz_$name for ${seconds}s ($(ls "$corpus" | wc -l) seeds)"
  if ! "$build/fuzz/fuzz_$name" "$corpus" -max_total_time="$seconds" -max_len="${max_len[$name]:-8192}" -timeout=10 -rss_limit_mb=1024 \
      -print_final_stats=1 -artifact_prefix="$build/crash-$name-" >"$build/fuzz_$name.log" 2>&1; then
    echo "fuzz-smoke: fuzz_$name FAILED; log: $build/fuzz_$name.log, inputs: $build/crash-$name-*" >&2
    tail -n 40 "$build/fuzz_$name.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$build/fuzz_$name.log" | tail -n 2 || true
  fi
done
exit "$status"
