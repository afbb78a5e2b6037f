"""The installed CMake package: `cmake --install` into an empty prefix, then a
separate project (examples/load_kernel) finds it with find_package(kernel_lock),
builds against its headers and libraries only, and loads our activation kernel
from an HF cache with the installed loader (not the build tree's)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch.utils

from test_loader_activation import BUILD_DIR, REPO_ID, VARIANT_DIR, install, write_lock

SOURCE_DIR = Path(os.environ.get("KERNEL_LOCK_SOURCE_DIR", Path(__file__).resolve().parents[2]))


def run(cmd, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)
    assert proc.returncode == 0, f"{cmd[:3]} failed ({proc.returncode})\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_find_package_build_and_load(tmp_path: Path):
    if shutil.which("cmake") is None:
        pytest.skip("no cmake")
    prefix = tmp_path / "prefix"
    run(["cmake", "--install", BUILD_DIR, "--prefix", prefix])
    for rel in ("lib/cmake/kernel_lock/kernel_lockConfig.cmake", "include/kernel_lock/loader/loader.hpp",
                "include/kernel_lock/hub/hub_fetcher.hpp", "include/kernel_lock/core/lockfile.hpp", "bin/kernel-lock"):
        assert (prefix / rel).exists(), rel
    assert any(prefix.glob("lib*/libkernel_lock_loader.so*")) and any(prefix.glob("lib*/libkernel_lock_pyshim.so"))
    version = run([prefix / "bin" / "kernel-lock", "--version"]).stdout
    assert version.strip()

    # A consumer project that knows only the prefix (and torch).
    build = tmp_path / "consumer"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    run(["cmake", "-S", SOURCE_DIR / "examples" / "load_kernel", "-B", build, *generator,
         f"-DCMAKE_PREFIX_PATH={prefix};{torch.utils.cmake_prefix_path}"])
    cache_text = (build / "CMakeCache.txt").read_text()
    assert f"kernel_lock_DIR:PATH={prefix}/lib" in cache_text  # found the installed package, not the build tree
    run(["cmake", "--build", build])
    example = build / "load_kernel_example"
    ldd = run(["ldd", example]).stdout
    loader_line = next(line for line in ldd.splitlines() if "libkernel_lock_loader" in line)
    assert str(prefix) in loader_line, loader_line

    cache = tmp_path / "hub"
    lock = write_lock(tmp_path / "kernel.lock", [install(VARIANT_DIR, cache)])
    env = dict(os.environ, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1")
    env.pop("KERNEL_LOCK_PYSHIM", None)  # the installed shim next to the installed loader
    proc = subprocess.run([str(example), "--backend", "cpu", str(lock), REPO_ID], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 mismatches" in proc.stdout and "(locked)" in proc.stdout
