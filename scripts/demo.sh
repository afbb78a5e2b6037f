#!/usr/bin/env bash
# The end-to-end demo on the embedded default: builds everything, starts the
# bundled fixture Hub on loopback, resolves fixtures/requirements/example,
# bundles the locked binaries, installs them into a fresh HF cache with the
# Hub stopped (the "air gap"), verifies, and loads the kernel into a plain C++
# libtorch process that calls its ops and compares them with PyTorch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${KERNEL_LOCK_BUILD_DIR:-$root/build}"
jobs="${KERNEL_LOCK_JOBS:-$(nproc)}"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "1/8 set-up and build (scripts/setup.sh, cmake)"
bash "$root/scripts/configure.sh" "$build" >/dev/null
cmake --build "$build" -j "$jobs"
kl="$build/cli/kernel-lock"
kl_dev="$build/testing/kernel-lock-dev"  # the developer tool: fixture Hubs

work="$(mktemp -d "${TMPDIR:-/tmp}/kernel-lock-demo.XXXXXX")"
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; true; }
trap cleanup EXIT

step "2/8 build the fixture Hub (our kernels published as kernels-test/*) in $work/hub"
bash "$root/fixtures/build_fixture_hub.sh" "$work/hub" "$kl_dev" >/dev/null

step "3/8 serve it on loopback: kernel-lock-dev serve"
"$kl_dev" serve "$work/hub" --port 0 --port-file "$work/port" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
export HF_ENDPOINT="http://127.0.0.1:$(cat "$work/port")"
echo "HF_ENDPOINT=$HF_ENDPOINT"

step "4/8 resolve fixtures/requirements/example/kernels.yaml -> kernel.lock (signatures verified, signers pinned)"
mkdir -p "$work/project"
cp "$root/fixtures/requirements/example/kernels.yaml" "$work/project/"
cat "$work/project/kernels.yaml"
# The fixture Hub's test PKI stands in for Sigstore: its trusted_root.json is what
# `kernel-lock trust import` would store on a connected machine.
trusted_root="$work/hub/.sigstore-pki/trusted_root.json"
"$kl" resolve "$work/project" --trusted-root "$trusted_root"
echo "--- kernel.lock (first 40 lines) ---"
head -n 40 "$work/project/kernel.lock"

step "5/8 bundle exactly the locked bytes and the trusted root: kernel-lock bundle"
"$kl" bundle "$work/project" -o "$work/kernels.tar.zst" --trusted-root "$trusted_root"
ls -l "$work/kernels.tar.zst"

step "6/8 air gap: stop the Hub, install the bundle into a fresh cache"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
unset HF_ENDPOINT
export HF_HUB_OFFLINE=1 HF_HUB_CACHE="$work/cache"
"$kl" install "$work/kernels.tar.zst" --lockfile "$work/project/kernel.lock"
find "$work/cache" -maxdepth 2 | sort

step "7/8 verify the cache against the lock: kernel-lock verify"
"$kl" verify "$work/project"

step "8/8 load_kernel in a plain C++ libtorch process and compare with PyTorch"
"$build/examples/load_kernel/load_kernel_example" "$work/project/kernel.lock" kernels-test/activation kernels-test/rmsnorm

echo
echo "demo finished: all steps passed (work dir: $work)"
