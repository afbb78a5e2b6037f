"""The C++ loader on signed kernels: the fixture Hub's kernels-test/activation v2
is signed by the Hub's test PKI (fixtures/build_fixture_hub.sh), rmsnorm v1 is
not. `kernel-lock resolve --trusted-root` pins the signer in kernel.lock; the
example program (examples/load_kernel, a plain C++ libtorch process) then
verifies the signature and the kernel digest on the sealed bytes it loads, and
prints what was proven. Each refusal is crafted so that only the signature
check can catch it (the lock hash still matches).

Needs KERNEL_LOCK_BUILD_DIR with the loader built and a fixture Hub with the
compiled kernels (KERNEL_LOCK_BUILD_KERNELS=ON, or KERNELS_BUILD naming a build
that has them); skipped otherwise.
"""

import hashlib
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from hf_cache_helpers import git_blob_sha1

BUILD_DIR = Path(os.environ.get("KERNEL_LOCK_BUILD_DIR", "build")).resolve()
EXAMPLE = BUILD_DIR / "examples" / "load_kernel" / "load_kernel_example"
SIGNED, UNSIGNED = "kernels-test/activation", "kernels-test/rmsnorm"
SIGNER = "https://github.com/huggingface/kernels-community/.github/workflows/build.yaml@refs/heads/main"

if not EXAMPLE.is_file():
    pytest.skip(f"{EXAMPLE} not built (loader off?)", allow_module_level=True)


def cpu_variant() -> str:
    v = torch.__version__.split("+")[0].split(".")
    abi = "cxx11" if torch.compiled_with_cxx11_abi() else "cxx98"
    return f"torch{v[0]}{v[1]}-{abi}-cpu-{platform.machine()}-linux"


def run(argv: list, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True, timeout=300)


class Signed:
    """A project locking activation v2 (signed) and rmsnorm v1 (unsigned), and a
    cache holding both (fetched by get_locked_kernel) with the Hub's trust root."""

    def __init__(self, kernel_lock_bin: Path, fixture_hub: Path, server, hf_env, tmp_path: Path):
        self.kl = kernel_lock_bin
        self.root = fixture_hub / ".sigstore-pki" / "trusted_root.json"
        self.tmp = tmp_path
        self.hf_env = hf_env
        self.server = server
        self.proj = tmp_path / "proj"
        self.proj.mkdir()
        (self.proj / "kernels.yaml").write_text(
            f"kernels:\n  {SIGNED}:\n    version: 2\n  {UNSIGNED}:\n    version: 1\n")
        r = run([self.kl, "resolve", self.proj, "-q", "--trusted-root", self.root], hf_env(server))
        assert r.returncode == 0, r.stderr
        self.lock = self.proj / "kernel.lock"
        if any(cpu_variant() not in e["variants"] for e in self.entries()):
            pytest.skip(f"the fixture Hub has no {cpu_variant()} variant of the compiled kernels")
        self.cache = tmp_path / "cache"
        self.trust_import(self.cache)
        r = self.example(self.cache, "--fetch", online=True)
        assert r.returncode == 0, r.stdout + r.stderr

    def entries(self) -> list[dict]:
        return json.loads(self.lock.read_text())

    def entry(self, repo_id: str) -> dict:
        return next(e for e in self.entries() if e["repo_id"] == repo_id)

    def trust_import(self, cache: Path, *args: str) -> None:
        r = run([self.kl, "trust", "import", self.root, "--cache", cache, *args], self.hf_env(self.server))
        assert r.returncode == 0, r.stderr

    def example(self, cache: Path, *args, lock: Path | None = None, repos=(SIGNED, UNSIGNED), online=False,
                **env) -> subprocess.CompletedProcess:
        extra = {} if online else {"HF_HUB_OFFLINE": "1"}
        return run([EXAMPLE, "--backend", "cpu", *args, lock or self.lock, *repos],
                   self.hf_env(self.server, HF_HUB_CACHE=str(cache), **extra, **env))

    def copy_cache(self, name: str) -> Path:
        dest = self.tmp / name
        shutil.copytree(self.cache, dest, symlinks=True)
        return dest

    def variant_dir(self, cache: Path, repo_id: str = SIGNED) -> Path:
        repo = cache / ("kernels--" + repo_id.replace("/", "--"))
        return repo / "snapshots" / self.entry(repo_id)["sha"] / "build" / cpu_variant()

    def write_lock(self, entries: list[dict], name: str) -> Path:
        path = self.tmp / name
        path.write_text(json.dumps(entries, indent=2) + "\n")
        return path


def lfs_concat(files: list[dict]) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f["path"].encode()):
        h.update(f["path"].encode())
        h.update(bytes.fromhex(f["digest"]))
    return "sha256-" + h.hexdigest()


@pytest.fixture
def signed(kernel_lock_bin, fixture_hub, start_hub_server, hf_env, tmp_path) -> Signed:
    if not (fixture_hub / "repos" / "kernel" / SIGNED).is_dir():
        pytest.skip("the fixture Hub has no compiled kernels (KERNEL_LOCK_BUILD_KERNELS=OFF?)")
    if not (fixture_hub / ".sigstore-pki" / "trusted_root.json").is_file():
        pytest.skip("the fixture Hub has no test PKI (no Python with cryptography)")
    return Signed(kernel_lock_bin, fixture_hub, start_hub_server(), hf_env, tmp_path)


