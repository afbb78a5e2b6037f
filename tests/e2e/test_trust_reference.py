"""Parity check: kernel-lock's offline Sigstore verifier against sigstore-python's.

Runs both verifiers on the shared vectors (fixtures/sigstore) and on mutations of
them (signature, certificate, every inclusion-proof hash, checkpoint, SET,
integratedTime, logIndex, trusted-root keys, signing times outside the
certificate's validity, wrong identity), and asserts the same verdict.

Reference: sigstore-python (4.x) `Verifier(trusted_root=...)`, fully offline.
Ours: a `verify-blob` command (exit 0 verified, 6 rejected), named by the
environment variable KERNEL_LOCK_VERIFY_BLOB (the `kernel-lock` binary), or
`$KERNEL_LOCK_BUILD_DIR/cli/kernel-lock` (what ctest sets). Fails when neither exists.

    KERNEL_LOCK_VERIFY_BLOB=build/cli/kernel-lock python -m pytest -q tests/e2e/test_trust_reference.py
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify import policy as sp

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sigstore"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
RFC8785_REPO = "https://github.com/trailofbits/rfc8785.py"
RFC8785_SIGNER = "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
ENTRY = ("verificationMaterial", "tlogEntries", 0)
PROOF = ENTRY + ("inclusionProof",)


def _our_verifier() -> str | None:
    exe = os.environ.get("KERNEL_LOCK_VERIFY_BLOB")
    if not exe and os.environ.get("KERNEL_LOCK_BUILD_DIR"):
        exe = str(Path(os.environ["KERNEL_LOCK_BUILD_DIR"]) / "cli" / "kernel-lock")
    return exe if exe and Path(exe).exists() else None


# ---- a case: artifact, bundle, trusted root, identity -----------------------------


@dataclass
class Identity:
    issuer: str | None = None
    source_repository: str | None = None
    build_signer_uri: str | None = None
    any_identity: bool = False  # reference: UnsafeNoOp; ours: the certificate's own issuer


@dataclass
class Case:
    name: str
    artifact: bytes
    bundle: dict
    root: dict
    identity: Identity
    expect_verified: bool
    stricter: bool = False  # we reject on purpose where the reference accepts (docs/trust.md)
    notes: list[str] = field(default_factory=list)


def _load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def _set(doc, path, value):
    _get(doc, path[:-1])[path[-1]] = value


def _flip_b64(doc, path, index):
    raw = bytearray(base64.b64decode(_get(doc, path)))
    raw[index] ^= 0x01
    _set(doc, path, base64.b64encode(bytes(raw)).decode())


def _add_int(doc, path, delta):
    _set(doc, path, str(int(_get(doc, path)) + delta))


def _leaf_certificate(bundle: dict) -> x509.Certificate:
    material = bundle["verificationMaterial"]
    raw = material["certificate"] if "certificate" in material else material["x509CertificateChain"]["certificates"][0]
    return x509.load_der_x509_certificate(base64.b64decode(raw["rawBytes"]))


def _issuer_of(bundle: dict) -> str:
    cert = _leaf_certificate(bundle)
    for ext in cert.extensions:
        if ext.oid.dotted_string == "1.3.6.1.4.1.57264.1.1":
            return ext.value.value.decode()
    raise AssertionError("certificate has no issuer extension")


# ---- a stand-in Rekor key that re-signs the SET and the checkpoint ------------------


class StandInLog:
    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = hashlib.sha256(self.spki).digest()

    def install(self, root: dict) -> None:
        root["tlogs"] = [{
            "baseUrl": "https://rekor.test",
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": base64.b64encode(self.spki).decode(),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": "2020-01-01T00:00:00Z"},
            },
            "logId": {"keyId": base64.b64encode(self.key_id).decode()},
        }]

    def _sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def resign(self, bundle: dict) -> None:
        entry = _get(bundle, ENTRY)
        entry["logId"]["keyId"] = base64.b64encode(self.key_id).decode()
        payload = json.dumps({
            "body": entry["canonicalizedBody"],
            "integratedTime": int(entry["integratedTime"]),
            "logID": self.key_id.hex(),
            "logIndex": int(entry["logIndex"]),
        }, sort_keys=True, separators=(",", ":")).encode()
        entry["inclusionPromise"]["signedEntryTimestamp"] = base64.b64encode(self._sign(payload)).decode()
        proof = entry["inclusionProof"]
        note = f"rekor.test - 1\n{proof['treeSize']}\n{proof['rootHash']}\n"
        sig = base64.b64encode(self.key_id[:4] + self._sign(note.encode())).decode()
        proof["checkpoint"]["envelope"] = note + "\n\u2014 rekor.test " + sig + "\n"


# ---- the corpus ---------------------------------------------------------------------


def _bases():
    github = Identity(GITHUB_ISSUER, RFC8785_REPO, RFC8785_SIGNER)
    prod = _load("trusted_root.production.json")
    staging = _load("trusted_root.staging.json")
    yield "github", "bundle_v3_github.whl", prod, staging, github, ("verificationMaterial", "x509CertificateChain", "certificates", 0, "rawBytes")
    yield "v3", "bundle_v3.txt", staging, prod, Identity(any_identity=True), ("verificationMaterial", "certificate", "rawBytes")
    yield "v1", "bundle.txt", staging, prod, Identity(any_identity=True), ("verificationMaterial", "x509CertificateChain", "certificates", 0, "rawBytes")


def _mutations(bundle: dict, cert_path):
    """(name, mutate(bundle)) pairs: each must be rejected."""
    yield "signature[8]", lambda b: _flip_b64(b, ("messageSignature", "signature"), 8)
    yield "signature[-1]", lambda b: _flip_b64(b, ("messageSignature", "signature"), -1)
    yield "message-digest", lambda b: _flip_b64(b, ("messageSignature", "messageDigest", "digest"), 0)
    yield "certificate[-1]", lambda b: _flip_b64(b, cert_path, -1)
    for i in range(len(_get(bundle, PROOF)["hashes"])):
        yield f"proof-hash[{i}]", lambda b, i=i: _flip_b64(b, PROOF + ("hashes", i), 5)
    yield "proof-root-hash", lambda b: _flip_b64(b, PROOF + ("rootHash",), 0)
    yield "proof-log-index", lambda b: _add_int(b, PROOF + ("logIndex",), 1)
    yield "proof-tree-size", lambda b: _add_int(b, PROOF + ("treeSize",), 1)

    def checkpoint(at_fn):
        def mutate(b):
            text = _get(b, PROOF + ("checkpoint", "envelope"))
            at = at_fn(text)
            _set(b, PROOF + ("checkpoint", "envelope"), text[:at] + ("2" if text[at] == "1" else "1") + text[at + 1:])
        return mutate

    yield "checkpoint-signature", checkpoint(lambda t: t.rfind(" ") + 10)
    yield "checkpoint-size", checkpoint(lambda t: t.find("\n") + 1)
    yield "checkpoint-origin", checkpoint(lambda t: 2)
    yield "set", lambda b: _flip_b64(b, ENTRY + ("inclusionPromise", "signedEntryTimestamp"), 10)
    yield "integrated-time+1", lambda b: _add_int(b, ENTRY + ("integratedTime",), 1)
    yield "log-index+1", lambda b: _add_int(b, ENTRY + ("logIndex",), 1)
    yield "body", lambda b: _flip_b64(b, ENTRY + ("canonicalizedBody",), 40)
    yield "log-id", lambda b: _flip_b64(b, ENTRY + ("logId", "keyId"), 0)


def _cases():
    for base, artifact_name, root, other_root, identity, cert_path in _bases():
        artifact = (FIXTURES / artifact_name).read_bytes()
        bundle = _load(artifact_name + ".sigstore")
        yield Case(f"{base}/unchanged", artifact, bundle, root, identity, True)
        flipped = bytearray(artifact)
        flipped[len(flipped) // 2] ^= 1
        yield Case(f"{base}/artifact", bytes(flipped), bundle, root, identity, False)
        for name, mutate in _mutations(bundle, cert_path):
            mutated = copy.deepcopy(bundle)
            mutate(mutated)
            yield Case(f"{base}/{name}", artifact, mutated, root, identity, False)
        for part in ("tlogs", "ctlogs", "certificateAuthorities"):
            other = copy.deepcopy(root)
            other[part] = copy.deepcopy(other_root[part])
            yield Case(f"{base}/root-{part}-replaced", artifact, bundle, other, identity, False)
        # Signing time moved outside the certificate's validity, every signature re-made.
        for delta, ok in ((0, True), (3600, False), (-86400, False)):
            log, b, r = StandInLog(), copy.deepcopy(bundle), copy.deepcopy(root)
            log.install(r)
            _add_int(b, ENTRY + ("integratedTime",), delta)
            log.resign(b)
            yield Case(f"{base}/resigned-time{delta:+d}", artifact, b, r, identity, ok)
    # Wrong identity.
    artifact = (FIXTURES / "bundle_v3_github.whl").read_bytes()
    bundle = _load("bundle_v3_github.whl.sigstore")
    prod = _load("trusted_root.production.json")
    for name, identity in (
        ("kernels-community-repo", Identity(GITHUB_ISSUER, "https://github.com/huggingface/kernels-community", RFC8785_SIGNER)),
        ("other-issuer", Identity("https://accounts.google.com", RFC8785_REPO, RFC8785_SIGNER)),
        ("other-signer", Identity(GITHUB_ISSUER, RFC8785_REPO, RFC8785_SIGNER + "x")),
    ):
        yield Case(f"identity/{name}", artifact, bundle, prod, identity, False)
    # Stricter than the reference on purpose: trust-root validity windows are enforced.
    expired = copy.deepcopy(prod)
    for ca in expired["certificateAuthorities"]:
        ca["validFor"]["end"] = "2023-01-01T00:00:00Z"
    yield Case("stricter/fulcio-ca-window", artifact, bundle, expired, Identity(GITHUB_ISSUER), False, stricter=True)
    # The reference CVE vector and the malformed vectors.
    staging = _load("trusted_root.staging.json")
    for name, ok in (("bundle_cve_2022_36056.txt", False), ("bundle_no_log_entry.txt", False),
                     ("bundle_no_checkpoint.txt", False), ("bundle_invalid_version.txt", False),
                     ("bundle_no_cert_v1.txt", False), ("bundle_v3_alt.txt", True)):
        yield Case(f"vector/{name}", (FIXTURES / name).read_bytes(), _load(name + ".sigstore"), staging,
                   Identity(any_identity=True), ok)


CASES = list(_cases())


# ---- the two verifiers --------------------------------------------------------------


def _reference_verdict(case: Case, tmp: Path) -> bool:
    root_path = tmp / "trusted_root.json"
    root_path.write_text(json.dumps(case.root))
    try:
        verifier = Verifier(trusted_root=TrustedRoot.from_file(str(root_path)))
        bundle = Bundle.from_json(json.dumps(case.bundle))
        if case.identity.any_identity:
            policy = sp.UnsafeNoOp()
        else:
            parts = [sp.OIDCIssuer(case.identity.issuer), sp.OIDCIssuerV2(case.identity.issuer)]
            if case.identity.source_repository:
                parts.append(sp.OIDCSourceRepositoryURI(case.identity.source_repository))
            if case.identity.build_signer_uri:
                parts.append(sp.OIDCBuildSignerURI(case.identity.build_signer_uri))
            policy = sp.AllOf(parts)
        verifier.verify_artifact(case.artifact, bundle, policy)
        return True
    except (SigstoreError, ValueError) as exc:
        case.notes.append(f"reference: {exc}")
        return False


def _our_verdict(exe: str, case: Case, tmp: Path) -> bool:
    (tmp / "artifact").write_bytes(case.artifact)
    (tmp / "bundle.json").write_text(json.dumps(case.bundle))
    (tmp / "root.json").write_text(json.dumps(case.root))
    args = [exe, "verify-blob", str(tmp / "artifact"), "--bundle", str(tmp / "bundle.json"),
            "--trusted-root", str(tmp / "root.json")]
    issuer = case.identity.issuer
    if case.identity.any_identity:
        try:
            issuer = _issuer_of(case.bundle)
        except Exception:  # malformed vectors: any issuer will do, the bundle is refused first
            issuer = "https://unused.example"
    args += ["--issuer", issuer]
    if case.identity.source_repository:
        args += ["--source-repository", case.identity.source_repository]
    if case.identity.build_signer_uri:
        args += ["--build-signer-uri", case.identity.build_signer_uri]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    case.notes.append(f"ours (rc {result.returncode}): {result.stdout.strip()} {result.stderr.strip()}")
    assert result.returncode != 2, "usage error: " + result.stderr
    return result.returncode == 0


@pytest.fixture(scope="module")
def ours():
    exe = _our_verifier()
    if not exe:
        pytest.fail("kernel-lock not found: set KERNEL_LOCK_BUILD_DIR (ctest does) or KERNEL_LOCK_VERIFY_BLOB")
    return exe


def test_corpus_is_large_enough():
    assert sum(1 for c in CASES if not c.expect_verified) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_verdict_as_reference(case: Case, ours: str, tmp_path: Path):
    ours_ok = _our_verdict(ours, case, tmp_path)
    reference_ok = _reference_verdict(case, tmp_path)
    assert ours_ok == case.expect_verified, case.notes
    if case.stricter:
        assert not ours_ok, case.notes
    else:
        assert ours_ok == reference_ok, case.notes
