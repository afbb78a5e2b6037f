"""OCI layouts through a real registry (Debian's docker-registry, distribution 2.8;
tests/e2e/registry.py): a plain-HTTP instance with htpasswd auth and one behind
TLS with a test CA made here by openssl.

Interop (needs only `kernel-lock bundle --format oci`): skopeo copies our layout
into the registry and back byte for byte, the `oras` Python SDK pulls what skopeo
pushed, our pull installs what the SDK pushed, and the fault proxy (tests/e2e/fault_proxy.py) really injects its faults.

`kernel-lock push` / `pull` (issue 12; skipped while the CLI has no `push`):
push, pull on a fresh cache with the registry as the only source, verify, the
Python `kernels` loads it offline, a re-push uploads no blob, TLS with and
without --ca-file, a wrong password, a missing tag, the registry restarted
mid-push and mid-pull, a truncated / corrupted blob, a manifest whose layer
digest lies. Retries are made fast with KERNEL_LOCK_OCI_RETRIES and
KERNEL_LOCK_OCI_BACKOFF_MS.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import HubServer, last_json, run_python
from fault_proxy import FaultProxy
from registry import Registry, make_test_ca, tools_missing
from test_bundle_airgap import FOLDER, KERNEL, kl, make_project

INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
BLOB_GET = r"GET /v2/.*/blobs/sha256:"

missing = tools_missing("docker-registry", "htpasswd", "openssl")
pytestmark = pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)} (scripts/setup.sh)")


# ---- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def artifact(kernel_lock_bin, kernel_lock_dev_bin, fixture_hub, tmp_path_factory):
    """noarch-demo v1 resolved against the fixture Hub, as a bundle, an OCI layout and its tar."""
    tmp = tmp_path_factory.mktemp("oci-artifact")
    hub = HubServer([str(kernel_lock_dev_bin), "serve", str(fixture_hub), "--port", "0"], None)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "KERNELS_"))}
        env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HUB_CACHE=str(tmp / "online-cache"))
        proj = make_project(tmp, {KERNEL: 1})
        kl(kernel_lock_bin, "resolve", proj, env=env)
        bundle, layout, tar = tmp / "b.tar.zst", tmp / "layout", tmp / "layout.tar"
        kl(kernel_lock_bin, "bundle", proj, "-o", bundle, env=env)
        kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", layout, "--tag", "v1", env=env)
        kl(kernel_lock_bin, "bundle", proj, "--format", "oci", "-o", tar, "--tag", "v1", "--offline", env=env)
    finally:
        hub.stop()
    lock = json.loads((proj / "kernel.lock").read_text())
    return SimpleNamespace(proj=proj, lock=lock, sha=lock[0]["sha"], bundle=bundle, layout=layout, tar=tar,
                           online_cache=tmp / "online-cache")


@pytest.fixture(scope="module")
def plain_registry(tmp_path_factory):
    reg = Registry(tmp_path_factory.mktemp("registry-plain")).start()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory):
    reg = Registry(tmp_path_factory.mktemp("registry-tls"), tls=True).start()
    yield reg
    reg.stop()


@pytest.fixture
def own_registry(tmp_path):
    """A registry of this test's own (it stops and restarts it)."""
    regs = []

    def make(**kw) -> Registry:
        regs.append(Registry(tmp_path, name=f"registry-{len(regs)}", **kw).start())
        return regs[-1]

    yield make
    for reg in regs:
        reg.stop()


@pytest.fixture
def fault_proxy():
    proxies = []

    def make(registry: Registry) -> FaultProxy:
        proxies.append(FaultProxy(registry.port).start())
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.stop()


def layout_blobs(layout: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}


def kernel_manifest(layout: Path) -> dict:
    """The (first) kernel manifest of the lock index the layout's tag names."""
    blobs = layout_blobs(layout)
    top = json.loads((layout / "index.json").read_text())["manifests"][0]
    return json.loads(blobs[json.loads(blobs[top["digest"][7:]])["manifests"][0]["digest"][7:]])


