"""Lock hygiene commands (docs/lock-commands.md): `tree`, `why`, `outdated` and
`diff` on locks resolved from the fixture Hub.

kernels-test/dep-demo v1 declares kernel-depends on noarch-demo and many-files
(version 1 each); noarch-demo has branches v1 (tags v1.0.0, v1.1.0) and v2 (tag
v2.0.0, with a torch-cuda variant v1 lacks), so a lock of version 1 is outdated.
"""

from __future__ import annotations

import json
import subprocess

import pytest

DEP = "kernels-test/dep-demo"
NOARCH = "kernels-test/noarch-demo"
MANY = "kernels-test/many-files"


def kl(bin_path, *args, env, expect=0, cwd=None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(bin_path), *map(str, args)], env=env, capture_output=True, text=True, timeout=300, cwd=cwd)
    assert proc.returncode == expect, (
        f"kernel-lock {' '.join(map(str, args))}: exit {proc.returncode}, expected {expect}\n{proc.stdout}\n{proc.stderr}")
    return proc


def resolve(bin_path, env, proj, kernels_yaml: str):
    proj.mkdir(parents=True, exist_ok=True)
    (proj / "kernels.yaml").write_text("targets:\n  os: [linux]\nkernels:\n" + kernels_yaml)
    kl(bin_path, "resolve", proj, env=env)
    return {k["repo_id"]: k for k in json.loads((proj / "kernel.lock").read_text())}


@pytest.fixture
def project(kernel_lock_bin, hub_server, hf_env, tmp_path):
    env = hf_env(hub_server)
    proj = tmp_path / "proj"
    lock = resolve(kernel_lock_bin, env, proj, f"  {DEP}: 1\n")
    return proj, env, lock


def short(lock, repo):
    return lock[repo]["sha"][:7]


def test_tree_draws_requirements_and_their_kernel_depends(kernel_lock_bin, project):
    proj, env, lock = project
    out = kl(kernel_lock_bin, "tree", env=env, cwd=proj).stdout
    assert out == (
        f"{DEP} v1 ({short(lock, DEP)})\n"
        f"├── {MANY} v1 ({short(lock, MANY)})\n"
        f"└── {NOARCH} v1 ({short(lock, NOARCH)})\n")
    assert kl(kernel_lock_bin, "tree", "--depth", "0", "--lock", proj / "kernel.lock", env=env).stdout == (
        f"{DEP} v1 ({short(lock, DEP)})\n")
    with_variants = kl(kernel_lock_bin, "tree", "--variants", "--lock", proj / "kernel.lock", env=env).stdout
    for repo, entry in lock.items():
        for variant in entry["variants"]:
            assert f"build/{variant}" in with_variants
    assert "├── build/torch-universal\n" in with_variants  # dep-demo's variant, before its kernel-depends


def test_why_draws_the_path_up_to_the_requirement(kernel_lock_bin, project):
    proj, env, lock = project
    out = kl(kernel_lock_bin, "why", MANY, "--lock", proj / "kernel.lock", env=env).stdout
    assert out == (
        f"{MANY} v1 ({short(lock, MANY)})\n"
        f"└── {DEP} v1 ({short(lock, DEP)})\n"
        f"    └── requirement: version 1 (kernel.lock)\n")


def test_why_falls_back_to_kernels_yaml_for_a_lock_without_requirements(kernel_lock_bin, project):
    proj, env, lock = project
    entries = json.loads((proj / "kernel.lock").read_text())
    for entry in entries:
        entry.pop("requirement", None)
    (proj / "kernel.lock").write_text(json.dumps(entries, indent=2) + "\n")
    out = kl(kernel_lock_bin, "why", DEP, env=env, cwd=proj).stdout
    assert out == f"{DEP} ({short(lock, DEP)})\n└── requirement: version 1 (./kernels.yaml)\n"
    # Without a requirement record, a kernel-depends edge is unknown: pinned only.
    out = kl(kernel_lock_bin, "why", MANY, env=env, cwd=proj).stdout
    assert out.endswith("└── requirement: any revision (./kernels.yaml)\n") or "pinned by the lock only" in out


def test_why_unknown_repo_exits_5_listing_the_locked_repos(kernel_lock_bin, project):
    proj, env, _ = project
    proc = kl(kernel_lock_bin, "why", "kernels-test/nope", "--lock", proj / "kernel.lock", env=env, expect=5)
    assert f"kernels-test/nope is not in {proj / 'kernel.lock'} (locked: {DEP}, {MANY}, {NOARCH})" in proc.stderr
    assert "kernel-lock tree" in proc.stderr


def test_missing_lock_names_the_file_and_the_next_command(kernel_lock_bin, hf_env, hub_server, tmp_path):
    env = hf_env(hub_server)
    for args in (["tree"], ["why", DEP], ["outdated"], ["diff", tmp_path / "a.lock", tmp_path / "b.lock"]):
        proc = kl(kernel_lock_bin, *args, env=env, cwd=tmp_path, expect=5)
        assert "kernel-lock resolve" in proc.stderr, (args, proc.stderr)
    (tmp_path / "kernel.lock").write_text("[{]")
    proc = kl(kernel_lock_bin, "tree", env=env, cwd=tmp_path, expect=3)
    assert "./kernel.lock:1:3: invalid JSON" in proc.stderr and "kernel-lock resolve" in proc.stderr


