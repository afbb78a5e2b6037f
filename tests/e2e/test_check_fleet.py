"""`kernel-lock check --fleet`: verdicts per node class on real CUDA .so files.

Generated case: a tiny .cu compiled by nvcc for sm_80 SASS + sm_90a SASS (no PTX)
into a torch211-cxx11-cu130 variant, next to a CPU variant; classes with 8.6 (runs
sm_80), 9.0 (sm_90a) and 10.0 (nothing runs: a gap, exit 9), a CPU class, a class
whose torch no variant fits. Built variants: our compiled kernels (hub-kernels of
the build dir, or KERNEL_LOCK_HUB_KERNELS) for the capabilities they are built for.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hf_cache_helpers import install, write_lock

NVCC = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
CU = "__global__ void k(float* x) { x[threadIdx.x] += 1.0f; }\n"


def kl(bin_path, *args):
    return subprocess.run([str(bin_path), *map(str, args)], capture_output=True, text=True)


def cuda_variant(root: Path, gencode: list[str], archs: list[str]) -> Path:
    if not Path(NVCC).exists():
        pytest.skip("nvcc is not installed")
    v = root / "torch211-cxx11-cu130-x86_64-linux"
    v.mkdir(parents=True)
    (root / "k.cu").write_text(CU)
    cmd = [NVCC, "-shared", "-Xcompiler", "-fPIC", *gencode, "-o", str(v / "_demo_cuda.abi3.so"), str(root / "k.cu")]
    subprocess.run(cmd, check=True)
    (v / "metadata.json").write_text(json.dumps({"name": "demo", "backend": {"type": "cuda", "archs": archs}}))
    return v


FLEET = """
classes:
  - {name: a10, torch: "2.11", cuda: "13.0", gpus: ["8.6"], glibc: "2.35"}
  - {name: h100, torch: "2.11", cuda: "13.0", gpus: ["9.0"]}
  - {name: b200, torch: "2.11", cuda: "13.0", gpus: ["10.0"]}
  - {name: cpu, torch: "2.11"}
