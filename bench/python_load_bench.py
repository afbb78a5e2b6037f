#!/usr/bin/env python3
"""Python load time of one kernel variant, three ways, each in fresh processes
(a kernel loads once per process), on a small variant and on the same variant
with its .so padded to --large-mb MB (bench/loader_bench.py's padding):

  * kernel_lock.load_kernel(repo, lockfile=kernel.lock): lock, read every file
    once into sealed memory while hashing it, verify, dlopen the sealed .so,
    execute the package from the verified bytes;
  * kernels.load_kernel(repo, lockfile=kernels.lock) (0.17.2): offline, from the
    cache, nothing hashed;
  * bare import: importlib.util.spec_from_file_location of the variant's
    __init__.py (what kernels does after resolving; no lookup at all).

Timed inside the process from the call to the first op call returned (the
imports of torch, kernel_lock and kernels excluded); the sha256 of the variant's bytes (hashlib, same process) is
shown as the floor a verified load is held to. Prints one markdown table.

Usage: python_load_bench.py --build-dir BUILD [--runs N] [--large-mb MB]
Needs BUILD/python (the kernel_lock package) and a built CPU activation variant.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loader_bench  # noqa: E402  (install, padded_variant, find_variant_dir)

# (untimed setup: imports; timed: the load call), per method.
CODE = {
    "kernel_lock.load_kernel (verify, sealed)": (
        "import kernel_lock",
        "m = kernel_lock.load_kernel(REPO, lockfile=LOCKDIR + '/kernel.lock')"),
    "kernels.load_kernel (no verification)": (
        "import kernels\nfrom pathlib import Path",
        "m = kernels.load_kernel(REPO, lockfile=Path(LOCKDIR + '/kernels.lock'), backend='cpu')"),
    "bare import (spec_from_file_location)": (
        "import importlib.util",
        "meta = json.loads(open(VARIANT + '/metadata.json').read())\n"
        "spec = importlib.util.spec_from_file_location(meta['id'], VARIANT + '/__init__.py')\n"
        "m = importlib.util.module_from_spec(spec); sys.modules[meta['id']] = m; spec.loader.exec_module(m)"),
}

HARNESS = """
import json, sys, time, torch
REPO, LOCKDIR, VARIANT = {repo!r}, {lockdir!r}, {variant!r}
{setup}
x = torch.randn(64, 64); out = torch.empty_like(x)
t0 = time.perf_counter()
{body}
m.gelu_fast(out, x)
t1 = time.perf_counter()
print(json.dumps({{"ms": (t1 - t0) * 1e3}}))
"""


def run_once(setup_body: tuple[str, str], env: dict, repo: str, lockdir: Path, variant: Path) -> float:
    setup, body = setup_body
    code = HARNESS.format(repo=repo, lockdir=str(lockdir), variant=str(variant), setup=setup, body=body)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])["ms"]


def hash_ms(variant: Path) -> float:
    import time

    t0 = time.perf_counter()
    for f in sorted(variant.iterdir()):
        hashlib.sha256(f.read_bytes()).hexdigest()
    return (time.perf_counter() - t0) * 1e3


def measure(variant_dir: Path, work: Path, build_dir: Path, runs: int) -> tuple[dict, int, float]:
    cache = work / "hub"
    variant, _ = loader_bench.install(variant_dir, cache)
    snapshot = cache / ("kernels--" + loader_bench.REPO_ID.replace("/", "--")) / "snapshots" / loader_bench.SHA
    cached_variant = snapshot / "build" / variant
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "KERNELS_", "KERNEL_LOCK_"))}
    env.update(HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=str(build_dir / "python"), PYTHONDONTWRITEBYTECODE="1")
    results = {name: [] for name in CODE}
    for _ in range(runs):
        for name, body in CODE.items():
            results[name].append(run_once(body, env, loader_bench.REPO_ID, work, cached_variant))
    size = sum(f.resolve().stat().st_size for f in cached_variant.iterdir())
    return results, size, statistics.median(hash_ms(cached_variant) for _ in range(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", type=Path, default=Path("build"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--large-mb", type=int, default=256)
    args = ap.parse_args()
    build = args.build_dir.resolve()
    variant_dir = loader_bench.find_variant_dir(build)
    if variant_dir is None or not list((build / "python" / "kernel_lock").glob("_native*.so")):
        raise SystemExit(f"need {build}/python/kernel_lock/_native*.so and a CPU activation variant in {build}/hub-kernels")
    rows = []
    with tempfile.TemporaryDirectory(prefix="kl-pybench-") as tmp:
        for label, src in (("small", variant_dir), (f"{args.large_mb} MB", None)):
            work = Path(tmp) / label.replace(" ", "")
            work.mkdir()
            if src is None:
                src = loader_bench.padded_variant(variant_dir, work, args.large_mb)
            results, size, hashed = measure(src, work, build, args.runs)
            for name, times in results.items():
                rows.append((label, size, name, statistics.median(times), min(times)))
            rows.append((label, size, "sha256 of the variant's bytes (hashlib)", hashed, hashed))
    print(f"| variant | bytes | method | median ms | min ms |   ({args.runs} fresh processes each)")
    print("|---|---:|---|---:|---:|")
    for label, size, name, med, lo in rows:
        print(f"| {label} | {size} | {name} | {med:.1f} | {lo:.1f} |")


if __name__ == "__main__":
    main()
