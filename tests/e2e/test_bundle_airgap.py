"""Air-gapped round trip: resolve against the fixture Hub, bundle, cut the
network, install into an empty cache, then the real Python `kernels` loads the
kernel offline and `kernel-lock verify` passes; tampering is refused; an
install killed at random points leaves every present variant intact and a
rerun succeeds.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from conftest import last_json, run_python

KERNEL = "kernels-test/noarch-demo"
FOLDER = "kernels--kernels-test--noarch-demo"


def kl(bin_path, *args, env=None, check=True, timeout=300):
    proc = subprocess.run([str(bin_path), *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"kernel-lock {' '.join(map(str, args))} failed ({proc.returncode})\n{proc.stdout}\n{proc.stderr}")
    return proc


def offline_env(cache: Path, base: dict) -> dict:
    env = dict(base)
    env.update(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache), HF_ENDPOINT="http://127.0.0.1:9")
    env.pop("KERNELS_CACHE", None)
    return env


def make_project(tmp_path: Path, deps: dict[str, int]) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir(parents=True, exist_ok=True)
    lines = ["[tool.kernels.dependencies]"] + [f'"{k}" = {v}' for k, v in deps.items()]
    (proj / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return proj


def resolve_and_bundle(bin_path, server, hf_env, tmp_path, deps, name="b.tar.zst", extra=()):
    env = hf_env(server, HF_HUB_CACHE=str(tmp_path / "online-cache"))
    proj = make_project(tmp_path, deps)
    kl(bin_path, "resolve", proj, env=env)
    assert (proj / "kernel.lock").is_file()
    bundle = tmp_path / name
    kl(bin_path, "bundle", proj, "-o", bundle, *extra, env=env)
    return proj, bundle, env


def blob_of(cache: Path, repo_path: str, sha: str) -> Path:
    link = cache / FOLDER / "snapshots" / sha / repo_path
    assert link.is_symlink(), link
    return (link.parent / os.readlink(link)).resolve()


def test_airgap_roundtrip(kernel_lock_bin, hub_server, hf_env, tmp_path):
    proj, bundle, online = resolve_and_bundle(kernel_lock_bin, hub_server, hf_env, tmp_path, {KERNEL: 1})
    lock = json.loads((proj / "kernel.lock").read_text())
    sha = lock[0]["sha"]
    assert set(lock[0]["variants"]) >= {"torch-cpu", "torch-universal"}

    # Reproducible: bundling again, downloading again or now from a filled cache
    # (other path, --offline), gives the same bytes.
    again = tmp_path / "again" / "b.tar.zst"
    again.parent.mkdir()
    kl(kernel_lock_bin, "bundle", proj, "-o", again, env=online)
    assert again.read_bytes() == bundle.read_bytes()
    kl(kernel_lock_bin, "install", bundle, "--cache", tmp_path / "online-cache", env=online)
    offline_again = tmp_path / "again" / "c.tar.zst"
    kl(kernel_lock_bin, "bundle", proj, "-o", offline_again, "--offline", env=online)
    assert offline_again.read_bytes() == bundle.read_bytes()
    kl(kernel_lock_bin, "verify", proj, "--bundle", bundle, env=online)

    hub_server.stop()  # the air gap

    cache = tmp_path / "airgap-cache"
    env = offline_env(cache, online)
    out = kl(kernel_lock_bin, "install", bundle, env=env)
    assert "installed" in out.stdout
    repo = cache / FOLDER
    assert (repo / "refs" / "v1").read_text() == sha  # no newline
    assert not (repo / "trees").exists()
    assert (repo / "snapshots" / sha / "build" / "torch-cpu" / "__init__.py").is_symlink()

    kl(kernel_lock_bin, "verify", proj, env=env)
    report = json.loads(kl(kernel_lock_bin, "verify", proj, "--json", env=env).stdout)
    assert report["ok"] is True and report["variants"] >= 2

    # The real Python kernels, offline, with the lock (Python 0.17.2 reads its own lock shape).
    py_lock = tmp_path / "kernels.lock"
    py_lock.write_text(kl(kernel_lock_bin, "lock-fmt", "--python", proj / "kernel.lock").stdout)
    code = f"""
import json, torch
from pathlib import Path
from kernels import load_kernel, get_locked_kernel, get_kernel
k = load_kernel({KERNEL!r}, lockfile=Path({str(py_lock)!r}))
k2 = get_locked_kernel({KERNEL!r}, lockfile=Path({str(py_lock)!r}))
k3 = get_kernel({KERNEL!r}, version=1)
print(json.dumps({{"variant": k.VARIANT, "out": k.add_one(torch.tensor([1.0, 2.0])).tolist(),
                  "file": k.__file__, "same": k2.VERSION == k.VERSION == k3.VERSION}}))
