"""Issue 14 item 6: a kernel locked at two versions, compared with the real
Python `kernels lock` (kernels 0.17.2).

pyproject.toml requires A = 1 and D = 2; A v1's variant declares kernel-depends
on D v1, which depends on L v1. Python locks one entry per KernelDependency
(repo id + version): A v1, D v1, D v2 and L v1. We lock the same four entries
(D v1 and L v1 with "required-by"), `lock-fmt --python` gives Python's lock byte
for byte (both are the canonical KernelLocks.to_json() text: sorted by repo id,
then version, fixed indent, so the bytes are the one comparison that needs no
interpretation), the bundle and install carry both versions of D, and Python's
own resolver, reading that lock offline, gives A the D v1 it declares and L the
commit locked for D v1. Our `kernel_lock` Python package loads the same tree
from our lock, verified: A's `get_kernel_dep(D)` is D v1 while D itself loads
as v2 (each kernel's `__init__.py` records what `get_kernel_dep` returned).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD_DIR, last_json, run_python
from test_bundle_airgap import kl, offline_env
from test_resolve_python import PYTHON_LOCK

A, D, L = "kernels-test/lv-a", "kernels-test/lv-d", "kernels-test/lv-l"


def variant_dir(root: Path, name: str, deps: list[dict]) -> Path:
    """A pure-Python torch-universal build whose metadata.json declares `deps`."""
    ns = "_" + name.replace("-", "_")
    d = root / name / "build" / "torch-universal"
    d.mkdir(parents=True)
    (d / "_ops.py").write_text(f"import torch\n\nops = torch.ops.{ns}\n")
    # What kernels.get_kernel_dep returns for each declared dependency, at import time (as a kernel uses it).
    fetch = "".join(f"DEPS[{dep['repo-id']!r}] = get_kernel_dep({dep['repo-id']!r})\n" for dep in deps)
    (d / "__init__.py").write_text(f'"""{name}"""\nfrom ._ops import ops\n'
                                   + (f"from kernels import get_kernel_dep\nDEPS = {{}}\n{fetch}" if deps else ""))
    meta = {"name": name.split("-v")[0], "id": ns, "version": 1, "license": "Apache-2.0", "python-depends": [],
            "kernel-depends": deps, "backend": {"type": "cpu"}}
    (d / "metadata.json").write_text(json.dumps(meta, indent=2))
    return root / name


def publish(dev_bin, hub: Path, repo: str, branch: str, src: Path) -> str:
    out = subprocess.run([str(dev_bin), "hub", "publish", "--hub", str(hub), "--repo", repo, "--branch", branch,
                          "--message", f"{repo} {branch}", str(src)], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def build_hub(dev_bin, hub: Path, stage: Path) -> dict:
    shas = {}
    shas["L1"] = publish(dev_bin, hub, L, "v1", variant_dir(stage, "lv-l-v1", []))
    shas["D1"] = publish(dev_bin, hub, D, "v1", variant_dir(stage, "lv-d-v1", [{"repo-id": L, "version": 1}]))
    shas["D2"] = publish(dev_bin, hub, D, "v2", variant_dir(stage, "lv-d-v2", []))
    shas["A1"] = publish(dev_bin, hub, A, "v1", variant_dir(stage, "lv-a-v1", [{"repo-id": D, "version": 1}]))
    return shas


def project(where: Path) -> Path:
    where.mkdir(parents=True)
    (where / "pyproject.toml").write_text(f'[tool.kernels.dependencies]\n"{A}" = 1\n"{D}" = 2\n')
    return where


PYTHON_TREE = """
import json
from pathlib import Path
from huggingface_hub import HfApi
from kernels._rust import KernelDependency, KernelLocks, KernelVersion
from kernels.deps import resolve_kernel_tree
from kernels.resolver import LockedHubCacheResolver
locks = KernelLocks.from_json(Path({lock!r}).read_text())
resolver = LockedHubCacheResolver(kernel_locks=locks, trust_remote_code=True)
dep = KernelDependency({repo!r}, KernelVersion.Version({version}))
tree = resolve_kernel_tree(api=HfApi(), kernel=dep, backend="cpu", resolver=resolver)
def walk(node):
    return {{"path": str(node.location.variant_path), "deps": {{k: walk(v) for k, v in node.deps.items()}}}}