def skopeo(*args, check=True):
    if tools_missing("skopeo"):
        pytest.skip("skopeo is not installed (Debian package skopeo)")
    proc = subprocess.run(["skopeo", "--insecure-policy", *map(str, args)], capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, f"skopeo {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def skopeo_push(artifact, reg: Registry, repo: str, tag: str = "v1"):
    creds = ["--dest-creds", reg.creds()] if reg.auth else []
    tls = ["--dest-cert-dir", reg.cert_dir] if reg.tls else ["--dest-tls-verify=false"]
    skopeo("copy", "--all", "--preserve-digests", *creds, *tls, f"oci:{artifact.layout}:v1", f"docker://{reg.host}/{repo}:{tag}")


# ---- interop: works with `bundle --format oci` alone ---------------------------------------------
@pytest.mark.parametrize("which", ["plain", "tls"])
def test_skopeo_roundtrip_through_the_registry_byte_for_byte(which, artifact, plain_registry, tls_registry, kernel_lock_bin, tmp_path):
    reg = plain_registry if which == "plain" else tls_registry
    skopeo_push(artifact, reg, f"interop/{which}")
    src_tls = ["--src-cert-dir", reg.cert_dir] if reg.tls else ["--src-tls-verify=false"]
    copy = tmp_path / "copy"
    skopeo("copy", "--all", "--preserve-digests", "--src-creds", reg.creds(), *src_tls,
           f"docker://{reg.host}/interop/{which}:v1", f"oci:{copy}:v1")
    # Every blob (files, configs, kernel manifests, the lock index) comes back bit for bit.
    assert layout_blobs(copy) == layout_blobs(artifact.layout)
    # index.json is skopeo's own: it records the tag it was given and may drop or add
    # annotations, so only what names the artifact must match: the top descriptor's
    # digest, size and media type, and the tag (ref.name).
    ours = json.loads((artifact.layout / "index.json").read_text())["manifests"][0]
    theirs = json.loads((copy / "index.json").read_text())["manifests"]
    assert len(theirs) == 1
    for key in ("digest", "size", "mediaType"):
        assert theirs[0][key] == ours[key]
    assert theirs[0]["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    # The registry serves the tag as exactly our lock index (same digest).
    status, headers, body = reg.http("GET", f"/v2/interop/{which}/manifests/v1", headers={"Accept": INDEX_TYPE})
    assert status == 200 and headers["docker-content-digest"] == ours["digest"]
    assert "sha256:" + hashlib.sha256(body).hexdigest() == ours["digest"]
    # And what came back installs and verifies offline.
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "cache"), HF_ENDPOINT="http://127.0.0.1:9")
    kl(kernel_lock_bin, "install", copy, "--tag", "v1", "--lockfile", artifact.proj / "kernel.lock", env=env)
    kl(kernel_lock_bin, "verify", artifact.proj, env=env)


def test_registry_enforces_auth_and_tls(artifact, plain_registry, tls_registry, tmp_path):
    """The fixtures are real: a wrong password and an unknown CA are refused (so the
    tests that pass credentials and CAs below test something)."""
    bad = skopeo("copy", "--dest-creds", "fleet:wrong", "--dest-tls-verify=false", f"oci:{artifact.layout}:v1",
                 f"docker://{plain_registry.host}/interop/denied:v1", check=False)
    assert bad.returncode != 0 and "unauthorized" in bad.stderr.lower()
    status, _, _ = plain_registry.http("GET", "/v2/", auth=False)
    assert status == 401
    untrusted = skopeo("copy", "--dest-creds", tls_registry.creds(), f"oci:{artifact.layout}:v1",
                       f"docker://{tls_registry.host}/interop/untrusted:v1", check=False)
    assert untrusted.returncode != 0 and "certificate" in untrusted.stderr.lower()


def test_oras_sdk_pulls_what_skopeo_pushed(artifact, plain_registry, tmp_path):
    provider = pytest.importorskip("oras.provider", reason="the oras Python SDK (PyPI oras) is not installed")
    skopeo_push(artifact, plain_registry, "interop/oras")
    reg = provider.Registry(hostname=plain_registry.host, insecure=True, auth_backend="basic")
    reg.auth.set_basic_auth(plain_registry.username, plain_registry.password)
    ours = layout_blobs(artifact.layout)
    top = reg.get_manifest(f"{plain_registry.host}/interop/oras:v1", allowed_media_type=[INDEX_TYPE])
    assert json.dumps(top, sort_keys=True) == json.dumps(json.loads(ours[json.loads(
        (artifact.layout / "index.json").read_text())["manifests"][0]["digest"].split(":")[1]]), sort_keys=True)
    fetched = 0
    for desc in top["manifests"]:
        manifest = reg.get_manifest(f"{plain_registry.host}/interop/oras@{desc['digest']}", allowed_media_type=[MANIFEST_TYPE])
        assert manifest["artifactType"] == desc.get("artifactType", manifest["artifactType"])
        for layer in [manifest["config"], *manifest["layers"]]:
            out = tmp_path / "oras" / layer["digest"].split(":")[1]
            out.parent.mkdir(exist_ok=True)
            reg.download_blob(f"{plain_registry.host}/interop/oras", layer["digest"], str(out))
            assert out.read_bytes() == ours[layer["digest"].split(":")[1]]
            assert out.stat().st_size == layer["size"]
            fetched += 1
    assert fetched == sum(1 + len(json.loads(ours[d["digest"].split(":")[1]])["layers"]) for d in top["manifests"])


