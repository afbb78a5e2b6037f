"""Stock Python clients (huggingface_hub, kernels) against the kernel-lock mirror
(`kernel-lock-dev serve`: the product's serve loop over the fixture Hub, with faults).

Every client runs in a subprocess with HF_ENDPOINT pointed at the mirror
(conftest.hf_env), because huggingface_hub reads its settings at import time.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SOURCE_DIR, last_json, run_python

HUB_SRC = SOURCE_DIR / "fixtures" / "hub-src"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def refs_of(hub: Path, repo_type: str, repo_id: str) -> dict:
    org, name = repo_id.split("/")
    return json.loads((hub / "repos" / repo_type / org / name / "refs.json").read_text())


def weights_bytes() -> bytes:
    # fixtures/build_fixture_hub.sh: pattern_bytes 300000 "kernel-lock fixture weights"
    line = b"kernel-lock fixture weights\n"
    return (line * (300000 // len(line) + 1))[:300000]


# ----------------------------------------------------------------- downloads


def test_snapshot_download_kernel_branch_and_cache_layout(hub_server, hf_env, fixture_hub):
    env = hf_env(hub_server)
    proc = run_python(
        """
import json
from huggingface_hub import snapshot_download
path = snapshot_download("kernels-test/noarch-demo", repo_type="kernel", revision="v1")
print(json.dumps({"path": path}))
""",
        env,
    )
    snapshot = Path(last_json(proc)["path"])
    v1 = refs_of(fixture_hub, "kernel", "kernels-test/noarch-demo")["branches"]["v1"]
    assert snapshot.name == v1
    # Same bytes as the sources; README kept from main by `publish --under build`.
    for rel in ["build/torch-cpu/__init__.py", "build/torch-cpu/layers.py", "build/torch-universal/metadata.json"]:
        assert (snapshot / rel).read_bytes() == (HUB_SRC / "noarch-demo" / "v1.1" / rel).read_bytes()
    assert (snapshot / "README.md").read_bytes() == (HUB_SRC / "noarch-demo" / "main" / "README.md").read_bytes()
    # Cache layout: blobs named by the ETag (git blob sha1 here), refs/v1 without newline.
    repo_cache = Path(env["HF_HUB_CACHE"]) / "kernels--kernels-test--noarch-demo"
    init = snapshot / "build/torch-cpu/__init__.py"
    assert init.is_symlink()
    assert Path(os.readlink(init)).name == git_blob_sha1(init.read_bytes())
    assert (repo_cache / "refs" / "v1").read_text() == v1


def test_snapshot_download_model_with_lfs(hub_server, hf_env, fixture_hub):
    env = hf_env(hub_server)
    proc = run_python(
        """
import json
from huggingface_hub import snapshot_download
print(json.dumps({"path": snapshot_download("kernels-test/model-demo")}))
""",
        env,
    )
    snapshot = Path(last_json(proc)["path"])
    weights = snapshot / "weights.bin"
    data = weights.read_bytes()
    assert data == weights_bytes()
    assert Path(os.readlink(weights)).name == hashlib.sha256(data).hexdigest()  # LFS: sha256 ETag
    assert json.loads((snapshot / "config.json").read_text())["hidden_size"] == 128
    assert snapshot.name == refs_of(fixture_hub, "model", "kernels-test/model-demo")["branches"]["main"]


def test_hf_hub_download_by_tag_and_branch_with_slash(hub_server, hf_env):
    env = hf_env(hub_server)
    proc = run_python(
        """
import json
from huggingface_hub import hf_hub_download
r1 = hf_hub_download("kernels-test/model-demo", "config.json", revision="r1")
dev = hf_hub_download("kernels-test/model-demo", "config.json", revision="dev/next")
w = hf_hub_download("kernels-test/model-demo", "weights.bin", revision="r2")
print(json.dumps({"r1": json.load(open(r1)), "dev": json.load(open(dev)), "weights": w}))
""",
        env,
    )
    out = last_json(proc)
    assert out["r1"]["hidden_size"] == 64
    assert out["dev"]["hidden_size"] == 64
    assert Path(out["weights"]).read_bytes() == weights_bytes()
    heads = [r for r in hub_server.requests() if r["method"] == "HEAD"]
    assert {r["path"] for r in heads} >= {
        "/kernels-test/model-demo/resolve/r1/config.json",
        "/kernels-test/model-demo/resolve/dev%2Fnext/config.json",
    }


def test_missing_entries_revisions_repos_and_kernel_status(hub_server, hf_env):
    env = hf_env(hub_server)
    proc = run_python(
        """
