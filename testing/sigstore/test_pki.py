#!/usr/bin/env python3
"""A local, deterministic Sigstore test PKI. FOR TESTS ONLY: its private keys
are written in the clear and derived from a public seed.

It stands in for the public-good Sigstore services so that the fixture Hub can
carry signed kernels and the verifier can be tested offline:

- a Fulcio-like CA: a root and an intermediate (P-384), issuing short-lived
  leaf certificates with the Fulcio profile (digitalSignature, code-signing EKU,
  empty subject, critical SAN, the Fulcio OIDC extensions 1.3.6.1.4.1.57264.1.*)
  and an embedded SCT (RFC 6962 precertificate SCT, signed by the CT log key);
- a CT log key and a Rekor key (P-256);
- a Rekor v1 log: each signature appends a hashedrekord 0.0.1 entry to a small
  Merkle tree kept in DIR/log.json, with a SET (inclusion promise), an RFC 6962
  inclusion proof and a signed checkpoint (signed-note format);
- trusted_root.json (application/vnd.dev.sigstore.trustedroot+json;version=0.1)
  for all of them.

  test_pki.py init DIR [--seed S] [--time T] [--issuer I] [--source-repository R]
                       [--build-signer-uri U] [--san SAN] [--identity-json J]
  test_pki.py sign DIR FILE [--identity-json J] [--time T] [--out OUT]   -> FILE.sigstore
  test_pki.py identity DIR                  (prints the default identity as JSON)
  test_pki.py digest VARIANT_DIR [--algorithm sha256|sha512]
                                            (writes metadata.json's `digest`, as `kernel-builder hash`)

Same seed, same time, same files signed in the same order: byte-identical
output (keys derived from the seed, RFC 6979 deterministic ECDSA). T is Unix
seconds or RFC 3339 UTC; `sign` defaults to SOURCE_DATE_EPOCH, else one hour
after the PKI's creation time. J is a JSON object or a file holding one; its
keys (see IDENTITY_EXTENSIONS, plus "san") override the default identity.
Needs the `cryptography` package (>= 44).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
DEFAULT_SEED = "kernel-lock test PKI"
DEFAULT_CREATED = "2025-01-01T00:00:00Z"
CA_YEARS = 10
LEAF_MINUTES = 10  # Fulcio certificates live ten minutes
FILLER_LEAVES = 5  # log entries before the first signature, so every proof has hashes
REKOR_NAME = "rekor.test.kernel-lock"
REKOR_URL = "https://rekor.test.kernel-lock"
CTLOG_URL = "https://ctfe.test.kernel-lock/test"
FULCIO_URL = "https://fulcio.test.kernel-lock"
SCT_LIST_OID = "1.3.6.1.4.1.11129.2.4.2"

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
KERNELS_COMMUNITY = "https://github.com/huggingface/kernels-community"
BUILD_WORKFLOW = KERNELS_COMMUNITY + "/.github/workflows/build.yaml@refs/heads/main"

# Identity key -> (Fulcio OID, encoding): "raw" for the deprecated v1 extensions,
# "utf8" for a DER UTF8String (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
IDENTITY_EXTENSIONS = {
    "issuer": ("1.3.6.1.4.1.57264.1.1", "raw"),  # v1; the same value also goes into v2 (.1.8)
    "github_workflow_trigger": ("1.3.6.1.4.1.57264.1.2", "raw"),
    "github_workflow_sha": ("1.3.6.1.4.1.57264.1.3", "raw"),
    "github_workflow_name": ("1.3.6.1.4.1.57264.1.4", "raw"),
    "github_workflow_repository": ("1.3.6.1.4.1.57264.1.5", "raw"),
    "github_workflow_ref": ("1.3.6.1.4.1.57264.1.6", "raw"),
    "issuer_v2": ("1.3.6.1.4.1.57264.1.8", "utf8"),
    "build_signer_uri": ("1.3.6.1.4.1.57264.1.9", "utf8"),
    "build_signer_digest": ("1.3.6.1.4.1.57264.1.10", "utf8"),
    "runner_environment": ("1.3.6.1.4.1.57264.1.11", "utf8"),
    "source_repository_uri": ("1.3.6.1.4.1.57264.1.12", "utf8"),
    "source_repository_digest": ("1.3.6.1.4.1.57264.1.13", "utf8"),
    "source_repository_ref": ("1.3.6.1.4.1.57264.1.14", "utf8"),
    "source_repository_identifier": ("1.3.6.1.4.1.57264.1.15", "utf8"),
    "source_repository_owner_uri": ("1.3.6.1.4.1.57264.1.16", "utf8"),
    "source_repository_owner_identifier": ("1.3.6.1.4.1.57264.1.17", "utf8"),
    "build_config_uri": ("1.3.6.1.4.1.57264.1.18", "utf8"),
    "build_config_digest": ("1.3.6.1.4.1.57264.1.19", "utf8"),
    "build_trigger": ("1.3.6.1.4.1.57264.1.20", "utf8"),
    "run_invocation_uri": ("1.3.6.1.4.1.57264.1.21", "utf8"),
    "source_repository_visibility_at_signing": ("1.3.6.1.4.1.57264.1.22", "utf8"),
}

CURVE_ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16),
}


class PkiError(Exception):
    """A usage or input error, reported on stderr with exit status 2."""


# ---- small encoders ------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der_utf8(text: str) -> bytes:
    raw = text.encode()
    return b"\x0c" + der_length(len(raw)) + raw


def der_octet_string(raw: bytes) -> bytes:
    return b"\x04" + der_length(len(raw)) + raw


def canonical_json(value) -> bytes:
    """RFC 8785 form for the ASCII-only documents written here (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def parse_time(text: str | int) -> int:
    """Unix seconds from an integer or an RFC 3339 UTC timestamp."""
    text = str(text).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PkiError(f"bad time {text!r}: use Unix seconds or RFC 3339 (2025-01-01T00:00:00Z)") from exc
    if when.tzinfo is None:
        raise PkiError(f"bad time {text!r}: give a UTC offset (Z)")
    return int(when.timestamp())


def rfc3339(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# ---- keys ----------------------------------------------------------------------------


def derive_key(secret: bytes, label: str, curve: ec.EllipticCurve) -> ec.EllipticCurvePrivateKey:
    """A private key derived from `secret` and `label` (same inputs, same key)."""
    order = CURVE_ORDERS[curve.name]
    wide = hashlib.sha512(secret + b"\x00" + label.encode()).digest() + hashlib.sha512(label.encode() + secret).digest()
    return ec.derive_private_key(int.from_bytes(wide, "big") % (order - 1) + 1, curve)


def spki_der(key) -> bytes:
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key) -> bytes:
    """The Sigstore / CT log ID: SHA-256 of the DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_der(key)).digest()


def ecdsa_sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))


def serial_number(secret: bytes, label: str) -> int:
    """A positive serial of at most 20 octets (RFC 5280 4.1.2.2)."""
    return (int.from_bytes(hashlib.sha256(secret + label.encode()).digest()[:20], "big") >> 1) or 1


# ---- the Fulcio-like CA ----------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kernel-lock test PKI"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_certificate(subject: x509.Name, key, issuer: x509.Name, issuer_key, serial: int, start: int,
                    path_length: int) -> x509.Certificate:
    """A CA certificate valid CA_YEARS from `start`, signed by `issuer_key` (self-signed when it is `key`)."""
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(serial)
               .not_valid_before(utc(start)).not_valid_after(utc(start + CA_YEARS * 365 * 86400))
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer_key is not key:
        builder = (builder
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                  critical=False))
    return builder.sign(issuer_key, hashes.SHA384(), ecdsa_deterministic=True)


def default_identity(repository: str = KERNELS_COMMUNITY, build_signer_uri: str | None = None,
                     issuer: str = GITHUB_ISSUER, san: str | None = None) -> dict:
    """The identity a GitHub Actions build of `repository` gets from Fulcio."""
    signer = build_signer_uri or repository + "/.github/workflows/build.yaml@refs/heads/main"
    workflow_path = signer.split("@", 1)[0].split(repository + "/", 1)[-1]
    ref = signer.split("@", 1)[1] if "@" in signer else "refs/heads/main"
    sha = hashlib.sha1(repository.encode()).hexdigest()
    owner = repository.rsplit("/", 1)[0]
    return {
        "san": san or signer,
        "issuer": issuer,
        "github_workflow_trigger": "push",
        "github_workflow_sha": sha,
        "github_workflow_name": "build",
        "github_workflow_repository": repository.split("github.com/", 1)[-1],
        "github_workflow_ref": ref,
        "build_signer_uri": signer,
        "build_signer_digest": sha,
        "runner_environment": "github-hosted",
        "source_repository_uri": repository,
        "source_repository_digest": sha,
        "source_repository_ref": ref,
        "source_repository_owner_uri": owner,
        "build_config_uri": repository + "/" + workflow_path + "@" + ref,
        "build_config_digest": sha,
        "build_trigger": "push",
        "run_invocation_uri": repository + "/actions/runs/1/attempts/1",
        "source_repository_visibility_at_signing": "public",
    }


def _log_entry(base_url: str, key, start: int) -> dict:
    return {
        "baseUrl": base_url,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {"rawBytes": b64(spki_der(key)), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                      "validFor": {"start": rfc3339(start)}},
        "logId": {"keyId": b64(key_id(key))},
    }


def trusted_root(root: x509.Certificate, intermediate: x509.Certificate, ct_key, rekor_key, start: int) -> dict:
    """trusted_root.json for this PKI: one Fulcio CA, one Rekor log, one CT log, no TSA."""
    return {
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": [_log_entry(REKOR_URL, rekor_key, start)],
        "certificateAuthorities": [{
            "subject": {"organization": "kernel-lock test PKI", "commonName": "test-fulcio"},
            "uri": FULCIO_URL,
            "certChain": {"certificates": [{"rawBytes": b64(c.public_bytes(serialization.Encoding.DER))}
                                           for c in (intermediate, root)]},
            "validFor": {"start": rfc3339(start)},
        }],
        "ctlogs": [_log_entry(CTLOG_URL, ct_key, start)],
        "timestampAuthorities": [],
    }


def _pem_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def init(directory: Path, seed: str, created: int, identity: dict, force: bool) -> None:
    """Creates the PKI in `directory`: keys/, trusted_root.json, pki.json, log.json."""
    if (directory / "pki.json").exists() and not force:
        raise PkiError(f"{directory} already holds a test PKI (pki.json); pass --force to replace it")
    secret = hashlib.sha256(seed.encode()).digest()
    keys = {"root": derive_key(secret, "fulcio-root", ec.SECP384R1()),
            "intermediate": derive_key(secret, "fulcio-intermediate", ec.SECP384R1()),
            "ctlog": derive_key(secret, "ctlog", ec.SECP256R1()),
            "rekor": derive_key(secret, "rekor", ec.SECP256R1())}
    root_name, intermediate_name = _name("test-fulcio-root"), _name("test-fulcio-intermediate")
    root = _ca_certificate(root_name, keys["root"], root_name, keys["root"], serial_number(secret, "root"),
                           created, 1)
    intermediate = _ca_certificate(intermediate_name, keys["intermediate"], root_name, keys["root"],
                                   serial_number(secret, "intermediate"), created, 0)
    (directory / "keys").mkdir(parents=True, exist_ok=True)
    for name, key in keys.items():
        write_atomic(directory / "keys" / f"{name}.pem", _pem_private(key), 0o600)
    for name, cert in (("root", root), ("intermediate", intermediate)):
        write_atomic(directory / "keys" / f"{name}.crt", cert.public_bytes(serialization.Encoding.PEM))
    root_json = trusted_root(root, intermediate, keys["ctlog"], keys["rekor"], created)
    write_atomic(directory / "trusted_root.json", (json.dumps(root_json, indent=2) + "\n").encode())
    state = {"seed_digest": secret.hex(), "created": created, "tree_id": int.from_bytes(secret[:7], "big"),
             "identity": identity}
    write_atomic(directory / "pki.json", (json.dumps(state, indent=2, sort_keys=True) + "\n").encode())
    fillers = [hashlib.sha256(b"\x00" + secret + b"filler %d" % i).hexdigest() for i in range(FILLER_LEAVES)]
    write_atomic(directory / "log.json", (json.dumps({"leaves": fillers}, indent=1) + "\n").encode())


# ---- the leaf certificate with its embedded SCT (RFC 6962) --------------------------------


class Pki:
    """A PKI made by `init`, loaded from its directory."""

    def __init__(self, directory: Path):
        if not (directory / "pki.json").exists():
            raise PkiError(f"{directory} holds no test PKI (no pki.json): run `test_pki.py init {directory}` first")
        self.directory = directory
        self.state = json.loads((directory / "pki.json").read_text())
        self.secret = bytes.fromhex(self.state["seed_digest"])
        self.keys = {name: serialization.load_pem_private_key((directory / "keys" / f"{name}.pem").read_bytes(), None)
                     for name in ("intermediate", "ctlog", "rekor")}
        self.intermediate = x509.load_pem_x509_certificate((directory / "keys" / "intermediate.crt").read_bytes())


def _identity_extensions(identity: dict) -> list[x509.Extension]:
    unknown = set(identity) - set(IDENTITY_EXTENSIONS) - {"san"}
    if unknown:
        raise PkiError(f"unknown identity keys {sorted(unknown)}; known: san, {', '.join(IDENTITY_EXTENSIONS)}")
    values = dict(identity)
    if values.get("issuer") and "issuer_v2" not in values:
        values["issuer_v2"] = values["issuer"]
    extensions = []
    for name, (oid, encoding) in sorted(IDENTITY_EXTENSIONS.items(), key=lambda kv: tuple(map(int, kv[1][0].split(".")))):
        value = values.get(name)
        if value:
            raw = value.encode() if encoding == "raw" else der_utf8(value)
            extensions.append(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), raw))
    return extensions


def _san(identity: dict) -> x509.GeneralName:
    san = identity.get("san") or identity.get("build_signer_uri")
    if not san:
        raise PkiError("the identity needs a `san` (or a `build_signer_uri` to use as one)")
    return x509.RFC822Name(san) if "@" in san and "://" not in san else x509.UniformResourceIdentifier(san)


def _leaf_builder(pki: Pki, leaf_key, identity: dict, issued: int, serial: int) -> x509.CertificateBuilder:
    """The leaf without its SCT list: what the precertificate's TBS holds."""
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([])).issuer_name(pki.intermediate.subject)
               .public_key(leaf_key.public_key()).serial_number(serial)
               .not_valid_before(utc(issued)).not_valid_after(utc(issued + LEAF_MINUTES * 60))
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(pki.keys["intermediate"].public_key()),
                              critical=False)
               .add_extension(x509.SubjectAlternativeName([_san(identity)]), critical=True))
    for extension in _identity_extensions(identity):
        builder = builder.add_extension(extension, critical=False)
    return builder


