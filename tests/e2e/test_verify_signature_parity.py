"""`kernel-lock verify-signature` against the reference `kernels verify-signature` logic.

A test PKI (testing/sigstore/test_pki.py) signs variants assembled here, each
then changed in one way (a byte, an extra or missing file, metadata.json after
signing, no digest, no or a corrupt bundle, another signer, sha512, a
__pycache__ file, ...). For every case our verdict and its category must equal
`kernels.verify.verify_variant` (kernels 0.17.2, DEFAULT_POLICIES) run offline:
its `Verifier.production()` is replaced by a Verifier on the same trusted root.
Each case also states the category it must give, so both cannot agree on a
wrong answer. (Not compared: a `.pyc` outside __pycache__ and a nested
metadata.json, where kernels 0.17.2's digest walk differs from
../shared/reference/signing.md, which trust::is_digested_path follows.) Then the signed kernels of the fixture Hub (fixtures/
build_fixture_hub.sh, HUB/.sigstore-pki/trusted_root.json) are checked: the
Python `sigstore` verifier accepts their metadata.json with the kernels default
policy, both verdicts are "verified", and the v1 (pre-signing) builds carry no bundle.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SOURCE_DIR

kverify = pytest.importorskip("kernels.verify")
from sigstore.models import Bundle, TrustedRoot  # noqa: E402
from sigstore.verify import Verifier  # noqa: E402
from sigstore.verify import policy as sp  # noqa: E402

SCRIPT = SOURCE_DIR / "testing" / "sigstore" / "test_pki.py"
SIGNED_AT = "2025-06-01T00:00:00Z"

# Python result class -> our category (kernel_lock::trust::to_string(VariantStatus)).
CATEGORIES = {
    "Success": "verified",
    "SignatureBundleMissing": "signature bundle missing",
    "SignatureBundleInvalid": "signature bundle invalid",
    "MetadataMissing": "metadata missing",
    "SignatureVerificationFailure": "signature verification failed",
    "MetadataInvalid": "metadata invalid",
    "DigestMissing": "digest missing",
    "DigestVerificationFailure": "digest violation",
}
VIOLATION_KINDS = {"HashMismatch": "altered", "MissingFile": "missing", "UnknownFile": "unknown"}


def _pki(*args: str) -> str:
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _make_variant(path: Path) -> Path:
    """A small variant: Python files, a binary, a nested file, metadata.json without digest."""
    (path / "sub").mkdir(parents=True)
    (path / "__init__.py").write_text('"""parity fixture"""\nfrom ._ops import ops\n')
    (path / "_ops.py").write_text("import torch\nops = torch.ops._parity_0\n")
    (path / "_parity_0.abi3.so").write_bytes(bytes(range(256)) * 8)
    (path / "sub" / "table.bin").write_bytes(b"lookup table\n" * 10)
    (path / "metadata.json").write_text(json.dumps({"name": "parity", "id": "_parity_0", "version": 1, "license": "Apache-2.0",
                                                    "python-depends": [], "backend": {"type": "cpu"}}, indent=2))
    return path


def _flip_byte(path: Path, offset: int = 3) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _corrupt_signature(bundle: Path) -> None:
    doc = json.loads(bundle.read_text())
    raw = bytearray(base64.b64decode(doc["messageSignature"]["signature"]))
    raw[-1] ^= 0x01
    doc["messageSignature"]["signature"] = base64.b64encode(bytes(raw)).decode()
    bundle.write_text(json.dumps(doc))


OTHER_SIGNER = json.dumps({"source_repository_uri": "https://github.com/someone-else/kernels",
                           "build_signer_uri": "https://github.com/someone-else/kernels/.github/workflows/"
                                               "build.yaml@refs/heads/main"})

# name -> (sign options, change before signing, change after signing, expected category)
CASES = {
    "good": ({}, None, None, "verified"),
    "byte_changed": ({}, None, lambda v: _flip_byte(v / "_parity_0.abi3.so"), "digest violation"),
    "extra_file": ({}, None, lambda v: (v / "extra.py").write_text("x = 1\n"), "digest violation"),
    "missing_file": ({}, None, lambda v: (v / "sub" / "table.bin").unlink(), "digest violation"),
    "metadata_changed_after_signing": (
        {}, None, lambda v: (v / "metadata.json").write_text((v / "metadata.json").read_text().replace(
            '"version": 1', '"version": 2')), "signature verification failed"),
    "digest_missing": ({"digest": False}, None, None, "digest missing"),
    "metadata_not_json": ({"digest": False}, lambda v: (v / "metadata.json").write_text("{not json"), None,
                          "metadata invalid"),
    "bundle_missing": ({}, None, lambda v: (v / "metadata.json.sigstore").unlink(), "signature bundle missing"),
    "bundle_truncated": ({}, None, lambda v: (v / "metadata.json.sigstore").write_bytes(
        (v / "metadata.json.sigstore").read_bytes()[:500]), "signature bundle invalid"),
    "bundle_not_json": ({}, None, lambda v: (v / "metadata.json.sigstore").write_text("garbage"),
                        "signature bundle invalid"),
    "bundle_signature_changed": ({}, None, lambda v: _corrupt_signature(v / "metadata.json.sigstore"),
                                 "signature verification failed"),
    "metadata_missing": ({}, None, lambda v: (v / "metadata.json").unlink(), "metadata missing"),
    "wrong_identity": ({"identity": OTHER_SIGNER}, None, None, "signature verification failed"),
    "sha512_digest": ({"algorithm": "sha512"}, None, None, "verified"),
    "pycache_added": ({}, None, lambda v: ((v / "__pycache__").mkdir(), (v / "__pycache__" / "_ops.cpython-311.pyc")
                                           .write_bytes(b"stale")), "verified"),
    "nested_pycache_added": ({}, None, lambda v: ((v / "sub" / "__pycache__").mkdir(),
                                                  (v / "sub" / "__pycache__" / "x.pyc").write_bytes(b"stale")),
                             "verified"),
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("parity") / "pki"
    _pki("init", str(directory), "--seed", "verify-signature parity")
    return directory


def _offline(monkeypatch, trusted_root: Path) -> None:
    """kernels.verify uses Verifier.production() (online TUF); give it our offline root instead."""
    class OfflineVerifier:
        @staticmethod
        def production() -> Verifier:
            return Verifier(trusted_root=TrustedRoot.from_file(str(trusted_root)))

    monkeypatch.setattr(kverify, "Verifier", OfflineVerifier)


def _reference(variant: Path) -> tuple[str, set[tuple[str, str]]]:
    result = kverify.verify_variant(variant)
    # The classes are named PyDigestViolation_<kind> at run time.
    violations = {(VIOLATION_KINDS[type(v).__name__.rsplit("_", 1)[-1]], v.path)
                  for v in getattr(result, "violations", [])}
    return CATEGORIES[type(result).__name__], violations


def _ours(exe: Path, variant: Path, trusted_root: Path, *extra: str) -> tuple[str, set[tuple[str, str]], str]:
    proc = subprocess.run([str(exe), "verify-signature", str(variant), "--trusted-root", str(trusted_root), *extra],
                          capture_output=True, text=True, timeout=60)
    output = proc.stdout + proc.stderr
    if proc.returncode == 0:
        assert "verified: signed by " in proc.stdout, output
        return "verified", set(), output
    assert proc.returncode == 6, output
    named = [c for c in CATEGORIES.values() if f"{variant}: {c}: " in proc.stderr]
    assert len(named) == 1, output
    violations = set()
    for line in proc.stdout.splitlines():
        kind, _, path = line.partition(": ")
        if kind in VIOLATION_KINDS.values():
            violations.add((kind, path))
    return named[0], violations, output


@pytest.mark.parametrize("case", sorted(CASES))
def test_verdict_equals_kernels_verify_variant(case, pki, tmp_path, kernel_lock_bin, monkeypatch):
    options, before, after, expected = CASES[case]
    variant = _make_variant(tmp_path / "build" / "torch-cpu")
    if before:
        before(variant)
    if options.get("digest", True):
        _pki("digest", str(variant), "--algorithm", options.get("algorithm", "sha256"))
    sign = ["sign", str(pki), str(variant / "metadata.json"), "--time", SIGNED_AT]
    _pki(*sign, *(["--identity-json", options["identity"]] if "identity" in options else []))
    if after:
        after(variant)

    trusted_root = pki / "trusted_root.json"
    _offline(monkeypatch, trusted_root)
    ref_category, ref_violations = _reference(variant)
    category, violations, output = _ours(kernel_lock_bin, variant, trusted_root)
    assert ref_category == expected, (case, ref_category)
    assert category == expected, output
    assert violations == ref_violations, output
    if expected == "digest violation":
        assert violations, output  # each bad file is named


def test_identity_flags_replace_the_default_policy(pki, tmp_path, kernel_lock_bin):
    variant = _make_variant(tmp_path / "v")
    _pki("digest", str(variant))
    _pki("sign", str(pki), str(variant / "metadata.json"), "--time", SIGNED_AT, "--identity-json", OTHER_SIGNER)
    root = pki / "trusted_root.json"
    assert _ours(kernel_lock_bin, variant, root)[0] == "signature verification failed"
    category, _, output = _ours(kernel_lock_bin, variant, root,
                                "--source-repository", "https://github.com/huggingface/kernels-community",
                                "--source-repository", "https://github.com/someone-else/kernels")
    assert category == "verified", output
    assert "identity policy" in _ours(kernel_lock_bin, variant, root, "--issuer", "https://accounts.google.com")[2]


# ---- the fixture Hub's signed kernels -------------------------------------------------------


def _assemble(hub: Path, repo: str, ref: str, dest: Path) -> list[Path]:
    """The variant directories of `repo` at branch `ref`, copied out of the Hub's object store."""
    repo_dir = hub / "repos" / "kernel" / repo
    sha = json.loads((repo_dir / "refs.json").read_text())["branches"][ref]
    commit = json.loads((repo_dir / "commits" / f"{sha}.json").read_text())
    variants = set()
    for entry in commit["files"]:
        if not entry["path"].startswith("build/"):
            continue
        target = dest / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(hub / "objects" / entry.get("lfs", entry)["oid"], target)
        variants.add(dest / "build" / entry["path"].split("/")[1])
    return sorted(variants)


