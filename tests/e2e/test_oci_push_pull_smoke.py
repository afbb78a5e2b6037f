"""`kernel-lock push` / `pull` against a real registry (Debian's docker-registry,
distribution 2.8) on loopback: push the fixture lock as an OCI layout, push again
(every blob skipped), pull into a fresh cache and check the installed files,
and a missing tag names the tags there are.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from test_bundle_airgap import kl, make_project, KERNEL

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry(tmp_path):
    if not Path(REGISTRY).exists():
        pytest.skip("docker-registry is not installed")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'registry-data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            break
        except Exception:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("docker-registry did not start: " + proc.stderr.read().decode(errors="replace")[-2000:])
            time.sleep(0.2)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def test_push_pull_roundtrip(kernel_lock_bin, hub_server, hf_env, registry, tmp_path):
    env = hf_env(hub_server, HF_HUB_CACHE=str(tmp_path / "cache"))
    env["KERNEL_LOCK_OCI_RETRIES"] = "2"
    env["KERNEL_LOCK_OCI_BACKOFF_MS"] = "10"
    proj = make_project(tmp_path, {KERNEL: 1})
    kl(kernel_lock_bin, "resolve", proj, env=env)
    layout = tmp_path / "layout"
    kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", layout, "--tag", "v1", env=env)
    ref = f"oci://{registry}/kernels/fleet:v1"

    first = kl(kernel_lock_bin, "push", layout, ref, "--chunk-size", "4096", env=env)
    assert "blob(s) uploaded" in first.stdout and " 0 skipped" in first.stdout
    again = kl(kernel_lock_bin, "push", layout, ref, env=env)
    assert " 0 blob(s) uploaded" in again.stdout and "0 bytes uploaded" in again.stdout
    # A bundle archive of the same lock pushes the same blobs (the layout writer is deterministic).
    archive = tmp_path / "fleet.tar.zst"
    kl(kernel_lock_bin, "bundle", proj, "-o", archive, env=env)
    from_bundle = kl(kernel_lock_bin, "push", archive, ref, env=env)
    assert " 0 blob(s) uploaded" in from_bundle.stdout

    fresh = tmp_path / "fresh"
    pulled = kl(kernel_lock_bin, "pull", ref, "--cache", fresh, "--all", env=env)
    assert f"installed {ref}: 1 kernel(s)" in pulled.stdout
    snapshots = list((fresh / "kernels--kernels-test--noarch-demo" / "snapshots").iterdir())
    assert len(snapshots) == 1
    cached = tmp_path / "cache" / "kernels--kernels-test--noarch-demo" / "snapshots" / snapshots[0].name
    for f in snapshots[0].rglob("*"):
        if f.is_file():
            assert f.read_bytes() == (cached / f.relative_to(snapshots[0])).read_bytes()

    # install oci:// is the same path; a missing tag names the tags there are.
    missing = subprocess.run([str(kernel_lock_bin), "install", f"oci://{registry}/kernels/fleet:nope", "--cache",
                              str(tmp_path / "other")], env=env, capture_output=True, text=True)
    assert missing.returncode != 0
    assert "tag 'nope' not found" in missing.stderr and "v1" in missing.stderr
    assert not (tmp_path / "other" / "kernels--kernels-test--noarch-demo").exists()


def test_serve_from_registry(kernel_lock_bin, hub_server, hf_env, registry, tmp_path):
    import json
    env = hf_env(hub_server, HF_HUB_CACHE=str(tmp_path / "cache"))
    proj = make_project(tmp_path, {KERNEL: 1})
    kl(kernel_lock_bin, "resolve", proj, env=env)
    layout = tmp_path / "layout"
    kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", layout, "--tag", "v1", env=env)
    ref = f"oci://{registry}/kernels/fleet:v1"
    kl(kernel_lock_bin, "push", layout, ref, env=env)
    lock = json.loads((proj / "kernel.lock").read_text())
    proc = subprocess.Popen([str(kernel_lock_bin), "serve", ref, "--cache", str(tmp_path / "served"), "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), proc.stderr.read() if proc.poll() is not None else url
        with urllib.request.urlopen(f"{url}/api/kernels/{KERNEL}/revision/{lock[0]['sha']}", timeout=10) as r:
            assert json.loads(r.read())["sha"] == lock[0]["sha"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
