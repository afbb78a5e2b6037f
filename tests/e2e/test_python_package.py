"""The `kernel_lock` Python package (python/, docs/python.md) on our real
kernels from the fixture Hub: resolved (activation v2 signed, rmsnorm v1 not),
bundled and installed into an air-gapped HF cache with the CLI, then loaded by
every load function from Python; the C++ loader's tamper cases repeated from
Python; a change on disk after verification changes nothing in the process
(shared object and Python files); and the same kernels used through Python
`kernels` (get_kernel, LayerRepository + kernelize) with and without
`kernel_lock.patch_kernels()`.

Each case runs in a fresh interpreter (kernels cannot be unloaded) with
PYTHONPATH=<build>/python, the package the normal CMake build makes. Skipped
when the loader (and so the extension) or the compiled kernels are not built.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from conftest import BUILD_DIR, HubServer, last_json
from hf_cache_helpers import git_blob_sha1

PKG_DIR = BUILD_DIR / "python"
ACT, RMS = "kernels-test/activation", "kernels-test/rmsnorm"
ACT_FOLDER = "kernels--kernels-test--activation"

if not list((PKG_DIR / "kernel_lock").glob("_native*.so")):
    pytest.skip(f"kernel_lock._native is not built in {PKG_DIR} (loader off?)", allow_module_level=True)


def cpu_variant() -> str:
    v = torch.__version__.split("+")[0].split(".")
    abi = "cxx11" if torch.compiled_with_cxx11_abi() else "cxx98"
    return f"torch{v[0]}{v[1]}-{abi}-cpu-{platform.machine()}-linux"


def kl(bin_path: Path, *args, env: dict) -> subprocess.CompletedProcess:
    r = subprocess.run([str(bin_path), *map(str, args)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"kernel-lock {args}: {r.stdout}\n{r.stderr}"
    return r


class Setup:
    """A project locking activation v2 (signed) and rmsnorm v1, its kernel.lock,
    the Python-shaped kernels.lock, and an offline cache installed from a bundle."""

    def __init__(self, kl_bin: Path, dev_bin: Path, hub: Path, tmp: Path):
        self.tmp = tmp
        root = hub / ".sigstore-pki" / "trusted_root.json"
        server = HubServer([str(dev_bin), "serve", str(hub), "--port", "0"], None)
        try:
            self.online = self._env(tmp / "online-cache", HF_ENDPOINT=server.url, HF_HUB_OFFLINE="0")
            self.proj = tmp / "proj"
            self.proj.mkdir()
            (self.proj / "kernels.yaml").write_text(f"kernels:\n  {ACT}:\n    version: 2\n  {RMS}:\n    version: 1\n")
            kl(kl_bin, "resolve", self.proj, "-q", "--trusted-root", root, env=self.online)
            self.lock = self.proj / "kernel.lock"
            self.entries = {e["repo_id"]: e for e in json.loads(self.lock.read_text())}
            if any(cpu_variant() not in e["variants"] for e in self.entries.values()):
                pytest.skip(f"the fixture Hub has no {cpu_variant()} variant of the compiled kernels")
            bundle = tmp / "kernels.tar.zst"
            kl(kl_bin, "bundle", self.proj, "-o", bundle, "--trusted-root", root, env=self.online)
        finally:
            server.stop()
        self.cache = tmp / "cache"
        self.env = self._env(self.cache)
        kl(kl_bin, "install", bundle, env=self.env)
        kl(kl_bin, "trust", "import", root, "--cache", self.cache, env=self.env)
        self.py_lock = tmp / "kernels.lock"
        self.py_lock.write_text(kl(kl_bin, "lock-fmt", "--python", self.lock, env=self.env).stdout)

    def _env(self, cache: Path, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "KERNELS_", "KERNEL_LOCK_"))}
        env.update(HF_HUB_CACHE=str(cache), HF_HOME=str(self.tmp / "hf-home"), HF_HUB_OFFLINE="1",
                   HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_DISABLE_XET="1", PYTHONPATH=str(PKG_DIR),
                   HF_TOKEN_PATH=str(self.tmp / "no-token"), CUDA_VISIBLE_DEVICES="")  # CPU variants
        env.update(extra)
        return env

    def sha(self, repo_id: str = ACT) -> str:
        return self.entries[repo_id]["sha"]

    def copy_cache(self, name: str) -> tuple[Path, dict]:
        dest = self.tmp / name
        shutil.copytree(self.cache, dest, symlinks=True)
        return dest, self._env(dest)

    def variant_dir(self, cache: Path, repo_id: str = ACT) -> Path:
        folder = "kernels--" + repo_id.replace("/", "--")
        return cache / folder / "snapshots" / self.sha(repo_id) / "build" / cpu_variant()


@pytest.fixture(scope="module")
def setup(tmp_path_factory, kernel_lock_bin, kernel_lock_dev_bin, fixture_hub) -> Setup:
    if not (fixture_hub / ".sigstore-pki" / "trusted_root.json").is_file():
        pytest.skip("the fixture Hub has no compiled kernels (KERNEL_LOCK_BUILD_KERNELS=OFF?)")
    return Setup(kernel_lock_bin, kernel_lock_dev_bin, fixture_hub, tmp_path_factory.mktemp("pypkg"))


def dd(code: str) -> str:
    return textwrap.dedent(code)


def py(code: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    prelude = "import json, sys, torch\nimport kernel_lock\n"
    proc = subprocess.run([sys.executable, "-c", prelude + code], env=env, capture_output=True,
                          text=True, timeout=300)
    if check and proc.returncode != 0:
        pytest.fail(f"python failed ({proc.returncode})\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc


# Checks every op of both kernels against PyTorch; prints nothing, raises on a mismatch.
CHECK_OPS = """
def check_ops(act, rms):
    x = torch.randn(3, 16, dtype=torch.float32)
    ref = {"gelu_fast": torch.nn.functional.gelu(x, approximate="tanh"), "silu": torch.nn.functional.silu(x)}
    for name, want in ref.items():
        got = getattr(act, name)(torch.empty_like(x), x)
        assert torch.allclose(got, want, atol=1e-5), name
    d = x.shape[-1] // 2
    want = torch.nn.functional.silu(x[..., :d]) * x[..., d:]
    assert torch.allclose(act.layers.SiluAndMul()(x), want, atol=1e-5)
    w = torch.randn(16)
    out = torch.empty_like(x)
    rms.ops.rms_norm(out, x, w, 1e-6)
    want = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w
    assert torch.allclose(out, want, atol=1e-5)
