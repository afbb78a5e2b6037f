"""The C++ loader on our real activation kernel (CPU variant, built by kernels/
into <build>/hub-kernels/): installed into a fresh HF cache with a lock, loaded
by examples/load_kernel (a plain C++ libtorch process, no Python in it) through
kernel_lock::load_kernel, its ops compared with PyTorch there; and every tamper
case refused by the same program.

Needs KERNEL_LOCK_BUILD_DIR with the loader built (examples/load_kernel). The
kernels may come from the same build or a sibling build*/ directory, or
KERNEL_LOCK_HUB_KERNELS_DIR; skipped when none was built.
"""

import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path

import pytest
import torch

from hf_cache_helpers import REPO_ID, SHA, git_blob_sha1, install, write_lock  # noqa: F401 (re-exported)

BUILD_DIR = Path(os.environ.get("KERNEL_LOCK_BUILD_DIR", "build")).resolve()
EXAMPLE = BUILD_DIR / "examples" / "load_kernel" / "load_kernel_example"


def cpu_variant() -> str:
    v = torch.__version__.split("+")[0].split(".")
    abi = "cxx11" if torch.compiled_with_cxx11_abi() else "cxx98"
    return f"torch{v[0]}{v[1]}-{abi}-cpu-{platform.machine()}-linux"


def hub_kernel_roots() -> list[Path]:
    if os.environ.get("KERNEL_LOCK_HUB_KERNELS_DIR"):
        return [Path(os.environ["KERNEL_LOCK_HUB_KERNELS_DIR"])]
    builds = [BUILD_DIR] + sorted(p for p in BUILD_DIR.parent.glob("build*") if p != BUILD_DIR)
    return [b / "hub-kernels" for b in builds]


def find_variant(name: str = "activation", roots: list[Path] | None = None) -> Path | None:
    for root in roots or hub_kernel_roots():
        d = root / name / "build" / cpu_variant()
        if (d / "metadata.json").is_file() and any(d.glob("*.so")):
            return d
    return None


VARIANT_DIR = find_variant()
if not EXAMPLE.is_file():
    pytest.skip(f"{EXAMPLE} not built (loader off?)", allow_module_level=True)
if VARIANT_DIR is None:
    pytest.skip("no activation CPU variant built (KERNEL_LOCK_BUILD_KERNELS=OFF?)", allow_module_level=True)


