#!/usr/bin/env python3
"""Time from "load the kernel" to "first op call returned", three ways, on the
same kernel variant in the same HF cache, each in fresh processes:

  * C++ kernel_lock::load_kernel (lock lookup, variant selection, read + verify
    every file into sealed memory, dlopen from the memfd, op discovery)
  * C++ plain dlopen(RTLD_NOW) of the same .so + dispatcher lookup (no checks)
  * Python kernels.load_kernel(repo, lockfile=...) (offline, from the cache)

Then, side by side, what signature verification adds to load_kernel: the
same variant signed by a test PKI (testing/sigstore/test_pki.py: metadata.json
gets its kernel digest and a Sigstore bundle; the cache gets the PKI's trusted
root through `kernel-lock trust import`), loaded with a lock that pins its
signer (signature + kernel digest checked on the sealed bytes) and with the
same lock minus its signature record (lock hash only). Measured in one process
per run: the first load (cold: includes decoding the trusted root and dlopen)
and N reloads (the library is loaded already: lock, read + hash into sealed
memory, and the signature check), so the difference is the verification.

Finally the large-variant case: the same variant with its .so padded with zeros
to --large-mb MB (appended past the ELF's end, so it still loads), in a temp
dir, timed against `openssl dgst -sha256` of the same blob and plain dlopen in
the same runs (the hash limit a verified load is held to).

With --before-lib DIR (a directory holding another build's libkernel_lock_loader.so),
load_kernel is also timed through that library (LD_LIBRARY_PATH), in the same runs.

Usage: loader_bench.py --build-dir BUILD [--variant-dir DIR] [--runs N] [--reloads N] [--large-mb MB]
                       [--before-lib DIR] [--no-signed]
DIR is a built CPU variant (build/<variant>/ with metadata.json and the .so);
default: <BUILD or sibling build dirs>/hub-kernels/activation/build/torch*-cpu-*,
else the loader's test kernel. Prints markdown tables (median and min, ms).
"""
import argparse
import glob
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ID = "kernels-community/bench-kernel"
BEFORE = "C++ kernel_lock::load_kernel, previous loader library (--before-lib)"
SHA = "b" * 40


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def find_variant_dir(build_dir: Path) -> Path | None:
    roots = [build_dir] + sorted(p for p in build_dir.parent.glob("build*") if p != build_dir)
    for root in roots:
        hits = sorted(glob.glob(str(root / "hub-kernels" / "activation" / "build" / "torch*-cpu-*")))
        if hits:
            return Path(hits[-1])
    return None


def test_kernel_variant(build_dir: Path, work: Path, torch_mm: str) -> Path:
    ns = "_kl_test_cpu_a1b2c3d"
    so = build_dir / "loader" / "testkernels" / "v1" / f"{ns}.abi3.so"
    d = work / "src" / f"torch{torch_mm}-cxx11-cpu-x86_64-linux"
    d.mkdir(parents=True)
    shutil.copy(so, d / so.name)
    (d / "_ops.py").write_text(f"import torch\nfrom . import {ns}\nops = torch.ops.{ns}\n")
    (d / "__init__.py").write_text(
        "from ._ops import ops\n\ndef gelu_fast(out, x):\n    ops.gelu_fast(out, x)\n    return out\n")
    (d / "metadata.json").write_text(json.dumps({
        "name": "kl-test", "id": ns, "version": 1, "license": "Apache-2.0", "python-depends": [],
        "kernel-depends": [], "backend": {"type": "cpu"}}, indent=2))
    return d