"""


def test_load_kernel_verifies_signature_and_lock_and_runs_ops(setup: Setup):
    res = last_json(py(CHECK_OPS + dd(f"""
        act = kernel_lock.load_kernel({ACT!r}, lockfile={str(setup.lock)!r})
        rms = kernel_lock.load_kernel({RMS!r}, lockfile={str(setup.proj)!r})  # a directory works too
        check_ops(act, rms)
        meta = json.loads(open(act.__file__.replace("__init__.py", "metadata.json")).read())
        info = act.__kernel_lock__
        print(json.dumps({{"act": info.provenance, "rms": rms.__kernel_lock__.provenance, "name": act.__name__,
                          "id": meta["id"], "trust": info.trust, "variant": info.variant, "file": act.__file__,
                          "mods": sorted(k for k in sys.modules if k.startswith(act.__name__)),
                          "signer": info.signer, "again": kernel_lock.load_kernel({ACT!r},
                          lockfile={str(setup.lock)!r}) is act}}))
    """), setup.env))
    assert res["act"].startswith("signed by https://github.com/huggingface/kernels-community/"), res
    assert res["rms"] == "pinned by the lock only"
    assert res["name"] == res["id"]  # the module name kernels uses (metadata.json id)
    assert res["trust"] == "locked" and res["variant"] == cpu_variant()
    assert res["file"] == str(setup.variant_dir(setup.cache) / "__init__.py")
    ns = res["name"]
    assert res["mods"] == sorted([ns, f"{ns}.{ns}", f"{ns}._ops", f"{ns}.layers"])
    assert res["signer"]["issuer"] and res["signer"]["build_signer_uri"]
    assert res["again"] is True


def test_get_locked_kernel_and_python_lock(setup: Setup):
    env = dict(setup.env, KERNEL_LOCK_FILE=str(setup.lock))
    res = last_json(py(CHECK_OPS + dd(f"""
        act = kernel_lock.get_locked_kernel({ACT!r}, lockfile=None)     # $KERNEL_LOCK_FILE
        rms = kernel_lock.get_locked_kernel({RMS!r}, lockfile={str(setup.py_lock)!r})  # kernels' own lock shape
        check_ops(act, rms)
        print(json.dumps({{"act": act.__kernel_lock__.trust, "rms": rms.__kernel_lock__.trust,
                          "where": str(kernel_lock.locate_lockfile())}}))
    """), env))
    assert res == {"act": "locked", "rms": "cache_blobs", "where": str(setup.lock)}


def _installed_package(site: Path, name: str, lock: Path, lock_name: str, body: str) -> None:
    """An installed distribution `name` (package + .dist-info) whose metadata carries `lock` as `lock_name`."""
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(dd(body))
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "top_level.txt").write_text(name + "\n")
    shutil.copy(lock, info / lock_name)
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in (f"{name}/__init__.py", f"{info.name}/METADATA",
                                                                f"{info.name}/top_level.txt",
                                                                f"{info.name}/{lock_name}", f"{info.name}/RECORD")))


def test_lockfile_none_reads_the_calling_packages_metadata(setup: Setup):
    """As `kernels`: load_kernel(lockfile=None) called from an installed package uses the lock in that
    package's .dist-info (kernel.lock, else kernels.lock), also through patched `kernels`; code that
    is no installed package falls back to the search (nothing found here: KernelNotFoundError)."""
    site = setup.tmp / "site-caller"
    _installed_package(site, "klpinned", setup.lock, "kernel.lock", f"""
        import kernel_lock
        def load():
            return kernel_lock.load_kernel({ACT!r}), str(kernel_lock.locate_lockfile())
    """)
    _installed_package(site, "klpython", setup.py_lock, "kernels.lock", f"""
        import kernels
        def load():
            return kernels.load_kernel({RMS!r})
    """)
    env = dict(setup.env, PYTHONPATH=str(site) + os.pathsep + setup.env["PYTHONPATH"])
    res = last_json(py(dd(f"""
        import klpinned, klpython
        kernel_lock.patch_kernels()
        act, where = klpinned.load()
        rms = klpython.load()
        try:
            kernel_lock.load_kernel({ACT!r})
            outside = "loaded"
        except kernel_lock.KernelNotFoundError as e:
            outside = type(e).__name__
        print(json.dumps({{"act": act.__kernel_lock__.trust, "where": where, "rms": rms.__kernel_lock__.trust,
                          "outside": outside}}))
    """), env))
    assert res == {"act": "locked", "where": str(site / "klpinned-0.1.dist-info" / "kernel.lock"),
                   "rms": "cache_blobs", "outside": "KernelNotFoundError"}


def test_loads_before_kernels_is_imported_are_listed_when_it_is(setup: Setup):
    res = last_json(py(dd(f"""
        act = kernel_lock.load_kernel({ACT!r}, lockfile={str(setup.lock)!r})
        before = "kernels" in sys.modules
        import kernels
        listed = [lk for lk in kernels.get_loaded_kernels() if lk.module is act]
        hooks = [f for f in sys.meta_path if type(f).__name__ == "_ListWhenKernelsLoads"]
        rms = kernel_lock.load_kernel({RMS!r}, lockfile={str(setup.lock)!r})  # kernels imported: listed at once
        print(json.dumps({{"kernels_imported_before": before, "listed": [lk.metadata.id for lk in listed],
                          "hooks_left": len(hooks),
                          "rms_listed": any(lk.module is rms for lk in kernels.get_loaded_kernels())}}))
    """), setup.env))
    assert res == {"kernels_imported_before": False, "listed": [res["listed"][0]], "hooks_left": 0, "rms_listed": True}
    assert res["listed"][0].startswith("_activation_")


def test_get_locked_kernel_downloads_verified(setup: Setup, start_hub_server, fixture_hub):
    server = start_hub_server(fixture_hub)
    cache = setup.tmp / "download-cache"
    env = setup._env(cache, HF_ENDPOINT=server.url, HF_HUB_OFFLINE="0")
    # offline (local_files=True): refused, nothing downloaded
    r = py(dd(f"""
        try:
            kernel_lock.get_locked_kernel({RMS!r}, lockfile={str(setup.lock)!r}, local_files=True)
        except FileNotFoundError as e:
            print(json.dumps({{"type": type(e).__name__, "msg": str(e)}}))
    """), env)
    err = last_json(r)
    assert err["type"] == "KernelNotFoundError" and "kernel-lock install" in err["msg"]
    res = last_json(py(dd(f"""
        rms = kernel_lock.get_locked_kernel({RMS!r}, lockfile={str(setup.lock)!r})
        print(json.dumps({{"trust": rms.__kernel_lock__.trust, "ops": [o["name"] for o in rms.__kernel_lock__.ops]}}))
    """), env))
    assert res["trust"] == "locked" and "rms_norm" in res["ops"]
    assert [p.name for p in (cache / "kernels--kernels-test--rmsnorm" / "snapshots").glob("*/build/*")] == [cpu_variant()]


def test_get_kernel_has_kernel_get_local_kernel(setup: Setup):
    local = BUILD_DIR / "hub-kernels" / "rmsnorm"
    res = last_json(py(CHECK_OPS + dd(f"""
        act = kernel_lock.get_kernel({ACT!r}, version=2)
        by_sha = kernel_lock.get_kernel({ACT!r}, revision={setup.sha()!r})
        rms = kernel_lock.get_local_kernel({str(local)!r})
        check_ops(act, rms)
        print(json.dumps({{"act": act.__kernel_lock__.trust, "same": by_sha is act,
                          "local": rms.__kernel_lock__.trust, "prov": act.__kernel_lock__.provenance,
                          "has": [kernel_lock.has_kernel({ACT!r}, version=2), kernel_lock.has_kernel({RMS!r}, version=1),
                                  kernel_lock.has_kernel({ACT!r}, version=9), kernel_lock.has_kernel("x/none", version=1),
                                  kernel_lock.has_kernel({ACT!r}, version=2, backend="cpu")]}}))
    """), setup.env))
    assert res["act"] == "cache_blobs" and res["prov"] == "cache blobs only (unpinned)"
    assert res["same"] is True
    assert res["local"] == "local"
    assert res["has"] == [True, True, False, False, True]


def test_errors_match_kernels_types(setup: Setup):
    res = last_json(py(dd(f"""
        out = {{}}
        def attempt(key, fn):
            try:
                fn()
                out[key] = None
            except Exception as e:
                out[key] = [type(e).__name__, [c.__name__ for c in type(e).__mro__], str(e), getattr(e, "exit_code", 0)]
        attempt("not_locked", lambda: kernel_lock.load_kernel("kernels-test/nope", lockfile={str(setup.lock)!r}))
        attempt("not_locked_get", lambda: kernel_lock.get_locked_kernel("kernels-test/nope", lockfile={str(setup.lock)!r}))
        attempt("both", lambda: kernel_lock.get_kernel({ACT!r}, revision="main", version=1))
        attempt("neither", lambda: kernel_lock.get_kernel({ACT!r}))
        attempt("not_cached", lambda: kernel_lock.get_kernel("kernels-test/nope", version=1))
        attempt("no_lock", lambda: kernel_lock.load_kernel({ACT!r}, lockfile="/nonexistent/kernel.lock"))
        attempt("bad_backend", lambda: kernel_lock.load_kernel({ACT!r}, lockfile={str(setup.lock)!r}, backend="tpu"))
        attempt("unknown_option", lambda: kernel_lock.load_kernel({ACT!r}, lockfile={str(setup.lock)!r}, nope=1))
        attempt("require_sig", lambda: kernel_lock.load_kernel({RMS!r}, lockfile={str(setup.lock)!r}, require_signature=True))
        print(json.dumps(out))
    """), setup.env))
    # As kernels: a repo missing from the lock is a ValueError (still exit code 5, not found).
    assert res["not_locked"][0] == "KernelNotLockedError" and "ValueError" in res["not_locked"][1]
    assert "FileNotFoundError" not in res["not_locked"][1] and res["not_locked"][3] == 5
    assert "kernel-lock resolve" in res["not_locked"][2]  # the hint
    assert res["not_locked_get"][0] == "KernelNotLockedError"
    assert res["both"][0] == "ValueError" and res["neither"][0] == "ValueError"
    assert "FileNotFoundError" in res["not_cached"][1] and "kernel-lock install" in res["not_cached"][2]
    assert "FileNotFoundError" in res["no_lock"][1]
    assert "ValueError" in res["bad_backend"][1]
    assert res["unknown_option"][0] == "TypeError"
    assert "VerificationError" in res["require_sig"][1] and res["require_sig"][3] == 6


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _so(variant: Path) -> Path:
    return next(variant.glob("*.so"))


# get_kernel is unpinned (no lock, no file list): it sees a blob whose bytes do not match its name
# and links leaving blobs/, not an added or swapped well-formed blob (test_file_added_... below).
@pytest.mark.parametrize("case,how", [
    (c, "load_kernel") for c in ("so_byte", "py_byte", "file_added", "swapped_for_other_variant", "symlink_out")
] + [(c, "get_kernel") for c in ("so_byte", "py_byte", "symlink_out")])
def test_tampered_cache_is_refused_before_anything_loads(setup: Setup, case: str, how: str):
    cache, env = setup.copy_cache(f"tamper-{case}-{how}")
    variant = setup.variant_dir(cache)
    blobs = cache / ACT_FOLDER / "blobs"
    if case == "so_byte":
        _flip(_so(variant).resolve())
    elif case == "py_byte":
        blob = (variant / "layers.py").resolve()
        blob.write_bytes(blob.read_bytes().replace(b"def forward", b"def forwarD", 1))
    elif case == "file_added":
        data = b"import os\n"
        (blobs / git_blob_sha1(data)).write_bytes(data)
        (variant / "extra.py").symlink_to(os.path.relpath(blobs / git_blob_sha1(data), variant))
    elif case == "swapped_for_other_variant":
        # rmsnorm's _ops.py (another kernel's variant), as a valid blob of this repo
        data = (setup.variant_dir(cache, RMS) / "_ops.py").read_bytes()
        (blobs / git_blob_sha1(data)).write_bytes(data)
        (variant / "_ops.py").unlink()
        (variant / "_ops.py").symlink_to(os.path.relpath(blobs / git_blob_sha1(data), variant))
    elif case == "symlink_out":
        outside = setup.tmp / f"outside-{how}.py"
        outside.write_bytes((variant / "__init__.py").read_bytes())
        (variant / "__init__.py").unlink()
        (variant / "__init__.py").symlink_to(outside)
    call = (f"kernel_lock.load_kernel({ACT!r}, lockfile={str(setup.lock)!r})" if how == "load_kernel"
            else f"kernel_lock.get_kernel({ACT!r}, version=2)")
    res = last_json(py(dd(f"""
        try:
            {call}
            out = {{"loaded": True}}
        except kernel_lock.KernelLockError as e:
            out = {{"type": type(e).__name__, "verification": isinstance(e, kernel_lock.VerificationError),
                   "code": e.exit_code, "msg": str(e)}}
        out["modules"] = sorted(k for k in sys.modules if k.startswith("_activation_"))
        print(json.dumps(out))
    """), env))
    assert "loaded" not in res, res
    assert res["modules"] == []  # nothing of the kernel executed
    assert res["verification"] is True and res["code"] == 6, res


def test_file_added_is_loaded_by_unpinned_get_kernel_but_not_imported(setup: Setup):
    """The unpinned path has no file list: an added, well-formed blob verifies by its name. It is
    still only reachable by an import of its name, served from the sealed bytes."""
    cache, env = setup.copy_cache("added-unpinned")
    variant = setup.variant_dir(cache)
    data = b"MARK = 'verified copy'\n"
    blobs = cache / ACT_FOLDER / "blobs"
    (blobs / git_blob_sha1(data)).write_bytes(data)
    (variant / "extra.py").symlink_to(os.path.relpath(blobs / git_blob_sha1(data), variant))
    res = last_json(py(dd(f"""
        act = kernel_lock.get_kernel({ACT!r}, version=2)
        import importlib
        print(json.dumps({{"files": act.__kernel_lock__.files, "mark": importlib.import_module(act.__name__ + ".extra").MARK}}))
    """), env))
    assert "extra.py" in res["files"] and res["mark"] == "verified copy"


def test_change_on_disk_after_verification_changes_nothing(setup: Setup):
    """Loaded, then every file of the variant is changed on disk (.so zeroed in the middle, .py
    files rewritten, a new module added): the process keeps running the verified bytes — ops,
    re-imported submodules, importlib.reload, tracebacks' source lines — and cannot import the new file."""
    cache, env = setup.copy_cache("after")
    variant = setup.variant_dir(cache)
    res = last_json(py(CHECK_OPS + dd(f"""
        import importlib, inspect, os
        from pathlib import Path
        act = kernel_lock.load_kernel({ACT!r}, lockfile={str(setup.lock)!r})
        rms = kernel_lock.load_kernel({RMS!r}, lockfile={str(setup.lock)!r})
        variant = Path({str(variant)!r})
        before = inspect.getsource(act.layers)
        so = next(variant.glob("*.so")).resolve()
        data = bytearray(so.read_bytes())
        data[len(data) // 4: len(data) // 2] = bytes(len(data) // 2 - len(data) // 4)
        so.write_bytes(bytes(data))
        for name in ("__init__.py", "_ops.py", "layers.py"):
            blob = (variant / name).resolve()
            blob.write_bytes(b"raise SystemExit('tampered file executed: {{}}')\\n".replace(b"{{}}", name.encode()))
        (variant / "evil.py").write_text("raise SystemExit('evil executed')\\n")
        check_ops(act, rms)                       # the mapped .so is the sealed copy
        del sys.modules[act.__name__ + ".layers"]
        layers = importlib.import_module(act.__name__ + ".layers")   # served from the verified bytes
        reloaded = importlib.reload(act)
        try:
            importlib.import_module(act.__name__ + ".evil")
            evil = "imported"
        except ModuleNotFoundError:
            evil = "not found"
        print(json.dumps({{"same_source": inspect.getsource(layers) == before, "evil": evil,
                          "reloaded": hasattr(reloaded, "gelu_fast")}}))
        check_ops(act, rms)
    """), env))
    assert res == {"same_source": True, "evil": "not found", "reloaded": True}
    # A new process verifies again and refuses the changed files.
    r = py(f"kernel_lock.load_kernel({ACT!r}, lockfile={str(setup.lock)!r})", env, check=False)
    assert r.returncode != 0 and "IntegrityError" in r.stderr