def test_fixture_hub_signed_kernels(fixture_hub, kernel_lock_bin, tmp_path, monkeypatch):
    repos = [r for r in ("kernels-test/activation", "kernels-test/rmsnorm")
             if (fixture_hub / "repos" / "kernel" / r).is_dir()]
    if not repos:
        pytest.skip("the fixture Hub has no compiled kernels (built with KERNEL_LOCK_BUILD_KERNELS)")
    trusted_root = fixture_hub / ".sigstore-pki" / "trusted_root.json"
    assert trusted_root.is_file(), "build_fixture_hub.sh made no test PKI"
    _offline(monkeypatch, trusted_root)
    python_verifier = Verifier(trusted_root=TrustedRoot.from_file(str(trusted_root)))
    for repo in repos:
        signed = _assemble(fixture_hub, repo, "v2", tmp_path / repo / "v2")
        assert signed
        for variant in signed:
            metadata = (variant / "metadata.json").read_bytes()
            assert json.loads(metadata)["digest"]["algorithm"] == "sha256"
            bundle = Bundle.from_json((variant / "metadata.json.sigstore").read_bytes())
            python_verifier.verify_artifact(metadata, bundle, sp.AnyOf(kverify.DEFAULT_POLICIES))
            assert _reference(variant) == ("verified", set())
            category, _, output = _ours(kernel_lock_bin, variant, trusted_root)
            assert category == "verified", output
            assert "huggingface/kernels-community" in output
        for variant in _assemble(fixture_hub, repo, "v1", tmp_path / repo / "v1"):
            assert not (variant / "metadata.json.sigstore").exists()
            assert _reference(variant)[0] == "signature bundle missing"
            assert _ours(kernel_lock_bin, variant, trusted_root)[0] == "signature bundle missing"
