#!/usr/bin/env python3
"""Fan-out of a kernel bundle from one OCI registry (issue 12 item 7).

Starts one docker-registry (distribution 2.8, plain HTTP, no auth) on loopback,
pushes two kernel versions of a fixture-Hub kernel (kernels-test/fanout-demo, v1
and v2, published here into a copy of the fixture Hub with --size-mb of weights
per variant; v2 changes the torch-cpu weights only) as tags v1 and v2 of one
repository, then runs N concurrent pull clients (processes on loopback, each
into its own empty directory) that pull both tags:

  kernel-lock   `kernel-lock pull oci://... --cache DIR --all` (pull and install into an HF cache)
  oras          the `oras` Python SDK: the index, then `Registry.pull` of each kernel manifest

each straight from the registry and through an nginx `proxy_cache` in front of
it (a stand-in for a pull-through cache or a peer-to-peer layer). It reports the
bytes the origin served (the registry's access log) against N x the bundle, and
p50/p99 of each client's wall time. Before that, the dedup of a second version:
the bytes uploaded to push v2 into a repository holding v1, against v2's whole
layout (counted by a proxy between the pusher and the registry).

  <reference python> bench/oci_fanout.py --build-dir BUILD [--clients 16,64,128] [--size-mb 8]
  <reference python> bench/oci_fanout.py --build-dir BUILD --quick          (N=4, 1 MiB: the ctest smoke)

Our rows print "n/a" while the CLI has no `pull` (issue 12 items 2-3).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from fault_proxy import FaultProxy  # noqa: E402
from registry import Registry, free_port, tools_missing  # noqa: E402

KERNEL = "kernels-test/fanout-demo"
REPO = "fleet/fanout"
TEMPLATE = ROOT / "fixtures" / "hub-src" / "noarch-demo" / "v1.1" / "build"

ORAS_CLIENT = r"""
import json, sys
from oras.provider import Registry
host, repo, out = sys.argv[1], sys.argv[2], sys.argv[3]
reg = Registry(hostname=host, insecure=True)
for tag in sys.argv[4:]:
    top = reg.get_manifest(f"{host}/{repo}:{tag}", allowed_media_type=["application/vnd.oci.image.index.v1+json"])
    for desc in top["manifests"]:
        reg.pull(target=f"{host}/{repo}@{desc['digest']}", outdir=f"{out}/{tag}/{desc['digest'][7:19]}")