KERNELIZE = """
import torch.nn as nn
from kernels import LayerRepository, Mode, kernelize, use_kernel_forward_from_hub, use_kernel_mapping

# Stock kernels picks a CUDA build's backend even with no device (CUDA_VISIBLE_DEVICES=""):
# make it choose CPU variants, as our loader does without a usable device.
import kernels.backends as _kb
_cuda_backend = _kb._backend
for _m in [m for k, m in list(sys.modules.items()) if k.startswith("kernels")]:
    if getattr(_m, "_backend", None) is _cuda_backend:
        _m._backend = _kb.CPU

@use_kernel_forward_from_hub("SiluAndMul")
class SiluAndMul(nn.Module):
    def forward(self, x):
        d = x.shape[-1] // 2
        return nn.functional.silu(x[..., :d]) * x[..., d:] + 1000.0   # marks the unreplaced forward

def kernelized_forward(repo_id, sha):
    model = nn.Sequential(SiluAndMul())
    mapping = {"SiluAndMul": {"cpu": LayerRepository(repo_id, layer_name="SiluAndMul", revision=sha)}}
    with use_kernel_mapping(mapping):
        model = kernelize(model, mode=Mode.INFERENCE, device="cpu", use_fallback=False)
    x = torch.randn(2, 8)
    d = 4
    want = nn.functional.silu(x[..., :d]) * x[..., d:]
    return bool(torch.allclose(model(x), want, atol=1e-5))
"""