print(json.dumps(walk(tree)))
"""


OUR_TREE = """
import json, torch, kernel_lock
a = kernel_lock.load_kernel({a!r}, lockfile={lock!r})
d = kernel_lock.load_kernel({d!r}, lockfile={lock!r})
d1 = a.DEPS[{d!r}]
print(json.dumps({{"a": a.__kernel_lock__.sha, "a_gets_d": d1.__kernel_lock__.sha,
                  "d1_gets_l": d1.DEPS[{l!r}].__kernel_lock__.sha, "d": d.__kernel_lock__.sha,
                  "a_dependencies": a.__kernel_lock__.dependencies, "d_dependencies": d.__kernel_lock__.dependencies,
                  "trust": d1.__kernel_lock__.trust}}))
"""


def test_two_versions_of_a_dependency_locked_like_python(kernel_lock_bin, kernel_lock_dev_bin, make_fixture_hub,
                                                         start_hub_server, hf_env, tmp_path):
    hub = make_fixture_hub()
    shas = build_hub(kernel_lock_dev_bin, hub, tmp_path / "stage")
    server = start_hub_server(hub)
    online = hf_env(server, HF_HUB_CACHE=str(tmp_path / "online-cache"))

    ours = project(tmp_path / "ours")
    summary = json.loads(kl(kernel_lock_bin, "resolve", ours, "--json", env=online).stdout)
    lock = json.loads((ours / "kernel.lock").read_text())
    assert [(k["repo_id"], k["sha"], k["requirement"]) for k in lock] == [
        (A, shas["A1"], {"version": 1}),
        (D, shas["D1"], {"version": 1, "required-by": A}),
        (D, shas["D2"], {"version": 2}),
        (L, shas["L1"], {"version": 1, "required-by": D}),
    ]
    assert not any("depends on" in w for w in summary["warnings"]), summary["warnings"]

    # The real Python `kernels lock` on the same project, same Hub.
    py = project(tmp_path / "python")
    run_python(PYTHON_LOCK.format(project=str(py)), hf_env(server))
    py_text = (py / "kernels.lock").read_text()
    assert [(e["dependency"].get("version"), e["lock"]["commit"]) for e in json.loads(py_text)] == [
        (1, shas["A1"]), (1, shas["D1"]), (2, shas["D2"]), (1, shas["L1"])]
    ours_py = kl(kernel_lock_bin, "lock-fmt", "--python", ours / "kernel.lock").stdout
    assert ours_py == py_text  # byte for byte

    # Re-resolving keeps all four entries from the lock, without a request.
    again = json.loads(kl(kernel_lock_bin, "resolve", ours, "--json", env=online).stdout)
    assert again["changed"] is False and again["requests"] == 0 and len(again["kernels"]) == 4
    kl(kernel_lock_bin, "resolve", ours, "--frozen", env=online)

    # Bundle, install offline: both versions of D are in the cache, each under its ref.
    bundle = tmp_path / "lv.tar.zst"
    kl(kernel_lock_bin, "bundle", ours, "-o", bundle, env=online)
    server.stop()
    cache = tmp_path / "cache"
    env = offline_env(cache, online)
    kl(kernel_lock_bin, "install", bundle, "--lockfile", ours / "kernel.lock", env=env)
    d_repo = cache / "kernels--kernels-test--lv-d"
    assert (d_repo / "refs" / "v1").read_text() == shas["D1"]
    assert (d_repo / "refs" / "v2").read_text() == shas["D2"]
    assert sorted(p.name for p in (d_repo / "snapshots").iterdir()) == sorted([shas["D1"], shas["D2"]])
    report = json.loads(kl(kernel_lock_bin, "verify", ours, "--json", env=env).stdout)
    assert report["ok"] is True and report["kernels"] == 4
    kl(kernel_lock_bin, "verify", ours, "--bundle", bundle, env=env)

    # Python's resolver, offline, over our lock in its shape: A gets D v1 (what
    # its metadata.json declares), and D v1 gets L v1.
    py_lock = tmp_path / "kernels.lock"
    py_lock.write_text(ours_py)
    tree = last_json(run_python(PYTHON_TREE.format(repo=A, version=1, lock=str(py_lock)), env))
    snap = lambda repo, sha: str(cache / ("kernels--" + repo.replace("/", "--")) / "snapshots" / sha)  # noqa: E731
    assert tree["path"].startswith(snap(A, shas["A1"]))
    assert tree["deps"][D]["path"].startswith(snap(D, shas["D1"]))
    assert tree["deps"][D]["deps"][L]["path"].startswith(snap(L, shas["L1"]))
    # D as the requirements name it (D = 2): v2, without dependencies.
    direct = last_json(run_python(PYTHON_TREE.format(repo=D, version=2, lock=str(py_lock)), env))
    assert direct["path"].startswith(snap(D, shas["D2"])) and direct["deps"] == {}

    # Our Python package on our lock (Python-only variants, verified): A's get_kernel_dep(D) is the D v1
    # locked for it, D v1's get_kernel_dep(L) is L v1, and D as required directly is v2.
    if list((BUILD_DIR / "python" / "kernel_lock").glob("_native*.so")):
        pkg_env = dict(env, PYTHONPATH=str(BUILD_DIR / "python") + os.pathsep + env.get("PYTHONPATH", ""))
        loaded = last_json(run_python(OUR_TREE.format(a=A, d=D, l=L, lock=str(ours / "kernel.lock")), pkg_env))
        assert loaded == {"a": shas["A1"], "a_gets_d": shas["D1"], "d1_gets_l": shas["L1"], "d": shas["D2"],
                          "a_dependencies": [[D, shas["D1"]]], "d_dependencies": [], "trust": "locked"}


CACHE_TREE = """
import json, torch, kernel_lock
a = kernel_lock.get_kernel({a!r}, version=1)
d1 = a.DEPS[{d!r}]
print(json.dumps({{"a_gets_d": d1.__kernel_lock__.sha, "d1_gets_l": d1.DEPS[{l!r}].__kernel_lock__.sha,
                  "trust": [a.__kernel_lock__.trust, d1.__kernel_lock__.trust]}}))
