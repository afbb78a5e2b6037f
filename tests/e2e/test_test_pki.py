"""The test PKI (testing/sigstore/test_pki.py) checked against the reference.

A PKI is made in tmp and a file signed with it; then
- sigstore-python's `Verifier` (fully offline, TrustedRoot from the PKI's
  trusted_root.json) verifies the bundle with the matching identity policy and
  rejects a wrong identity, a changed byte and another PKI's bundle;
- `kernel-lock verify-blob` gives the same verdicts (exit 0 / exit 6).
This proves the test signer against the reference before the fixture Hub uses it.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify import policy as sp

SCRIPT = Path(__file__).resolve().parents[2] / "testing" / "sigstore" / "test_pki.py"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
KERNELS_COMMUNITY = "https://github.com/huggingface/kernels-community"
BUILD_SIGNER = KERNELS_COMMUNITY + "/.github/workflows/build.yaml@refs/heads/main"
METADATA = b'{"digest": {"algorithm": "sha256", "files": {"__init__.py": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}}}\n'


@dataclass
class Identity:
    issuer: str = GITHUB_ISSUER
    source_repository: str | None = KERNELS_COMMUNITY
    build_signer_uri: str | None = BUILD_SIGNER


def _pki(*args: str) -> str:
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _reference(artifact: bytes, bundle: Path, root: Path, identity: Identity) -> tuple[bool, str]:
    parts = [sp.OIDCIssuer(identity.issuer), sp.OIDCIssuerV2(identity.issuer)]
    if identity.source_repository:
        parts.append(sp.OIDCSourceRepositoryURI(identity.source_repository))
    if identity.build_signer_uri:
        parts.append(sp.OIDCBuildSignerURI(identity.build_signer_uri))
    try:
        verifier = Verifier(trusted_root=TrustedRoot.from_file(str(root)))
        verifier.verify_artifact(artifact, Bundle.from_json(bundle.read_text()), sp.AllOf(parts))
        return True, "verified"
    except (SigstoreError, ValueError) as exc:
        return False, str(exc)


def _ours(exe: Path, artifact: Path, bundle: Path, root: Path, identity: Identity) -> subprocess.CompletedProcess:
    args = [str(exe), "verify-blob", str(artifact), "--bundle", str(bundle), "--trusted-root", str(root),
            "--issuer", identity.issuer]
    if identity.source_repository:
        args += ["--source-repository", identity.source_repository]
    if identity.build_signer_uri:
        args += ["--build-signer-uri", identity.build_signer_uri]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """Two PKIs (seeds A and B), metadata.json signed by each."""
    base = tmp_path_factory.mktemp("test-pki")
    out = {}
    for name in ("a", "b"):
        _pki("init", str(base / f"pki-{name}"), "--seed", f"seed {name}")
        work = base / f"work-{name}"
        work.mkdir()
        (work / "metadata.json").write_bytes(METADATA)
        bundle = Path(_pki("sign", str(base / f"pki-{name}"), str(work / "metadata.json")))
        assert bundle == work / "metadata.json.sigstore"
        out[name] = (work / "metadata.json", bundle, base / f"pki-{name}" / "trusted_root.json")
    return out


def _both(kernel_lock_bin, artifact: Path, bundle: Path, root: Path, identity: Identity):
    reference_ok, why = _reference(artifact.read_bytes(), bundle, root, identity)
    ours = _ours(kernel_lock_bin, artifact, bundle, root, identity)
    assert ours.returncode in (0, 6), ours.stderr
    return reference_ok, why, ours


def test_reference_and_ours_verify_the_test_signature(signed, kernel_lock_bin):
    artifact, bundle, root = signed["a"]
    reference_ok, why, ours = _both(kernel_lock_bin, artifact, bundle, root, Identity())
    assert reference_ok, why
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert BUILD_SIGNER in ours.stdout and GITHUB_ISSUER in ours.stdout
    # Both PKIs verify under their own roots.
    artifact_b, bundle_b, root_b = signed["b"]
    assert _ours(kernel_lock_bin, artifact_b, bundle_b, root_b, Identity()).returncode == 0
    assert _reference(artifact_b.read_bytes(), bundle_b, root_b, Identity())[0]


@pytest.mark.parametrize("identity", [
    Identity(issuer="https://accounts.google.com"),
    Identity(source_repository="https://github.com/huggingface/kernels"),
    Identity(build_signer_uri=KERNELS_COMMUNITY + "/.github/workflows/evil.yaml@refs/heads/main"),
], ids=["issuer", "source-repository", "build-signer-uri"])
def test_both_reject_another_identity(signed, kernel_lock_bin, identity):
    artifact, bundle, root = signed["a"]
    reference_ok, _, ours = _both(kernel_lock_bin, artifact, bundle, root, identity)
    assert not reference_ok
    assert ours.returncode == 6, ours.stdout + ours.stderr
    assert "identity" in (ours.stdout + ours.stderr).lower()


@pytest.mark.parametrize("index", [0, len(METADATA) // 2, len(METADATA) - 1])
def test_both_reject_a_changed_byte(signed, kernel_lock_bin, tmp_path, index):
    _, bundle, root = signed["a"]
    changed = bytearray(METADATA)
    changed[index] ^= 0x01
    artifact = tmp_path / "metadata.json"
    artifact.write_bytes(bytes(changed))
    reference_ok, _, ours = _both(kernel_lock_bin, artifact, bundle, root, Identity())
    assert not reference_ok
    assert ours.returncode == 6, ours.stdout + ours.stderr


def test_both_reject_a_bundle_from_another_pki(signed, kernel_lock_bin):
    artifact, _, root_a = signed["a"]
    _, bundle_b, root_b = signed["b"]
    for bundle, root in ((bundle_b, root_a), (signed["a"][1], root_b)):
        reference_ok, _, ours = _both(kernel_lock_bin, artifact, bundle, root, Identity())
        assert not reference_ok
        assert ours.returncode == 6, ours.stdout + ours.stderr


def test_custom_identity(tmp_path, kernel_lock_bin):
    """--identity-json at sign time overrides the PKI's default identity."""
    _pki("init", str(tmp_path / "pki"), "--source-repository", "https://github.com/kernels-test/noarch-demo")
    artifact = tmp_path / "metadata.json"
    artifact.write_bytes(METADATA)
    signer = "https://github.com/kernels-test/other/.github/workflows/release.yml@refs/tags/v1"
    identity_json = json.dumps({"source_repository_uri": "https://github.com/kernels-test/other",
                                "build_signer_uri": signer, "san": signer})
    bundle = Path(_pki("sign", str(tmp_path / "pki"), str(artifact), "--identity-json", identity_json))
    root = tmp_path / "pki" / "trusted_root.json"
    good = Identity(source_repository="https://github.com/kernels-test/other", build_signer_uri=signer)
    reference_ok, why, ours = _both(kernel_lock_bin, artifact, bundle, root, good)
    assert reference_ok, why
    assert ours.returncode == 0, ours.stdout + ours.stderr
    default = Identity(source_repository="https://github.com/kernels-test/noarch-demo", build_signer_uri=None)
    reference_ok, _, ours = _both(kernel_lock_bin, artifact, bundle, root, default)
    assert not reference_ok and ours.returncode == 6