"""

NGINX_CONF = """
worker_processes 2;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 2048; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/client_body;
  proxy_temp_path {prefix}/proxy_temp;
  fastcgi_temp_path {prefix}/fastcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  proxy_cache_path {prefix}/cache levels=1:2 keys_zone=blobs:10m max_size=4g inactive=1h use_temp_path=off;
  server {{
    listen 127.0.0.1:{port};
    client_max_body_size 0;
    location ~ ^/v2/.+/blobs/sha256: {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_set_header Host $http_host;
      proxy_cache blobs;
      proxy_cache_key $uri;
      proxy_cache_valid 200 1h;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 60s;
      proxy_cache_lock_age 60s;
    }}
    location / {{
      proxy_pass http://127.0.0.1:{upstream};
      proxy_set_header Host $http_host;
    }}
  }}
}}
"""


def run(*argv, env=None, input=None):
    proc = subprocess.run([str(a) for a in argv], env=env, input=input, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def write_version(dest: Path, version: int, size: int) -> None:
    """The noarch-demo v1.1 variants plus a weights.bin per variant (seeded, so runs repeat);
    v2 changes only the torch-cpu weights."""
    shutil.copytree(TEMPLATE, dest)
    for variant in ("torch-cpu", "torch-universal"):
        seed = f"{variant}-{version if variant == 'torch-cpu' else 1}"
        (dest / variant / "weights.bin").write_bytes(random.Random(seed).randbytes(size))


def make_layouts(build: Path, work: Path, size: int) -> list[Path]:
    """A fixture Hub with kernels-test/fanout-demo v1 and v2; one OCI layout per version."""
    dev, cli = build / "testing" / "kernel-lock-dev", build / "cli" / "kernel-lock"
    hub = work / "hub"
    run("bash", ROOT / "fixtures" / "build_fixture_hub.sh", hub, dev)
    (work / "src" / "main").mkdir(parents=True)
    (work / "src" / "main" / "README.md").write_text("# fanout-demo\n")
    run(dev, "-q", "hub", "publish", "--hub", hub, "--repo", KERNEL, "--branch", "main", work / "src" / "main")
    for v in (1, 2):
        write_version(work / "src" / f"v{v}", v, size)
        run(dev, "-q", "hub", "publish", "--hub", hub, "--repo", KERNEL, "--branch", f"v{v}", "--from", "main",
            "--under", "build", "--lfs", "*.bin", work / "src" / f"v{v}")
    server = subprocess.Popen([str(dev), "serve", str(hub), "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "KERNELS_"))}
        env.update(HF_ENDPOINT=server.stdout.readline().strip(), HF_HUB_DISABLE_XET="1", HF_HUB_CACHE=str(work / "hf"))
        layouts = []
        for v in (1, 2):
            proj = work / f"proj{v}"
            proj.mkdir()
            (proj / "pyproject.toml").write_text(f'[tool.kernels.dependencies]\n"{KERNEL}" = {v}\n')
            run(cli, "resolve", proj, env=env)
            run(cli, "bundle", proj, "--format", "oci", "-o", work / f"layout-v{v}", "--tag", f"v{v}", env=env)
            layouts.append(work / f"layout-v{v}")
        return layouts
    finally:
        server.terminate()
        server.wait()


def blob_sizes(layout: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir()}


def has_oci_cli(cli: Path) -> bool:
    return subprocess.run([str(cli), "push", "--help"], capture_output=True).returncode == 0


def push(layout: Path, tag: str, host: str, cli: Path, ours: bool) -> None:
    if ours:
        run(cli, "push", layout, f"oci://{host}/{REPO}:{tag}")
    else:
        run("skopeo", "--insecure-policy", "copy", "--all", "--preserve-digests", "--dest-tls-verify=false",
            f"oci:{layout}:{tag}", f"docker://{host}/{REPO}:{tag}")


def dedup_rows(layouts: list[Path], work: Path, cli: Path, ours: bool, problems: list[str]) -> list[str]:
    """Bytes uploaded for v1 into an empty repository, then for v2 next to it (v2 shares
    the torch-universal weights with v1: it must upload less than its whole layout)."""
    # A registry of each pusher's own: the second pusher must not find the first one's blobs.
    reg = Registry(work, auth=False, name=f"registry-dedup-{'ours' if ours else 'skopeo'}").start()
    proxy = FaultProxy(reg.port).start()
    try:
        rows = []
        for layout, tag in zip(layouts, ("v1", "v2")):
            before = len(proxy.log)
            push(layout, tag, proxy.host, cli, ours)
            sent = sum(e["sent"] for e in proxy.log[before:])
            full = sum(blob_sizes(layout).values())
            rows.append(f"| {'kernel-lock push' if ours else 'skopeo copy'} | {tag} | {full:,} | {sent:,} | {100 * sent / full:.1f}% |")
            if tag == "v2" and sent >= full:
                problems.append(f"pushing v2 next to v1 uploaded {sent} of {full} bytes: no dedup")
        return rows
    finally:
        proxy.stop()
        reg.stop()


def start_nginx(prefix: Path, upstream: int) -> tuple[subprocess.Popen, int]:
    """nginx with an empty proxy_cache in `prefix`, in front of the registry on port `upstream`."""
    prefix.mkdir()
    port = free_port()
    user = f"user {os.environ.get('USER', 'root')};" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, upstream=upstream, user=user))
    proc = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/v2/")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"nginx did not start:\n{proc.stderr.read().decode()}")


def client_argv(kind: str, host: str, out: Path, cli: Path) -> list[list[str]]:
    if kind == "oras":
        return [[sys.executable, "-c", ORAS_CLIENT, host, REPO, str(out), "v1", "v2"]]
    return [[str(cli), "pull", f"oci://{host}/{REPO}:{tag}", "--cache", str(out), "--all"] for tag in ("v1", "v2")]


def fan_out(kind: str, n: int, host: str, work: Path, cli: Path) -> list[float]:
    """N clients at once, each pulling v1 and v2 into its own empty directory; their wall times."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "KERNELS_", "HTTP", "http"))}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", DOCKER_CONFIG=str(work / "no-docker-config"))
    procs = []
    for i in range(n):
        out = work / f"{kind}-{n}-{host.rsplit(':', 1)[1]}-{i}"
        script = " && ".join(shlex.join(argv) for argv in client_argv(kind, host, out, cli))
        procs.append((time.monotonic(), subprocess.Popen(["bash", "-c", script], env=dict(env, HF_HUB_CACHE=str(out)),
                                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
    times = []
    for started, proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"{kind} client failed ({proc.returncode}):\n{err.decode()[-2000:]}")
        times.append(time.monotonic() - started)
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build")
    ap.add_argument("--clients", default="16,64,128", help="comma-separated client counts")
    ap.add_argument("--size-mb", type=float, default=8.0, help="weights per variant and version (MiB)")
    ap.add_argument("--quick", action="store_true", help="N=4, 1 MiB: a cheap smoke run (ctest bench.oci_fanout)")
    args = ap.parse_args()
    if args.quick:
        args.clients, args.size_mb = "4", 1.0
    missing = tools_missing("docker-registry", "skopeo", "nginx")
    if missing:
        print(f"oci_fanout: skipped, not installed: {', '.join(missing)}", file=sys.stderr)
        return 77
    cli = args.build_dir / "cli" / "kernel-lock"
    ours = has_oci_cli(cli)
    counts = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory(prefix="oci-fanout-") as tmp:
        work = Path(tmp)
        layouts = make_layouts(args.build_dir, work, int(args.size_mb * 1024 * 1024))
        union = {**blob_sizes(layouts[0]), **blob_sizes(layouts[1])}
        bundle = sum(union.values())
        print(f"artifact: {KERNEL} v1 + v2 (tags v1, v2 of {REPO}), {len(union)} blobs, {bundle:,} bytes\n")
        print("| pusher | tag | layout bytes | bytes uploaded | share |\n|---|---|---:|---:|---:|")
        problems: list[str] = []
        for row in dedup_rows(layouts, work, cli, False, problems) + (dedup_rows(layouts, work, cli, True, problems) if ours else []):
            print(row)
        reg = Registry(work, auth=False, name="registry-fanout").start()
        try:
            for layout, tag in zip(layouts, ("v1", "v2")):
                push(layout, tag, reg.host, cli, ours)
            print("\n| client | N | proxy | origin bytes | N x bundle | origin / (N x bundle) | p50 s | p99 s |")
            print("|---|---:|---|---:|---:|---:|---:|---:|")
            for kind in ("kernel-lock", "oras"):
                for n in counts:
                    for proxied in (False, True):
                        if kind == "kernel-lock" and not ours:
                            print(f"| kernel-lock pull | {n} | {'nginx' if proxied else 'no'} | n/a | {n * bundle:,} | n/a | n/a | n/a |")
                            continue
                        nginx = None
                        if proxied:  # a cold cache for every run
                            nginx, nginx_port = start_nginx(work / f"nginx-{kind}-{n}", reg.port)
                        host = f"127.0.0.1:{nginx_port}" if proxied else reg.host
                        since = len(reg.access_log())
                        try:
                            times = fan_out(kind, n, host, work, cli)
                        finally:
                            if nginx is not None:
                                nginx.terminate()
                                nginx.wait()
                        served = reg.served_bytes(since)
                        if proxied and served > 1.5 * bundle:
                            problems.append(f"{kind} through nginx: the origin served {served} bytes for a {bundle}-byte bundle")
                        name = "kernel-lock pull" if kind == "kernel-lock" else "oras (Python SDK)"
                        print(f"| {name} | {n} | {'nginx' if proxied else 'no'} | {served:,} | {n * bundle:,} | "
                              f"{served / (n * bundle):.2f} | {statistics.median(times):.2f} | {percentile(times, 0.99):.2f} |", flush=True)
                        for d in work.glob(f"{kind}-{n}-*"):
                            shutil.rmtree(d)
        finally:
            reg.stop()
    for problem in problems:  # what --quick (the ctest smoke) checks
        print(f"oci_fanout: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