def table(text: str) -> list[list[str]]:
    lines = text.splitlines()
    assert lines[0].split() == ["Package", "Version", "Commit", "Wanted", "Latest"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    return [[c for c in line.split("  ") if c] for line in lines[2:]]


def test_outdated_against_the_fixture_hub(kernel_lock_bin, project, hub_server, tmp_path):
    proj, env, lock = project
    rows = table(kl(kernel_lock_bin, "outdated", env=env, cwd=proj).stdout)
    assert [r[0].strip() for r in rows] == [NOARCH]  # only noarch-demo has a newer version
    row = [c.strip() for c in rows[0]]
    assert row[1:4] == ["v1", short(lock, NOARCH), f"v1 ({short(lock, NOARCH)})"]
    assert row[4].startswith("v2 (") and row[4] != f"v2 ({short(lock, NOARCH)})"
    every = table(kl(kernel_lock_bin, "outdated", "--all", "--endpoint", hub_server.url, env=env, cwd=proj).stdout)
    assert sorted(r[0].strip() for r in every) == sorted(lock)
    # A lock of version 2 is up to date against the same Hub.
    newer = resolve(kernel_lock_bin, env, tmp_path / "v2", f"  {NOARCH}: 2\n")
    proc = kl(kernel_lock_bin, "outdated", "--lock", tmp_path / "v2" / "kernel.lock", env=env)
    assert proc.stdout == "" and "are up to date" in proc.stderr
    assert list(newer) == [NOARCH]


def test_outdated_unreachable_hub_exits_4_naming_the_endpoint(kernel_lock_bin, project):
    proj, env, _ = project
    env = dict(env, HF_HUB_ETAG_TIMEOUT="2")
    proc = kl(kernel_lock_bin, "outdated", "--endpoint", "http://127.0.0.1:9", env=env, cwd=proj, expect=4)
    assert "http://127.0.0.1:9" in proc.stderr and "--bundle" in proc.stderr


def test_outdated_offline_from_a_bundle(kernel_lock_bin, project, tmp_path):
    proj, env, lock = project
    bundle = tmp_path / "kernels.tar.zst"
    kl(kernel_lock_bin, "bundle", proj, "-o", bundle, env=env)
    offline = dict(env, HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9")
    rows = table(kl(kernel_lock_bin, "outdated", "--all", "--bundle", bundle, env=offline, cwd=proj).stdout)
    by_repo = {r[0].strip(): [c.strip() for c in r] for r in rows}
    assert by_repo[NOARCH][3] == f"v1 ({short(lock, NOARCH)})"  # the bundle holds the locked commits only
    proc = kl(kernel_lock_bin, "outdated", "--bundle", bundle, env=offline, cwd=proj)
    assert proc.stdout == ""


def test_diff_text_and_json(kernel_lock_bin, hub_server, hf_env, tmp_path):
    env = hf_env(hub_server)
    old = resolve(kernel_lock_bin, env, tmp_path / "old", f"  {NOARCH}: 1\n  {MANY}: 1\n")
    new = resolve(kernel_lock_bin, env, tmp_path / "new", f"  {NOARCH}: 2\n")
    args = ("diff", tmp_path / "old" / "kernel.lock", tmp_path / "new" / "kernel.lock")
    text = kl(kernel_lock_bin, *args, env=env).stdout
    lines = text.splitlines()
    assert lines[0] == f"    Removing {MANY} v1 ({old[MANY]['sha'][:7]})"
    assert lines[1] == f"    Updating {NOARCH} v1 ({old[NOARCH]['sha'][:7]}) -> v2 ({new[NOARCH]['sha'][:7]})"
    assert any(line.startswith("             + build/torch-cuda sha256-") for line in lines)
    assert any(line.startswith("             ~ build/torch-cpu sha256-") for line in lines)
    raw = kl(kernel_lock_bin, *args, "--json", env=env).stdout
    assert raw == kl(kernel_lock_bin, *args, "--json", env=env).stdout  # deterministic
    doc = json.loads(raw)
    assert doc["added"] == []
    assert doc["removed"] == [{"repo_id": MANY, "old": {"sha": old[MANY]["sha"], "version": "v1"}}]
    changed = {k["repo_id"]: k for k in doc["changed"]}
    assert set(changed) == {NOARCH}
    assert changed[NOARCH]["old"] == {"sha": old[NOARCH]["sha"], "version": "v1"}
    assert changed[NOARCH]["new"] == {"sha": new[NOARCH]["sha"], "version": "v2"}
    cuda = next(v for v in changed[NOARCH]["variants"] if v["name"] == "torch-cuda")
    assert cuda["change"] == "added" and cuda["new_hash"] == new[NOARCH]["variants"]["torch-cuda"]["hash"]
    same = kl(kernel_lock_bin, "diff", args[1], args[1], env=env)
    assert same.stdout == "" and "the same kernels" in same.stderr
    reverse = kl(kernel_lock_bin, "diff", args[2], args[1], env=env).stdout
    assert f"      Adding {MANY} v1 ({old[MANY]['sha'][:7]})" in reverse.splitlines()
