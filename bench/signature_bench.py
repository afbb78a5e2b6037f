#!/usr/bin/env python3
"""Benchmark: what signature checks add to `install` and `verify`, side by side.

    python bench/signature_bench.py [--build-dir build] [--runs 15] [--kernels-build DIR]

Builds the fixture Hub (fixtures/build_fixture_hub.sh: its v2 compiled kernels,
kernels-test/activation and kernels-test/rmsnorm, are signed by the Hub's test
PKI), serves it with `kernel-lock-dev serve`, locks both kernels at version 2
with `kernel-lock resolve --trusted-root`, bundles them (the bundle carries the
root), then makes the same lock without its signature records and bundles that.
`bench/signature_bench` (C++, in-process) then installs and verifies both, runs
interleaved, and prints a markdown table: per signed variant, what verification
adds beyond the lock's hashing, and the signature / kernel-digest breakdown.

Needs the compiled kernels (KERNEL_LOCK_BUILD_KERNELS; --kernels-build names a
build dir that has hub-kernels/) and a Python with `cryptography` (the
reference Python: scripts/setup.sh prints its path).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ["kernels-test/activation", "kernels-test/rmsnorm"]


def run(*argv, env=None, **kw):
    return subprocess.run([str(a) for a in argv], env=env, check=True, capture_output=True, text=True, **kw)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=str(ROOT / "build"))
    ap.add_argument("--kernels-build", default=None, help="build dir holding hub-kernels/ (default: --build-dir)")
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    build = Path(args.build_dir).resolve()
    run("cmake", "--build", build, "--target", "kernel-lock", "kernel-lock-dev", "signature_bench")
    kl, dev, bench = build / "cli" / "kernel-lock", build / "testing" / "kernel-lock-dev", build / "bench" / "signature_bench"
    with tempfile.TemporaryDirectory(prefix="kl-sigbench-") as tmp_name:
        tmp = Path(tmp_name)
        hub = tmp / "hub"
        env = {**os.environ, "KERNEL_LOCK_PYTHON": sys.executable}
        if args.kernels_build:
            env["KERNELS_BUILD"] = args.kernels_build
        run("bash", ROOT / "fixtures" / "build_fixture_hub.sh", hub, dev, env=env)
        root = hub / ".sigstore-pki" / "trusted_root.json"
        if not root.is_file() or not (hub / "repos" / "kernel" / KERNELS[0]).is_dir():
            print("signature_bench: the fixture Hub has no signed compiled kernels", file=sys.stderr)
            return 77
        server = subprocess.Popen([str(dev), "serve", str(hub), "--port", "0"], stdout=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().strip()
            hf = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "KERNELS_"))}
            hf.update(HF_ENDPOINT=url, HF_HOME=str(tmp / "hf"), HF_HUB_CACHE=str(tmp / "cache"),
                      HF_HUB_DISABLE_XET="1", HF_TOKEN_PATH=str(tmp / "no-token"))
            proj = tmp / "signed"
            proj.mkdir()
            (proj / "pyproject.toml").write_text(
                "[tool.kernels.dependencies]\n" + "".join(f'"{k}" = 2\n' for k in KERNELS))
            run(kl, "resolve", proj, "--trusted-root", root, env=hf)
            run(kl, "bundle", proj, "-o", tmp / "signed.tar.zst", "--trusted-root", root, env=hf)
            plain = tmp / "plain"
            plain.mkdir()
            lock = json.loads((proj / "kernel.lock").read_text())
            for kernel in lock:
                kernel.pop("signatures", None)
            (plain / "kernel.lock").write_text(json.dumps(lock, indent=2) + "\n")
            run(kl, "bundle", plain, "-o", tmp / "plain.tar.zst", env=hf)
        finally:
            server.terminate()
            server.wait()
        out = run(bench, "--signed-bundle", tmp / "signed.tar.zst", "--signed-lock", proj / "kernel.lock",
                  "--plain-bundle", tmp / "plain.tar.zst", "--plain-lock", plain / "kernel.lock",
                  "--trusted-root", root, "--dir", tmp / "scratch", "--runs", args.runs)
        print(out.stdout, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
