#!/usr/bin/env python3
"""Benchmark: lock N kernels x V variants through `kernel-lock-dev serve` with an
injected per-request latency, `kernel-lock resolve` vs Python `kernels lock`
(kernels 0.17.2) in the same run. Prints a markdown table.

    python bench/resolve_bench.py [--kernels 50] [--variants 30] [--latency-ms 50]
                                  [--build-dir build] [--skip-python]

Run with the reference Python (scripts/setup.sh prints its path). The fixture
Hub (N repos, branch v1, V torch* variants each with __init__.py, _ops.py,
metadata.json and an LFS .so) is generated under a temp dir with
`kernel-lock-dev hub publish` (the developer tool, built with the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def variant_names(count: int) -> list[str]:
    names = []
    for torch in ("torch210", "torch211", "torch212", "torch213", "torch29"):
        for backend in ("cu126", "cu128", "cu130", "cpu", "rocm71", "xpu20253"):
            names.append(f"{torch}-cxx11-{backend}-x86_64-linux")
    while len(names) < count:
        names.append(f"torch2{len(names)}-cxx11-cpu-aarch64-linux")
    return names[:count]


def make_hub(dev_bin: Path, hub: Path, work: Path, kernels: int, variants: int) -> list[str]:
    repos = []
    for i in range(kernels):
        name = f"bench-kernel-{i:03d}"
        repo = f"kernels-bench/{name}"
        src = work / name / "build"
        for v in variant_names(variants):
            d = src / v
            d.mkdir(parents=True, exist_ok=True)
            backend = "cuda" if "-cu" in v else "cpu"
            ns = f"_{name.replace('-', '_')}_{backend}_abc{i:04d}"
            (d / "__init__.py").write_text(f"from ._ops import ops\n# {repo} {v}\n")
            (d / "_ops.py").write_text(f"import torch\nops = torch.ops.{ns}\n")
            (d / "metadata.json").write_text(json.dumps({
                "name": name, "id": ns, "version": 1, "license": "Apache-2.0",
                "python-depends": [], "kernel-depends": [], "backend": {"type": backend},
            }, indent=2) + "\n")
            (d / f"{ns}.abi3.so").write_bytes((f"{repo}/{v}".encode() * 64)[:4096])
        subprocess.run([str(dev_bin), "-q", "hub", "publish", "--hub", str(hub), "--repo", repo, "--branch", "v1",
                        "--under", "build", "--date", str(1767225600 + i), str(src)], check=True,
                       stdout=subprocess.DEVNULL)
        repos.append(repo)
    return repos


class Server:
    def __init__(self, dev_bin: Path, hub: Path, latency_ms: int, log: Path):
        self.proc = subprocess.Popen([str(dev_bin), "serve", str(hub), "--port", "0", "--threads", "64",
                                      "--fault-latency-ms", str(latency_ms), "--log", str(log)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = self.proc.stdout.readline().strip().rstrip("/")
        if not self.url.startswith("http"):
            raise RuntimeError("kernel-lock-dev serve did not start")
        self.log = log

    def requests(self) -> int:
        return sum(1 for line in self.log.read_text().splitlines() if line.strip()) if self.log.exists() else 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


PY_LOCK = """
import argparse, sys
from pathlib import Path
import kernels.locking as locking
locking._check_trust_remote_code = lambda **kwargs: None  # the bench server has no org overview route
from kernels.cli.lock import lock_kernels
lock_kernels(argparse.Namespace(project_dir=Path(sys.argv[1])))
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", type=int, default=50)
    ap.add_argument("--variants", type=int, default=30)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--build-dir", default=os.environ.get("KERNEL_LOCK_BUILD_DIR", str(ROOT / "build")))
    ap.add_argument("--skip-python", action="store_true")
    args = ap.parse_args()
    bin_path = Path(args.build_dir) / "cli" / "kernel-lock"
    dev_bin = Path(args.build_dir) / "testing" / "kernel-lock-dev"

    with tempfile.TemporaryDirectory(prefix="kl-resolve-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.monotonic()
        repos = make_hub(dev_bin, tmp / "hub", tmp / "src", args.kernels, args.variants)
        print(f"generated {len(repos)} repos x {args.variants} variants in {time.monotonic() - t0:.1f}s", file=sys.stderr)
        project = tmp / "project"
        project.mkdir()
        (project / "pyproject.toml").write_text(
            "[tool.kernels.dependencies]\n" + "".join(f'"{r}" = 1\n' for r in repos))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
        env.update(HF_HOME=str(tmp / "hf-home"), HF_HUB_DISABLE_XET="1",
                   HF_HUB_DISABLE_PROGRESS_BARS="1")
        rows = []

        def run(label, argv, log_name):
            server = Server(dev_bin, tmp / "hub", args.latency_ms, tmp / log_name)
            try:
                start = time.monotonic()
                proc = subprocess.run(argv, env=dict(env, HF_ENDPOINT=server.url), capture_output=True, text=True)
                wall = time.monotonic() - start
                if proc.returncode != 0:
                    raise RuntimeError(f"{label} failed:\n{proc.stdout}\n{proc.stderr}")
                time.sleep(0.2)
                return wall, server.requests()
            finally:
                server.stop()

        ours_wall, ours_req = run("kernel-lock resolve", [str(bin_path), "resolve", str(project), "-q", "--upgrade"],
                                  "ours.jsonl")
        lock = json.loads((project / "kernel.lock").read_text())
        assert len(lock) == len(repos) and all(len(k["variants"]) == args.variants for k in lock)
        rows.append(("kernel-lock resolve (C++)", ours_wall, ours_req))
        if not args.skip_python:
            py_wall, py_req = run("kernels lock", [sys.executable, "-c", PY_LOCK, str(project)], "python.jsonl")
            py_lock = json.loads((project / "kernels.lock").read_text())
            ours_pins = {k["repo_id"]: k["sha"] for k in lock}
            py_pins = {e["dependency"]["repo-id"]: e["lock"]["commit"] for e in py_lock}
            assert ours_pins == py_pins, "the two tools pinned different commits"
            rows.append(("Python `kernels lock` 0.17.2", py_wall, py_req))

        print(f"\n{args.kernels} kernels x {args.variants} variants, {args.latency_ms} ms latency per request "
              f"(kernel-lock-dev serve, loopback)\n")
        print("| tool | wall time (s) | HTTP requests | speed-up |")
        print("|---|---:|---:|---:|")
        for label, wall, req in rows:
            print(f"| {label} | {wall:.2f} | {req} | {rows[-1][1] / wall:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