"""


def test_generated_variants_verdicts_per_class(kernel_lock_bin, tmp_path):
    v = cuda_variant(tmp_path / "src", ["-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90a,code=sm_90a"],
                     ["8.0", "9.0a"])
    cpu = tmp_path / "src" / "torch211-cxx11-cpu-x86_64-linux"
    cpu.mkdir()
    (cpu / "__init__.py").write_text("# cpu\n")
    cache = tmp_path / "cache"
    a = install(v, cache, repo_id="kernels-test/demo")
    b = install(cpu, cache, repo_id="kernels-test/demo")
    a["variants"].update(b["variants"])
    a["files"].update(b["files"])
    lock = write_lock(tmp_path / "kernel.lock", [a])
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    proc = kl(kernel_lock_bin, "check", "--fleet", fleet, "--lock", lock, "--cache", cache, "--json")
    assert proc.returncode == 9, proc.stderr
    out = json.loads(proc.stdout)
    by = {c["class"]: c["kernels"][0] for c in out["classes"]}
    assert by["a10"]["ok"] and by["a10"]["gpus"] == ["8.6: sm_80"]
    assert by["h100"]["ok"] and by["h100"]["gpus"] == ["9.0: sm_90a"]
    assert not by["b200"]["ok"]
    assert {g["kind"] for g in by["b200"]["gaps"]} == {"gpu", "archs"}
    assert by["cpu"]["variant"] == "torch211-cxx11-cpu-x86_64-linux" and by["cpu"]["ok"]
    # Deterministic output; the text table names the gap.
    again = kl(kernel_lock_bin, "check", "--fleet", fleet, "--lock", lock, "--cache", cache, "--json")
    assert again.stdout == proc.stdout
    text = kl(kernel_lock_bin, "check", "--fleet", fleet, "--lock", lock, "--cache", cache)
    assert text.returncode == 9 and "GAP  kernels-test/demo" in text.stdout and "sm_80, sm_90a" in text.stdout
    # The same verdicts from a bundle of the lock (verified into a temp cache).
    bundle = tmp_path / "k.tar.zst"
    made = kl(kernel_lock_bin, "bundle", tmp_path, "--lockfile", lock, "--cache", cache, "-o", bundle, "--offline")
    assert made.returncode == 0, made.stderr
    from_bundle = kl(kernel_lock_bin, "check", "--fleet", fleet, "--lock", lock, "--bundle", bundle, "--json")
    assert from_bundle.returncode == 9 and from_bundle.stdout == proc.stdout
    # Without the b200 class every class fits: exit 0.
    fleet.write_text("\n".join(l for l in FLEET.splitlines() if "b200" not in l))
    assert kl(kernel_lock_bin, "check", "--fleet", fleet, "--lock", lock, "--cache", cache).returncode == 0
    # No variant for torch 2.9: a gap naming what was available.
    fleet.write_text('classes:\n  - {name: old, torch: "2.9", cuda: "13.0", gpus: ["9.0"]}\n')
    proc = kl(kernel_lock_bin, "check", "--fleet", fleet, "--lock", lock, "--cache", cache, "--json")
    assert proc.returncode == 9
    gap = json.loads(proc.stdout)["classes"][0]["kernels"][0]
    assert gap["variant"] is None and gap["gaps"][0]["kind"] == "variant"


def test_bad_fleet_file_is_invalid_input(kernel_lock_bin, tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text('classes:\n  - {name: x, torch: "2.11", cuda: "13.0", gpus: ["nine"]}\n')
    lock = write_lock(tmp_path / "kernel.lock", [])
    proc = kl(kernel_lock_bin, "check", "--fleet", fleet, "--lock", lock)
    assert proc.returncode == 3 and "classes[0].gpus" in proc.stderr


def built_kernels() -> Path | None:
    for root in (os.environ.get("KERNEL_LOCK_HUB_KERNELS"), Path(os.environ.get("KERNEL_LOCK_BUILD_DIR", "build")) / "hub-kernels"):
        if root and (Path(root) / "activation" / "build").is_dir():
            return Path(root)
    return None


def test_built_kernels_cover_their_capabilities(kernel_lock_bin, tmp_path):
    root = built_kernels()
    if root is None:
        pytest.skip("our CUDA kernels are not built (KERNEL_LOCK_BUILD_KERNELS, or set KERNEL_LOCK_HUB_KERNELS)")
    variants = [d for d in (root / "activation" / "build").iterdir() if "-cu" in d.name]
    if not variants:
        pytest.skip("no CUDA variant built")
    entry = install(variants[0], tmp_path / "cache", repo_id="kernels-test/activation")
    lock = write_lock(tmp_path / "kernel.lock", [entry])
    fleet = tmp_path / "fleet.yaml"
    # Built for 7.5, 8.0, 8.9, 9.0a, 10.0, 12.0+PTX (kernels/CMakeLists.txt).
    fleet.write_text('classes:\n  - {name: mixed, torch: "2.11", cuda: "13.0", gpus: ["7.5", "8.6", "9.0", "10.0", "12.0", "13.0"]}\n')
    proc = kl(kernel_lock_bin, "check", "--fleet", fleet, "--lock", lock, "--cache", tmp_path / "cache", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    gpus = json.loads(proc.stdout)["classes"][0]["kernels"][0]["gpus"]
    assert gpus == ["7.5: sm_75", "8.6: sm_80", "9.0: sm_90a", "10.0: sm_100", "12.0: sm_120", "13.0: compute_120 (JIT from PTX)"]
    fleet.write_text('classes:\n  - {name: gb300, torch: "2.11", cuda: "13.0", gpus: ["10.3", "9.0"]}\n')
    proc = kl(kernel_lock_bin, "check", "--fleet", fleet, "--lock", lock, "--cache", tmp_path / "cache", "--json")
    assert proc.returncode == 0  # 10.3 runs sm_100 (same major, higher minor)