"""

MISSING = """
import json, torch, kernel_lock
try:
    kernel_lock.get_local_kernel({path!r})
except Exception as e:
    print(json.dumps({{"type": type(e).__name__, "notes": getattr(e, "__notes__", [])}}))
"""

CYCLE = """
import torch, kernel_lock
try:
    kernel_lock.load_kernel({c!r}, lockfile={lock!r})
except ImportError as e:
    print(e)
"""


def test_python_package_dependencies_from_cache_and_cycles(kernel_lock_bin, kernel_lock_dev_bin, make_fixture_hub,
                                                           start_hub_server, hf_env, tmp_path):
    """get_kernel (unpinned) takes each kernel-depends entry from the cache's refs; a cycle
    of kernel-depends (C v1 -> E v1 -> C v1, which resolve locks once each) is an ImportError
    naming it, not a recursion."""
    if not list((BUILD_DIR / "python" / "kernel_lock").glob("_native*.so")):
        pytest.skip("kernel_lock._native is not built (loader off?)")
    hub = make_fixture_hub()
    shas = build_hub(kernel_lock_dev_bin, hub, tmp_path / "stage")
    c, e = "kernels-test/lv-c", "kernels-test/lv-e"
    publish(kernel_lock_dev_bin, hub, c, "v1", variant_dir(tmp_path / "stage", "lv-c-v1", [{"repo-id": e, "version": 1}]))
    publish(kernel_lock_dev_bin, hub, e, "v1", variant_dir(tmp_path / "stage", "lv-e-v1", [{"repo-id": c, "version": 1}]))
    server = start_hub_server(hub)
    online = hf_env(server, HF_HUB_CACHE=str(tmp_path / "online-cache"))
    proj = project(tmp_path / "proj")
    (proj / "pyproject.toml").write_text(f'[tool.kernels.dependencies]\n"{A}" = 1\n"{c}" = 1\n')
    kl(kernel_lock_bin, "resolve", proj, env=online)
    bundle = tmp_path / "b.tar.zst"
    kl(kernel_lock_bin, "bundle", proj, "-o", bundle, env=online)
    server.stop()
    env = offline_env(tmp_path / "cache", online)
    kl(kernel_lock_bin, "install", bundle, "--lockfile", proj / "kernel.lock", env=env)
    env["PYTHONPATH"] = str(BUILD_DIR / "python") + os.pathsep + env.get("PYTHONPATH", "")

    loaded = last_json(run_python(CACHE_TREE.format(a=A, d=D, l=L), env))
    assert loaded == {"a_gets_d": shas["D1"], "d1_gets_l": shas["L1"], "trust": ["cache_blobs", "cache_blobs"]}

    out = run_python(CYCLE.format(c=c, lock=str(proj / "kernel.lock")), env).stdout
    assert f"cyclic kernel dependency: {c} -> {e} -> {c}" in out, out

    # A dependency that is not there: the error says which dependent needed it, at which version.
    local = variant_dir(tmp_path / "local", "lv-x-v1", [{"repo-id": "kernels-test/lv-nowhere", "version": 3}])
    missing = last_json(run_python(MISSING.format(path=str(local / "build" / "torch-universal")), env))
    assert missing["type"] == "KernelNotFoundError", missing
    assert missing["notes"] == ["while loading kernels-test/lv-nowhere (version 3), a kernel-depends of _lv_x_v1 "
                                "(kernel_lock)"], missing
