"""`kernel-lock resolve` verifies Sigstore signatures and pins the signer in the lock.

Against the fixture Hub, whose v2 builds of kernels-test/activation are signed by
the Hub's test PKI (kernels-community GitHub Actions identity; trusted root in
<hub>/.sigstore-pki/trusted_root.json) and whose v1 builds are unsigned:
signatures recorded, signer policies from kernels.yaml (match, mismatch,
required, allow-unsigned), a missing or stale trusted root, the cache's trust
store (`kernel-lock trust import|show`), and signer changes on re-lock
(refused, --allow-signer-change, --locked).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

GITHUB = "https://token.actions.githubusercontent.com"
COMMUNITY = "https://github.com/huggingface/kernels-community"
BUILD_WORKFLOW = COMMUNITY + "/.github/workflows/build.yaml@refs/heads/main"


def kl(bin_path, *args, env, expect=0):
    proc = subprocess.run([str(bin_path), *map(str, args)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == expect, f"kernel-lock {' '.join(map(str, args))}: exit {proc.returncode}, expected {expect}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def signed_hub(fixture_hub):
    root = fixture_hub / ".sigstore-pki" / "trusted_root.json"
    if not root.is_file():
        pytest.skip("the fixture Hub has no signed kernels (compiled kernels not built)")
    return root


@pytest.fixture
def env(hub_server, hf_env):
    return hf_env(hub_server)


def project(tmp_path: Path, yaml: str) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir(exist_ok=True)
    (proj / "kernels.yaml").write_text(yaml)
    return proj


def signatures(proj: Path, repo: str) -> dict:
    lock = json.loads((proj / "kernel.lock").read_text())
    return next(k for k in lock if k["repo_id"] == repo).get("signatures", {})


def signer_yaml(repo: str, version: int, source_repository: str = COMMUNITY, extra: str = "") -> str:
    return (f"kernels:\n  {repo}:\n    version: {version}\n    signers:\n      - issuer: {GITHUB}\n"
            f"        source-repository: {source_repository}\n        build-signer-uri: {BUILD_WORKFLOW}\n{extra}")


def test_signed_variants_are_pinned_in_the_lock(kernel_lock_bin, signed_hub, env, tmp_path):
    proj = project(tmp_path, "kernels:\n  kernels-test/activation: 2\n  kernels-test/rmsnorm: 1\n")
    proc = kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, "--json", env=env)
    lock = json.loads((proj / "kernel.lock").read_text())
    activation = next(k for k in lock if k["repo_id"] == "kernels-test/activation")
    assert set(activation["signatures"]) == set(activation["variants"]) and activation["variants"]
    for record in activation["signatures"].values():
        assert record["issuer"] == GITHUB
        assert record["source_repository"] == COMMUNITY
        assert record["build_signer_uri"] == BUILD_WORKFLOW
        assert record["log_index"] >= 0
        assert record["signing_time"].endswith("Z")
        assert set(record) == {"issuer", "source_repository", "build_signer_uri", "log_index", "signing_time"}
    assert "signatures" not in next(k for k in lock if k["repo_id"] == "kernels-test/rmsnorm")  # v1: unsigned
    report = json.loads(proc.stdout)
    by_repo = {k["repo_id"]: k for k in report["kernels"]}
    assert by_repo["kernels-test/activation"]["signed_variants"] == len(activation["variants"])
    assert BUILD_WORKFLOW in by_repo["kernels-test/activation"]["signer"]
    assert by_repo["kernels-test/rmsnorm"]["signed_variants"] == 0
    # No policy for kernels-test/*: pinned on first use, said once per kernel.
    warnings = [w for w in report["warnings"] if "pinned on first use" in w]
    assert len(warnings) == 1 and "kernels-test/activation" in warnings[0]
    # The variant objects stay Python-shaped: the records live on the kernel object.
    for variant in activation["variants"].values():
        assert set(variant) == {"hash", "hash_type"}
    # Re-resolving changes nothing.
    kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, "--locked", env=env)


def test_without_a_trusted_root_signatures_are_not_pinned(kernel_lock_bin, signed_hub, env, tmp_path):
    proj = project(tmp_path, "kernels:\n  kernels-test/activation: 2\n")
    proc = kl(kernel_lock_bin, "resolve", proj, env=env)
    assert signatures(proj, "kernels-test/activation") == {}
    assert "without checking their signatures" in proc.stderr and "kernel-lock trust import" in proc.stderr


def test_kernels_yaml_signers_match_or_reject(kernel_lock_bin, signed_hub, env, tmp_path):
    proj = project(tmp_path, signer_yaml("kernels-test/activation", 2))
    proc = kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, env=env)
    assert signatures(proj, "kernels-test/activation")
    assert "pinned on first use" not in proc.stderr
    lock = json.loads((proj / "kernel.lock").read_text())
    assert lock[0]["requirement"]["signers"][0]["source-repository"] == COMMUNITY

    (proj / "kernel.lock").unlink()
    (proj / "kernels.yaml").write_text(signer_yaml("kernels-test/activation", 2, "https://github.com/someone/else"))
    proc = kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, env=env, expect=6)
    assert "signature rejected at identity policy" in proc.stderr
    assert "https://github.com/someone/else" in proc.stderr
    assert not (proj / "kernel.lock").exists()

    # A policy that must be checked needs a trusted root.
    proc = kl(kernel_lock_bin, "resolve", proj, env=env, expect=5)
    assert "no Sigstore trusted root" in proc.stderr and "kernel-lock trust import" in proc.stderr


def test_unsigned_builds_need_allow_unsigned_when_a_signature_is_required(kernel_lock_bin, signed_hub, env, tmp_path):
    proj = project(tmp_path, signer_yaml("kernels-test/activation", 1))
    proc = kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, env=env, expect=6)
    assert "signature required but missing" in proc.stderr and "allow-unsigned: true" in proc.stderr
    (proj / "kernels.yaml").write_text(signer_yaml("kernels-test/activation", 1, extra="    allow-unsigned: true\n"))
    proc = kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, env=env)
    assert "UNSIGNED: kernels-test/activation" in proc.stderr
    assert signatures(proj, "kernels-test/activation") == {}
    # require-signature works without signers too.
    (proj / "kernel.lock").unlink()
    (proj / "kernels.yaml").write_text("kernels:\n  kernels-test/activation:\n    version: 1\n    require-signature: true\n")
    kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, env=env, expect=6)


def test_trust_store_and_freshness(kernel_lock_bin, signed_hub, env, tmp_path):
    proj = project(tmp_path, signer_yaml("kernels-test/activation", 2))
    # Too old: exit 10, naming the refresh command.
    proc = kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, "--captured-at", "2020-01-01T00:00:00Z",
              env=env, expect=10)
    assert "older than the 180-day limit" in proc.stderr and "kernel-lock trust import" in proc.stderr
    kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, "--captured-at", "2020-01-01T00:00:00Z",
       "--trust-max-age", "100000", env=env)
    (proj / "kernel.lock").unlink()

    # The cache's store is the default source.
    cache = env["HF_HUB_CACHE"]
    kl(kernel_lock_bin, "trust", "import", signed_hub, "--cache", cache, env=env)
    shown = json.loads(kl(kernel_lock_bin, "trust", "show", "--json", env=env).stdout)
    assert shown["sha256"] and shown["certificate_authorities"] == 1 and shown["age_days"] <= 1
    kl(kernel_lock_bin, "resolve", proj, env=env)
    assert signatures(proj, "kernels-test/activation")
    # An older capture does not replace it without --force; a stale store is refused.
    proc = kl(kernel_lock_bin, "trust", "import", signed_hub, "--captured-at", "2020-01-01T00:00:00Z", env=env, expect=2)
    assert "--force" in proc.stderr
    kl(kernel_lock_bin, "trust", "import", signed_hub, "--captured-at", "2020-01-01T00:00:00Z", "--force", env=env)
    proc = kl(kernel_lock_bin, "resolve", proj, "--upgrade", env=env, expect=10)
    assert ".kernel-lock-trust" in proc.stderr
    stale_env = {**env, "KERNEL_LOCK_TRUST_MAX_AGE_DAYS": "100000"}
    kl(kernel_lock_bin, "resolve", proj, "--upgrade", env=stale_env)


def test_signer_change_is_refused_unless_allowed(kernel_lock_bin, signed_hub, env, tmp_path):
    proj = project(tmp_path, "kernels:\n  kernels-test/activation: 2\n")
    kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, env=env)
    # Pretend the previous lock pinned another workflow.
    lock_path = proj / "kernel.lock"
    lock = json.loads(lock_path.read_text())
    for record in lock[0]["signatures"].values():
        record["build_signer_uri"] = COMMUNITY + "/.github/workflows/release.yaml@refs/heads/main"
    lock_path.write_text(json.dumps(lock, indent=2) + "\n")
    before = lock_path.read_text()

    proc = kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, "--upgrade", env=env, expect=7)
    assert "the signer of a locked kernel changed" in proc.stderr
    assert "release.yaml" in proc.stderr and "build.yaml" in proc.stderr and "--allow-signer-change" in proc.stderr
    assert lock_path.read_text() == before
    proc = kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, "--upgrade", "--locked", env=env, expect=7)
    assert "signer" in proc.stderr
    proc = kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, "--upgrade", "--allow-signer-change",
              env=env)
    assert "signer changed (allowed)" in proc.stderr
    assert all(r["build_signer_uri"] == BUILD_WORKFLOW for r in signatures(proj, "kernels-test/activation").values())
    # --locked names the signature change in its diff, even when the change is allowed.
    lock_path.write_text(before)
    proc = kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, "--upgrade", "--allow-signer-change",
              "--locked", env=env, expect=7)
    assert "signature" in proc.stderr and "release.yaml" in proc.stderr
    kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, "--upgrade", "--allow-signer-change", env=env)

    # Signed -> unsigned is a signer change too.
    (proj / "kernels.yaml").write_text("kernels:\n  kernels-test/activation: 1\n")
    proc = kl(kernel_lock_bin, "resolve", proj, "--trusted-root", signed_hub, env=env, expect=7)
    assert "unsigned" in proc.stderr