def _sct_list(pki: Pki, precert_tbs: bytes, timestamp_ms: int) -> bytes:
    """A TLS-encoded SignedCertificateTimestampList holding one v1 precert SCT."""
    issuer_key_hash = hashlib.sha256(spki_der(pki.intermediate.public_key())).digest()
    signed = (b"\x00\x00" + timestamp_ms.to_bytes(8, "big") + b"\x00\x01" + issuer_key_hash
              + len(precert_tbs).to_bytes(3, "big") + precert_tbs + b"\x00\x00")
    signature = ecdsa_sign(pki.keys["ctlog"], signed)
    sct = (b"\x00" + key_id(pki.keys["ctlog"]) + timestamp_ms.to_bytes(8, "big") + b"\x00\x00"
           + b"\x04\x03" + len(signature).to_bytes(2, "big") + signature)  # sha256, ecdsa
    entry = len(sct).to_bytes(2, "big") + sct
    return len(entry).to_bytes(2, "big") + entry


def issue_leaf(pki: Pki, leaf_key, identity: dict, issued: int, serial: int) -> x509.Certificate:
    """A Fulcio-profile leaf certificate with an embedded SCT over its precertificate."""
    builder = _leaf_builder(pki, leaf_key, identity, issued, serial)
    precert = builder.sign(pki.keys["intermediate"], hashes.SHA384(), ecdsa_deterministic=True)
    scts = _sct_list(pki, precert.tbs_certificate_bytes, issued * 1000)
    builder = builder.add_extension(
        x509.UnrecognizedExtension(x509.ObjectIdentifier(SCT_LIST_OID), der_octet_string(scts)), critical=False)
    leaf = builder.sign(pki.keys["intermediate"], hashes.SHA384(), ecdsa_deterministic=True)
    if leaf.tbs_precertificate_bytes != precert.tbs_certificate_bytes:
        raise AssertionError("precertificate TBS changed when the SCT list was added")
    return leaf


