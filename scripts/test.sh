#!/usr/bin/env bash
# The one command that installs what is missing, builds everything and runs every test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KERNEL_LOCK_BUILD_DIR:-$root/build}"
jobs="${KERNEL_LOCK_JOBS:-$(nproc)}"
bash "$root/scripts/configure.sh" "$build" >/dev/null
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