import json
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError, RepositoryNotFoundError, GatedRepoError
from kernels.status import KernelStatus
out = {}
def kind(fn):
    try:
        fn()
        return "ok"
    except GatedRepoError:
        return "gated"
    except EntryNotFoundError:
        return "entry"
    except RevisionNotFoundError:
        return "revision"
    except RepositoryNotFoundError:
        return "repo"
out["entry"] = kind(lambda: hf_hub_download("kernels-test/noarch-demo", "kernel-status.toml", repo_type="kernel", revision="v1"))
out["revision"] = kind(lambda: hf_hub_download("kernels-test/noarch-demo", "README.md", repo_type="kernel", revision="v9"))
out["repo"] = kind(lambda: hf_hub_download("kernels-test/nope", "README.md", repo_type="kernel"))
out["gated"] = kind(lambda: hf_hub_download("kernels-test/gated-demo", "config.json"))
out["status"] = KernelStatus.check_status(HfApi(), "kernels-test/noarch-demo", "v1") is None
api = HfApi()
out["file_exists"] = [api.file_exists("kernels-test/noarch-demo", "README.md", repo_type="kernel"),
                      api.file_exists("kernels-test/noarch-demo", "nope.txt", repo_type="kernel")]
print(json.dumps(out))
""",
        env,
    )
    out = last_json(proc)
    assert out == {"entry": "entry", "revision": "revision", "repo": "repo", "gated": "gated", "status": True,
                   "file_exists": [True, False]}
    codes = {r["error_code"] for r in hub_server.requests()}
    assert {"EntryNotFound", "RevisionNotFound", "RepoNotFound", "GatedRepo"} <= codes


# ------------------------------------------------------------------ metadata


def test_list_repo_refs_and_repo_info(hub_server, hf_env, fixture_hub):
    env = hf_env(hub_server)
    proc = run_python(
        """
import json
from huggingface_hub import HfApi
api = HfApi()
refs = api.list_repo_refs("kernels-test/noarch-demo", repo_type="kernel")
info = api.repo_info("kernels-test/noarch-demo", repo_type="kernel", revision="v1.0.0")
model = api.model_info("kernels-test/model-demo", files_metadata=True)
short = api.repo_info("kernels-test/noarch-demo", repo_type="kernel", revision=info.sha[:10])
print(json.dumps({
    "branches": {b.name: b.target_commit for b in refs.branches},
    "tags": {t.name: t.target_commit for t in refs.tags},
    "info_sha": info.sha,
    "short_sha": short.sha,
    "last_modified": info.last_modified.isoformat(),
    "siblings": {s.rfilename: [s.size, s.blob_id, s.lfs.sha256 if s.lfs else None] for s in model.siblings},
    "revision_exists": [api.revision_exists("kernels-test/noarch-demo", "v2", repo_type="kernel"),
                        api.revision_exists("kernels-test/noarch-demo", "v3", repo_type="kernel")],
}))
""",
        env,
    )
    out = last_json(proc)
    refs = refs_of(fixture_hub, "kernel", "kernels-test/noarch-demo")
    assert out["branches"] == refs["branches"]
    assert out["tags"] == refs["tags"]
    assert set(out["tags"]) == {"v1.0.0", "v1.1.0", "v2.0.0"}
    assert out["info_sha"] == refs["tags"]["v1.0.0"] != refs["branches"]["v1"]
    assert out["short_sha"] == out["info_sha"]
    assert out["last_modified"].startswith("2026-01-")
    weights = out["siblings"]["weights.bin"]
    assert weights[0] == 300000
    assert weights[2] == hashlib.sha256(weights_bytes()).hexdigest()
    assert out["revision_exists"] == [True, False]


def test_list_repo_tree_paginated(start_hub_server, hf_env):
    server = start_hub_server(page_size=7)
    env = hf_env(server)
    proc = run_python(
        """
