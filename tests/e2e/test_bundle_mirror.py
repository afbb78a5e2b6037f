"""A mirror from a bundle or an installed cache: `kernel-lock serve BUNDLE` and
`kernel-lock serve CACHE_DIR` answer stock huggingface_hub / kernels clients
and our own resolver. Also shows why a plain static file server cannot stand
in for it (no X-Repo-Commit / git ETag headers, no JSON API).
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import last_json, run_python
from test_bundle_airgap import FOLDER, KERNEL, kl, make_project, resolve_and_bundle


@pytest.fixture
def bundled(kernel_lock_bin, hub_server, hf_env, tmp_path):
    proj, bundle, env = resolve_and_bundle(kernel_lock_bin, hub_server, hf_env, tmp_path, {KERNEL: 1})
    lock = json.loads((proj / "kernel.lock").read_text())
    hub_server.stop()
    return proj, bundle, lock


def _client_roundtrip(server, hf_env, lock, tmp_path, name):
    sha = lock[0]["sha"]
    env = hf_env(server, HF_HOME=str(tmp_path / f"home-{name}"), HF_HUB_CACHE=str(tmp_path / f"home-{name}" / "hub"))
    code = f"""
import json, torch
from huggingface_hub import snapshot_download, hf_hub_download
from kernels import get_kernel
k = get_kernel({KERNEL!r}, version=1, trust_remote_code=True)
snap = snapshot_download({KERNEL!r}, repo_type="kernel", revision={sha!r})
f = hf_hub_download({KERNEL!r}, "build/torch-universal/__init__.py", repo_type="kernel", revision="v1")
print(json.dumps({{"out": k.add_one(torch.tensor([41.0])).tolist(), "snap": snap, "f": f}}))
"""
    res = last_json(run_python(code, env))
    assert res["out"] == [42.0]
    assert res["snap"].endswith(sha)
    assert Path(res["f"]).read_text()


@pytest.mark.parametrize("source", ["bundle", "cache"])
def test_serve_bundle_or_cache(source, kernel_lock_bin, bundled, start_hub_server, hf_env, tmp_path):
    proj, bundle, lock = bundled
    if source == "bundle":
        target = bundle
    else:
        target = tmp_path / "served-cache"
        kl(kernel_lock_bin, "install", bundle, "--cache", target)
    server = start_hub_server(target, product=True)
    _client_roundtrip(server, hf_env, lock, tmp_path, source)

    # Our resolver against the mirror locks the same commit and hashes.
    proj2 = make_project(tmp_path / "again", {KERNEL: 1})
    kl(kernel_lock_bin, "resolve", proj2, env=hf_env(server, HF_HUB_CACHE=str(tmp_path / "rc")))
    lock2 = json.loads((proj2 / "kernel.lock").read_text())
    assert lock2[0]["sha"] == lock[0]["sha"]
    assert lock2[0]["variants"] == lock[0]["variants"]


def test_plain_static_server_is_not_enough(kernel_lock_bin, bundled, hf_env, tmp_path):
    """Files laid out at the URL paths the client asks for, served by a plain
    static server (python http.server): huggingface_hub refuses it, because a
    resolve response must carry X-Repo-Commit and a git/LFS ETag (and the API
    answers must be JSON at paths without extensions). `kernel-lock serve` is
    the supported mirror."""
    proj, bundle, lock = bundled
    sha = lock[0]["sha"]
    cache = tmp_path / "c"
    kl(kernel_lock_bin, "install", bundle, "--cache", cache)
    root = tmp_path / "static"
    snap = cache / "kernels--kernels-test--noarch-demo" / "snapshots" / sha
    for f in snap.rglob("*"):
        if f.is_file():
            for rev in (sha, "v1"):
                dest = root / "kernels" / KERNEL / "resolve" / rev / f.relative_to(snap)
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(f.read_bytes())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        code = f"""
import json
from huggingface_hub import hf_hub_download
try:
    hf_hub_download({KERNEL!r}, "build/torch-cpu/__init__.py", repo_type="kernel", revision={sha!r})
    print(json.dumps({{"ok": True}}))
except Exception as e:
    print(json.dumps({{"ok": False, "error": type(e).__name__, "msg": str(e)[:300]}}))