def run_example(lock: Path, cache: Path, *repo_ids: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_CACHE=str(cache), KERNELS_CACHE=str(cache), HF_HUB_OFFLINE="1")
    return subprocess.run([str(EXAMPLE), "--backend", "cpu", str(lock), *(repo_ids or (REPO_ID,))],
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("per_file", [True, False], ids=["kernel-lock", "python-lock"])
def test_load_and_compare_with_torch(tmp_path: Path, per_file: bool):
    cache = tmp_path / "hub"
    lock = write_lock(tmp_path / ("kernel.lock" if per_file else "kernels.lock"),
                      [install(VARIANT_DIR, cache, per_file=per_file)])
    r = run_example(lock, cache)
    assert r.returncode == 0, r.stdout + r.stderr
    meta = json.loads((VARIANT_DIR / "metadata.json").read_text())
    assert f"namespace {meta['id']}" in r.stdout
    assert f"variant   {cpu_variant()}" in r.stdout
    assert "(locked)" in r.stdout
    assert "gelu_fast" in r.stdout and "silu_and_mul" in r.stdout
    assert " 0 mismatches" in r.stdout
    checks = int(r.stdout.split(" checks,")[0].split()[-1])
    assert checks >= 5, r.stdout


def _blob_of(cache: Path, entry: dict, rel: str) -> Path:
    repo = cache / ("kernels--" + entry["repo_id"].replace("/", "--"))
    variant = next(iter(entry["variants"]))
    return (repo / "snapshots" / entry["sha"] / "build" / variant / rel).resolve()


def _so_rel(entry: dict) -> str:
    return next(f["path"] for f in next(iter(entry["files"].values())) if f["path"].endswith(".so"))


def test_tampered_so_refused_before_loading(tmp_path: Path):
    cache = tmp_path / "hub"
    entry = install(VARIANT_DIR, cache)
    lock = write_lock(tmp_path / "kernel.lock", [entry])
    blob = _blob_of(cache, entry, _so_rel(entry))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    r = run_example(lock, cache)
    assert r.returncode == 6, r.stdout + r.stderr  # ErrorCode::integrity
    assert _so_rel(entry) in r.stderr
    assert hashlib.sha256(bytes(data)).hexdigest() in r.stderr
    assert "ops:" not in r.stdout  # nothing was loaded


@pytest.mark.parametrize("case", ["ops_py_byte", "file_added", "file_removed", "symlink_swapped"])
def test_tamper_cases_refused(tmp_path: Path, case: str):
    cache = tmp_path / "hub"
    entry = install(VARIANT_DIR, cache)
    lock = write_lock(tmp_path / "kernel.lock", [entry])
    repo = cache / ("kernels--" + REPO_ID.replace("/", "--"))
    variant_dir = repo / "snapshots" / SHA / "build" / cpu_variant()
    if case == "ops_py_byte":
        blob = (variant_dir / "_ops.py").resolve()
        blob.write_bytes(blob.read_bytes().replace(b"import torch", b"import torck", 1))
    elif case == "file_added":
        (variant_dir / "extra.py").write_text("import os\n")
    elif case == "file_removed":
        (variant_dir / "__init__.py").unlink()
    elif case == "symlink_swapped":
        other = repo / "blobs" / git_blob_sha1(b"ops = None\n")
        other.write_bytes(b"ops = None\n")
        (variant_dir / "_ops.py").unlink()
        (variant_dir / "_ops.py").symlink_to(os.path.relpath(other, variant_dir))
    r = run_example(lock, cache)
    assert r.returncode == 6, r.stdout + r.stderr
    # A file added as a plain file is refused by the cache's strict snapshot reader
    # (only links to this repo's blobs/ belong in a snapshot) before the lock check.
    assert "integrity" in r.stderr or "does not match" in r.stderr or "not in the lock" in r.stderr \
        or "missing" in r.stderr or "not a symlink to the repository's blobs/" in r.stderr, r.stderr


def test_missing_variant_says_install(tmp_path: Path):
    cache = tmp_path / "hub"
    entry = install(VARIANT_DIR, cache)
    lock = write_lock(tmp_path / "kernel.lock", [entry])
    r = run_example(lock, tmp_path / "empty-cache")
    assert r.returncode == 5, r.stdout + r.stderr  # not_found
    assert "kernel-lock install" in r.stderr


def test_two_api_versions_side_by_side(tmp_path: Path):
    """v1 and v2 builds of activation in one process (different namespaces)."""
    v1 = find_variant("activation", [r.parent / "hub-kernels-v1" for r in hub_kernel_roots()])
    if v1 is None:
        pytest.skip("no hub-kernels-v1 build")
    ns1 = json.loads((v1 / "metadata.json").read_text())["id"]
    ns2 = json.loads((VARIANT_DIR / "metadata.json").read_text())["id"]
    if ns1 == ns2:
        pytest.skip(f"v1 and v2 share the namespace {ns1}; they cannot share a process")
    cache = tmp_path / "hub"
    lock = write_lock(tmp_path / "kernel.lock", [
        install(VARIANT_DIR, cache),
        install(v1, cache, repo_id="kernels-test/activation-v1", sha="c" * 40),
    ])
    r = run_example(lock, cache, "kernels-test/activation-v1", REPO_ID)  # one process, both loaded
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"namespace {ns1}" in r.stdout and f"namespace {ns2}" in r.stdout
    assert " 0 mismatches" in r.stdout


# --- get_locked_kernel: a locked variant missing from the cache is downloaded
# from HF_ENDPOINT (our Hub server over the fixture Hub), verified, then loaded.

def _resolve_activation(kernel_lock_bin: Path, env: dict, tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "kernels.yaml").write_text("kernels:\n  kernels-test/activation:\n    version: 1\n")
    r = subprocess.run([str(kernel_lock_bin), "resolve", str(proj), "-q"], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    lock = json.loads((proj / "kernel.lock").read_text())
    if cpu_variant() not in lock[0]["variants"]:
        pytest.skip(f"the fixture Hub has no {cpu_variant()} variant of kernels-test/activation")
    return proj


def _fetch_example(lock: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXAMPLE), "--backend", "cpu", "--fetch", str(lock), "kernels-test/activation"],
                          env=env, capture_output=True, text=True, timeout=300)