"""
    res = last_json(run_python(code, env))
    assert res["out"] == [2.0, 3.0]
    variant = res["variant"]
    assert variant in ("torch-cpu", "torch-universal")  # whichever Python picks for this torch build
    assert res["file"].startswith(str(cache / FOLDER / "snapshots" / sha / "build" / variant))
    assert res["same"] is True

    # Tamper one byte of an installed file: verify refuses and names it.
    blob = blob_of(cache, f"build/{variant}/__init__.py", sha)
    data = bytearray(blob.read_bytes())
    data[-2] ^= 0x01
    blob.write_bytes(bytes(data))
    bad = kl(kernel_lock_bin, "verify", proj, env=env, check=False)
    assert bad.returncode == 6, bad.stdout + bad.stderr
    assert "altered-file" in bad.stdout and f"build/{variant}/__init__.py" in bad.stdout
    # Reinstalling heals the cache.
    kl(kernel_lock_bin, "install", bundle, env=env)
    kl(kernel_lock_bin, "verify", proj, env=env)


def test_tampered_bundle_is_refused(kernel_lock_bin, hub_server, hf_env, tmp_path):
    proj, bundle, online = resolve_and_bundle(kernel_lock_bin, hub_server, hf_env, tmp_path, {KERNEL: 1})
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.tar.zst"
    bad.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    res = kl(kernel_lock_bin, "install", bad, "--cache", cache, env=online, check=False)
    assert res.returncode in (3, 6), res.stderr
    assert not list(cache.glob("*/snapshots/*/build/*")), "a snapshot appeared from a damaged bundle"
    assert not list(cache.glob("*/refs/*"))
    res = kl(kernel_lock_bin, "verify", proj, "--bundle", bad, env=online, check=False)
    assert res.returncode != 0


def _make_big_cache(cache: Path, proj: Path) -> None:
    """A cache holding kernels-test/big (4 variants, 3 x 8 MiB LFS payloads each)
    and the matching kernel.lock, computed here (git blob sha1 / LFS sha256,
    git_lfs_concat variant hashes) without any server."""
    import hashlib

    rng = random.Random(1234)
    sha = "c" * 40
    repo = cache / "kernels--kernels-test--big"
    variants, files = {}, {}
    for variant in ("torch-cpu", "torch-universal", "torch-cuda", "torch-xpu"):
        content = {"__init__.py": f"VARIANT = {variant!r}\n".encode(), "metadata.json": b'{"python-depends": []}\n'}
        for i in range(3):
            content[f"payload{i}.bin"] = rng.randbytes(8 << 20)
        entries = []
        for path, data in content.items():
            lfs = path.endswith(".bin")
            digest = hashlib.sha256(data).hexdigest() if lfs else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            (repo / "blobs").mkdir(parents=True, exist_ok=True)
            (repo / "blobs" / digest).write_bytes(data)
            link = repo / "snapshots" / sha / "build" / variant / path
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(f"../../../../blobs/{digest}")
            entries.append({"path": path, "size": len(data), "digest": digest, "kind": "sha256" if lfs else "git-sha1"})
        h = hashlib.sha256()
        for e in sorted(entries, key=lambda e: e["path"].encode()):
            h.update(e["path"].encode() + bytes.fromhex(e["digest"]))
        variants[variant] = {"hash": "sha256-" + h.hexdigest(), "hash_type": "git_lfs_concat"}
        files[variant] = sorted(entries, key=lambda e: e["path"])
    proj.mkdir(parents=True, exist_ok=True)
    lock = [{"repo_id": "kernels-test/big", "sha": sha, "variants": variants, "repo_type": "kernel",
             "requirement": {"version": 1}, "files": files}]
    (proj / "kernel.lock").write_text(json.dumps(lock, indent=2) + "\n")


def test_kill_during_install(kernel_lock_bin, tmp_path):
    proj = tmp_path / "proj"
    _make_big_cache(tmp_path / "src-cache", proj)
    online = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "KERNELS_"))}
    online["HF_HUB_OFFLINE"] = "1"
    bundle = tmp_path / "big.tar.zst"
    kl(kernel_lock_bin, "bundle", proj, "-o", bundle, "--offline", "--cache", tmp_path / "src-cache", "--level", "1",
       env=online)

    # How long a full install takes here, to spread the kills over it.
    t0 = time.monotonic()
    kl(kernel_lock_bin, "install", bundle, "--cache", tmp_path / "scratch", env=online)
    duration = time.monotonic() - t0

    cache = tmp_path / "cache"
    rng = random.Random(42)
    for _ in range(8):
        proc = subprocess.Popen([str(kernel_lock_bin), "install", str(bundle), "--cache", str(cache)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, duration))
        proc.kill()
        proc.wait()
        report = json.loads(kl(kernel_lock_bin, "verify", proj, "--cache", cache, "--json", env=online,
                               check=False).stdout)
        # Only whole variants may be absent: whatever is present is intact.
        assert {p["kind"] for p in report["problems"]} <= {"missing-variant"}, report
        # A ref never points at a commit whose snapshot is missing.
        for ref in (cache.glob("*/refs/*")):
            assert (ref.parent.parent / "snapshots" / ref.read_text()).is_dir()
    kl(kernel_lock_bin, "install", bundle, "--cache", cache, env=online)
    kl(kernel_lock_bin, "verify", proj, "--cache", cache, env=online)
    assert not (cache / ".kernel-lock-staging").exists(), "staging left behind after a clean run"
