"""Writing an HF cache and a kernel.lock by hand, for e2e tests that need a
cache in a known state without the CLI (docs/hf-cache.md, docs/formats.md)."""

import hashlib
import json
import os
from pathlib import Path

REPO_ID = "kernels-test/activation"
SHA = "a" * 40


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def install(variant_dir: Path, cache: Path, repo_id: str = REPO_ID, sha: str = SHA, per_file: bool = True) -> dict:
    """HF cache layout + lock entry for one variant (.so as LFS, the rest git blobs)."""
    repo = cache / ("kernels--" + repo_id.replace("/", "--"))
    variant = variant_dir.name
    files = []
    for f in sorted(p for p in variant_dir.rglob("*") if p.is_file()):
        rel = f.relative_to(variant_dir).as_posix()
        if rel.endswith(".pyc") or "__pycache__" in rel.split("/"):
            continue
        data = f.read_bytes()
        lfs = rel.endswith(".so")
        digest = hashlib.sha256(data).hexdigest() if lfs else git_blob_sha1(data)
        blob = repo / "blobs" / digest
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / sha / "build" / variant / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
        files.append({"path": rel, "size": len(data), "digest": digest, "kind": "sha256" if lfs else "git-sha1"})
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f["path"].encode()):
        h.update(f["path"].encode())
        h.update(bytes.fromhex(f["digest"]))
    entry = {"repo_id": repo_id, "sha": sha,
             "variants": {variant: {"hash": "sha256-" + h.hexdigest(), "hash_type": "git_lfs_concat"}}}
    if per_file:
        entry["files"] = {variant: files}
    return entry


def write_lock(path: Path, entries: list[dict]) -> Path:
    path.write_text(json.dumps(sorted(entries, key=lambda e: e["repo_id"]), indent=2) + "\n")
    return path