import json
from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoFile, RepoFolder
api = HfApi()
entries = list(api.list_repo_tree("kernels-test/many-files", repo_type="kernel", recursive=True))
build = list(api.list_repo_tree("kernels-test/many-files", path_in_repo="data/group03", repo_type="kernel"))
files = [e.path for e in entries if isinstance(e, RepoFile)]
folders = {e.path: e.tree_id for e in entries if isinstance(e, RepoFolder)}
print(json.dumps({"files": files, "folders": folders, "group03": sorted(e.path for e in build)}))
""",
        env,
    )
    out = last_json(proc)
    assert len(out["files"]) == 150 + 1  # data items + README
    assert len(set(out["files"])) == len(out["files"])
    assert "data/group04/sub2/item09.txt" in out["files"]
    assert len(out["folders"]) == 1 + 5 + 15  # data, groups, subs
    assert all(len(oid) == 40 for oid in out["folders"].values())
    assert out["group03"] == ["data/group03/sub0", "data/group03/sub1", "data/group03/sub2"]
    tree_requests = [r for r in server.requests() if "/tree/" in r["path"] and "recursive=true" in r["query"]]
    assert len(tree_requests) == -(-(151 + 21) // 7)  # ceil: every page fetched once
    assert sum("cursor=" in r["query"] for r in tree_requests) == len(tree_requests) - 1
    # Python sends the path %2F-encoded.
    assert any(r["path"].endswith("/tree/main/data%2Fgroup03") for r in server.requests())


# ------------------------------------------------------------------- kernels


def test_kernels_get_kernel_loads_noarch_variant(hub_server, hf_env, fixture_hub):
    env = hf_env(hub_server)
    proc = run_python(
        """
import json, torch
from kernels import get_kernel, has_kernel
v1 = get_kernel("kernels-test/noarch-demo", version=1)
v2 = get_kernel("kernels-test/noarch-demo", version=2)
cpu = get_kernel("kernels-test/noarch-demo", version=2, backend="cpu")
tag = get_kernel("kernels-test/noarch-demo", revision="v1.0.0")
print(json.dumps({
    "cuda_torch": torch.version.cuda is not None,
    "v1": [v1.VERSION, v1.VARIANT, v1.add_one(torch.tensor([1.0, 2.0])).tolist(), hasattr(v1, "layers")],
    "v2": [v2.VERSION, v2.VARIANT, v2.add_n(torch.tensor([1.0]), 5).tolist()],
    "cpu": [cpu.VERSION, cpu.VARIANT],
    "tag": [tag.VERSION, hasattr(tag, "layers")],
    "has": has_kernel("kernels-test/noarch-demo", version=2),
    "file": v1.__file__,
}))
""",
        env,
    )
    out = last_json(proc)
    # kernels picks noarch variants by torch's backend: a CUDA build of torch
    # takes torch-cuda, else falls back to torch-universal; a CPU torch takes torch-cpu.
    cuda = out["cuda_torch"]
    assert out["v1"] == ["1.1.0", "torch-universal" if cuda else "torch-cpu", [2.0, 3.0], True]
    assert out["v2"] == ["2.0.0", "torch-cuda" if cuda else "torch-cpu", [6.0]]
    assert out["cpu"] == ["2.0.0", "torch-cpu"]
    assert out["tag"] == ["1.0.0", False]
    assert out["has"] is True
    v1 = refs_of(fixture_hub, "kernel", "kernels-test/noarch-demo")["branches"]["v1"]
    assert f"kernels--kernels-test--noarch-demo/snapshots/{v1}/build/" in out["file"]
    paths = [r["path"] for r in hub_server.requests()]
    assert "/api/organizations/kernels-test/overview" in paths  # the trust check went to the mirror
    assert "/api/kernels/kernels-test/noarch-demo/refs" in paths
    # Only selected variants were downloaded, and never the stale .pyc.
    downloaded = {p.split("/build/")[1].split("/")[0] for p in paths if "/resolve/" in p and "/build/" in p}
    assert downloaded == ({"torch-universal", "torch-cuda", "torch-cpu"} if cuda else {"torch-cpu"})
    v1_variants = {p.split("/build/")[1].split("/")[0] for p in paths if "/resolve/" in p and "/build/" in p and f"/{v1}/" in p}
    assert len(v1_variants) <= 1
    assert not any(p.endswith(".pyc") for p in paths)


def test_kernels_untrusted_publisher_is_refused(start_hub_server, hf_env):
    server = start_hub_server(None, "--untrusted-org", "kernels-test")
    proc = run_python(
        """
from kernels import get_kernel
try:
    get_kernel("kernels-test/noarch-demo", version=1)
    print("loaded")