def install(variant_dir: Path, cache: Path) -> tuple[str, Path]:
    """Writes the variant into an HF cache layout; returns (variant, .so path in the cache)."""
    repo = cache / ("kernels--" + REPO_ID.replace("/", "--"))
    variant = variant_dir.name
    pairs = []
    so_path = None
    for f in sorted(p for p in variant_dir.rglob("*") if p.is_file()):
        rel = f.relative_to(variant_dir).as_posix()
        if rel.endswith(".pyc") or "__pycache__" in rel.split("/"):
            continue
        data = f.read_bytes()
        digest = hashlib.sha256(data).hexdigest() if rel.endswith(".so") else git_blob_sha1(data)
        blob = repo / "blobs" / digest
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / SHA / "build" / variant / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
        pairs.append((rel.encode(), digest))
        if rel.endswith(".so"):
            so_path = blob
    h = hashlib.sha256()
    for path, digest in sorted(pairs):
        h.update(path)
        h.update(bytes.fromhex(digest))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "v1").write_text(SHA)
    lock = [{"repo_id": REPO_ID, "sha": SHA,
             "variants": {variant: {"hash": "sha256-" + h.hexdigest(), "hash_type": "git_lfs_concat"}}}]
    # kernel.lock: the hash-pinned shape our loader verifies against; kernels.lock:
    # the only shape the released Python kernels 0.17.2 reads (commit only).
    (cache.parent / "kernel.lock").write_text(json.dumps(lock, indent=2) + "\n")
    py_lock = [{"dependency": {"repo-id": REPO_ID, "version": 1}, "lock": {"commit": SHA}}]
    (cache.parent / "kernels.lock").write_text(json.dumps(py_lock, indent=2))
    return variant, so_path


