#!/usr/bin/env bash
# Hashing benchmark: kernel-lock's SHA-256 file hashing vs coreutils sha256sum.
#   bench/hash_bench.sh [BUILD_DIR]     (default: build/; builds the hash_bench target)
# Env: BENCH_DIR (scratch space, default a temp dir; needs ~2.1 GiB), BENCH_REPEAT (3),
#      HASH_BENCH_BIN (use this hash_bench binary instead of building one).
# Every timing is the best of BENCH_REPEAT wall-clock runs of a whole process, page
# cache warm (files are read once before timing), so both sides pay the same
# start-up and read costs. Prints one markdown table.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
repeat="${BENCH_REPEAT:-3}"
cores="$(nproc)"
if [ -n "${HASH_BENCH_BIN:-}" ]; then
  bench="$HASH_BENCH_BIN"  # a prebuilt binary (e.g. on a machine without the build deps)
else
  cmake --build "$build" --target hash_bench -j2 >&2
  bench="$(find "$build" -name hash_bench -type f -perm -u+x | head -n 1)"
fi
[ -x "$bench" ] || { echo "hash_bench not built in $build" >&2; exit 1; }

scratch="${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/kl-hash-bench.XXXXXX")}"
mkdir -p "$scratch"
cleanup() { [ -n "${BENCH_DIR:-}" ] || rm -rf "$scratch"; }
trap cleanup EXIT

echo "creating 1 GiB file and 64 x 16 MiB files in $scratch" >&2
big="$scratch/big.bin"
[ -f "$big" ] || head -c $((1024 * 1024 * 1024)) /dev/urandom > "$big"
mkdir -p "$scratch/many"
for i in $(seq -w 1 64); do
  f="$scratch/many/f$i.bin"
  [ -f "$f" ] || head -c $((16 * 1024 * 1024)) /dev/urandom > "$f"
done
many=("$scratch"/many/*.bin)
cat "$big" "${many[@]}" > /dev/null  # warm the page cache

# best_of CMD...: best wall time in seconds over $repeat runs (stdout discarded).
best_of() {
  local best="" start end t
  for _ in $(seq 1 "$repeat"); do
    start=$(date +%s%N)
    "$@" > /dev/null
    end=$(date +%s%N)
    t=$(( end - start ))
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  awk -v ns="$best" 'BEGIN { printf "%.3f", ns / 1e9 }'
}

# Correctness first: both tools must print the same digest.
ours_digest="$("$bench" file "$big" --repeat 1 | sed -n 's/^digest=//p')"
ref_digest="$(sha256sum "$big" | cut -c1-64)"
[ "$ours_digest" = "$ref_digest" ] || { echo "digest mismatch: $ours_digest vs $ref_digest" >&2; exit 1; }

t_ref_big=$(best_of sha256sum "$big")
t_ours_big=$(best_of "$bench" file "$big" --repeat 1)
t_ref_many_seq=$(best_of sha256sum "${many[@]}")
t_ref_many_par=$(best_of sh -c "printf '%s\n' \"\$@\" | xargs -P$cores -n 4 sha256sum" sh "${many[@]}")
t_ours_many_1=$(best_of "$bench" many --threads 1 --repeat 1 "${many[@]}")
t_ours_many_par=$(best_of "$bench" many --threads "$cores" --repeat 1 "${many[@]}")

mibps() { awk -v t="$1" -v mib="$2" 'BEGIN { printf "%.0f", mib / t }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo
echo "Hashing benchmark: SHA-256, page cache warm, best of $repeat, $cores cores ($cpu); $(sha256sum --version | head -n1); $(openssl version 2>/dev/null || true)"
echo
echo "| workload | sha256sum | kernel-lock | kernel-lock speed vs sha256sum |"
echo "|---|---|---|---|"
echo "| 1 GiB file, 1 thread | ${t_ref_big} s ($(mibps "$t_ref_big" 1024) MiB/s) | ${t_ours_big} s ($(mibps "$t_ours_big" 1024) MiB/s) | $(ratio "$t_ref_big" "$t_ours_big") |"
echo "| 64 x 16 MiB, sequential (1 process / 1 thread) | ${t_ref_many_seq} s ($(mibps "$t_ref_many_seq" 1024) MiB/s) | ${t_ours_many_1} s ($(mibps "$t_ours_many_1" 1024) MiB/s) | $(ratio "$t_ref_many_seq" "$t_ours_many_1") |"
echo "| 64 x 16 MiB, all $cores cores (xargs -P$cores sha256sum / digest_files_hex) | ${t_ref_many_par} s ($(mibps "$t_ref_many_par" 1024) MiB/s) | ${t_ours_many_par} s ($(mibps "$t_ours_many_par" 1024) MiB/s) | $(ratio "$t_ref_many_par" "$t_ours_many_par") |"