"""
        res = last_json(run_python(code, hf_env(url)))
        assert res["ok"] is False, "a plain static server unexpectedly satisfied huggingface_hub"
    finally:
        httpd.shutdown()


@pytest.mark.parametrize("source", ["bundle", "cache", "foreign-cache"])
def test_tags_survive_serving_a_bundle_or_cache(source, kernel_lock_bin, kernel_lock_dev_bin, make_fixture_hub,
                                                start_hub_server, hf_env, tmp_path):
    """Issue 14 item 7: two kernels locked at tags, v1.1.0 (release-shaped) and
    `stable` (no '.'), are bundled; the bundle records each ref's kind (the
    manifest's `tags`, from the Hub's refs), install keeps it in the cache's
    .kernel-lock-refs.json, and the mirror of that bundle or installed cache
    reports both as tags (and not as branches), so a `tags` range resolves
    against it to the same commit. A cache without the side file (one that came
    from elsewhere) falls back to the name heuristic: a dotted ref is a branch and
    a tag, `stable` a branch only (docs/hf-cache.md "Ref kinds")."""

    def project(where: Path, spec: str) -> Path:
        where.mkdir(parents=True)
        (where / "pyproject.toml").write_text(f'[tool.kernels.dependencies]\n"{KERNEL}" = {spec}\n')
        return where

    hub_dir = make_fixture_hub()
    subprocess.run([str(kernel_lock_dev_bin), "-q", "hub", "tag", "--hub", str(hub_dir), "--repo", KERNEL, "stable",
                    "v1.1.0"], check=True, capture_output=True)
    hub_server = start_hub_server(hub_dir)
    online = hf_env(hub_server, HF_HUB_CACHE=str(tmp_path / "online-cache"))
    shas = {}
    bundles = {}
    for tag in ("v1.1.0", "stable"):
        proj = project(tmp_path / f"proj-{tag}", f'{{ revision = "{tag}" }}')
        kl(kernel_lock_bin, "resolve", proj, env=online)
        bundles[tag] = tmp_path / f"{tag}.tar.zst"
        kl(kernel_lock_bin, "bundle", proj, "-o", bundles[tag], env=online)
        shas[tag] = json.loads((proj / "kernel.lock").read_text())[0]["sha"]
    assert shas["v1.1.0"] == shas["stable"]
    sha = shas["v1.1.0"]
    hub_server.stop()

    # Both bundles say their ref is a tag.
    for tag, bundle in bundles.items():
        raw = subprocess.run(["tar", "--zstd", "-xOf", str(bundle), "kernel-lock-bundle.json"], capture_output=True,
                             check=True).stdout
        kernel = json.loads(raw)["kernels"][0]
        assert (kernel["refs"], kernel["tags"]) == ([tag], [tag])

    cache = tmp_path / "served-cache"
    for bundle in bundles.values():
        kl(kernel_lock_bin, "install", bundle, "--cache", cache)
    side = json.loads((cache / FOLDER / ".kernel-lock-refs.json").read_text())
    assert side == {"format": "kernel-lock-refs", "format_version": 1, "branches": [], "tags": ["stable", "v1.1.0"]}
    if source == "foreign-cache":
        (cache / FOLDER / ".kernel-lock-refs.json").unlink()
    target = bundles["v1.1.0"] if source == "bundle" else cache
    server = start_hub_server(target, product=True)
    refs = last_json(run_python(
        "import json\nfrom huggingface_hub import HfApi\n"
        f"r = HfApi().list_repo_refs({KERNEL!r}, repo_type='kernel')\n"
        "print(json.dumps({'tags': {t.name: t.target_commit for t in r.tags},"
        " 'branches': {b.name: b.target_commit for b in r.branches}}))",
        hf_env(server, HF_HUB_CACHE=str(tmp_path / "py-cache")),
    ))
    if source == "bundle":
        assert refs == {"tags": {"v1.1.0": sha}, "branches": {}}
    elif source == "cache":
        assert refs == {"tags": {"stable": sha, "v1.1.0": sha}, "branches": {}}
    else:  # the heuristic
        assert refs == {"tags": {"v1.1.0": sha}, "branches": {"stable": sha, "v1.1.0": sha}}
    # The tag range of the issue, through the mirror: the v1.1.0 tag.
    again = project(tmp_path / "again", '">=1,<2"')
    kl(kernel_lock_bin, "resolve", again, env=hf_env(server, HF_HUB_CACHE=str(tmp_path / "rc")))
    assert json.loads((again / "kernel.lock").read_text())[0]["sha"] == sha