PY_SNIPPET = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import logging; logging.disable(logging.WARNING)
import torch, kernels
from pathlib import Path
x = torch.randn(16, 1024); out = torch.empty_like(x)
t0 = time.perf_counter()
mod = kernels.load_kernel(sys.argv[1], lockfile=Path(sys.argv[2]), backend="cpu")
t1 = time.perf_counter()
getattr(torch.ops, sys.argv[3]).gelu_fast(out, x)
t2 = time.perf_counter()
print(json.dumps({"load_ms": (t1-t0)*1e3, "first_call_ms": (t2-t1)*1e3, "total_ms": (t2-t0)*1e3}))
"""


SIGNER = {
    "issuer": "https://token.actions.githubusercontent.com",
    "source_repository": "https://github.com/huggingface/kernels-community",
    "build_signer_uri": "https://github.com/huggingface/kernels-community/.github/workflows/build.yaml@refs/heads/main",
}


def signed_setup(build: Path, variant_dir: Path, work: Path, python: str) -> tuple[Path, Path, Path]:
    """A signed copy of `variant_dir` installed in work/signed/hub (trusted root
    imported); returns (lock pinning the signer, same lock without it, cache)."""
    pki_py = Path(__file__).resolve().parent.parent / "testing" / "sigstore" / "test_pki.py"
    src = work / "signed-src" / variant_dir.name
    shutil.copytree(variant_dir, src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pki = work / "pki"
    for argv in (["init", pki, "--seed", "loader bench", "--time", "2025-01-01T00:00:00Z"], ["digest", src],
                 ["sign", pki, src / "metadata.json"]):
        subprocess.run([python, pki_py, *map(str, argv)], check=True, capture_output=True)
    cache = work / "signed" / "hub"
    variant, _ = install(src, cache)
    subprocess.run([str(build / "cli" / "kernel-lock"), "trust", "import", str(pki / "trusted_root.json"),
                    "--cache", str(cache)], check=True, capture_output=True)
    bundle = json.loads((src / "metadata.json.sigstore").read_text())
    tlog = bundle["verificationMaterial"]["tlogEntries"][0]
    unsigned_lock = cache.parent / "kernel.lock"
    lock = json.loads(unsigned_lock.read_text())
    signing_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(tlog["integratedTime"])))
    lock[0]["signatures"] = {variant: dict(SIGNER, log_index=int(tlog["logIndex"]), signing_time=signing_time)}
    signed_lock = cache.parent / "kernel-signed.lock"
    signed_lock.write_text(json.dumps(lock, indent=2) + "\n")
    return signed_lock, unsigned_lock, cache


def measure_signed(bench_bin: Path, signed_lock: Path, unsigned_lock: Path, cache: Path, runs: int,
                   reloads: int) -> dict:
    env = dict(os.environ, HF_HUB_CACHE=str(cache), KERNELS_CACHE=str(cache), HF_HUB_OFFLINE="1")
    env.pop("KERNEL_LOCK_FILE", None)
    env.pop("KERNEL_LOCK_REQUIRE_SIGNATURE", None)
    methods = {"signed variant, signature + kernel digest checked": signed_lock,
               "same variant, lock without its signature record": unsigned_lock}
    results = {name: [] for name in methods}
    for _ in range(runs):
        for name, lock in methods.items():
            results[name].append(run([str(bench_bin), "reload", str(lock), REPO_ID, str(reloads)], env))
    return results


def print_signed(results: dict, runs: int, reloads: int) -> None:
    print()
    print(f"What verification adds to load_kernel ({runs} processes per row, {reloads} reloads each; "
          "medians over processes; ms):")
    print()
    print("| lock | provenance | first load (cold) | reload median | reload min |")
    print("|---|---|---:|---:|---:|")
    med = {}
    for name, rs in results.items():
        first = statistics.median(r["first_ms"] for r in rs)
        reload = statistics.median(r["reload_median_ms"] for r in rs)
        low = min(r["reload_min_ms"] for r in rs)
        med[name] = (first, reload, low)
        print(f"| {name} | {rs[0]['provenance']} | {first:.2f} | {reload:.3f} | {low:.3f} |")
    (f1, r1, m1), (f2, r2, m2) = med.values()
    print(f"| **verification adds** | | {f1 - f2:+.2f} | {r1 - r2:+.3f} | {m1 - m2:+.3f} |")


def padded_variant(variant_dir: Path, work: Path, size_mb: int) -> Path:
    """A copy of `variant_dir` whose .so is padded with zeros to `size_mb` MB."""
    dst = work / "large-src" / variant_dir.name
    shutil.copytree(variant_dir, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for so in dst.glob("*.so"):
        with open(so, "r+b") as f:
            f.truncate(max(so.stat().st_size, size_mb * 1000 * 1000))
    return dst


def openssl_ms(path: Path) -> dict:
    t0 = time.perf_counter()
    subprocess.run(["openssl", "dgst", "-sha256", str(path)], check=True, capture_output=True)
    ms = (time.perf_counter() - t0) * 1e3
    return {"load_ms": ms, "first_call_ms": 0.0, "total_ms": ms}


def measure_large(bench_bin: Path, variant_dir: Path, work: Path, ns: str, size_mb: int, runs: int,
                  before_lib: Path | None) -> tuple:
    cache = work / "large" / "hub"
    variant, so_path = install(padded_variant(variant_dir, work, size_mb), cache)
    env = dict(os.environ, HF_HUB_CACHE=str(cache), KERNELS_CACHE=str(cache), HF_HUB_OFFLINE="1")
    env.pop("KERNEL_LOCK_FILE", None)
    methods = {
        "C++ kernel_lock::load_kernel (verify + sealed memfd + dlopen)":
            lambda: run([str(bench_bin), "load_kernel", str(cache.parent / "kernel.lock"), REPO_ID, "gelu_fast"], env),
        "`openssl dgst -sha256` of the same .so (process start included)": lambda: openssl_ms(so_path),
        "C++ plain dlopen of the same .so (no checks)":
            lambda: run([str(bench_bin), "dlopen", str(so_path), ns, "gelu_fast"], env),
    }
    if before_lib:
        before_env = dict(env, LD_LIBRARY_PATH=str(before_lib))
        methods[BEFORE] = lambda: run([str(bench_bin), "load_kernel", str(cache.parent / "kernel.lock"), REPO_ID,
                                       "gelu_fast"], before_env)
    results = {name: [] for name in methods}
    for _ in range(runs):  # interleaved; the blob is in the page cache after the first run
        for name, fn in methods.items():
            results[name].append(fn())
    return so_path.stat().st_size, results


def print_load_table(results: dict) -> None:
    print("| method | load median | load min | first call median | load + first call median | min |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rs in results.items():
        load = [r["load_ms"] for r in rs]
        call = [r["first_call_ms"] for r in rs]
        total = [r["total_ms"] for r in rs]
        print(f"| {name} | {statistics.median(load):.2f} | {min(load):.2f} | {statistics.median(call):.2f} | "
              f"{statistics.median(total):.2f} | {min(total):.2f} |")


def run(cmd, env):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[:2]} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", type=Path, required=True)
    ap.add_argument("--variant-dir", type=Path)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--reloads", type=int, default=50)
    ap.add_argument("--large-mb", type=int, default=268, help="padded .so size of the large case; 0 skips it")
    ap.add_argument("--before-lib", type=Path, help="directory of a previous build's libkernel_lock_loader.so")
    ap.add_argument("--no-signed", action="store_true",
                    help="skip the signed-variant case (it needs the `cryptography` package for the test PKI)")
    args = ap.parse_args()
    build = args.build_dir.resolve()
    bench_bin = build / "bench" / "loader_bench"

    import torch  # only for the version tag of the test kernel variant
    torch_mm = "".join(torch.__version__.split("+")[0].split(".")[:2])

    with tempfile.TemporaryDirectory(prefix="kl-bench-") as tmp:
        work = Path(tmp)
        variant_dir = args.variant_dir or find_variant_dir(build)
        kind = "activation (our CPU build)" if variant_dir else "loader test kernel"
        if variant_dir is None:
            variant_dir = test_kernel_variant(build, work, torch_mm)
        cache = work / "hub"
        variant, so_path = install(variant_dir, cache)
        lock = work / "kernel.lock"
        py_lock = work / "kernels.lock"
        ns = json.loads((variant_dir / "metadata.json").read_text())["id"]
        env = dict(os.environ, HF_HUB_CACHE=str(cache), KERNELS_CACHE=str(cache), HF_HUB_OFFLINE="1")
        env.pop("KERNEL_LOCK_FILE", None)

        methods = {
            "C++ kernel_lock::load_kernel (verify + sealed memfd + dlopen)":
                [str(bench_bin), "load_kernel", str(lock), REPO_ID, "gelu_fast"],
            "C++ plain dlopen of the same .so (no checks)":
                [str(bench_bin), "dlopen", str(so_path), ns, "gelu_fast"],
            "Python kernels.load_kernel (offline, lockfile)":
                [args.python, "-c", PY_SNIPPET, REPO_ID, str(py_lock), ns],
        }
        before_env = dict(env, LD_LIBRARY_PATH=str(args.before_lib)) if args.before_lib else None
        if before_env:
            methods[BEFORE] = methods["C++ kernel_lock::load_kernel (verify + sealed memfd + dlopen)"]
        results = {name: [] for name in methods}
        for _ in range(args.runs):  # interleaved, so drift hits every method alike
            for name, cmd in methods.items():
                results[name].append(run(cmd, before_env if name == BEFORE else env))

        so_size = so_path.stat().st_size
        signed_results = None
        if not args.no_signed:
            signed = signed_setup(build, variant_dir, work, args.python)
            signed_results = measure_signed(bench_bin, *signed, args.runs, args.reloads)
        large = (measure_large(bench_bin, variant_dir, work, ns, args.large_mb, args.runs, args.before_lib)
                 if args.large_mb else None)
    print(f"Kernel: {kind}, variant `{variant}`, .so {so_size / 1e6:.2f} MB; "
          f"{args.runs} fresh processes per method, op `gelu_fast` on a 16x1024 fp32 CPU tensor; ms.")
    print()
    print_load_table(results)
    if signed_results is not None:
        print_signed(signed_results, args.runs, args.reloads)
    if large:
        size, large_results = large
        print()
        print(f"Large variant: the same variant, .so padded with zeros to {size / 1e6:.0f} MB "
              f"({args.runs} fresh processes per method; ms):")
        print()
        print_load_table(large_results)
        lk, ossl = (statistics.median(r["load_ms"] for r in rs) for rs in list(large_results.values())[:2])
        print(f"\nload_kernel / openssl dgst -sha256 (medians): {lk / ossl:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