def test_fault_proxy_injects_what_it_says(artifact, own_registry, fault_proxy, tmp_path):
    """Without faults the proxy is transparent (a standard client copies through it, repeated
    Accept headers and all); each fault kind really happens on the wire; a registry restarted
    with the same storage and port still serves what it had."""
    reg = own_registry(auth=False)
    skopeo_push(artifact, reg, "faults/demo")
    proxy = fault_proxy(reg)
    skopeo("copy", "--all", "--preserve-digests", "--src-tls-verify=false", f"docker://{proxy.host}/faults/demo:v1",
           f"oci:{tmp_path / 'via-proxy'}:v1")
    assert layout_blobs(tmp_path / "via-proxy") == layout_blobs(artifact.layout)
    proxy.log.clear()
    path = f"/v2/faults/demo/blobs/{kernel_manifest(artifact.layout)['layers'][0]['digest']}"
    whole = reg.http("GET", path)[2]

    def get():
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.getheader("Retry-After"), resp.read()
        finally:
            conn.close()

    proxy.add("status", BLOB_GET, times=2, status=429, retry_after=1)
    assert get()[:2] == (429, "1") and get()[:2] == (429, "1") and get() == (200, None, whole)
    proxy.add("truncate", BLOB_GET, after=1)
    assert get()[2] == whole and get()[2] == whole[: len(whole) // 2]
    proxy.add("corrupt", BLOB_GET)
    bad = get()[2]
    assert len(bad) == len(whole) and bad != whole
    proxy.add("drop", BLOB_GET)
    with pytest.raises(http.client.IncompleteRead):
        get()
    proxy.add("hook", BLOB_GET, hook=reg.stop)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get()
    assert not reg.running and proxy.spent()
    reg.start()
    assert get() == (200, None, whole)
    expected = ["status", "status", None, None, "truncate", "corrupt", "drop", "upstream-down", None]
    deadline = time.monotonic() + 10  # the proxy logs a request after its response is sent, on its own thread
    while len(proxy.log) < len(expected) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e["fault"] for e in proxy.log] == expected


# ---- kernel-lock push / pull (issue 12 items 2-5) ------------------------------------------------
@pytest.fixture(scope="module")
def oci_cli(kernel_lock_bin):
    proc = subprocess.run([str(kernel_lock_bin), "push", "--help"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        pytest.skip("kernel-lock has no `push` command yet (issue 12 items 2-3: the OCI registry client)")
    return kernel_lock_bin


@pytest.fixture
def cli_env(tmp_path):
    """An environment where the Hub is unreachable (the registry is the only source),
    no docker credentials leak in, and retries are fast."""
    def make(cache: Path, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "KERNELS_", "DOCKER_", "HTTP", "http"))}
        env.update(HF_HUB_CACHE=str(cache), HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_DISABLE_XET="1",
                   DOCKER_CONFIG=str(tmp_path / "docker-config"), KERNEL_LOCK_OCI_RETRIES="6",
                   KERNEL_LOCK_OCI_BACKOFF_MS="100")
        env.update({k: str(v) for k, v in extra.items()})
        return env

    return make


