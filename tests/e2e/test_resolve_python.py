"""`kernel-lock resolve` against `kernel-lock-dev serve` over the fixture Hub,
compared with the real Python `kernels lock` (kernels 0.17.2) and with an
independent Python computation of every variant hash.

kernels 0.17.2 writes only commits ({"dependency": {...}, "lock": {"commit"}}),
so the comparison with it is on (repo_id, sha). The variant hashes are checked
against a git_lfs_concat computed here with huggingface_hub + hashlib from the
downloaded bytes, and our variant set against `kernels.variants.get_variants`
(Python's own view of build/, which only parses torch* names).
"""

from __future__ import annotations

import argparse  # noqa: F401  (used in the Python snippets)
import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import last_json, run_python

CANDIDATES = [
    "kernels-test/noarch-demo",
    "kernels-test/many-files",
    "kernels-test/activation",
    "kernels-test/rmsnorm",
]


def refs_of(server, repo: str):
    try:
        with urllib.request.urlopen(f"{server.url}/api/kernels/{repo}/refs", timeout=10) as r:
            return json.load(r)
    except Exception:
        return None


def lockable(server) -> list[str]:
    repos = []
    for repo in CANDIDATES:
        refs = refs_of(server, repo)
        if refs and any(b["name"] == "v1" for b in refs["branches"]):
            repos.append(repo)
    return repos


