"""`kernel-lock export`: the lock as a Python kernels.lock, a kernels.yaml, and
CycloneDX 1.6 / SPDX 2.3 SBOMs (docs/export.md).

Against the fixture Hub: a lock with signed variants (kernels-test/activation v2,
signed by the Hub's test PKI) and kernel-depends (kernels-test/dep-demo). The
SBOMs are validated against the official JSON schemas vendored in
tests/e2e/schemas/ (see its README: origin and license) with `jsonschema`,
and with the PyPI validators (cyclonedx-python-lib's strict JSON validator for
1.6, spdx-tools' parse + full validation) in test_sboms_pass_the_pypi_validators.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent / "schemas"
SIGNED = "kernels-test/activation"


def kl(bin_path, *args, env, expect=0) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(bin_path), *map(str, args)], env=env, capture_output=True, timeout=300)
    assert proc.returncode == expect, (
        f"kernel-lock {' '.join(map(str, args))}: exit {proc.returncode}, expected {expect}\n"
        f"{proc.stdout.decode(errors='replace')}\n{proc.stderr.decode(errors='replace')}")
    return proc


def cyclonedx_validator() -> jsonschema.Validator:
    resources = []
    for name in ("bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"):
        schema = json.loads((SCHEMAS / name).read_text())
        resources += [(name, Resource.from_contents(schema)), (schema["$id"], Resource.from_contents(schema))]
    schema = json.loads((SCHEMAS / "bom-1.6.schema.json").read_text())
    return jsonschema.Draft7Validator(schema, registry=Registry().with_resources(resources),
                                      format_checker=jsonschema.FormatChecker())


def spdx_validator() -> jsonschema.Validator:
    schema = json.loads((SCHEMAS / "spdx-2.3-schema.json").read_text())
    return jsonschema.Draft201909Validator(schema, format_checker=jsonschema.FormatChecker())


def errors(validator: jsonschema.Validator, document: dict) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture
def locked(kernel_lock_bin, fixture_hub, hub_server, hf_env, tmp_path):
    # Signed builds (activation v2) exist when the compiled kernels were built;
    # else (no compiled kernels) only dep-demo and its kernel-depends, unsigned.
    root = fixture_hub / ".sigstore-pki" / "trusted_root.json"
    signed = root.is_file()
    trust = ["--trusted-root", root] if signed else []
    env = hf_env(hub_server)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "kernels.yaml").write_text(
        "targets:\n  os: [linux]\nkernels:\n" + ("  kernels-test/activation: 2\n" if signed else "")
        + "  kernels-test/dep-demo: 1\n")
    kl(kernel_lock_bin, "resolve", proj, *trust, env=env)
    return proj, env, trust


def export(bin_path, proj, fmt, env, *extra) -> bytes:
    return kl(bin_path, "export", proj, "--format", fmt, *extra, env=env).stdout


def test_kernels_lock_is_lock_fmt_python_and_read_by_python_kernels(kernel_lock_bin, locked, tmp_path):
    proj, env, _ = locked
    ours = export(kernel_lock_bin, proj, "kernels-lock", env)
    assert ours == kl(kernel_lock_bin, "lock-fmt", "--python", proj / "kernel.lock", env=env).stdout
    from kernels._rust import KernelLocks

    lock = json.loads((proj / "kernel.lock").read_text())
    seen = {dep.repo_id: l.commit for dep, l in KernelLocks.from_json(ours.decode()).items()}
    assert seen == {k["repo_id"]: k["sha"] for k in lock}
    out = tmp_path / "out" / "kernels.lock"
    out.parent.mkdir()
    kl(kernel_lock_bin, "export", proj, "--format", "kernels-lock", "-o", out, env=env)
    assert out.read_bytes() == ours
    before = out.stat().st_mtime_ns
    proc = kl(kernel_lock_bin, "export", proj, "--format", "kernels-lock", "-o", out, env=env)
    assert out.stat().st_mtime_ns == before and b"unchanged" in proc.stderr  # same bytes: not rewritten


def test_requirements_resolve_back_to_the_same_lock(kernel_lock_bin, locked, tmp_path):
    proj, env, trust = locked
    text = export(kernel_lock_bin, proj, "requirements", env).decode()
    parsed = yaml.safe_load(text)
    lock = json.loads((proj / "kernel.lock").read_text())
    assert "kernels-test/many-files" in {k["repo_id"] for k in lock}
    top = {k["repo_id"] for k in lock if "required-by" not in k.get("requirement", {})}
    assert set(parsed["kernels"]) == top  # the dependencies come back through kernel-depends
    assert parsed["targets"] == {"os": ["linux"]}
    again = tmp_path / "again"
    again.mkdir()
    (again / "kernels.yaml").write_text(text)
    kl(kernel_lock_bin, "resolve", again, *trust, env=env)
    assert (again / "kernel.lock").read_bytes() == (proj / "kernel.lock").read_bytes()


def test_cyclonedx_validates_and_describes_the_lock(kernel_lock_bin, locked):
    proj, env, _ = locked
    raw = export(kernel_lock_bin, proj, "cyclonedx", env, "--no-cache")
    assert raw == export(kernel_lock_bin, proj, "cyclonedx", env, "--no-cache")  # deterministic
    bom = json.loads(raw)
    validator = cyclonedx_validator()
    assert errors(validator, bom) == []
    broken = copy.deepcopy(bom)
    broken["components"][0]["type"] = "kernel"  # not a CycloneDX component type
    assert errors(validator, broken)  # the validation can fail
    lock = json.loads((proj / "kernel.lock").read_text())
    by_purl = {c["purl"]: c for c in bom["components"]}
    assert set(by_purl) == {f"pkg:huggingface/{k['repo_id']}@{k['sha']}" for k in lock}
    for kernel in lock:
        component = by_purl[f"pkg:huggingface/{kernel['repo_id']}@{kernel['sha']}"]
        variants = {v["purl"].split("#build/")[1]: v for v in component["components"]}
        assert set(variants) == set(kernel["variants"])
        for name, variant in variants.items():
            props = {p["name"]: p["value"] for p in variant["properties"]}
            assert props["kernel-lock:variant-hash"] == kernel["variants"][name]["hash"]
            assert "kernel-lock:backend" in props
            signature = kernel.get("signatures", {}).get(name)
            if signature:
                assert props["kernel-lock:signer:build-signer-uri"] == signature["build_signer_uri"]
                assert props["kernel-lock:signer:log-index"] == str(signature["log_index"])
            files = {f["name"]: f for f in variant["components"]}
            for record in kernel["files"][name]:
                if record["kind"] == "sha256":
                    assert files[record["path"]]["hashes"] == [{"alg": "SHA-256", "content": record["digest"]}]
    if locked[2]:
        assert any("signatures" in k for k in lock if k["repo_id"] == SIGNED)
    deps = {d["ref"]: d["dependsOn"] for d in bom["dependencies"]}
    dep_demo = next(k for k in lock if k["repo_id"] == "kernels-test/dep-demo")
    assert sorted(deps[f"pkg:huggingface/kernels-test/dep-demo@{dep_demo['sha']}"]) == sorted(
        f"pkg:huggingface/{k['repo_id']}@{k['sha']}" for k in lock
        if k.get("requirement", {}).get("required-by") == "kernels-test/dep-demo")


def test_spdx_validates_and_relates_the_kernels(kernel_lock_bin, locked):
    proj, env, _ = locked
    raw = export(kernel_lock_bin, proj, "spdx", env, "--no-cache")
    doc = json.loads(raw)
    validator = spdx_validator()
    assert errors(validator, doc) == []
    broken = copy.deepcopy(doc)
    del broken["files"][0]["checksums"]
    assert errors(validator, broken)
    lock = json.loads((proj / "kernel.lock").read_text())
    times = [s["signing_time"] for k in lock for s in k.get("signatures", {}).values()]
    assert doc["creationInfo"]["created"] == max(times, default="1970-01-01T00:00:00Z")  # from the lock, not the clock
    ids = {p["name"]: p["SPDXID"] for p in doc["packages"]}
    relations = {(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]) for r in doc["relationships"]}
    for kernel in lock:
        by = kernel.get("requirement", {}).get("required-by")
        if by:
            assert (ids[by], "DEPENDS_ON", ids[kernel["repo_id"]]) in relations
    files = sum(len(v) for k in lock for v in k.get("files", {}).values())
    assert len(doc["files"]) == files


def test_sboms_take_sha256_from_the_cache(kernel_lock_bin, locked, tmp_path):
    proj, env, trust = locked
    kl(kernel_lock_bin, "bundle", proj, "-o", tmp_path / "b.tar.zst", *trust, env=env)  # fills the cache
    cache = Path(env["HF_HUB_CACHE"])
    bom = json.loads(export(kernel_lock_bin, proj, "cyclonedx", env, "--cache", cache))
    assert errors(cyclonedx_validator(), bom) == []
    lock = {k["repo_id"]: k for k in json.loads((proj / "kernel.lock").read_text())}
    checked = 0
    for component in bom["components"]:
        kernel = lock[f"{component['group']}/{component['name']}"]
        for variant in component["components"]:
            name = variant["purl"].split("#build/")[1]
            snapshot = cache / f"kernels--{kernel['repo_id'].replace('/', '--')}" / "snapshots" / kernel["sha"] / "build" / name
            for file in variant["components"]:
                content = (snapshot / file["name"]).read_bytes()
                assert file["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(content).hexdigest()}]
                checked += 1
    assert checked > 0
    doc = json.loads(export(kernel_lock_bin, proj, "spdx", env, "--cache", cache))
    assert errors(spdx_validator(), doc) == []
    assert all(f["checksums"][0]["algorithm"] == "SHA256" for f in doc["files"])
    # The same documents from the bundle alone (an empty cache, e.g. on an air-gapped build host).
    empty = dict(env, HF_HUB_CACHE=str(tmp_path / "empty-cache"), HF_HUB_OFFLINE="1")
    for fmt in ("cyclonedx", "spdx"):
        assert export(kernel_lock_bin, proj, fmt, empty, "--bundle", tmp_path / "b.tar.zst") == \
            export(kernel_lock_bin, proj, fmt, env, "--cache", cache)
    assert not (tmp_path / "empty-cache").exists()
    kl(kernel_lock_bin, "export", proj, "--format", "spdx", "--bundle", tmp_path / "b.tar.zst", "--no-cache",
       env=env, expect=2)


def test_export_errors(kernel_lock_bin, tmp_path):
    env = dict(os.environ)
    kl(kernel_lock_bin, "export", tmp_path, "--format", "spdx", env=env, expect=5)  # no lock
    kl(kernel_lock_bin, "export", tmp_path, "--format", "xml", env=env, expect=2)
    (tmp_path / "kernel.lock").write_text("[{]")
    kl(kernel_lock_bin, "export", tmp_path, "--format", "cyclonedx", env=env, expect=3)


def test_sboms_pass_the_pypi_validators(kernel_lock_bin, locked, tmp_path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    proj, env, trust = locked
    kl(kernel_lock_bin, "bundle", proj, "-o", tmp_path / "b.tar.zst", *trust, env=env)  # fills the cache
    raw = export(kernel_lock_bin, proj, "cyclonedx", env)
    assert raw == export(kernel_lock_bin, proj, "cyclonedx", env)  # deterministic with the cache too
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(raw.decode(), all_errors=True) is None
    broken = json.loads(raw)
    broken["components"][0]["purl"] = 42
    assert validator.validate_str(json.dumps(broken)) is not None  # the validator can fail

    spdx = tmp_path / "sbom.spdx.json"
    spdx.write_bytes(export(kernel_lock_bin, proj, "spdx", env))
    assert spdx.read_bytes() == export(kernel_lock_bin, proj, "spdx", env)
    assert [m.validation_message for m in validate_full_spdx_document(parse_file(str(spdx)))] == []
    bad = json.loads(spdx.read_text())
    bad["relationships"].append({"spdxElementId": "SPDXRef-Nope", "relationshipType": "CONTAINS",
                                 "relatedSpdxElement": "SPDXRef-DOCUMENT"})
    (tmp_path / "bad.spdx.json").write_text(json.dumps(bad))
    assert validate_full_spdx_document(parse_file(str(tmp_path / "bad.spdx.json")))

    # Variant facts from each cached metadata.json: backend (and archs where it lists them).
    cache = Path(env["HF_HUB_CACHE"])
    for component in json.loads(raw)["components"]:
        repo = f"{component['group']}/{component['name']}"
        for variant in component["components"]:
            props = {p["name"]: p["value"] for p in variant["properties"]}
            name = props["kernel-lock:variant"]
            snapshot = cache / f"kernels--{repo.replace('/', '--')}" / "snapshots" / component["version"]
            meta = json.loads((snapshot / "build" / name / "metadata.json").read_text())
            assert props["kernel-lock:facts-source"] == "metadata.json"
            assert props["kernel-lock:backend"] == meta["backend"]["type"]
            assert props.get("kernel-lock:archs", "") == ",".join(meta["backend"].get("archs", []))
