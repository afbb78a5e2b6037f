#!/usr/bin/env bash
# Bundle / install / verify throughput and size vs `tar --zstd`, as a markdown table.
#   bench/bundle_bench.sh [BUILD_DIR] [--mb N] [--threads T] [--level L] [--dir DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"; shift || true
cmake --build "$build" --target bundle_bench >&2
exec "$build/bench/bundle_bench" "$@"
