"""`kernel-lock hash` and `kernel-lock variants` against the real Python `kernels` code.

(a) Variant hash. kernels 0.17.2 no longer computes `git_lfs_concat` hashes; the last
    release that does is 0.16.2 (`kernels.lockfile.get_kernel_locks`, which hashes Hub
    tree entries, and `kernels.utils.validate_kernel`, which re-hashes an HF cache
    snapshot). We run those unmodified functions from the 0.16.2 wheel (fetched once
    from PyPI into the kernel-lock cache dir, or KERNEL_LOCK_LEGACY_KERNELS) in a
    subprocess, feeding them huggingface_hub RepoFile entries / a cache snapshot built
    from the same fixture files that `kernel-lock hash` reads. Blob ids come from
    `git hash-object`, LFS digests from hashlib.

(b) Variant selection. We call kernels 0.17.2's `_resolve_variant_for_system`
    (variants.py, the function `resolve_variants` delegates to) with explicit
    environments and compare the accepted ranking, the rejected set and the reasons
    with `kernel-lock variants --json`, for the names of the fixture locks and
    synthetic sets (stable ABI, tvm-ffi, noarch, universal, untagged, cxx98, darwin,
    windows, CANN, ...), many environments and shuffled input orders.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

SOURCE_DIR = Path(os.environ.get("KERNEL_LOCK_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("KERNEL_LOCK_BUILD_DIR", SOURCE_DIR / "build"))
FIXTURES = SOURCE_DIR / "fixtures" / "python-kernels"  # lock and requirement files written by Python `kernels`
LEGACY_VERSION = "0.16.2"


def kernel_lock_binary() -> Path:
    for candidate in (BUILD_DIR / "cli" / "kernel-lock", BUILD_DIR / "kernel-lock"):
        if candidate.exists():
            return candidate
    pytest.fail(f"kernel-lock binary not found under {BUILD_DIR}")


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(kernel_lock_binary()), *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"kernel-lock {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


# ---------------------------------------------------------------------------
# (a) hashing


def legacy_kernels_dir() -> Path:
    """Unpacked kernels 0.16.2 wheel (pure Python). Fetched from PyPI once."""
    explicit = os.environ.get("KERNEL_LOCK_LEGACY_KERNELS")
    if explicit:
        return Path(explicit)
    cache_root = Path(
        os.environ.get("KERNEL_LOCK_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kernel-lock"
    )
    target = cache_root / f"kernels-{LEGACY_VERSION}"
    if (target / "kernels" / "lockfile.py").exists():
        return target
    download = cache_root / f"kernels-{LEGACY_VERSION}.download-{os.getpid()}"
    download.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", f"kernels=={LEGACY_VERSION}", "--no-deps", "-q", "-d", str(download)],
        capture_output=True,
        text=True,
    )
    wheels = list(download.glob("kernels-*.whl"))
    if proc.returncode != 0 or not wheels:
        pytest.skip(f"kernels {LEGACY_VERSION} (reference hashing code) not available offline: {proc.stderr[-300:]}")
    unpacked = download / "unpacked"
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(unpacked)
    try:
        unpacked.rename(target)
    except OSError:
        pass  # another run got there first
    shutil.rmtree(download, ignore_errors=True)
    return target


# Runs in a subprocess with the 0.16.2 package importable as `kernels` (its
# __init__ is skipped and its compiled dependency `kernels_data`, which the
# hashing functions never touch, is stubbed).
REFERENCE_SCRIPT = textwrap.dedent(
    """
    import json, sys, types
    from pathlib import Path

    legacy, request = sys.argv[1], json.load(sys.stdin)
    stub = types.ModuleType("kernels_data")
    stub.__getattr__ = lambda name: type(name, (), {})
    sys.modules["kernels_data"] = stub
    pkg = types.ModuleType("kernels")
    pkg.__path__ = [legacy + "/kernels"]
    sys.modules["kernels"] = pkg

    import kernels.lockfile as lockfile
    import kernels.utils as utils
    from huggingface_hub.hf_api import RepoFile, RepoFolder

    assert Path(lockfile.__file__).is_relative_to(legacy), lockfile.__file__

    sha = request["sha"]

    class Ref:
        name = "v1"
        target_commit = sha

    class Info:
        pass

    class FakeApi:
        def repo_info(self, repo_id, repo_type=None, revision=None, **kw):
            info = Info()
            info.sha = sha
            return info

        def list_repo_tree(self, repo_id, repo_type=None, revision=None, recursive=False, **kw):
            assert recursive and revision == sha
            entries = [RepoFolder(path=p, oid="0" * 40) for p in request["folders"]]
            entries += [RepoFile(**entry) for entry in request["entries"]]
            return entries

    utils._get_hf_api = lambda *a, **k: FakeApi()
    lockfile.resolve_status = lambda api, repo_id, revision: (repo_id, None)
    lockfile.resolve_version_spec_as_ref = lambda repo_id, spec: Ref()

    lock = lockfile.get_kernel_locks(request["repo_id"], 1)
    out = {"tree": {name: v.hash for name, v in lock.variants.items()}, "cache": {}}
    # validate_kernel re-hashes a cache snapshot and raises on mismatch.
    for variant, expected in request.get("validate", {}).items():
        try:
            utils.validate_kernel(repo_path=Path(request["snapshot"]), variant=variant, hash=expected)
            out["cache"][variant] = "ok"
        except ValueError as e:
            out["cache"][variant] = str(e)
    json.dump(out, sys.stdout)
    """
)


def git_blob_id(path: Path) -> str:
    return subprocess.run(
        ["git", "hash-object", "--no-filters", str(path)], check=True, capture_output=True, text=True
    ).stdout.strip()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def make_build_tree(root: Path) -> dict[str, list[str]]:
    """Fixture variants under root/build; returns {variant: [relative paths written]}."""
    rng = random.Random(1234)
    blob = lambda n: bytes(rng.getrandbits(8) for _ in range(n))  # noqa: E731
    layout: dict[str, dict[str, bytes | str]] = {
        "torch211-cxx11-cu130-x86_64-linux": {
            "__init__.py": "from ._ops import ops\n",
            "_ops.py": "import torch\nops = torch.ops._act_cuda_abc1234\n",
            "_act_cuda_abc1234.abi3.so": blob(300_000),
            "metadata.json": '{"name": "act", "id": "_act_cuda_abc1234"}\n',
            "layers/__init__.py": "",
            "layers/norm.py": "class RMSNorm:\n    pass\n",
            "deep/nested/dir/data.txt": "nested\n",
            "deep/nested/lib.so": blob(5_000),
            "B.py": "# upper case sorts before lower case\n",
            "a b.py": "# a space\n",
            "caf\u00e9.py": "# non-ASCII name\n",
            "empty.txt": "",
            "__pycache__/__init__.cpython-311.pyc": blob(100),
            "layers/__pycache__/norm.cpython-311.pyc": blob(100),
            "layers/__pycache__/notes.txt": "skipped: under __pycache__\n",
            "stale.pyc": blob(10),
        },
        "torch211-cu130-x86_64-linux": {
            "__init__.py": "",
            "_ops.py": "ops = None\n",
            "_act_cuda_def5678.abi3.so": blob(3 * 1024 * 1024 + 17),
            "_extra.so": blob(1),
        },
        "torch-universal": {
            "__init__.py": "def f():\n    return 1\n",
            "act/__init__.py": "",
            "act/layers.py": "x = 1\n",
        },
        "torch-cuda": {"__init__.py": "# only one file\n"},
    }
    written: dict[str, list[str]] = {}
    for variant, files in layout.items():
        for rel, data in files.items():
            write(root / "build" / variant / rel, data)
        written[variant] = sorted(files)
    return written


def tree_entries(root: Path, written: dict[str, list[str]], is_lfs) -> tuple[list[dict], list[str]]:
    """Hub tree entries (as the /tree API returns them) for the fixture files."""
    entries, folders = [], set()
    for variant, files in written.items():
        for rel in files:
            path = root / "build" / variant / rel
            repo_path = f"build/{variant}/{rel}"
            parts = repo_path.split("/")
            folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
            size = path.stat().st_size
            entry = {"type": "file", "path": repo_path, "size": size}
            if is_lfs(rel):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                pointer = lfs_pointer(digest, size)
                pointer_file = root / "pointers" / hashlib.sha1(repo_path.encode()).hexdigest()
                write(pointer_file, pointer)
                entry["oid"] = git_blob_id(pointer_file)  # the tree oid of an LFS file
                entry["lfs"] = {"oid": digest, "size": size, "pointerSize": len(pointer)}
            else:
                entry["oid"] = git_blob_id(path)
            entries.append(entry)
    return entries, sorted(folders)


def make_cache_snapshot(root: Path, written: dict[str, list[str]], is_lfs, sha: str) -> Path:
    """An HF cache repo folder with blobs named by digest and relative symlinks."""
    repo = root / "cache" / "kernels--org--act"
    snapshot = repo / "snapshots" / sha
    for variant, files in written.items():
        for rel in files:
            src = root / "build" / variant / rel
            if rel.endswith(".pyc") or "__pycache__" in rel.split("/"):
                # Bytecode is never downloaded: Python writes it next to the links.
                write(snapshot / "build" / variant / rel, src.read_bytes())
                continue
            digest = hashlib.sha256(src.read_bytes()).hexdigest() if is_lfs(rel) else git_blob_id(src)
            write(repo / "blobs" / digest, src.read_bytes())
            link = snapshot / "build" / variant / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(os.path.relpath(repo / "blobs" / digest, link.parent))
    return snapshot


def reference_hashes(root: Path, written, is_lfs, validate: dict[str, str] | None = None) -> dict:
    sha = "1234567890abcdef1234567890abcdef12345678"
    entries, folders = tree_entries(root, written, is_lfs)
    request = {"repo_id": "org/act", "sha": sha, "entries": entries, "folders": folders}
    if validate is not None:
        request["snapshot"] = str(make_cache_snapshot(root, written, is_lfs, sha))
        request["validate"] = validate
    proc = subprocess.run(
        [sys.executable, "-c", REFERENCE_SCRIPT, str(legacy_kernels_dir())],
        input=json.dumps(request),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_hash_matches_python_kernels_lock_and_cache_validation(tmp_path):
    written = make_build_tree(tmp_path)
    is_lfs = lambda rel: rel.endswith(".so")  # noqa: E731  (our default --lfs '*.so')
    ours = {v: run_cli("hash", str(tmp_path / "build" / v)).stdout.strip() for v in written}
    ref = reference_hashes(tmp_path, written, is_lfs, validate=ours)
    assert ref["tree"] == ours
    assert ref["cache"] == {v: "ok" for v in written}
    # Our --cache-links mode reads the same snapshot and agrees.
    snapshot = tmp_path / "cache" / "kernels--org--act" / "snapshots" / "1234567890abcdef1234567890abcdef12345678"
    for variant, expected in ours.items():
        assert run_cli("hash", "--cache-links", str(snapshot / "build" / variant)).stdout.strip() == expected


def test_hash_with_custom_lfs_globs_matches_python(tmp_path):
    written = make_build_tree(tmp_path)
    globs = ["metadata.json", "deep/*", "*.so"]
    import fnmatch

    def is_lfs(rel: str) -> bool:
        base = rel.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(base, g) for g in globs)

    lfs_args = [arg for g in globs for arg in ("--lfs", g)]
    ours = {v: run_cli("hash", *lfs_args, str(tmp_path / "build" / v)).stdout.strip() for v in written}
    assert reference_hashes(tmp_path, written, is_lfs)["tree"] == ours
    # Not the same as the default: the choice of digest matters.
    default = run_cli("hash", str(tmp_path / "build" / "torch211-cxx11-cu130-x86_64-linux")).stdout.strip()
    assert default != ours["torch211-cxx11-cu130-x86_64-linux"]


def test_hash_files_and_json_listing(tmp_path):
    written = make_build_tree(tmp_path)
    variant_dir = tmp_path / "build" / "torch211-cxx11-cu130-x86_64-linux"
    doc = json.loads(run_cli("hash", "--json", str(variant_dir)).stdout)
    assert doc["hash_type"] == "git_lfs_concat"
    assert doc["hash"] == run_cli("hash", str(variant_dir)).stdout.strip()
    kept = [r for r in written["torch211-cxx11-cu130-x86_64-linux"] if not (r.endswith(".pyc") or "__pycache__" in r)]
    assert [f["path"] for f in doc["files"]] == sorted(kept, key=lambda p: p.encode())
    for f in doc["files"]:
        path = variant_dir / f["path"]
        assert f["size"] == path.stat().st_size
        if f["path"].endswith(".so"):
            assert (f["kind"], f["digest"]) == ("sha256", hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            assert (f["kind"], f["digest"]) == ("git-sha1", git_blob_id(path))
    lines = run_cli("hash", "--files", str(variant_dir)).stdout.splitlines()
    assert lines[-1] == doc["hash"]
    assert len(lines) == len(kept) + 1
    assert lines[0].split()[0] in ("git-sha1", "sha256")


def test_hash_errors_name_the_path(tmp_path):
    missing = tmp_path / "no-such-variant"
    proc = run_cli("hash", str(missing), check=False)
    assert proc.returncode == 5
    assert str(missing) in proc.stderr
    variant = tmp_path / "v"
    write(variant / "a.py", "x")
    (variant / "broken").symlink_to(tmp_path / "nowhere")
    proc = run_cli("hash", str(variant), check=False)
    assert proc.returncode == 5
    assert str(variant / "broken") in proc.stderr
    (variant / "broken").unlink()
    os.mkfifo(variant / "fifo")
    proc = run_cli("hash", str(variant), check=False)
    assert proc.returncode == 3
    assert "fifo" in proc.stderr
    assert run_cli("hash", "--help").stdout.count("__pycache__") >= 1


# ---------------------------------------------------------------------------
# (b) variant selection


def fixture_names() -> list[str]:
    names: set[str] = set()
    for lock in FIXTURES.glob("*/kernels.lock"):
        for kernel in json.loads(lock.read_text()):
            names.update(kernel["variants"])
    assert len(names) > 40
    return sorted(names)


SYNTHETIC = sorted(
    {
        *(f"torch-stable-abi{t}-{b}-{a}-linux" for t in ("29", "210", "211", "212")
          for b in ("cu126", "cu128", "cu130", "cu132", "cpu", "rocm71", "xpu20253") for a in ("x86_64", "aarch64")),
        *(f"tvm-ffi{t}-{b}-x86_64-linux" for t in ("01", "02") for b in ("cu126", "cu130", "cpu", "rocm71")),
        *(f"torch-{b}" for b in ("cpu", "cuda", "rocm", "xpu", "npu", "metal", "universal", "tpu", "neuron", "cann")),
        *(f"torch{t}-{b}-x86_64-linux" for t in ("210", "211", "212") for b in ("cu126", "cu128", "cu130", "cpu")),
        *(f"torch{t}-cxx98-{b}-x86_64-linux" for t in ("26", "211") for b in ("cu118", "cu130", "cpu")),
        *(f"torch{t}-{b}-aarch64-darwin" for t in ("211", "212") for b in ("cpu", "metal")),
        "torch211-cxx11-metal-aarch64-darwin",
        *(f"torch{t}-cu{c}-x86_64-windows" for t in ("210", "211") for c in ("128", "130")),
        *(f"torch211-cxx11-{b}-aarch64-linux" for b in ("cann80", "cann81", "cu130", "tpu", "neuron")),
        "torch211-cxx11-xpu20260-x86_64-linux",
        "torch211-cxx11-rocm64-x86_64-linux",
        "torch211-cxx11-cu1210-x86_64-linux",
    }
)

BACKENDS = {
    "cpu": [None],
    "cuda": ["11.8", "12.6", "12.8", "13.0", "13.2"],
    "rocm": ["6.4", "7.1", "7.2"],
    "xpu": ["2025.3", "2026.0"],
    "cann": ["8.0"],
    "metal": [None],
    "tpu": [None],
    "neuron": [None],
}


def python_selection(names: list[str], env: dict) -> tuple[list[str], list[tuple[str, str]]]:
    from packaging.version import Version

    from kernels import backends
    from kernels.variants import VariantAccepted, _resolve_variant_for_system, parse_variant

    version = Version(env["backend_version"]) if env["backend_version"] else None
    selected = {
        "cpu": lambda: backends.CPU(),
        "cuda": lambda: backends.CUDA(version=version),
        "rocm": lambda: backends.ROCm(version=version),
        "xpu": lambda: backends.XPU(version=version),
        "cann": lambda: backends.CANN(version=version),
        "metal": lambda: backends.Metal(),
        "tpu": lambda: backends.TPU(),
        "neuron": lambda: backends.Neuron(),
    }[env["backend"]]()
    accepted, trace = _resolve_variant_for_system(
        variants=[parse_variant(n) for n in names],
        selected_backend=selected,
        cpu=env["arch"],
        os=env["os"],
        torch_version=Version(env["torch"]),
        # resolve_variants only knows the ABI on Linux.
        torch_cxx11_abi=env["cxx11"] if env["os"] == "linux" else None,
        tvm_ffi_version=Version(env["tvm_ffi"]) if env["tvm_ffi"] else None,
        macos_version=Version(env["macos"]) if env["macos"] else None,
    )
    rejected = [(d.variant.variant_str, d.reason) for d in trace if not isinstance(d, VariantAccepted)]
    return [v.variant_str for v in accepted], rejected


def ours_selection(names: list[str], env: dict) -> tuple[list[str], list[tuple[str, str]], int]:
    args = ["variants", "--json", "--torch", env["torch"], "--backend", env["backend"], "--arch", env["arch"],
            "--os", env["os"], "--cxx11-abi" if env["cxx11"] else "--cxx98-abi"]
    if env["backend_version"]:
        args += ["--backend-version", env["backend_version"]]
    if env["tvm_ffi"]:
        args += ["--tvm-ffi", env["tvm_ffi"]]
    if env["macos"]:
        args += ["--macos", env["macos"]]
    proc = run_cli(*args, *names, check=False)
    assert proc.returncode in (0, 9), proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["selected"] == (doc["ranked"][0] if doc["ranked"] else None)
    return doc["ranked"], [(r["name"], r["reason"]) for r in doc["rejected"]], proc.returncode


def environments(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    curated = [
        dict(torch="2.11", cxx11=True, backend="cuda", backend_version="13.0", arch="x86_64", os="linux",
             tvm_ffi=None, macos=None),
        dict(torch="2.11", cxx11=True, backend="cuda", backend_version="13.2", arch="x86_64", os="linux",
             tvm_ffi="0.1", macos=None),
        dict(torch="2.10", cxx11=True, backend="rocm", backend_version="7.1", arch="x86_64", os="linux",
             tvm_ffi=None, macos=None),
        dict(torch="2.12", cxx11=True, backend="xpu", backend_version="2025.3", arch="x86_64", os="linux",
             tvm_ffi=None, macos=None),
        dict(torch="2.11", cxx11=True, backend="metal", backend_version=None, arch="aarch64", os="darwin",
             tvm_ffi=None, macos="26.0"),
        dict(torch="2.11", cxx11=True, backend="metal", backend_version=None, arch="aarch64", os="darwin",
             tvm_ffi=None, macos="15.5"),
        dict(torch="2.11", cxx11=True, backend="cpu", backend_version=None, arch="aarch64", os="darwin",
             tvm_ffi=None, macos=None),
        dict(torch="2.11", cxx11=True, backend="cann", backend_version="8.0", arch="aarch64", os="linux",
             tvm_ffi=None, macos=None),
        dict(torch="2.6", cxx11=False, backend="cuda", backend_version="11.8", arch="x86_64", os="linux",
             tvm_ffi=None, macos=None),
        dict(torch="2.11", cxx11=False, backend="cpu", backend_version=None, arch="x86_64", os="linux",
             tvm_ffi="0.2", macos=None),
        dict(torch="2.10", cxx11=True, backend="cuda", backend_version="13.0", arch="x86_64", os="windows",
             tvm_ffi=None, macos=None),
        dict(torch="2.11", cxx11=True, backend="tpu", backend_version=None, arch="aarch64", os="linux",
             tvm_ffi=None, macos=None),
    ]
    out = list(curated)
    while len(out) < count:
        backend = rng.choice(sorted(BACKENDS))
        out.append(
            dict(
                torch=rng.choice(["2.6", "2.9", "2.10", "2.11", "2.12", "2.13"]),
                cxx11=rng.random() < 0.8,
                backend=backend,
                backend_version=rng.choice(BACKENDS[backend]),
                arch=rng.choice(["x86_64", "aarch64"]),
                os=rng.choice(["linux", "linux", "darwin", "windows"]),
                tvm_ffi=rng.choice([None, None, "0.1", "0.2"]),
                macos=rng.choice([None, "15.5", "26.0", "26.2"]),
            )
        )
    return out


@pytest.mark.parametrize("name_set", ["fixtures", "synthetic", "mixed"])
def test_variants_ranking_matches_python_kernels(name_set):
    rng = random.Random(["fixtures", "synthetic", "mixed"].index(name_set))
    base = {"fixtures": fixture_names(), "synthetic": SYNTHETIC, "mixed": fixture_names() + SYNTHETIC}[name_set]
    base = list(dict.fromkeys(base))
    checked = fits = 0
    for i, env in enumerate(environments(120, seed=7 + len(base))):
        names = list(base)
        rng.shuffle(names)  # Python's sort is stable: equal keys keep the input order
        if i % 3 == 1:
            names = rng.sample(names, k=max(1, len(names) // 4))
        want_ranked, want_rejected = python_selection(names, env)
        got_ranked, got_rejected, rc = ours_selection(names, env)
        context = f"env={env} names={names}"
        assert got_ranked == want_ranked, context
        assert got_rejected == want_rejected, context
        assert rc == (0 if want_ranked else 9)
        checked += 1
        fits += bool(want_ranked)
    assert checked >= 120
    assert fits >= 10  # the comparison exercised real rankings, not just rejections


def test_variant_name_parsing_agrees_with_python():
    from kernels.variants import parse_variant

    candidates = fixture_names() + SYNTHETIC + [
        "torch211", "torch211-cxx11", "torch211-cu130-x86_64", "torch211-cuda-x86_64-linux",
        "torch211-cu1-x86_64-linux", "torch2-cpu-x86_64-linux", "tvm-ffi1-cpu-x86_64-linux",
        "tvm-ffi-cpu-x86_64-linux", "torch-stable-abi-cu130-x86_64-linux", "torch-stable-abi210-x86_64-linux",
        "foo-cpu", "torch211-gpu-x86_64-linux", "torch211-cu130-x86_64-linux-extra", "torch-stable",
        "torch211-cxx11-cu130-x86_64-linux", "torch-foo-bar", "tvm-ffi012-cpu-x86_64-linux",
    ]
    env = dict(torch="2.11", cxx11=True, backend="cpu", backend_version=None, arch="x86_64", os="linux",
               tvm_ffi=None, macos=None)
    _, rejected, _ = ours_selection(candidates, env)
    refused = {name for name, reason in rejected if reason.startswith("not a variant name")}
    for name in candidates:
        try:
            parse_variant(name)
            python_ok = True
        except ValueError:
            python_ok = False
        assert python_ok == (name not in refused), name
    # Documented divergence (variant.cpp): names with an empty component, which
    # Python parses (and then can only reject or mis-handle), are refused by us.
    _, rejected, _ = ours_selection(["torch", "torch-", "torch211-cu130--linux"], env)
    assert all(reason.startswith("not a variant name") for _, reason in rejected) and len(rejected) == 3
    for name in ("torch", "torch-", "torch211-cu130--linux"):
        parse_variant(name)  # Python accepts them


def test_variants_from_lock_and_text_output():
    lock = FIXTURES / "kernel_locking" / "kernels.lock"
    repo = json.loads(lock.read_text())[0]["repo_id"]
    proc = run_cli("variants", "--lock", str(lock), "--repo", repo, "--torch", "2.11", "--backend", "cuda",
                   "--backend-version", "13.0", "--arch", "x86_64", "--os", "linux")
    assert "torch211-cxx11-cu130-x86_64-linux  (selected)" in proc.stdout
    assert "rejected:" in proc.stdout
    none = run_cli("variants", "--torch", "2.11", "--backend", "cuda", "--backend-version", "12.8", "--arch",
                   "x86_64", "--os", "linux", "torch211-cxx11-cu130-x86_64-linux", "torch-cpu", check=False)
    assert none.returncode == 9
    assert "nearest miss: torch211-cxx11-cu130-x86_64-linux" in none.stdout
    assert run_cli("variants", "--lock", str(lock), "--repo", "no/such", check=False).returncode == 5
    assert run_cli("variants", "--backend", "cuda", "torch-cuda", check=False).returncode == 2