def oci_run(bin_path, *args, reg: Registry, env: dict, password: str | None = None, check=True, timeout=120):
    """`kernel-lock ARGS` with the registry's credentials (--password-stdin) and CA."""
    argv = [str(bin_path), *map(str, args)]
    if reg.auth:
        argv += ["--username", reg.username, "--password-stdin"]
    if reg.tls:
        argv += ["--ca-file", str(reg.ca_file)]
    proc = subprocess.run(argv, input=(password or reg.password or "") + "\n", env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed ({proc.returncode})\n{proc.stdout}\n{proc.stderr}")
    return proc


def snapshots(cache: Path) -> Path:
    return cache / FOLDER / "snapshots"


def assert_nothing_installed(cache: Path) -> None:
    snaps = snapshots(cache)
    assert not snaps.exists() or not any(snaps.iterdir()), f"half-installed: {list(snaps.rglob('*'))}"


def pull_and_check(oci_cli, artifact, reg, ref, cache, cli_env, *extra, host=None):
    """Pull --all into an empty cache; the snapshot equals the lock and verify passes."""
    env = cli_env(cache)
    oci_run(oci_cli, "pull", reg.oci(*ref, host=host), "--cache", cache, "--all",
            "--lockfile", artifact.proj / "kernel.lock", *extra, reg=reg, env=env)
    offline = dict(env, HF_HUB_OFFLINE="1")
    kl(oci_cli, "verify", artifact.proj, env=offline)
    ours = artifact.online_cache / FOLDER / "snapshots" / artifact.sha / "build"
    theirs = snapshots(cache) / artifact.sha / "build"
    files = sorted(str(p.relative_to(ours)) for p in ours.rglob("*") if p.is_file())
    assert files and files == sorted(str(p.relative_to(theirs)) for p in theirs.rglob("*") if p.is_file())
    for rel in files:
        assert (theirs / rel).read_bytes() == (ours / rel).read_bytes()


@pytest.mark.parametrize("source", ["bundle", "layout", "tar", "lock"])
def test_push_pull_verify_and_load(source, oci_cli, artifact, plain_registry, cli_env, tmp_path):
    repo = f"fleet/{source}"
    src = {"bundle": [artifact.bundle], "layout": [artifact.layout], "tar": [artifact.tar],
           "lock": [artifact.proj / "kernel.lock", "--cache", artifact.online_cache]}[source]
    before = len(plain_registry.access_log())
    oci_run(oci_cli, "push", *src, plain_registry.oci(repo, "v1"), reg=plain_registry, env=cli_env(tmp_path / "unused"))
    assert plain_registry.uploads(before), "push uploaded nothing"
    # The same lock index whatever the source: the bundle, the layout and the lock give one artifact.
    status, headers, _ = plain_registry.http("HEAD", f"/v2/{repo}/manifests/v1", headers={"Accept": INDEX_TYPE})
    top = json.loads((artifact.layout / "index.json").read_text())["manifests"][0]
    assert status == 200 and headers["docker-content-digest"] == top["digest"]

    cache = tmp_path / "cache"
    pull_and_check(oci_cli, artifact, plain_registry, (repo, "v1"), cache, cli_env)
    if source != "bundle":
        return
    # Re-pushing uploads no blob (HEAD first, every blob is there).
    before = len(plain_registry.access_log())
    oci_run(oci_cli, "push", artifact.bundle, plain_registry.oci(repo, "v1"), reg=plain_registry, env=cli_env(tmp_path / "unused"))
    assert plain_registry.uploads(before) == []
    # The Python `kernels` loads the pulled kernel offline from that cache.
    py_lock = tmp_path / "kernels.lock"
    py_lock.write_text(kl(oci_cli, "lock-fmt", "--python", artifact.proj / "kernel.lock").stdout)
    env = dict(cli_env(cache), HF_HUB_OFFLINE="1")
    code = f"""
import json, torch
from pathlib import Path
from kernels import load_kernel
k = load_kernel({KERNEL!r}, lockfile=Path({str(py_lock)!r}))
print(json.dumps({{"out": k.add_one(torch.tensor([1.0, 2.0])).tolist(), "file": k.__file__}}))
"""
    res = last_json(run_python(code, env))
    assert res["out"] == [2.0, 3.0]
    assert res["file"].startswith(str(snapshots(cache) / artifact.sha))


def test_pull_variant_auto_takes_what_this_node_needs(oci_cli, artifact, plain_registry, cli_env, tmp_path):
    skopeo_push(artifact, plain_registry, "fleet/auto")
    cache = tmp_path / "cache"
    oci_run(oci_cli, "pull", plain_registry.oci("fleet/auto", "v1"), "--cache", cache, "--variant", "auto",
            reg=plain_registry, env=cli_env(cache))
    build = snapshots(cache) / artifact.sha / "build"
    got = sorted(p.name for p in build.iterdir())
    assert got and set(got) <= set(artifact.lock[0]["variants"])
    assert len(got) < len(artifact.lock[0]["variants"]), "--variant auto pulled every variant"


def test_pull_what_skopeo_pushed_and_install_alias(oci_cli, artifact, plain_registry, cli_env, tmp_path):
    """Our pull reads what a standard tool pushed; `install oci://` is the same path."""
    skopeo_push(artifact, plain_registry, "interop/skopeo-to-us")
    pull_and_check(oci_cli, artifact, plain_registry, ("interop/skopeo-to-us", "v1"), tmp_path / "cache", cli_env)
    cache = tmp_path / "cache2"
    oci_run(oci_cli, "install", plain_registry.oci("interop/skopeo-to-us", "v1"), "--cache", cache, "--all",
            reg=plain_registry, env=cli_env(cache))
    assert (snapshots(cache) / artifact.sha).is_dir()


def test_tls_with_and_without_ca_file(oci_cli, artifact, tls_registry, cli_env, tmp_path):
    oci_run(oci_cli, "push", artifact.bundle, tls_registry.oci("fleet/tls", "v1"), reg=tls_registry, env=cli_env(tmp_path / "u"))
    pull_and_check(oci_cli, artifact, tls_registry, ("fleet/tls", "v1"), tmp_path / "cache", cli_env)
    cache = tmp_path / "no-ca"
    proc = subprocess.run([str(oci_cli), "pull", tls_registry.oci("fleet/tls", "v1"), "--cache", cache, "--all",
                           "--username", tls_registry.username, "--password-stdin"], input=tls_registry.password,
                          env=cli_env(cache), capture_output=True, text=True, timeout=60)
    # Without --ca-file a loopback registry is spoken to in plain http: its TLS port says so.
    assert proc.returncode == 4, proc.stderr
    assert tls_registry.host in proc.stderr and "HTTPS server" in proc.stderr and "--ca-file" in proc.stderr
    assert_nothing_installed(cache)
    # With a CA that did not sign the registry's certificate: refused once, not retried.
    other_ca, _, _ = make_test_ca(tmp_path / "other-ca")
    proc = subprocess.run([str(oci_cli), "pull", tls_registry.oci("fleet/tls", "v1"), "--cache", cache, "--all",
                           "--ca-file", other_ca, "--username", tls_registry.username, "--password-stdin"],
                          input=tls_registry.password, env=cli_env(cache), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4, proc.stderr
    assert "TLS certificate was not accepted" in proc.stderr and "--ca-file" in proc.stderr, proc.stderr
    assert "giving up" not in proc.stderr, proc.stderr
    assert_nothing_installed(cache)


def test_wrong_password_and_missing_tag(oci_cli, artifact, plain_registry, cli_env, tmp_path):
    skopeo_push(artifact, plain_registry, "fleet/errors")
    cache = tmp_path / "cache"
    proc = oci_run(oci_cli, "pull", plain_registry.oci("fleet/errors", "v1"), "--cache", cache, "--all",
                   reg=plain_registry, env=cli_env(cache), password="wrong", check=False)
    assert proc.returncode not in (0, 2), proc.stderr
    low = proc.stderr.lower()
    assert plain_registry.host in proc.stderr and any(w in low for w in ("unauthorized", "401", "credential", "password"))
    proc = oci_run(oci_cli, "push", artifact.layout, plain_registry.oci("fleet/errors", "v9"), reg=plain_registry,
                   env=cli_env(cache), password="wrong", check=False)
    assert proc.returncode not in (0, 2) and plain_registry.host in proc.stderr
    proc = oci_run(oci_cli, "pull", plain_registry.oci("fleet/errors", "no-such-tag"), "--cache", cache, "--all",
                   reg=plain_registry, env=cli_env(cache), check=False)
    assert proc.returncode == 5, proc.stderr  # not found
    assert "no-such-tag" in proc.stderr and plain_registry.host in proc.stderr
    assert_nothing_installed(cache)


def restart_later(reg: Registry, delay: float = 1.0):
    """A proxy hook: the registry stops now and starts again (same storage, same port) after `delay`."""
    return lambda: reg.stop_and_start_after(delay)


def test_registry_restarted_mid_push(oci_cli, artifact, own_registry, fault_proxy, cli_env, tmp_path):
    reg = own_registry()
    proxy = fault_proxy(reg)
    # The third blob upload request (whatever the upload style) finds the registry gone; it
    # comes back a second later.
    proxy.add("hook", r"(POST|PATCH|PUT) /v2/.*/blobs/uploads/", after=2, hook=restart_later(reg))
    ref = reg.oci("fleet/restart", "v1", host=proxy.host)
    proc = oci_run(oci_cli, "push", artifact.bundle, ref, reg=reg, env=cli_env(tmp_path / "u"), check=False)
    assert proxy.spent()
    time.sleep(1.5)
    assert reg.running
    if proc.returncode != 0:  # a clear failure is allowed; a re-run then succeeds
        assert proxy.host in proc.stderr, proc.stderr
        oci_run(oci_cli, "push", artifact.bundle, ref, reg=reg, env=cli_env(tmp_path / "u"))
    pull_and_check(oci_cli, artifact, reg, ("fleet/restart", "v1"), tmp_path / "cache", cli_env)


def test_registry_restarted_mid_pull(oci_cli, artifact, own_registry, fault_proxy, cli_env, tmp_path):
    reg = own_registry()
    skopeo_push(artifact, reg, "fleet/restart-pull")
    proxy = fault_proxy(reg)
    proxy.add("hook", BLOB_GET, after=1, hook=restart_later(reg))  # the second blob
    cache = tmp_path / "cache"
    env = cli_env(cache)
    ref = ("fleet/restart-pull", "v1")
    proc = oci_run(oci_cli, "pull", reg.oci(*ref, host=proxy.host), "--cache", cache, "--all",
                   "--lockfile", artifact.proj / "kernel.lock", reg=reg, env=env, check=False)
    assert proxy.spent()
    time.sleep(1.5)
    if proc.returncode != 0:
        assert proc.returncode == 4 and proxy.host in proc.stderr, proc.stderr
        assert_nothing_installed(cache)
    pull_and_check(oci_cli, artifact, reg, ref, cache, cli_env, host=proxy.host)


@pytest.mark.parametrize("kind", ["truncate", "corrupt", "drop", "status429", "status503"])
def test_blob_fault_during_pull(kind, oci_cli, artifact, plain_registry, fault_proxy, cli_env, tmp_path):
    """A bad blob response ends in a correct install (retry) or an integrity error with nothing installed."""
    repo = f"fleet/fault-{kind}"
    skopeo_push(artifact, plain_registry, repo)
    proxy = fault_proxy(plain_registry)
    if kind.startswith("status"):
        proxy.add("status", BLOB_GET, times=2, status=int(kind[-3:]), retry_after=1)
    else:
        proxy.add(kind, BLOB_GET, times=1)
    cache = tmp_path / "cache"
    started = time.monotonic()
    proc = oci_run(oci_cli, "pull", plain_registry.oci(repo, "v1", host=proxy.host), "--cache", cache, "--all",
                   "--lockfile", artifact.proj / "kernel.lock", reg=plain_registry, env=cli_env(cache), check=False)
    assert proxy.spent(), (proxy.log, proc.stderr)
    if kind.startswith("status"):
        assert proc.returncode == 0, proc.stderr  # 429/503 are always retried
        assert time.monotonic() - started >= 1.0  # Retry-After: 1 honoured
    if proc.returncode == 0:
        kl(oci_cli, "verify", artifact.proj, env=dict(cli_env(cache), HF_HUB_OFFLINE="1"))
    else:
        assert proc.returncode in (4, 6), proc.stderr
        assert_nothing_installed(cache)


def push_lying_manifest(artifact, reg: Registry, repo: str, tag: str) -> tuple[str, dict]:
    """Pushes our artifact with skopeo, then, under `tag`, a lock index whose kernel manifest has
    one layer pointing at another file's blob (the registry is honest about the bytes; the
    manifest lies about which file they are). Returns (lying manifest digest, its JSON)."""
    skopeo_push(artifact, reg, repo)
    blobs = layout_blobs(artifact.layout)
    top_desc = json.loads((artifact.layout / "index.json").read_text())["manifests"][0]
    top = json.loads(blobs[top_desc["digest"][7:]])
    mdesc = top["manifests"][0]
    manifest = json.loads(blobs[mdesc["digest"][7:]])
    layers = manifest["layers"]
    victim = next(i for i, layer in enumerate(layers) if layer["digest"] != layers[0]["digest"])
    layers[victim] = dict(layers[victim], digest=layers[0]["digest"], size=layers[0]["size"])
    raw = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    status, _, body = reg.http("PUT", f"/v2/{repo}/manifests/{digest}", raw, {"Content-Type": MANIFEST_TYPE})
    assert status == 201, body
    top["manifests"][0] = dict(mdesc, digest=digest, size=len(raw))
    status, _, body = reg.http("PUT", f"/v2/{repo}/manifests/{tag}", json.dumps(top).encode(), {"Content-Type": INDEX_TYPE})
    assert status == 201, body
    return digest, manifest


def test_registry_serves_a_lying_manifest_as_pushed(artifact, plain_registry):
    """The crafted artifact reaches a client as crafted (so the pull test below is not vacuous)."""
    digest, manifest = push_lying_manifest(artifact, plain_registry, "interop/liar", "lying")
    status, _, body = plain_registry.http("GET", "/v2/interop/liar/manifests/lying", headers={"Accept": INDEX_TYPE})
    assert status == 200 and json.loads(body)["manifests"][0]["digest"] == digest
    status, _, body = plain_registry.http("GET", f"/v2/interop/liar/manifests/{digest}", headers={"Accept": MANIFEST_TYPE})
    assert status == 200 and json.loads(body) == manifest
    original = kernel_manifest(artifact.layout)
    lies = [(a["digest"], b["digest"]) for a, b in zip(original["layers"], manifest["layers"]) if a != b]
    assert len(lies) == 1 and lies[0][0] != lies[0][1]


def test_manifest_whose_layer_digest_lies(oci_cli, artifact, own_registry, cli_env, tmp_path):
    """Pull of the lying manifest: an integrity error (exit 6) and nothing installed, with the
    lock given and without it (the artifact's own config then names the real hashes)."""
    reg = own_registry()
    push_lying_manifest(artifact, reg, "fleet/liar", "lying")
    for with_lock in (False, True):
        cache = tmp_path / f"cache-{with_lock}"
        extra = ["--lockfile", artifact.proj / "kernel.lock"] if with_lock else []
        proc = oci_run(oci_cli, "pull", reg.oci("fleet/liar", "lying"), "--cache", cache, "--all", *extra,
                       reg=reg, env=cli_env(cache), check=False)
        assert proc.returncode == 6, proc.stderr
        assert_nothing_installed(cache)


def test_serve_from_registry(oci_cli, artifact, plain_registry, cli_env, hf_env, tmp_path):
    """`kernel-lock serve oci://...`: the Hub API from what it pulled; the Python `kernels` loads through it."""
    skopeo_push(artifact, plain_registry, "fleet/serve")
    env = cli_env(tmp_path / "serve-cache")
    argv = [str(oci_cli), "serve", plain_registry.oci("fleet/serve", "v1"), "--cache", str(tmp_path / "serve-cache"),
            "--port", "0", "--username", plain_registry.username, "--password-stdin"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        proc.stdin.write(plain_registry.password + "\n")
        proc.stdin.close()
        line = proc.stdout.readline().strip()
        assert line.startswith("http"), proc.stderr.read() if proc.poll() is not None else line
        client = hf_env(line.rstrip("/"), HF_HUB_CACHE=str(tmp_path / "client-cache"))
        code = f"""
import json, torch
from kernels import get_kernel
k = get_kernel({KERNEL!r}, version=1)
print(json.dumps({{"out": k.add_one(torch.tensor([1.0])).tolist()}}))
"""
        assert last_json(run_python(code, client))["out"] == [2.0]
    finally:
        proc.terminate()
        proc.wait(10)



def test_we_pull_what_the_oras_sdk_pushed(oci_cli, artifact, plain_registry, cli_env, tmp_path):
    """The other direction of interop: the `oras` Python SDK uploads the blobs and the kernel
    manifests (re-serialised by its HTTP client: other bytes, other digests than ours), an index
    naming those digests is put under the tag (the SDK cannot put an index), and our pull installs it."""
    provider = pytest.importorskip("oras.provider", reason="the oras Python SDK (PyPI oras) is not installed")
    reg = provider.Registry(hostname=plain_registry.host, insecure=True, auth_backend="basic")
    reg.auth.set_basic_auth(plain_registry.username, plain_registry.password)
    repo = "interop/from-oras"
    blobs = layout_blobs(artifact.layout)
    top_desc = json.loads((artifact.layout / "index.json").read_text())["manifests"][0]
    index = json.loads(blobs[top_desc["digest"][7:]])
    container = reg.get_container(f"{plain_registry.host}/{repo}:staging")
    for name, data in blobs.items():
        reg.upload_blob(str(artifact.layout / "blobs" / "sha256" / name), container,
                        {"digest": f"sha256:{name}", "size": len(data), "mediaType": "application/octet-stream"})
    for i, desc in enumerate(index["manifests"]):
        manifest = json.loads(blobs[desc["digest"][7:]])
        resp = reg.upload_manifest(manifest, reg.get_container(f"{plain_registry.host}/{repo}:m{i}"))
        assert resp.status_code == 201, resp.text
        status, _, body = plain_registry.http("GET", f"/v2/{repo}/manifests/m{i}", headers={"Accept": MANIFEST_TYPE})
        assert status == 200 and body != blobs[desc["digest"][7:]], "the SDK sent our bytes unchanged: nothing tested"
        desc["digest"], desc["size"] = "sha256:" + hashlib.sha256(body).hexdigest(), len(body)
    status, _, _ = plain_registry.http("PUT", f"/v2/{repo}/manifests/v1", body=json.dumps(index).encode(),
                                       headers={"Content-Type": INDEX_TYPE})
    assert status == 201
    pull_and_check(oci_cli, artifact, plain_registry, (repo, "v1"), tmp_path / "cache", cli_env)

# ---- the fleet workflow end to end: a signed compiled kernel, the registry as the only source, the C++ loader ----
EXAMPLE = Path(os.environ.get("KERNEL_LOCK_BUILD_DIR", "build")).resolve() / "examples" / "load_kernel" / "load_kernel_example"
SIGNED_KERNEL = "kernels-test/activation"


def test_signed_kernel_through_the_registry_loads_in_cpp(oci_cli, kernel_lock_dev_bin, fixture_hub, plain_registry,
                                                         cli_env, tmp_path):
    """resolve (signature verified, signer pinned) -> bundle -> push; then a fresh node pulls with the
    registry as its only source (--require-signature: checked again before anything is published) and the
    C++ loader loads the pulled CPU variant, verified and signed, and its ops match PyTorch."""
    if not EXAMPLE.is_file():
        pytest.skip(f"{EXAMPLE} not built (loader off?)")
    if not (fixture_hub / "repos" / "kernel" / SIGNED_KERNEL).is_dir():
        pytest.skip("the fixture Hub has no compiled kernels (built with KERNEL_LOCK_BUILD_KERNELS)")
    root = fixture_hub / ".sigstore-pki" / "trusted_root.json"
    if not root.is_file():
        pytest.skip("the fixture Hub's kernels are unsigned (no Python with cryptography)")
    hub = HubServer([str(kernel_lock_dev_bin), "serve", str(fixture_hub), "--port", "0"], None)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "KERNELS_"))}
        env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HUB_CACHE=str(tmp_path / "online-cache"))
        proj = make_project(tmp_path, {SIGNED_KERNEL: 2})
        kl(oci_cli, "resolve", proj, "--trusted-root", root, env=env)
        bundle = tmp_path / "signed.tar.zst"
        kl(oci_cli, "bundle", proj, "-o", bundle, "--trusted-root", root, env=env)
    finally:
        hub.stop()
    assert json.loads((proj / "kernel.lock").read_text())[0].get("signatures"), "the lock pins no signer"
    ref = plain_registry.oci("fleet/signed", "v2")
    oci_run(oci_cli, "push", bundle, ref, reg=plain_registry, env=cli_env(tmp_path / "unused"))

    node = tmp_path / "node-cache"
    pulled = oci_run(oci_cli, "pull", ref, "--cache", node, "--lockfile", proj / "kernel.lock", "--require-signature",
                     reg=plain_registry, env=cli_env(node))
    assert "signed by" in pulled.stdout + pulled.stderr
    variants = {p.name for p in (node / "kernels--kernels-test--activation" / "snapshots").glob("*/build/*")}
    assert variants and all("-cpu-" in v for v in variants), f"--variant auto pulled {variants} on a CPU node"
    run = subprocess.run([str(EXAMPLE), "--backend", "cpu", str(proj / "kernel.lock"), SIGNED_KERNEL],
                         env=dict(cli_env(node), HF_HUB_OFFLINE="1", KERNELS_CACHE=str(node)),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "  provenance signed by " in run.stdout, run.stdout
    assert " 0 mismatches" in run.stdout, run.stdout