@pytest.mark.parametrize("patched", [False, True], ids=["kernels", "kernels+patch_kernels"])
def test_through_kernels_with_and_without_patch(setup: Setup, patched: bool):
    res = last_json(py(KERNELIZE + dd(f"""
        import kernels
        if {patched!r}:
            kernel_lock.patch_kernels()
        m = kernels.get_kernel({ACT!r}, version=2, backend="cpu")
        locked = kernels.load_kernel({ACT!r}, lockfile={str(setup.py_lock if not patched else setup.lock)!r})
        ok = kernelized_forward({ACT!r}, {setup.sha()!r})
        name = m.__name__
        listed = [lk for lk in kernels.get_loaded_kernels() if lk.module is m]
        print(json.dumps({{"verified": hasattr(m, "__kernel_lock__"), "same": locked is m, "kernelize": ok,
                          "listed": len(listed) == 1 and listed[0].metadata.id == m.__name__,
                          "layer_module_verified": hasattr(sys.modules[name], "__kernel_lock__"),
                          "kernels_layer_patched": kernels.layer.layer.get_kernel is kernel_lock.get_kernel}}))
    """), setup.env))
    assert res["kernelize"] is True
    assert res["listed"] is True  # in kernels.get_loaded_kernels(), also when kernel_lock loaded it
    assert res["verified"] is patched and res["layer_module_verified"] is patched
    assert res["kernels_layer_patched"] is patched
    if patched:
        assert res["same"] is True