def test_bundle_shape_and_growing_log(tmp_path, kernel_lock_bin):
    """A v0.3 bundle with an embedded SCT, a SET, an inclusion proof and a checkpoint;
    each signature appends to the same log, and earlier bundles stay valid."""
    _pki("init", str(tmp_path / "pki"))
    root = tmp_path / "pki" / "trusted_root.json"
    bundles = []
    for i in range(3):
        artifact = tmp_path / f"f{i}"
        artifact.write_bytes(METADATA + bytes([i]))
        bundles.append((artifact, Path(_pki("sign", str(tmp_path / "pki"), str(artifact)))))
    docs = [json.loads(b.read_text()) for _, b in bundles]
    entries = [d["verificationMaterial"]["tlogEntries"][0] for d in docs]
    assert [int(e["logIndex"]) for e in entries] == [5, 6, 7]  # after five filler leaves
    assert [int(e["inclusionProof"]["treeSize"]) for e in entries] == [6, 7, 8]
    for doc, entry in zip(docs, entries):
        assert doc["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
        assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}
        assert entry["inclusionPromise"]["signedEntryTimestamp"]
        assert entry["inclusionProof"]["hashes"]
        assert "\n\n\u2014 rekor.test.kernel-lock " in entry["inclusionProof"]["checkpoint"]["envelope"]
        cert = x509.load_der_x509_certificate(base64.b64decode(doc["verificationMaterial"]["certificate"]["rawBytes"]))
        assert len(cert.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value) == 1
    trusted = json.loads(root.read_text())
    assert trusted["mediaType"] == "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    assert [len(ca["certChain"]["certificates"]) for ca in trusted["certificateAuthorities"]] == [2]
    for artifact, bundle in bundles:
        reference_ok, why, ours = _both(kernel_lock_bin, artifact, bundle, root, Identity())
        assert reference_ok, why
        assert ours.returncode == 0, ours.stdout + ours.stderr


def test_deterministic_from_the_seed(tmp_path):
    outputs = []
    for name, seed in (("one", "s"), ("two", "s"), ("three", "t")):
        _pki("init", str(tmp_path / name), "--seed", seed, "--time", "2025-06-01T00:00:00Z")
        artifact = tmp_path / f"{name}.json"
        artifact.write_bytes(METADATA)
        bundle = Path(_pki("sign", str(tmp_path / name), str(artifact), "--time", "1748740000"))
        outputs.append(((tmp_path / name / "trusted_root.json").read_bytes(), bundle.read_bytes()))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] != outputs[2][0] and outputs[0][1] != outputs[2][1]


def test_refuses_misuse(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
    assert run("sign", str(tmp_path / "none"), str(SCRIPT)).returncode == 2  # no PKI there
    _pki("init", str(tmp_path / "pki"))
    assert run("init", str(tmp_path / "pki")).returncode == 2  # would overwrite without --force
    bad = run("sign", str(tmp_path / "pki"), str(SCRIPT), "--identity-json", '{"isuer": "x"}')
    assert bad.returncode == 2 and "isuer" in bad.stderr
    early = run("sign", str(tmp_path / "pki"), str(SCRIPT), "--time", "2020-01-01T00:00:00Z")
    assert early.returncode == 2 and "before" in early.stderr