except ValueError as e:
    print("refused" if "not from a trusted publisher" in str(e) else repr(e))
""",
        hf_env(server),
    )
    assert proc.stdout.strip().splitlines()[-1] == "refused"


def test_kernels_lock_cli(hub_server, hf_env, fixture_hub, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\n\n[tool.kernels.dependencies]\n"kernels-test/noarch-demo" = 1\n'
    )
    kernels_cli = Path(sys.executable).parent / "kernels"
    proc = subprocess.run([str(kernels_cli), "lock", str(project)], env=hf_env(hub_server), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    lock = json.loads((project / "kernels.lock").read_text())
    assert "kernels-test/noarch-demo" in json.dumps(lock)
    v1 = refs_of(fixture_hub, "kernel", "kernels-test/noarch-demo")["branches"]["v1"]
    assert v1 in json.dumps(lock)
    # `kernels lock` read every variant's metadata.json of v1 from the mirror.
    paths = [r["path"] for r in hub_server.requests() if r["status"] == 200]
    assert any(p.endswith("/build/torch-cpu/metadata.json") for p in paths)
    assert any(p.endswith("/build/torch-universal/metadata.json") for p in paths)


# ---------------------------------------------------------------------- auth


def test_token_auth(start_hub_server, hf_env):
    server = start_hub_server(token="s3cret")
    code = """
import json
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
out = {}
try:
    out["refs"] = len(HfApi().list_repo_refs("kernels-test/noarch-demo", repo_type="kernel").branches)
except RepositoryNotFoundError:
    out["refs"] = "repo-not-found"
except HfHubHTTPError as e:
    out["refs"] = e.response.status_code
try:
    out["gated"] = open(hf_hub_download("kernels-test/gated-demo", "config.json")).read()
except HfHubHTTPError as e:
    out["gated"] = e.response.status_code if e.response is not None else type(e).__name__