def test_patch_kernels_refuses_what_kernels_would_load(setup: Setup):
    cache, env = setup.copy_cache("kernels-tamper")
    blob = (setup.variant_dir(cache) / "layers.py").resolve()
    blob.write_bytes(blob.read_bytes() + b"\nTAMPERED = True\n")
    code = KERNELIZE + dd(f"""
        import kernels
        if PATCH:
            kernel_lock.patch_kernels()
        try:
            m = kernels.get_kernel({ACT!r}, version=2, backend="cpu")
            out = {{"tampered": getattr(m.layers, "TAMPERED", False)}}
        except kernel_lock.VerificationError as e:
            out = {{"refused": str(e)}}
        try:
            out["kernelize"] = kernelized_forward({ACT!r}, {setup.sha()!r})
        except kernel_lock.VerificationError:
            out["kernelize"] = "refused"
        print(json.dumps(out))
    """)
    plain = last_json(py("PATCH = False\n" + code, env))
    assert plain == {"tampered": True, "kernelize": True}  # stock kernels runs the changed file
    env_patched = dict(env, KERNEL_LOCK_PATCH_KERNELS="1")  # the import-time switch
    patched = last_json(py("PATCH = False\n" + code, env_patched))
    assert "layers.py" in patched["refused"] and patched["kernelize"] == "refused"