def _snapshot_dirs(cache: Path) -> list[Path]:
    return sorted((cache / "kernels--kernels-test--activation" / "snapshots").glob("*/build/*"))


def test_get_locked_kernel_downloads_verifies_and_loads(kernel_lock_bin, start_hub_server, hf_env, tmp_path):
    server = start_hub_server()
    proj = _resolve_activation(kernel_lock_bin, hf_env(server), tmp_path)
    lock = proj / "kernel.lock"
    sha = json.loads(lock.read_text())[0]["sha"]

    # Offline and not cached: a clear error, nothing downloaded.
    offline_cache = tmp_path / "offline-cache"
    r = _fetch_example(lock, hf_env(server, HF_HUB_CACHE=str(offline_cache), HF_HUB_OFFLINE="1"))
    assert r.returncode == 5, r.stdout + r.stderr
    assert "offline" in r.stderr and "kernel-lock install" in r.stderr
    assert not _snapshot_dirs(offline_cache)

    # Online, empty cache: get_locked_kernel downloads exactly the chosen variant.
    cache = tmp_path / "cache"
    served_before = len(server.requests())
    r = _fetch_example(lock, hf_env(server, HF_HUB_CACHE=str(cache)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"variant   {cpu_variant()}" in r.stdout and "(locked)" in r.stdout
    assert " 0 mismatches" in r.stdout
    assert [d.name for d in _snapshot_dirs(cache)] == [cpu_variant()]
    assert not (cache / ".kernel-lock-staging").exists()
    assert _snapshot_dirs(cache)[0].parent.parent.name == sha
    downloads = [q for q in server.requests()[served_before:] if "/resolve/" in q["path"]]
    assert downloads and all(cpu_variant() in q["path"] for q in downloads)

    # The downloaded variant is what the lock pins: `kernel-lock verify` finds
    # it intact (the lock's other variants were not fetched: reported missing),
    # and a second run loads from the cache without any request.
    v = subprocess.run([str(kernel_lock_bin), "verify", str(proj), "--json"],
                       env=hf_env(server, HF_HUB_CACHE=str(cache)), capture_output=True, text=True, timeout=300)
    report = json.loads(v.stdout)
    assert not [p for p in report["problems"] if p["variant"] == cpu_variant()], report
    assert all(p["kind"] in ("missing-variant", "missing-file") for p in report["problems"]), report
    served_before = len(server.requests())
    r = _fetch_example(lock, hf_env(server, HF_HUB_CACHE=str(cache)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(server.requests()) == served_before


def test_get_locked_kernel_refuses_corrupted_downloads(kernel_lock_bin, start_hub_server, hf_env, tmp_path):
    proj = _resolve_activation(kernel_lock_bin, hf_env(start_hub_server()), tmp_path)
    lock = proj / "kernel.lock"
    # Every .so body has one byte flipped: the download is refused, nothing is
    # committed to the cache, nothing is loaded.
    bad = start_hub_server(faults={"corrupt-rate": 1.0, "match": r"\.so"})
    cache = tmp_path / "cache"
    r = _fetch_example(lock, hf_env(bad, HF_HUB_CACHE=str(cache)))
    assert r.returncode in (4, 6), r.stdout + r.stderr
    assert ".so" in r.stderr and ("digest" in r.stderr or "sha256" in r.stderr), r.stderr
    assert "ops:" not in r.stdout
    assert not _snapshot_dirs(cache)
    assert not any(p.is_file() and p.stat().st_size > 1000 for p in (cache).rglob("*") if "blobs" in p.parts)

    # Corrupted once per file: the retry downloads good bytes and the load succeeds.
    flaky = start_hub_server(faults={"corrupt-rate": 1.0, "match": r"\.so", "times": 1})
    r = _fetch_example(lock, hf_env(flaky, HF_HUB_CACHE=str(cache)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 mismatches" in r.stdout