def provenance(stdout: str, repo_id: str) -> str:
    block = stdout.split(f"loaded {repo_id} @", 1)[1]
    return block.split("  provenance ", 1)[1].split("\n", 1)[0]


def test_signed_kernel_reports_its_signer_unsigned_one_the_lock(signed: Signed):
    assert signed.entry(SIGNED)["signatures"][cpu_variant()]["build_signer_uri"] == SIGNER
    assert "signatures" not in signed.entry(UNSIGNED)
    r = signed.example(signed.cache)  # load_kernel: cache only, offline
    assert r.returncode == 0, r.stdout + r.stderr
    assert provenance(r.stdout, SIGNED) == f"signed by {SIGNER} (issuer https://token.actions.githubusercontent.com)"
    assert provenance(r.stdout, UNSIGNED) == "pinned by the lock only"
    assert " 0 mismatches" in r.stdout


def test_require_signature_refuses_the_unsigned_kernel(signed: Signed):
    r = signed.example(signed.cache, KERNEL_LOCK_REQUIRE_SIGNATURE="1")
    assert r.returncode == 6, r.stdout + r.stderr  # integrity
    assert UNSIGNED in r.stderr and "a signature is required" in r.stderr
    assert "re-lock" in r.stderr
    assert f"loaded {UNSIGNED}" not in r.stdout
    r = signed.example(signed.cache, "--require-signature", repos=(SIGNED,))
    assert r.returncode == 0, r.stdout + r.stderr
    assert provenance(r.stdout, SIGNED).startswith("signed by ")


def test_edited_signer_in_the_lock_is_refused_at_the_identity_step(signed: Signed):
    entries = signed.entries()
    entry = next(e for e in entries if e["repo_id"] == SIGNED)
    entry["signatures"][cpu_variant()]["build_signer_uri"] = SIGNER.replace("build.yaml", "other.yaml")
    r = signed.example(signed.cache, lock=signed.write_lock(entries, "edited.lock"))
    assert r.returncode == 6, r.stdout + r.stderr
    assert "rejected at identity" in r.stderr and "other.yaml" in r.stderr, r.stderr
    assert "variant hash" not in r.stderr  # the lock hash matched: only the signature check caught it
    assert "ops:" not in r.stdout


def test_bundle_removed_from_cache_and_lock_is_refused(signed: Signed):
    cache = signed.copy_cache("no-bundle")
    (signed.variant_dir(cache) / "metadata.json.sigstore").unlink()
    entries = signed.entries()
    entry = next(e for e in entries if e["repo_id"] == SIGNED)
    files = [f for f in entry["files"][cpu_variant()] if f["path"] != "metadata.json.sigstore"]
    entry["files"][cpu_variant()] = files
    entry["variants"][cpu_variant()]["hash"] = lfs_concat(files)
    r = signed.example(cache, lock=signed.write_lock(entries, "no-bundle.lock"))
    assert r.returncode == 6, r.stdout + r.stderr
    assert "metadata.json.sigstore is missing" in r.stderr, r.stderr
    assert cpu_variant() in r.stderr and SIGNED in r.stderr
    assert "ops:" not in r.stdout


def test_file_changed_in_cache_and_lock_is_a_digest_violation(signed: Signed):
    cache = signed.copy_cache("altered")
    link = signed.variant_dir(cache) / "_ops.py"
    data = link.read_bytes() + b"\n# altered after signing\n"
    blob = link.resolve().parent / git_blob_sha1(data)
    blob.write_bytes(data)
    link.unlink()
    link.symlink_to(os.path.relpath(blob, link.parent))
    entries = signed.entries()
    entry = next(e for e in entries if e["repo_id"] == SIGNED)
    for f in entry["files"][cpu_variant()]:
        if f["path"] == "_ops.py":
            f.update(digest=git_blob_sha1(data), size=len(data))
    entry["variants"][cpu_variant()]["hash"] = lfs_concat(entry["files"][cpu_variant()])
    r = signed.example(cache, lock=signed.write_lock(entries, "altered.lock"))
    assert r.returncode == 6, r.stdout + r.stderr
    assert "kernel digest violation" in r.stderr and "_ops.py" in r.stderr, r.stderr


def test_trust_root_stale_or_missing(signed: Signed):
    stale = signed.copy_cache("stale")
    signed.trust_import(stale, "--captured-at", "2020-01-01T00:00:00Z", "--force")
    r = signed.example(stale, repos=(SIGNED,))
    assert r.returncode == 10, r.stdout + r.stderr  # stale_trust
    assert "ops:" not in r.stdout

    bare = signed.copy_cache("no-root")
    shutil.rmtree(bare / ".kernel-lock-trust")
    r = signed.example(bare, repos=(SIGNED,))
    assert r.returncode == 5, r.stdout + r.stderr  # not_found
    assert "kernel-lock trust import" in r.stderr
    # The unsigned kernel needs no trust root.
    r = signed.example(bare, repos=(UNSIGNED,))
    assert r.returncode == 0, r.stdout + r.stderr
    # An explicit trusted root (LoadOptions::trusted_root) instead of the cache's.
    r = signed.example(bare, "--trusted-root", signed.root, repos=(SIGNED,))
    assert r.returncode == 0, r.stdout + r.stderr
    assert provenance(r.stdout, SIGNED).startswith("signed by ")