print(json.dumps(out))
"""
    anonymous = last_json(run_python(code, hf_env(server)))
    assert anonymous["refs"] == "repo-not-found"
    wrong = last_json(run_python(code, hf_env(server, token="wrong")))
    assert wrong["refs"] == 401
    good = last_json(run_python(code, hf_env(server, token="s3cret")))
    assert good["refs"] == 3
    assert json.loads(good["gated"]) == {"secret": True}
    statuses = [r["status"] for r in server.requests()]
    assert statuses.count(401) >= 2
    assert all(r["authorized"] for r in server.requests() if r["status"] == 200)


# -------------------------------------------------------------------- faults

DOWNLOAD_WEIGHTS = """
import json, hashlib, time
from huggingface_hub import hf_hub_download
t = time.time()
path = hf_hub_download("kernels-test/model-demo", "weights.bin")
data = open(path, "rb").read()
print(json.dumps({"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "seconds": time.time() - t}))
"""
WEIGHTS_GET = "^GET /kernels-test/model-demo/resolve/main/weights.bin"


def weights_gets(server):
    return [r for r in server.requests() if r["method"] == "GET" and r["path"].endswith("/weights.bin")]


def test_fault_429_is_retried_after_retry_after(start_hub_server, hf_env):
    server = start_hub_server(faults={"429-rate": 1, "times": 1, "match": WEIGHTS_GET, "retry-after": 1})
    out = last_json(run_python(DOWNLOAD_WEIGHTS, hf_env(server)))
    assert out["sha256"] == hashlib.sha256(weights_bytes()).hexdigest()
    gets = weights_gets(server)
    assert [r["status"] for r in gets] == [429, 200]
    assert out["seconds"] >= 1.0


def large_bytes() -> bytes:
    line = b"kernel-lock large fixture file\n"
    return (line * (25165824 // len(line) + 1))[:25165824]


def test_fault_truncate_is_resumed_with_range(start_hub_server, hf_env):
    # huggingface_hub hands data to the file in 10 MiB chunks, so only a cut
    # after the first chunk leaves something to resume from: the 24 MiB file is
    # cut at 12 MiB.
    match = "^GET /kernels-test/large-demo/resolve/main/large.bin"
    server = start_hub_server(faults={"truncate-rate": 1, "times": 1, "match": match})
    proc = run_python(
        """
import json, hashlib
from huggingface_hub import hf_hub_download
data = open(hf_hub_download("kernels-test/large-demo", "large.bin"), "rb").read()
print(json.dumps({"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}))
""",
        hf_env(server),
    )
    out = last_json(proc)
    assert out == {"size": 25165824, "sha256": hashlib.sha256(large_bytes()).hexdigest()}
    gets = [r for r in server.requests() if r["method"] == "GET" and r["path"].endswith("/large.bin")]
    assert gets[0]["fault"] == "truncate"
    assert gets[1]["status"] == 206
    assert gets[1]["range"] == f"bytes={10 * 1024 * 1024}-"


def test_fault_truncate_of_a_small_file_restarts(start_hub_server, hf_env):
    server = start_hub_server(faults={"truncate-rate": 1, "times": 1, "match": WEIGHTS_GET})
    out = last_json(run_python(DOWNLOAD_WEIGHTS, hf_env(server)))
    assert out["sha256"] == hashlib.sha256(weights_bytes()).hexdigest()
    gets = weights_gets(server)
    assert [g["fault"] for g in gets] == ["truncate", ""]
    assert [g["status"] for g in gets] == [200, 200]


def test_fault_reset_is_retried(start_hub_server, hf_env):
    server = start_hub_server(faults={"reset-rate": 1, "times": 1, "match": WEIGHTS_GET})
    out = last_json(run_python(DOWNLOAD_WEIGHTS, hf_env(server)))
    assert out["sha256"] == hashlib.sha256(weights_bytes()).hexdigest()
    gets = weights_gets(server)
    assert gets[0]["fault"] == "reset"
    assert len(gets) == 2


def test_fault_5xx_on_later_tree_pages_is_retried_and_on_head_surfaces(start_hub_server, hf_env):
    server = start_hub_server(page_size=50, faults={"5xx-rate": 1, "times": 1, "match": "cursor="})
    proc = run_python(
        """
import json
from huggingface_hub import HfApi
print(json.dumps(len(list(HfApi().list_repo_tree("kernels-test/many-files", repo_type="kernel", recursive=True)))))
""",
        hf_env(server),
    )
    assert last_json(proc) == 151 + 21
    faulted = [r for r in server.requests() if r["fault"] == "5xx"]
    assert faulted and all(500 <= r["status"] <= 504 for r in faulted)

    # The first tree page is not retried by the client: the error reaches the caller.
    failing = start_hub_server(faults={"5xx-rate": 1, "match": "/tree/"})
    proc = run_python(
        """
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
try:
    list(HfApi().list_repo_tree("kernels-test/many-files", repo_type="kernel"))
    print("ok")
except HfHubHTTPError as e:
    print(e.response.status_code)
""",
        hf_env(failing),
    )
    assert 500 <= int(proc.stdout.split()[-1]) <= 504


def test_fault_corrupt_is_not_detected_by_python_but_by_checksums(start_hub_server, hf_env):
    server = start_hub_server(faults={"corrupt-rate": 1, "match": WEIGHTS_GET})
    out = last_json(run_python(DOWNLOAD_WEIGHTS, hf_env(server)))
    # huggingface_hub checks sizes only: the flipped byte lands in the cache.
    assert out["size"] == 300000
    assert out["sha256"] != hashlib.sha256(weights_bytes()).hexdigest()
    assert weights_gets(server)[0]["fault"] == "corrupt"


def test_fault_latency_and_determinism(start_hub_server, hf_env):
    server = start_hub_server(faults={"latency-ms": 300, "match": "/refs"})
    t = time.time()
    run_python(
        "from huggingface_hub import HfApi; HfApi().list_repo_refs('kernels-test/noarch-demo', repo_type='kernel')",
        hf_env(server),
    )
    assert time.time() - t >= 0.3

    def statuses(seed):
        s = start_hub_server(faults={"seed": seed, "429-rate": 0.5, "match": "/refs"})
        proc = run_python(
            """
import json
from huggingface_hub import get_session
from huggingface_hub import constants
out = [get_session().get(constants.ENDPOINT + "/api/kernels/kernels-test/noarch-demo/refs").status_code for _ in range(16)]
print(json.dumps(out))
""",
            hf_env(s),
        )
        return last_json(proc)

    first = statuses(11)
    assert first == statuses(11)
    assert set(first) == {200, 429}


def test_serve_stops_cleanly_on_sigterm(hub_server):
    assert hub_server.stop() == 0
    assert "stopped after" in hub_server.stderr()
