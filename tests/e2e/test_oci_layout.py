"""`kernel-lock bundle --format oci`: resolve against the fixture Hub, write the
lock as an OCI image layout (directory and tar), check its structure, the
dedupe of identical files across variants, that two runs give the same bytes,
and that a standard tool (skopeo, when installed) reads and copies it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from test_bundle_airgap import FOLDER, KERNEL, kl, make_project, offline_env

KERNEL_TYPE = "application/vnd.kernel-lock.kernel.v1+json"
CONFIG_TYPE = "application/vnd.kernel-lock.kernel.config.v1+json"
LOCK_TYPE = "application/vnd.kernel-lock.lock.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def blob(layout: Path, digest: str) -> bytes:
    algo, hexd = digest.split(":")
    assert algo == "sha256"
    data = (layout / "blobs" / "sha256" / hexd).read_bytes()
    assert hashlib.sha256(data).hexdigest() == hexd
    return data


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def oci_project(kernel_lock_bin, hub_server, hf_env, tmp_path):
    env = hf_env(hub_server, HF_HUB_CACHE=str(tmp_path / "cache"))
    proj = make_project(tmp_path, {KERNEL: 1})
    kl(kernel_lock_bin, "resolve", proj, env=env)
    return proj, env


def test_oci_layout_structure_dedupe_determinism(kernel_lock_bin, oci_project, tmp_path):
    proj, env = oci_project
    out = tmp_path / "layout"
    res = kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", out, "--tag", "v1", env=env)
    assert "wrote" in res.stdout
    assert json.loads((out / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((out / "index.json").read_text())
    assert index["schemaVersion"] == 2 and len(index["manifests"]) == 1
    top = index["manifests"][0]
    assert top["mediaType"] == INDEX_TYPE
    assert top["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    lock_index = json.loads(blob(out, top["digest"]))
    assert lock_index["annotations"] == {"dev.kernel-lock.artifact-type": LOCK_TYPE}
    assert len(lock_index["manifests"]) == 1
    lock = json.loads((proj / "kernel.lock").read_text())
    mdesc = lock_index["manifests"][0]
    assert mdesc["annotations"] == {"dev.kernel-lock.repo-id": KERNEL, "dev.kernel-lock.sha": lock[0]["sha"]}
    manifest = json.loads(blob(out, mdesc["digest"]))
    assert manifest["mediaType"] == MANIFEST_TYPE and manifest["artifactType"] == KERNEL_TYPE
    assert manifest["config"]["mediaType"] == CONFIG_TYPE
    config = json.loads(blob(out, manifest["config"]["digest"]))
    assert config["kernel"]["repo_id"] == KERNEL and config["kernel"]["variants"] == lock[0]["variants"]
    titles = [layer["annotations"]["org.opencontainers.image.title"] for layer in manifest["layers"]]
    assert titles == sorted(titles) and "build/torch-cpu/layers.py" in titles
    for layer in manifest["layers"]:
        data = blob(out, layer["digest"])
        assert len(data) == layer["size"]
        title = layer["annotations"]["org.opencontainers.image.title"]
        assert title.split("/")[1] == layer["annotations"]["dev.kernel-lock.variant"]
        cached = Path(env["HF_HUB_CACHE"]) / "kernels--kernels-test--noarch-demo" / "snapshots" / lock[0]["sha"] / title
        assert cached.read_bytes() == data
    # Dedupe: layers.py is the same in torch-cpu and torch-universal: one blob, two layers.
    digests = [layer["digest"] for layer in manifest["layers"]]
    assert len(set(digests)) == len(digests) - 1
    files = list((out / "blobs" / "sha256").iterdir())
    assert len(files) == len(set(digests)) + 3  # + config, manifest, lock index

    # Deterministic: a second run into another place gives the same bytes; the
    # same place is left untouched.
    again = tmp_path / "again"
    kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", again, "--tag", "v1", "--offline", env=env)
    assert tree_bytes(again) == tree_bytes(out)
    res = kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", out, "--tag", "v1", "--offline", env=env)
    assert "unchanged" in res.stdout
    # Another tag changes index.json only, swapped in atomically.
    kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", again, "--tag", "v1b", "--offline", env=env)
    changed = {k for k, v in tree_bytes(again).items() if tree_bytes(out).get(k) != v}
    assert changed == {"index.json"}

    # The tar form: the same files, deterministic, byte-identical across runs.
    tar1, tar2 = tmp_path / "a.tar", tmp_path / "b.tar"
    kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", tar1, "--tag", "v1", "--offline", env=env)
    kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", tar2, "--tag", "v1", "--offline", env=env)
    assert tar1.read_bytes() == tar2.read_bytes()
    with tarfile.open(tar1) as t:
        members = {m.name.rstrip("/"): m for m in t.getmembers()}
        assert all(m.mtime == 0 and m.uid == 0 for m in members.values())
        contents = {n: t.extractfile(m).read() for n, m in members.items() if m.isfile()}
    assert contents == tree_bytes(out)
    tar_fresh = offline_env(tmp_path / "tar-fresh", env)
    kl(kernel_lock_bin, "install", tar1, "--lockfile", proj / "kernel.lock", env=tar_fresh)
    kl(kernel_lock_bin, "verify", proj, env=tar_fresh)

    # Install from the layout into an empty cache, offline, checked against the lock: verify passes.
    fresh = offline_env(tmp_path / "fresh", env)
    res = kl(kernel_lock_bin, "install", out, "--lockfile", proj / "kernel.lock", env=fresh)
    assert "installed" in res.stdout
    assert (tmp_path / "fresh" / FOLDER / "refs" / "v1").read_text() == lock[0]["sha"]
    kl(kernel_lock_bin, "verify", proj, env=fresh)
    # A tampered blob: refused, nothing installed.
    victim = out / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]
    data = bytearray(victim.read_bytes())
    data[0] ^= 1
    victim.write_bytes(bytes(data))
    res = kl(kernel_lock_bin, "install", out, env=offline_env(tmp_path / "bad", env), check=False)
    assert res.returncode != 0 and "sha256" in res.stderr
    assert not (tmp_path / "bad" / FOLDER / "snapshots").exists()

    # A non-layout directory is never replaced.
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    res = kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", other, "--offline", env=env, check=False)
    assert res.returncode != 0 and "not an OCI layout" in res.stderr
    assert (other / "keep.txt").read_text() == "mine"


def test_skopeo_reads_and_copies_the_layout(kernel_lock_bin, oci_project, tmp_path):
    skopeo = shutil.which("skopeo")
    if not skopeo:
        pytest.skip("skopeo is not installed (Debian package skopeo; scripts/setup.sh installs it)")
    proj, env = oci_project
    out = tmp_path / "layout"
    tar = tmp_path / "layout.tar"
    kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", out, "--tag", "v1", env=env)
    kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", tar, "--tag", "v1", "--offline", env=env)
    top = json.loads((out / "index.json").read_text())["manifests"][0]

    def sk(*args):
        proc = subprocess.run([skopeo, "--insecure-policy", *map(str, args)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"skopeo {args} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    for ref in (f"oci:{out}:v1", f"oci-archive:{tar}:v1"):
        raw = sk("inspect", "--raw", ref)
        assert hashlib.sha256(raw.encode()).hexdigest() == top["digest"].split(":")[1]
        assert json.loads(raw)["annotations"]["dev.kernel-lock.artifact-type"] == LOCK_TYPE
    # Copy every kernel manifest with its blobs to another OCI layout: the same blobs, bit for bit.
    copy = tmp_path / "copy"
    sk("copy", "--all", "--preserve-digests", f"oci:{out}:v1", f"oci:{copy}:v1")
    ours = {p.name: p.read_bytes() for p in (out / "blobs" / "sha256").iterdir()}
    theirs = {p.name: p.read_bytes() for p in (copy / "blobs" / "sha256").iterdir()}
    assert theirs == ours
    # skopeo rewrites index.json only; we install from its copy.
    fresh = offline_env(tmp_path / "fresh", env)
    kl(kernel_lock_bin, "install", copy, "--tag", "v1", "--lockfile", proj / "kernel.lock", env=fresh)
    kl(kernel_lock_bin, "verify", proj, env=fresh)


def test_oras_sdk_reads_the_layout(kernel_lock_bin, oci_project, tmp_path):
    """The ORAS Python SDK (PyPI oras) validates the layout and walks it to every blob."""
    layout_mod = pytest.importorskip("oras.layout", reason="the oras Python SDK (PyPI oras) is not installed")
    proj, env = oci_project
    out = tmp_path / "layout"
    kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", out, "--tag", "v1", env=env)
    layout = layout_mod.Layout(str(out))  # validates oci-layout, index.json, blobs/
    blobs = layout.get_ordered_blobs("v1")
    on_disk = {"sha256:" + p.name for p in (out / "blobs" / "sha256").iterdir()}
    assert set(blobs) == on_disk and len(blobs) == len(on_disk)
    # Layers come before their config and manifest, the lock index last (push order).
    index = json.loads((out / "index.json").read_text())
    assert blobs[-1] == index["manifests"][0]["digest"]


def test_signed_lock_layout_carries_the_trusted_root(kernel_lock_bin, fixture_hub, hub_server, hf_env, tmp_path):
    """A layout of a lock that pins signatures carries the trusted root (one manifest of its own,
    the file byte for byte, its capture time); install checks its age, stores it, and checks the
    pinned signatures with it; a stale one is refused with exit 10 and nothing is installed."""
    root = fixture_hub / ".sigstore-pki" / "trusted_root.json"
    if not root.is_file():
        pytest.skip("the fixture Hub has no signed kernels (compiled kernels not built)")
    env = hf_env(hub_server, HF_HUB_CACHE=str(tmp_path / "cache"))
    proj = tmp_path / "signed"
    proj.mkdir()
    (proj / "kernels.yaml").write_text("kernels:\n  kernels-test/activation: 2\n")
    kl(kernel_lock_bin, "resolve", proj, "--trusted-root", root, env=env)
    out = tmp_path / "signed-layout"
    kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", out, "--trusted-root", root, env=env)
    top = json.loads((out / "index.json").read_text())["manifests"][0]
    lock_index = json.loads(blob(out, top["digest"]))
    trust = [m for m in lock_index["manifests"] if m.get("artifactType") == "application/vnd.kernel-lock.trusted-root.v1+json"]
    assert len(trust) == 1 and len(lock_index["manifests"]) == 2
    manifest = json.loads(blob(out, trust[0]["digest"]))
    layer = manifest["layers"][0]
    assert layer["mediaType"] == "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    assert blob(out, layer["digest"]) == root.read_bytes()
    assert layer["annotations"]["dev.kernel-lock.captured-at"].endswith("Z")

    fresh = offline_env(tmp_path / "fresh", env)
    res = kl(kernel_lock_bin, "install", out, "--lockfile", proj / "kernel.lock", env=fresh)
    assert "signed by" in res.stdout + res.stderr
    assert (tmp_path / "fresh" / ".kernel-lock-trust" / "trusted_root.json").read_bytes() == root.read_bytes()
    kl(kernel_lock_bin, "verify", proj, env=fresh)

    stale = tmp_path / "stale-layout"
    kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", stale, "--trusted-root", root,
       "--captured-at", "2020-01-01T00:00:00Z", "--trust-max-age", "100000", env=env)
    stale_env = offline_env(tmp_path / "stale-cache", env)
    res = kl(kernel_lock_bin, "install", stale, "--lockfile", proj / "kernel.lock", env=stale_env, check=False)
    assert res.returncode == 10, res.stderr
    assert not (tmp_path / "stale-cache" / "kernels--kernels-test--activation" / "snapshots").exists()
