"""kernel_lock: Hub kernels for Python, verified before they are loaded.

The load functions of Python `kernels` (0.17.2), same arguments and return
value (the kernel's module), but every byte is verified first by kernel-lock's
C++ loader: read once into sealed memory, checked against the lock (hash and,
when pinned, the Sigstore signature and kernel digest), the shared object
dlopened from that memory, and the kernel's Python files executed from those
verified bytes (kernel_lock/_importer.py). See docs/python.md.

    from kernel_lock import load_kernel          # was: from kernels import load_kernel
    act = load_kernel("kernels-community/activation", lockfile="kernel.lock")
    act.gelu_fast(out, x)
    act.__kernel_lock__.provenance               # "signed by ..." / "pinned by the lock only"

or, for code that uses `kernels` (layers, kernelize) unchanged:

    import kernel_lock; kernel_lock.patch_kernels()   # or KERNEL_LOCK_PATCH_KERNELS=1

Offline first: everything is read from the HF cache that `kernel-lock install`
(or `pull`) wrote. Only get_locked_kernel downloads (the locked variant, from
HF_ENDPOINT, verified against the lock) and only when not offline.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path
from types import ModuleType

import torch  # noqa: F401  (libtorch must be loaded before the extension)

from . import _native
from ._errors import (
    IntegrityError,
    KernelLockError,
    KernelLockNetworkError,
    KernelLockOSError,
    KernelLockValueError,
    KernelNotFoundError,
    KernelNotLockedError,
    NoCompatibleVariantError,
    StaleTrustError,
    VerificationError,
    from_native,
)
from ._importer import KernelInfo, import_verified
from ._patch import patch_kernels, unpatch_kernels

__all__ = [
    "IntegrityError",
    "KernelInfo",
    "KernelLockError",
    "KernelLockNetworkError",
    "KernelLockOSError",
    "KernelLockValueError",
    "KernelNotFoundError",
    "KernelNotLockedError",
    "NoCompatibleVariantError",
    "StaleTrustError",
    "VerificationError",
    "describe_environment",
    "get_kernel",
    "get_local_kernel",
    "get_locked_kernel",
    "has_kernel",
    "load_kernel",
    "locate_lockfile",
    "patch_kernels",
    "unpatch_kernels",
]

# Keyword options of ours, accepted by every load function (None = default):
#   cache_dir            HF cache root (default: KERNELS_CACHE, HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub)
#   variant              load exactly this build/<variant>
#   offline              never download (default: HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)
#   trusted_root         Sigstore trusted_root.json (default: the cache's trust store)
#   trust_max_age_days   refuse an older trusted root (default: KERNEL_LOCK_TRUST_MAX_AGE_DAYS, else 180)
#   require_signature    refuse anything whose signature is not verified (default: KERNEL_LOCK_REQUIRE_SIGNATURE)
_OPTION_NAMES = ("cache_dir", "variant", "offline", "trusted_root", "trust_max_age_days", "require_signature")


def _options(backend: str | None, options: dict) -> dict:
    unknown = sorted(set(options) - set(_OPTION_NAMES))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
    out = {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in options.items() if v is not None}
    if backend is not None:
        out["backend"] = backend
    return out


def _call(fn, *args):
    try:
        return fn(*args)
    except _native.Error as e:
        raise from_native(e) from None


def _path(p) -> str | None:
    return None if p is None else os.fspath(p)


def _dependencies(load, opts: dict):
    """The loader of a kernel's kernel-depends entries for import_verified: `load(repo_id, version,
    revision, opts)` gives the native kernel of one entry, which is then imported with its own
    entries. `variant` was for the requested kernel only."""
    base = {k: v for k, v in opts.items() if k != "variant"}

    def load_dependency(repo_id: str, version: int | None, revision: str | None) -> ModuleType:
        return import_verified(_call(load, repo_id, version, revision, base), load_dependency)
    return load_dependency


def _locked_ref(version: int | None, revision: str | None) -> dict:
    """The lock entry of a dependency: the one locked for the version or revision its dependent's
    metadata.json names (a lock holds one entry per (repo, version))."""
    return {"version": version} if version is not None else {"revision": revision}


def _cached_dependency(repo_id: str, version: int | None, revision: str | None, opts: dict):
    """A dependency as get_kernel loads it (the cache's refs, unpinned)."""
    return _native.get_kernel(repo_id, revision, version, opts)


def _caller_package() -> str | None:
    """Top-level package of the first frame outside kernel_lock and kernels (whose names
    patch_kernels() routes here): the code that asked for the kernel."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__") or ""
        if name.partition(".")[0] not in ("kernel_lock", "kernels"):
            return name.split(".")[0] or None
        frame = frame.f_back
    return None


def _caller_lockfile() -> str | None:
    """As `kernels` does when no lockfile is given: the lock in the package metadata
    (.dist-info) of the calling code's distribution, `kernel.lock` (hash-pinned) before
    `kernels.lock` (Python's shape). None when $KERNEL_LOCK_FILE is set (it wins), the
    caller is no installed package, or its metadata holds no lock: then the search of
    locate_lockfile applies."""
    package = None if os.environ.get("KERNEL_LOCK_FILE") else _caller_package()
    if package is None or package == "__main__":
        return None
    if package not in _package_locks:  # once per package: scanning the installed distributions takes ~0.1 s
        _package_locks[package] = _metadata_lockfile(package)
    return _package_locks[package]


_package_locks: dict[str, str | None] = {}


def _metadata_lockfile(package: str) -> str | None:
    for dist_name in importlib.metadata.packages_distributions().get(package, []):
        files = importlib.metadata.distribution(dist_name).files or []
        for lock_name in ("kernel.lock", "kernels.lock"):
            for f in files:
                if f.name == lock_name and len(f.parts) == 2 and f.parts[0].endswith((".dist-info", ".egg-info")):
                    return str(f.locate())
    return None


def _check_ref(revision: str | None, version: int | None) -> None:
    # Same rules and messages as kernels' revision_or_version.
    if revision is not None and version is not None:
        raise ValueError("Only one of `revision` or `version` must be specified.")
    if revision is None and version is None:
        raise ValueError(
            "A kernel version or revision must be specified. Use `version=<major>` for a stable kernel API "
            "version or `revision=<branch/tag/commit>` for an explicit Hub revision.")


def get_kernel(repo_id: str, *, revision: str | None = None, version: int | None = None,
               backend: str | None = None, user_agent: str | dict | None = None,
               trust_remote_code: bool | list[str] = False, check_arch: bool = True, **options) -> ModuleType:
    """UNPINNED, like kernels.get_kernel: the variant that the cache's `refs/v<version>` (or `revision`)
    points at, every blob checked against its name (not against a lock). Cache only: install with
    `kernel-lock install` / `pull` first (a missing kernel is a FileNotFoundError saying so).
    `user_agent`, `trust_remote_code`, `check_arch` are accepted for compatibility and not used."""
    _check_ref(revision, version)
    opts = _options(backend, options)
    native = _call(_native.get_kernel, repo_id, revision, version, opts)
    return import_verified(native, _dependencies(_cached_dependency, opts))


def has_kernel(repo_id: str, *, revision: str | None = None, version: int | None = None,
               backend: str | None = None, trust_remote_code: bool | list[str] = False,
               check_arch: bool = True, **options) -> bool:
    """True when the cache holds `repo_id` at the version/revision with a variant for this process."""
    _check_ref(revision, version)
    return _call(_native.has_kernel, repo_id, revision, version, _options(backend, options))


def load_kernel(repo_id: str, *, lockfile: str | Path | None = None, backend: str | None = None,
                **options) -> ModuleType:
    """The locked variant, verified, from the cache only (never downloads). `lockfile`: a file or a
    directory with kernel.lock / kernels.lock; None: $KERNEL_LOCK_FILE, then the calling package's
    metadata (as `kernels`), the executable's directory, the current directory."""
    opts = _options(backend, options)
    lock = _path(lockfile) if lockfile is not None else _caller_lockfile()
    native = _call(_native.load_kernel, repo_id, lock, opts)
    return import_verified(native, _dependencies(
        lambda repo, v, r, o: _native.load_kernel(repo, lock, {**o, **_locked_ref(v, r)}), opts))


def get_locked_kernel(repo_id: str, *, lockfile: str | Path | None = None,
                      trust_remote_code: bool | list[str] = False, user_agent: str | dict | None = None,
                      local_files: bool = False, backend: str | None = None, **options) -> ModuleType:
    """Like load_kernel, but a locked variant missing from the cache is downloaded from HF_ENDPOINT
    (every byte checked against the lock) unless offline or `local_files=True`."""
    opts = _options(backend, options)
    lock = _path(lockfile) if lockfile is not None else _caller_lockfile()
    if lock is not None:
        opts["lockfile"] = lock
    native = _call(_native.get_locked_kernel, repo_id, not local_files, opts)
    return import_verified(native, _dependencies(
        lambda repo, v, r, o: _native.get_locked_kernel(repo, not local_files, {**o, **_locked_ref(v, r)}), opts))


def get_local_kernel(repo_path: str | Path, package_name: str | None = None, *, backend: str | None = None,
                     trust_remote_code: bool | list[str] = False, user_agent: str | dict | None = None,
                     **options) -> ModuleType:
    """A kernel from a local directory (repo root with build/, a build/ dir, or a variant dir).
    NOT verified (there is nothing to verify against), but still read once and executed from those
    bytes. `package_name` (older kernels API) is accepted and not needed."""
    opts = _options(backend, options)
    native = _call(_native.get_local_kernel, os.fspath(repo_path), opts)
    return import_verified(native, _dependencies(_cached_dependency, opts))


def locate_lockfile(path: str | Path | None = None) -> Path:
    """The lockfile load_kernel would use (see load_kernel)."""
    return Path(_call(_native.locate_lockfile, _path(path) if path is not None else _caller_lockfile()))


def describe_environment() -> str:
    """This process as variants must fit it (torch, C++ ABI, backend, CUDA, arch, OS)."""
    return _call(_native.describe_environment)


if os.environ.get("KERNEL_LOCK_PATCH_KERNELS", "").strip().lower() in ("1", "true", "yes", "on"):
    patch_kernels()