def our_env(server, tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(
        HF_ENDPOINT=server.url,
        HF_HOME=str(tmp_path / "hf-home"),
        HF_HUB_DOWNLOAD_TIMEOUT="20",
        HF_HUB_ETAG_TIMEOUT="20",
    )
    env.update(extra)
    return env


def resolve(bin_path, project: Path, env: dict, *args, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(bin_path), "resolve", str(project), "--json", *args], env=env, capture_output=True, text=True, timeout=300
    )
    if check and proc.returncode != 0:
        pytest.fail(f"kernel-lock resolve failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def write_project(path: Path, repos: list[str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    lines = ["[tool.kernels.dependencies]"] + [f'"{r}" = 1' for r in repos]
    (path / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return path


PYTHON_LOCK = """
import argparse, sys
from pathlib import Path
import kernels.locking as locking
# The fixture server has no /api/organizations/<org>/overview (publisher trust):
# trust is not what this comparison is about.
locking._check_trust_remote_code = lambda **kwargs: None
from kernels.cli.lock import lock_kernels
lock_kernels(argparse.Namespace(project_dir=Path(sys.argv[1] if len(sys.argv) > 1 else {project!r})))
print("{{}}")
"""

PYTHON_HASHES = """
import hashlib, json
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.hf_api import RepoFile, RepoFolder
from kernels.variants import get_variants
api = HfApi()
out = {{}}
for repo, sha in {pins!r}.items():
    files = {{}}
    dirs = set()
    for e in api.list_repo_tree(repo, repo_type="kernel", revision=sha, path_in_repo="build", recursive=True):
        parts = e.path.split("/")
        if isinstance(e, RepoFolder):
            if len(parts) == 2:
                dirs.add(parts[1])
            continue
        data = open(hf_hub_download(repo, e.path, repo_type="kernel", revision=sha), "rb").read()
        if e.lfs is not None:
            digest = hashlib.sha256(data).hexdigest()
            assert digest == e.lfs.sha256, (e.path, "listing lies")
        else:
            digest = hashlib.sha1(b"blob %d\\0" % len(data) + data).hexdigest()
            assert digest == e.blob_id, (e.path, "listing lies")
        files.setdefault(parts[1], []).append(("/".join(parts[2:]), digest))
    hashes = {{}}
    for variant, entries in files.items():
        keep = sorted((p.encode(), d) for p, d in entries
                      if not p.endswith(".pyc") and "__pycache__" not in p.split("/"))
        h = hashlib.sha256()
        for p, d in keep:
            h.update(p)
            h.update(bytes.fromhex(d))
        if keep:
            hashes[variant] = "sha256-" + h.hexdigest()
    py_variants = sorted(v.variant_str for v in get_variants(api, repo_id=repo, revision=sha))
    out[repo] = {{"hashes": hashes, "python_variants": py_variants, "dirs": sorted(dirs)}}
print(json.dumps(out))
"""


def test_resolve_matches_python_kernels_lock(kernel_lock_bin, hub_server, hf_env, tmp_path):
    repos = lockable(hub_server)
    assert len(repos) >= 2, f"fixture Hub should offer at least two kernels with a v1 branch, got {repos}"

    ours_dir = write_project(tmp_path / "ours", repos)
    summary = json.loads(resolve(kernel_lock_bin, ours_dir, our_env(hub_server, tmp_path)).stdout)
    assert summary["changed"] is True
    ours = json.loads((ours_dir / "kernel.lock").read_text())
    assert [k["repo_id"] for k in ours] == sorted(repos)

    py_dir = write_project(tmp_path / "python", repos)
    run_python(PYTHON_LOCK.format(project=str(py_dir)), hf_env(hub_server))
    py_lock = json.loads((py_dir / "kernels.lock").read_text())
    py_pins = {e["dependency"]["repo-id"]: e["lock"]["commit"] for e in py_lock}
    our_pins = {k["repo_id"]: k["sha"] for k in ours}
    assert our_pins == py_pins  # entry for entry, commit for commit

    computed = last_json(run_python(PYTHON_HASHES.format(pins=our_pins), hf_env(hub_server)))
    for k in ours:
        expect = computed[k["repo_id"]]
        got = {name: v["hash"] for name, v in k["variants"].items()}
        assert got == expect["hashes"], k["repo_id"]  # hash for hash, every variant
        assert set(expect["python_variants"]) <= set(got)  # everything Python sees, we lock
        assert all(v["hash_type"] == "git_lfs_concat" and set(v) == {"hash", "hash_type"} for v in k["variants"].values())
        for name, files in k["files"].items():
            assert [f["path"] for f in files] == sorted(f["path"] for f in files)

    # Deterministic and write-only-on-change: a second run keeps the file untouched.
    before = (ours_dir / "kernel.lock").stat().st_mtime_ns
    again = json.loads(resolve(kernel_lock_bin, ours_dir, our_env(hub_server, tmp_path)).stdout)
    assert again["changed"] is False
    assert all(k["from_lock"] for k in again["kernels"])
    assert (ours_dir / "kernel.lock").stat().st_mtime_ns == before


def test_locked_frozen_offline_and_errors(kernel_lock_bin, hub_server, tmp_path):
    repos = lockable(hub_server)
    project = write_project(tmp_path / "p", repos[:1])
    env = our_env(hub_server, tmp_path)
    resolve(kernel_lock_bin, project, env)
    lock_bytes = (project / "kernel.lock").read_bytes()

    # --frozen and --offline need no server at all.
    dead = dict(env, HF_ENDPOINT="http://127.0.0.1:9")
    assert resolve(kernel_lock_bin, project, dead, "--frozen").returncode == 0
    assert resolve(kernel_lock_bin, project, dead, "--offline").returncode == 0
    assert resolve(kernel_lock_bin, project, dict(dead, HF_HUB_OFFLINE="1")).returncode == 0

    # A new requirement: --locked fails with a diff (exit 7), --frozen says what is missing.
    write_project(project, repos)
    proc = resolve(kernel_lock_bin, project, env, "--locked", check=False)
    assert proc.returncode == 7, proc.stderr
    assert f"+ {repos[1]}" in proc.stderr
    proc = resolve(kernel_lock_bin, project, dead, "--frozen", check=False)
    assert proc.returncode == 7 and "required but not in the lock" in proc.stderr
    proc = resolve(kernel_lock_bin, project, dead, "--offline", check=False)
    assert proc.returncode == 4 and "offline" in proc.stderr
    assert (project / "kernel.lock").read_bytes() == lock_bytes

    # Unmeetable: a version that does not exist names the versions that do.
    (project / "pyproject.toml").write_text(f'[tool.kernels.dependencies]\n"{repos[0]}" = 99\n')
    proc = resolve(kernel_lock_bin, project, env, check=False)
    assert proc.returncode == 5, proc.stderr
    assert "version 99" in proc.stderr and "available versions" in proc.stderr
    (project / "pyproject.toml").write_text('[tool.kernels.dependencies]\n"kernels-test/does-not-exist" = 1\n')
    proc = resolve(kernel_lock_bin, project, env, check=False)
    assert proc.returncode == 5 and "kernels-test/does-not-exist" in proc.stderr
    assert (project / "kernel.lock").read_bytes() == lock_bytes


FAULTS = [
    {"429-rate": 0.3, "retry-after": 1},
    {"5xx-rate": 0.3},
    {"reset-rate": 0.3},
    {"truncate-rate": 0.3},
    {"corrupt-rate": 0.3},
    {"latency-ms": 50},
    {"5xx-rate": 1.0},
    {"truncate-rate": 1.0},
    {"corrupt-rate": 1.0},
]


@pytest.mark.parametrize("faults", FAULTS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_fault_matrix_recovers_or_fails_cleanly(kernel_lock_bin, start_hub_server, tmp_path, faults):
    clean = start_hub_server()
    repos = lockable(clean)
    baseline_dir = write_project(tmp_path / "baseline", repos)
    resolve(kernel_lock_bin, baseline_dir, our_env(clean, tmp_path), "--verify-content")
    baseline = (baseline_dir / "kernel.lock").read_bytes()

    faulty = start_hub_server(faults=dict(faults, seed=7))
    project = write_project(tmp_path / "faulty", repos)
    proc = resolve(kernel_lock_bin, project, our_env(faulty, tmp_path), "--verify-content", check=False)
    lock = project / "kernel.lock"
    if proc.returncode == 0:
        assert lock.read_bytes() == baseline  # recovered: the very same lock
    else:
        assert not lock.exists(), "a failed resolve must not leave a lock behind"
        assert proc.returncode in (4, 6), proc.stderr  # network / integrity
        assert "kernel-lock:" in proc.stderr and ("giving up" in proc.stderr or "does not match" in proc.stderr)
    if faults.get("5xx-rate") == 1.0 or faults.get("corrupt-rate") == 1.0:
        assert proc.returncode != 0


def test_kernel_depends_locked_like_python(kernel_lock_bin, hub_server, hf_env, tmp_path):
    """kernels-test/dep-demo declares kernel-depends (noarch-demo and many-files,
    version 1 each) in its metadata.json: both tools lock the whole tree,
    commit for commit."""
    ours_dir = write_project(tmp_path / "ours", ["kernels-test/dep-demo"])
    first = json.loads(resolve(kernel_lock_bin, ours_dir, our_env(hub_server, tmp_path)).stdout)
    ours = json.loads((ours_dir / "kernel.lock").read_text())
    assert [k["repo_id"] for k in ours] == [
        "kernels-test/dep-demo", "kernels-test/many-files", "kernels-test/noarch-demo"]
    by_id = {k["repo_id"]: k for k in ours}
    assert by_id["kernels-test/noarch-demo"]["requirement"] == {"version": 1, "required-by": "kernels-test/dep-demo"}
    assert by_id["kernels-test/many-files"]["requirement"] == {"version": 1, "required-by": "kernels-test/dep-demo"}
    assert "required-by" not in by_id["kernels-test/dep-demo"]["requirement"]
    assert {k["repo_id"]: k.get("required_by") for k in first["kernels"]} == {
        "kernels-test/dep-demo": None, "kernels-test/noarch-demo": "kernels-test/dep-demo",
        "kernels-test/many-files": "kernels-test/dep-demo"}
    assert all(k["variants"] for k in ours)

    py_dir = write_project(tmp_path / "python", ["kernels-test/dep-demo"])
    run_python(PYTHON_LOCK.format(project=str(py_dir)), hf_env(hub_server))
    py_lock = json.loads((py_dir / "kernels.lock").read_text())
    py_pins = {e["dependency"]["repo-id"]: e["lock"]["commit"] for e in py_lock}
    assert {k["repo_id"]: k["sha"] for k in ours} == py_pins

    # Re-resolving keeps the whole tree from the lock without a request, and a
    # bundle of the lock carries the dependencies too.
    again = json.loads(resolve(kernel_lock_bin, ours_dir, our_env(hub_server, tmp_path)).stdout)
    assert again["changed"] is False and again["requests"] == 0
    assert all(k["from_lock"] for k in again["kernels"]) and len(again["kernels"]) == 3

    # A dependency that is also required directly, at another version: both
    # versions are locked, one entry per (repo, version), as Python does (issue 14
    # item 6; tests/e2e/test_lock_versions_python.py compares the bytes).
    def lock_with_noarch(version: int) -> list[dict]:
        where = write_project(tmp_path / f"noarch-{version}", ["kernels-test/dep-demo"])
        with open(where / "pyproject.toml", "a") as f:
            f.write(f'"kernels-test/noarch-demo" = {version}\n')
        resolve(kernel_lock_bin, where, our_env(hub_server, tmp_path))
        return json.loads((where / "kernel.lock").read_text())

    entries = lock_with_noarch(2)
    assert [(k["repo_id"], k["requirement"]) for k in entries] == [
        ("kernels-test/dep-demo", {"version": 1}),
        ("kernels-test/many-files", {"version": 1, "required-by": "kernels-test/dep-demo"}),
        ("kernels-test/noarch-demo", {"version": 1, "required-by": "kernels-test/dep-demo"}),
        ("kernels-test/noarch-demo", {"version": 2}),
    ]
    assert entries[2]["sha"] == by_id["kernels-test/noarch-demo"]["sha"] != entries[3]["sha"]
    # The same (repo, version) required directly and as a dependency: one entry,
    # the direct one (no required-by).
    entries = lock_with_noarch(1)
    assert [(k["repo_id"], k["requirement"].get("required-by")) for k in entries] == [
        ("kernels-test/dep-demo", None), ("kernels-test/many-files", "kernels-test/dep-demo"),
        ("kernels-test/noarch-demo", None)]
