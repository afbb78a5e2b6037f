"""Hostile bundles through the CLI: `install`, `verify --bundle` and `serve BUNDLE`
refuse them quickly, with a clear message and bounded memory (issue 14, items 3
and 4).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from test_bundle_airgap import KERNEL, resolve_and_bundle

MANIFEST = "kernel-lock-bundle.json"
PEAK_RSS_LIMIT_KB = 300 * 1024  # the hostile manifest alone is 60 MiB; 4.67 GB before the fix
TIME_LIMIT_S = 10.0  # about 15 s before the fix


def run_measured(argv: list[str], env: dict | None = None) -> tuple[int, str, int, float]:
    """Runs argv; returns (exit code, stdout + stderr, peak RSS in KiB of that child alone, seconds)."""
    start = time.monotonic()
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        # The output is small (a report or one error message): reading it to the end cannot deadlock.
        out = proc.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out, usage.ru_maxrss, time.monotonic() - start


def tar_bytes(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zstd_file(raw: bytes, out: Path) -> Path:
    """Writes raw compressed with the zstd tool (the reader also reads a plain tar)."""
    if shutil.which("zstd") is None:
        out.write_bytes(raw)
        return out
    subprocess.run(["zstd", "-q", "-19", "-f", "-o", str(out)], input=raw, check=True)
    return out


def commands(bundle: Path, tmp_path: Path, proj: Path) -> dict[str, list[str]]:
    return {
        "install": ["install", str(bundle), "--cache", str(tmp_path / "cache")],
        "verify --bundle": ["verify", str(proj), "--bundle", str(bundle)],
        "serve": ["serve", str(bundle), "--port", "0"],
    }


@pytest.fixture
def any_project(tmp_path) -> Path:
    """A project with a valid empty lock: verify --bundle needs one to compare against."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "kernel.lock").write_text("[]\n")
    return proj


def test_manifest_of_60mib_brackets_is_refused_quickly_in_bounded_memory(kernel_lock_bin, any_project, tmp_path):
    bundle = zstd_file(tar_bytes([(MANIFEST, b"[" * (60 << 20))]), tmp_path / "brackets.tar.zst")
    if shutil.which("zstd"):
        assert bundle.stat().st_size < 8192, bundle.stat().st_size  # the case: about 2 KB
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "cache"))
    for name, args in commands(bundle, tmp_path, any_project).items():
        code, err, peak_kb, seconds = run_measured([str(kernel_lock_bin), *args], env=env)
        assert code == 3, f"{name}: exit {code}\n{err}"
        assert f"bundle {bundle}" in err and "bundle manifest: JSON nested deeper than 64 levels" in err, f"{name}: {err}"
        assert peak_kb < PEAK_RSS_LIMIT_KB, f"{name}: peak RSS {peak_kb} KiB"
        assert seconds < TIME_LIMIT_S, f"{name}: took {seconds:.1f} s"
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@pytest.mark.skipif(shutil.which("zstd") is None, reason="needs the zstd tool to rewrite a bundle")
def test_data_after_the_end_of_archive_is_refused(kernel_lock_bin, hub_server, hf_env, tmp_path):
    """A whole second tar holding `../../escape` after the end-of-archive marker:
    GNU `tar -i` lists it, so install, verify --bundle and serve refuse the bundle;
    zero padding after the marker stays fine."""
    proj, bundle, env = resolve_and_bundle(kernel_lock_bin, hub_server, hf_env, tmp_path, {KERNEL: 1})
    plain = subprocess.run(["zstd", "-d", "-c", str(bundle)], capture_output=True, check=True).stdout
    hidden = tar_bytes([("../../escape", b"written outside the cache\n")])
    hostile = zstd_file(plain + hidden, tmp_path / "hidden.tar.zst")
    padded = zstd_file(plain + bytes(20 * 512), tmp_path / "padded.tar.zst")
    if shutil.which("tar"):
        listed = subprocess.run(["tar", "-t", "-i", "-f", str(hostile)], capture_output=True, text=True).stdout
        assert "../../escape" in listed  # the hidden entry is there for tar -i to see
    for name, args in commands(hostile, tmp_path, proj).items():
        code, err, _, _ = run_measured([str(kernel_lock_bin), *args], env=env)
        # verify reports a damaged archive as one of its problems (integrity, exit 6).
        assert code == (6 if name == "verify --bundle" else 3), f"{name}: exit {code}\n{err}"
        assert f"bundle {hostile}" in err and "data after the last blob" in err and "'../../escape'" in err, f"{name}: {err}"
    assert not (tmp_path / "escape").exists() and not (tmp_path.parent / "escape").exists()
    for name, args in commands(padded, tmp_path, proj).items():
        if name == "serve":
            continue  # serving a good bundle runs until stopped; test_bundle_mirror covers it
        code, err, _, _ = run_measured([str(kernel_lock_bin), *args], env=env)
        assert code == 0, f"{name}: exit {code}\n{err}"