# ---- the Rekor v1 log: Merkle tree (RFC 6962), SET, signed checkpoint ---------------------


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # largest power of two below len(leaves)
    return _node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """The audit path of leaf `index`, leaf level first (RFC 6962 section 2.1.1)."""
    if len(leaves) <= 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return inclusion_path(index, leaves[:k]) + [merkle_root(leaves[k:])]
    return inclusion_path(index - k, leaves[k:]) + [merkle_root(leaves[:k])]


@contextlib.contextmanager
def _locked_log(directory: Path):
    """The log's leaves under an exclusive lock (parallel `sign` calls append in turn)."""
    with open(directory / "log.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        log = json.loads((directory / "log.json").read_text())
        yield log
        write_atomic(directory / "log.json", (json.dumps(log, indent=1) + "\n").encode())


def _checkpoint(pki: Pki, tree_size: int, root_hash: bytes) -> str:
    note = f"{REKOR_NAME} - {pki.state['tree_id']}\n{tree_size}\n{b64(root_hash)}\n"
    rekor = pki.keys["rekor"]
    return note + f"\n\u2014 {REKOR_NAME} {b64(key_id(rekor)[:4] + ecdsa_sign(rekor, note.encode()))}\n"


def log_entry(pki: Pki, body: bytes, integrated_time: int) -> dict:
    """Appends `body` to the log; returns the bundle's tlogEntries[0]."""
    with _locked_log(pki.directory) as log:
        index = len(log["leaves"])
        log["leaves"].append(hashlib.sha256(b"\x00" + body).hexdigest())
        leaves = [bytes.fromhex(h) for h in log["leaves"]]
    rekor = pki.keys["rekor"]
    log_id = key_id(rekor)
    promise = canonical_json({"body": b64(body), "integratedTime": integrated_time, "logID": log_id.hex(),
                              "logIndex": index})
    root_hash = merkle_root(leaves)
    return {
        "logIndex": str(index),
        "logId": {"keyId": b64(log_id)},
        "kindVersion": {"kind": "hashedrekord", "version": "0.0.1"},
        "integratedTime": str(integrated_time),
        "inclusionPromise": {"signedEntryTimestamp": b64(ecdsa_sign(rekor, promise))},
        "inclusionProof": {
            "logIndex": str(index),
            "rootHash": b64(root_hash),
            "treeSize": str(len(leaves)),
            "hashes": [b64(h) for h in inclusion_path(index, leaves)],
            "checkpoint": {"envelope": _checkpoint(pki, len(leaves), root_hash)},
        },
        "canonicalizedBody": b64(body),
    }


# ---- signing ---------------------------------------------------------------------------


def hashedrekord_body(leaf: x509.Certificate, signature: bytes, digest: bytes) -> bytes:
    """The Rekor v1 hashedrekord 0.0.1 entry, canonicalized as Rekor logs it."""
    pem = leaf.public_bytes(serialization.Encoding.PEM)
    return canonical_json({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {"data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                 "signature": {"content": b64(signature), "publicKey": {"content": b64(pem)}}},
    })


def sign(pki: Pki, artifact: bytes, identity: dict, signed_at: int) -> dict:
    """A Sigstore bundle v0.3 for `artifact`, signed at `signed_at` by `identity`."""
    digest = hashlib.sha256(artifact).digest()
    label = "leaf:" + digest.hex() + ":" + canonical_json(identity).decode() + f":{signed_at}"
    leaf_key = derive_key(pki.secret, label, ec.SECP256R1())
    leaf = issue_leaf(pki, leaf_key, identity, signed_at, serial_number(pki.secret, label))
    signature = ecdsa_sign(leaf_key, artifact)
    # The log integrates the entry a few seconds after the certificate was issued.
    entry = log_entry(pki, hashedrekord_body(leaf, signature, digest), signed_at + 2)
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {
            "certificate": {"rawBytes": b64(leaf.public_bytes(serialization.Encoding.DER))},
            "tlogEntries": [entry],
            "timestampVerificationData": {},
        },
        "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
                             "signature": b64(signature)},
    }


