"""Signed variants across the air gap: `kernel-lock bundle` carries the trusted
root (manifest: its sha256 and capture time), `install` checks it, stores it in
the cache's trust store and verifies every pinned signature (signature over
metadata.json by the pinned signer, then the kernel digest) before publishing;
`verify` (cache and --bundle) does the same and reports the signer of each
variant. Locks come from `kernel-lock resolve --trusted-root` against the
served fixture Hub, whose v2 compiled kernels are signed by its test PKI and
whose v1 ones are not.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from test_bundle_airgap import kl, offline_env

KERNEL = "kernels-test/activation"
FOLDER = "kernels--kernels-test--activation"


@pytest.fixture
def trusted_root(fixture_hub) -> Path:
    if not (fixture_hub / "repos" / "kernel" / KERNEL).is_dir():
        pytest.skip("the fixture Hub has no compiled kernels (built with KERNEL_LOCK_BUILD_KERNELS)")
    root = fixture_hub / ".sigstore-pki" / "trusted_root.json"
    if not root.is_file():
        pytest.skip("the fixture Hub's kernels are unsigned (no Python with cryptography)")
    return root


def archive_names(bundle: Path) -> list[str]:
    if shutil.which("zstd") is None:
        pytest.skip("zstd is not installed")
    out = subprocess.run(f"zstd -dc '{bundle}' | tar -tf -", shell=True, check=True, capture_output=True, text=True)
    return out.stdout.split()


def manifest_of(bundle: Path) -> dict:
    if shutil.which("zstd") is None:
        pytest.skip("zstd is not installed")
    out = subprocess.run(f"zstd -dc '{bundle}' | tar -xOf - kernel-lock-bundle.json", shell=True, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def resolve(bin_path, env, proj: Path, version: int, root: Path) -> dict:
    proj.mkdir(parents=True, exist_ok=True)
    (proj / "pyproject.toml").write_text(f'[tool.kernels.dependencies]\n"{KERNEL}" = {version}\n')
    kl(bin_path, "resolve", proj, "--trusted-root", root, env=env)
    return json.loads((proj / "kernel.lock").read_text())


def assert_all_signed(lock) -> None:
    """resolve --trusted-root pinned a signer for every locked variant (kernel.lock "signatures")."""
    (kernel,) = lock
    assert set(kernel.get("signatures", {})) == set(kernel["variants"]), kernel.get("signatures")


@pytest.fixture
def signed_project(kernel_lock_bin, hub_server, hf_env, tmp_path, trusted_root):
    env = hf_env(hub_server, HF_HUB_CACHE=str(tmp_path / "online-cache"))
    proj = tmp_path / "proj"
    lock = resolve(kernel_lock_bin, env, proj, 2, trusted_root)
    assert_all_signed(lock)
    return proj, env


def test_bundle_carries_root_install_stores_and_checks_it(kernel_lock_bin, signed_project, tmp_path, trusted_root):
    proj, env = signed_project
    bundle = tmp_path / "signed.tar.zst"
    # No trust root in the cache and none named: refused, naming the way to get one.
    res = kl(kernel_lock_bin, "bundle", proj, "-o", bundle, env=env, check=False)
    assert res.returncode == 5, res.stderr
    assert "kernel-lock trust import" in res.stderr and "--trusted-root" in res.stderr
    assert not bundle.exists()

    kl(kernel_lock_bin, "bundle", proj, "-o", bundle, "--trusted-root", trusted_root,
       "--captured-at", "2026-11-01T00:00:00Z", "--trust-max-age", "100000", env=env)
    names = archive_names(bundle)
    assert names[:2] == ["kernel-lock-bundle.json", "trust/trusted_root.json"]
    manifest = manifest_of(bundle)
    assert manifest["format_version"] == 2
    assert manifest["trust"] == {"trusted_root": "trust/trusted_root.json",
                                 "sha256": hashlib.sha256(trusted_root.read_bytes()).hexdigest(),
                                 "captured_at": "2026-11-01T00:00:00Z"}

    cache = tmp_path / "airgap-cache"
    air = offline_env(cache, env)
    out = kl(kernel_lock_bin, "install", bundle, "--lockfile", proj / "kernel.lock", "--require-signature",
             "--trust-max-age", "100000", env=air).stdout
    assert "signed by " in out and "pinned by the lock only" not in out
    store = cache / ".kernel-lock-trust"
    assert (store / "trusted_root.json").read_bytes() == trusted_root.read_bytes()
    assert json.loads((store / "captured.json").read_text())["captured_at"] == "2026-11-01T00:00:00Z"

    # verify (cache): the root comes from the cache's store; every variant signed.
    report = json.loads(kl(kernel_lock_bin, "verify", proj, "--json", "--require-signature",
                           "--trust-max-age", "100000", env=air).stdout)
    assert report["ok"] and report["provenance"], report
    assert all(p["signed"] and p["proven"].startswith("signed by ") for p in report["provenance"])
    text = kl(kernel_lock_bin, "verify", proj, "--trust-max-age", "100000", env=air).stdout
    assert f"{KERNEL} " in text and ": signed by " in text
    # verify --bundle: the root comes from the bundle.
    report = json.loads(kl(kernel_lock_bin, "verify", proj, "--bundle", bundle, "--json", "--trust-max-age", "100000",
                           env=offline_env(tmp_path / "empty-cache", env)).stdout)
    assert report["ok"] and all(p["signed"] for p in report["provenance"]), report


def test_stale_carried_root_is_refused(kernel_lock_bin, signed_project, tmp_path, trusted_root):
    proj, env = signed_project
    bundle = tmp_path / "old-root.tar.zst"
    kl(kernel_lock_bin, "bundle", proj, "-o", bundle, "--trusted-root", trusted_root,
       "--captured-at", "2020-01-01T00:00:00Z", "--trust-max-age", "100000", env=env)
    cache = tmp_path / "airgap-cache"
    res = kl(kernel_lock_bin, "install", bundle, env=offline_env(cache, env), check=False)
    assert res.returncode == 10, res.stdout + res.stderr
    assert "kernel-lock trust import" in res.stderr
    assert not (cache / FOLDER / "snapshots").exists()
    assert not (cache / ".kernel-lock-trust").exists()
    # A longer limit (the operator's choice) accepts it.
    kl(kernel_lock_bin, "install", bundle, "--trust-max-age", "100000", env=offline_env(cache, env))


def test_signature_that_does_not_hold_installs_nothing(kernel_lock_bin, signed_project, tmp_path, trusted_root):
    proj, env = signed_project
    lock_path = proj / "kernel.lock"
    text = lock_path.read_text()
    # Same bytes, same lock hashes, but a different pinned signer.
    forged = text.replace("/.github/workflows/", "/.github/workflows/evil-")
    assert forged != text
    lock_path.write_text(forged)
    bundle = tmp_path / "forged.tar.zst"
    kl(kernel_lock_bin, "bundle", proj, "-o", bundle, "--trusted-root", trusted_root, env=env)
    cache = tmp_path / "airgap-cache"
    res = kl(kernel_lock_bin, "install", bundle, "--lockfile", lock_path, env=offline_env(cache, env), check=False)
    assert res.returncode == 6, res.stdout + res.stderr
    assert KERNEL in res.stderr and "signature" in res.stderr and "torch" in res.stderr
    assert not (cache / FOLDER / "snapshots").exists()
    assert not (cache / FOLDER / "refs").exists()
    # verify --bundle names the variant and the failed check.
    res = kl(kernel_lock_bin, "verify", proj, "--bundle", bundle, "--json", env=offline_env(cache, env), check=False)
    assert res.returncode == 6
    problems = json.loads(res.stdout)["problems"]
    assert problems and all(p["kind"] == "signature-failed" and p["repo_id"] == KERNEL for p in problems)


def test_unsigned_v1_is_pinned_by_the_lock_only(kernel_lock_bin, hub_server, hf_env, tmp_path, trusted_root):
    env = hf_env(hub_server, HF_HUB_CACHE=str(tmp_path / "online-cache"))
    proj = tmp_path / "proj-v1"
    lock = resolve(kernel_lock_bin, env, proj, 1, trusted_root)
    assert "signatures" not in lock[0]
    bundle = tmp_path / "v1.tar.zst"
    kl(kernel_lock_bin, "bundle", proj, "-o", bundle, env=env)
    assert manifest_of(bundle)["format_version"] == 1  # no signatures: as before, no trust root
    assert "trust/trusted_root.json" not in archive_names(bundle)
    cache = tmp_path / "airgap-cache"
    res = kl(kernel_lock_bin, "install", bundle, "--require-signature", env=offline_env(cache, env), check=False)
    assert res.returncode == 6, res.stdout + res.stderr
    assert "--require-signature" in res.stderr and KERNEL in res.stderr
    assert not (cache / FOLDER).exists()
    out = kl(kernel_lock_bin, "install", bundle, env=offline_env(cache, env)).stdout
    assert "pinned by the lock only" in out and "signed by" not in out
    res = kl(kernel_lock_bin, "verify", proj, "--require-signature", "--json", env=offline_env(cache, env), check=False)
    assert res.returncode == 6
    assert {p["kind"] for p in json.loads(res.stdout)["problems"]} == {"unsigned-variant"}