# ---- the kernel digest (`kernel-builder hash`) ------------------------------------------


def is_digested_path(relative: str) -> bool:
    """False for metadata.json / metadata.json.sigstore (any depth) and anything under __pycache__.
    The same rule as trust::is_digested_path (trust/src/kernel_digest.cpp)."""
    parts = relative.split("/")
    return "__pycache__" not in parts[:-1] and parts[-1] not in ("metadata.json", "metadata.json.sigstore")


def kernel_digest(variant: Path, algorithm: str) -> dict:
    """{"algorithm", "files": {path: base64 raw digest}} over the variant's files (symlinks followed)."""
    files = {}
    for base, dirs, names in os.walk(variant, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in names:
            path = Path(base) / name
            relative = path.relative_to(variant).as_posix()
            if is_digested_path(relative):
                files[relative] = b64(hashlib.new(algorithm, path.read_bytes()).digest())
    return {"algorithm": algorithm, "files": dict(sorted(files.items()))}


def write_digest(variant: Path, algorithm: str) -> Path:
    """Sets metadata.json's `digest` (other keys kept, in their order); returns its path."""
    metadata_path = variant / "metadata.json"
    try:
        metadata = json.loads(metadata_path.read_text())
    except (OSError, ValueError) as exc:
        raise PkiError(f"cannot read {metadata_path} as JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise PkiError(f"{metadata_path}: not a JSON object")
    metadata["digest"] = kernel_digest(variant, algorithm)
    write_atomic(metadata_path, (json.dumps(metadata, indent=2) + "\n").encode())
    return metadata_path


# ---- command line ----------------------------------------------------------------------


def _identity_arg(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text if text.lstrip().startswith("{") else Path(text).read_text())
    except (OSError, ValueError) as exc:
        raise PkiError(f"--identity-json: not a JSON object or a readable JSON file: {exc}") from exc
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise PkiError("--identity-json: expected a JSON object of strings")
    return value


def _cmd_init(args) -> None:
    identity = default_identity(args.source_repository, args.build_signer_uri, args.issuer, args.san)
    identity.update(_identity_arg(args.identity_json))
    _identity_extensions(identity)  # reject unknown keys now, not at the first signature
    init(Path(args.dir), args.seed, parse_time(args.time), identity, args.force)
    print(Path(args.dir) / "trusted_root.json")


def _cmd_sign(args) -> None:
    pki = Pki(Path(args.dir))
    identity = {k: v for k, v in {**pki.state["identity"], **_identity_arg(args.identity_json)}.items() if v}
    if args.time is not None:
        signed_at = parse_time(args.time)
    elif os.environ.get("SOURCE_DATE_EPOCH"):
        signed_at = parse_time(os.environ["SOURCE_DATE_EPOCH"])
    else:
        signed_at = pki.state["created"] + 3600
    if signed_at < pki.state["created"]:
        raise PkiError(f"signing time {rfc3339(signed_at)} is before the PKI's creation {rfc3339(pki.state['created'])}")
    artifact = Path(args.file)
    try:
        data = artifact.read_bytes()
    except OSError as exc:
        raise PkiError(f"cannot read {artifact}: {exc.strerror}") from exc
    out = Path(args.out) if args.out else artifact.with_name(artifact.name + ".sigstore")
    bundle = sign(pki, data, identity, signed_at)
    write_atomic(out, json.dumps(bundle, separators=(",", ":")).encode())
    print(out)


def _cmd_identity(args) -> None:
    print(json.dumps(Pki(Path(args.dir)).state["identity"], indent=2, sort_keys=True))


def _cmd_digest(args) -> None:
    print(write_digest(Path(args.variant_dir), args.algorithm))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init", help="create the CA, the log keys and trusted_root.json in DIR")
    p.add_argument("dir")
    p.add_argument("--seed", default=DEFAULT_SEED, help="every key derives from it (default: %(default)r)")
    p.add_argument("--time", default=DEFAULT_CREATED, help="creation time: start of every validity window")
    p.add_argument("--issuer", default=GITHUB_ISSUER, help="default OIDC issuer (default: %(default)s)")
    p.add_argument("--source-repository", default=KERNELS_COMMUNITY, help="default source repository URI")
    p.add_argument("--build-signer-uri", help="default build signer URI (default: REPO/.github/workflows/"
                                              "build.yaml@refs/heads/main)")
    p.add_argument("--san", help="default subject alternative name (default: the build signer URI)")
    p.add_argument("--identity-json", help="JSON object (or file) overriding identity fields")
    p.add_argument("--force", action="store_true", help="replace an existing PKI in DIR")
    p.set_defaults(run=_cmd_init)
    p = sub.add_parser("sign", help="sign FILE into FILE.sigstore (Sigstore bundle v0.3)")
    p.add_argument("dir")
    p.add_argument("file")
    p.add_argument("--identity-json", help="JSON object (or file) overriding the PKI's default identity")
    p.add_argument("--time", help="signing time (default: $SOURCE_DATE_EPOCH, else creation + 1 h)")
    p.add_argument("--out", help="bundle path (default: FILE.sigstore)")
    p.set_defaults(run=_cmd_sign)
    p = sub.add_parser("identity", help="print the PKI's default signer identity")
    p.add_argument("dir")
    p.set_defaults(run=_cmd_identity)
    p = sub.add_parser("digest", help="write the `digest` of VARIANT_DIR's files into its metadata.json")
    p.add_argument("variant_dir")
    p.add_argument("--algorithm", choices=("sha256", "sha512"), default="sha256")
    p.set_defaults(run=_cmd_digest)
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except PkiError as exc:
        print(f"test_pki.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
