"""Executes a verified kernel's Python package from the verified bytes only.

The C++ loader (kernel_lock._native) has read every file of the variant once
into sealed memory, checked it against the lock, and loaded the shared object
from that memory. Here the package is made a module the way `kernels`
(kernels/importer.py, `_import_from_path`) makes it, with the same module name
(metadata.json's `id`), but through an import finder of our own registered for
that name and its submodules only:

* `<name>`, `<name>._ops`, `<name>.layers` (a module or a package), ... are
  compiled from the verified bytes; nothing under those names is looked up on
  disk (the package's `__path__` is empty), and a name the variant does not
  have is a ModuleNotFoundError;
* `<name>.<so stem>` (what `_ops.py` imports) is the shared object the C++
  loader mapped, imported through its sealed copy (/proc/self/fd/N: dlopen
  returns the same mapping, and Python calls its PyInit_); a Python-only
  (noarch / universal) variant has none;
* tracebacks show the verified source (linecache is filled from the bytes);
* the package runs with its `kernel-depends` (modules loaded and verified the
  same way before it) visible to `kernels.get_kernel_dep`, as `kernels` runs it.

`__file__` is the file's path in the cache snapshot, as with `kernels`, for
code that only looks at it; it is never read by this importer.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import linecache
import posixpath
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable


@dataclass(frozen=True)
class KernelInfo:
    """What kernel_lock loaded and what it proved (`module.__kernel_lock__`)."""

    repo_id: str
    sha: str
    variant: str
    namespace: str
    variant_hash: str
    trust: str  # "locked", "cache_blobs" (unpinned) or "local"
    provenance: str  # "signed by ...", "pinned by the lock only", ...
    signer: dict | None
    directory: str
    ops: list = field(default_factory=list)
    files: tuple = ()  # relative paths of the verified files executed/available
    dependencies: tuple = ()  # (repo_id, sha) of its kernel-depends, as loaded for it


class _VerifiedSourceLoader(importlib.abc.InspectLoader):
    """Loads one module from verified bytes (never from disk)."""

    def __init__(self, data: bytes, origin: str, is_package: bool):
        self._data = data
        self._origin = origin
        self._is_package = is_package

    def create_module(self, spec):
        return None

    def is_package(self, fullname: str) -> bool:
        return self._is_package

    def get_source(self, fullname: str) -> str:
        return importlib.util.decode_source(self._data)

    def get_code(self, fullname: str):
        return compile(self._data, self._origin, "exec", dont_inherit=True)

    def exec_module(self, module: ModuleType) -> None:
        source = self.get_source(module.__name__)
        # mtime None: linecache.checkcache never replaces these lines with the disk's.
        linecache.cache[self._origin] = (len(source), None, source.splitlines(True), self._origin)
        exec(self.get_code(module.__name__), module.__dict__)


class _KernelFinder(importlib.abc.MetaPathFinder):
    """Finds `name` and its submodules in one verified variant, and nothing else."""

    def __init__(self, name: str, files: dict[str, bytes], root: str, directory: str,
                 library_file: str, library_path: str):
        self.name = name
        self._files = files
        self._root = root  # "" (flat layout) or "<pkg>/" (nested)
        self._directory = directory
        self._library_file = library_file
        self._library_path = library_path

    def _origin(self, rel: str) -> str:
        return posixpath.join(self._directory, rel)

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name and not fullname.startswith(self.name + "."):
            return None
        rel = fullname[len(self.name) + 1:].replace(".", "/")
        base = self._root + rel
        init = posixpath.join(base, "__init__.py") if rel else self._root + "__init__.py"
        for candidate, package in ((init, True), (base + ".py", False)):
            if rel == "" and not package:
                continue
            if candidate in self._files:
                loader = _VerifiedSourceLoader(self._files[candidate], self._origin(candidate), package)
                spec = importlib.util.spec_from_loader(fullname, loader, origin=self._origin(candidate),
                                                       is_package=package)
                spec.has_location = True  # __file__ = origin, as kernels' spec_from_file_location sets it
                return spec
        if rel and self._library_file and posixpath.dirname(self._library_file) == base.rpartition("/")[0] \
                and _so_stem(self._library_file) == rel.rpartition("/")[2]:
            loader = importlib.machinery.ExtensionFileLoader(fullname, self._library_path)
            return importlib.util.spec_from_file_location(fullname, self._library_path, loader=loader)
        # Not in the variant: no other finder may supply it either (the package's
        # __path__ is empty, so the path finder looks nowhere on disk).
        return None


def _so_stem(path: str) -> str:
    name = posixpath.basename(path)
    for suffix in (".abi3.so", ".so"):
        if name.endswith(suffix):
            return name[: -len(suffix)].split(".")[0]
    return ""


def _package_root(files: dict[str, bytes], metadata: dict) -> str:
    """"" when the variant is a flat package (__init__.py at the top), else "<pkg>/"."""
    if "__init__.py" in files:
        return ""
    python_name = str(metadata.get("name", "")).replace("-", "_")
    if python_name and f"{python_name}/__init__.py" in files:
        return python_name + "/"
    roots = sorted(p[: -len("/__init__.py")] for p in files if p.count("/") == 1 and p.endswith("/__init__.py"))
    if len(roots) == 1:
        return roots[0] + "/"
    raise ImportError(f"no kernel package (__init__.py) found in the verified files: {sorted(files)}")


DependencyLoader = Callable[[str, "int | None", "str | None"], ModuleType]


def _kernel_depends(metadata: dict, variant: str) -> list[tuple[str, int | None, str | None]]:
    """(repo_id, version, revision) of each `kernel-depends` entry of the verified metadata.json."""
    deps = metadata.get("kernel-depends") or []
    out = []
    for i, dep in enumerate(deps if isinstance(deps, list) else [None]):
        ok = isinstance(dep, dict) and isinstance(dep.get("repo-id"), str)
        version, revision = (dep.get("version"), dep.get("revision")) if ok else (None, None)
        ok = ok and ((isinstance(version, int) and revision is None) or (version is None and isinstance(revision, str)))
        if not ok:
            raise ImportError(f"metadata.json of {variant}: kernel-depends[{i}] is not {{repo-id, version | revision}}")
        out.append((dep["repo-id"], version, revision))
    return out


def _dependency_context(deps: dict[str, ModuleType]):
    """`kernels`' context in which `get_kernel_dep` sees `deps`; none without deps or without `kernels`
    (a kernel that calls get_kernel_dep imports `kernels` itself and fails there)."""
    if deps:
        try:
            from kernels.deps import use_kernel_deps
        except ImportError:
            return contextlib.nullcontext()
        return use_kernel_deps(deps)
    return contextlib.nullcontext()


_lock = threading.RLock()
_loaded: dict[str, tuple[ModuleType, str]] = {}  # module name -> (module, variant hash)
_importing: list[tuple[str, str]] = []  # (module name, repo id) being imported, outermost first


def import_verified(native_kernel, load_dependency: DependencyLoader | None = None) -> ModuleType:
    """The kernel's module, executed from `native_kernel.files()` (see the module docstring).

    `load_dependency(repo_id, version, revision)` returns the verified module of one
    `kernel-depends` entry (itself loaded through import_verified); None: the entries
    are not loaded. A cycle of dependencies is an ImportError. The same variant (name
    and variant hash) loaded again returns the same module.
    """
    with _lock:
        files = native_kernel.files()
        metadata = _metadata(files, native_kernel.variant)
        name = metadata.get("id") if isinstance(metadata.get("id"), str) else native_kernel.namespace
        if name in _loaded and _loaded[name][1] == native_kernel.variant_hash:
            return _loaded[name][0]
        label = native_kernel.repo_id or name
        names = [n for n, _ in _importing]
        if name in names:
            cycle = [repo for _, repo in _importing[names.index(name):]] + [label]
            raise ImportError("cyclic kernel dependency: " + " -> ".join(cycle))
        deps: dict[str, ModuleType] = {}
        _importing.append((name, label))
        try:
            if load_dependency is not None:
                for repo_id, version, revision in _kernel_depends(metadata, native_kernel.variant):
                    deps[repo_id] = _load_dependency(load_dependency, label, repo_id, version, revision)
            module = _exec_verified(native_kernel, name, files, _package_root(files, metadata), deps)
        finally:
            _importing.pop()
        _loaded[name] = (module, native_kernel.variant_hash)
        _list_in_kernels(native_kernel.directory, files.get("metadata.json"), module)
        return module


def _load_dependency(load_dependency: DependencyLoader, dependent: str, repo_id: str, version: int | None,
                     revision: str | None) -> ModuleType:
    try:
        return load_dependency(repo_id, version, revision)
    except Exception as e:
        if hasattr(e, "add_note"):
            at = f"version {version}" if version is not None else f"revision {revision}"
            e.add_note(f"while loading {repo_id} ({at}), a kernel-depends of {dependent} (kernel_lock)")
        raise


def _metadata(files: dict[str, bytes], variant: str) -> dict:
    if "metadata.json" not in files:
        return {}
    try:
        metadata = json.loads(files["metadata.json"])
    except ValueError as e:
        raise ImportError(f"metadata.json of {variant} is not valid JSON: {e}") from None
    if not isinstance(metadata, dict):
        raise ImportError(f"metadata.json of {variant} is not a JSON object")
    return metadata


def _exec_verified(native_kernel, name: str, files: dict[str, bytes], root: str,
                   deps: dict[str, ModuleType]) -> ModuleType:
    finder = _KernelFinder(name, files, root, native_kernel.directory, native_kernel.library_file,
                           native_kernel.library_path)
    for i, other in enumerate(sys.meta_path):
        if isinstance(other, _KernelFinder) and other.name == name:
            sys.meta_path[i] = finder
            break
    else:
        sys.meta_path.insert(0, finder)
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]
    with _dependency_context(deps):
        module = _exec_package(name, finder)
    module.__kernel_lock__ = KernelInfo(
        repo_id=native_kernel.repo_id, sha=native_kernel.sha, variant=native_kernel.variant,
        namespace=native_kernel.namespace, variant_hash=native_kernel.variant_hash,
        trust=native_kernel.trust, provenance=native_kernel.provenance, signer=native_kernel.signer,
        directory=native_kernel.directory, ops=native_kernel.ops, files=tuple(sorted(files)),
        dependencies=tuple(sorted((m.__kernel_lock__.repo_id, m.__kernel_lock__.sha) for m in deps.values())))
    return module


def _list_in_kernels(directory: str, metadata_json, module: ModuleType) -> None:
    """Lists the module in `kernels.get_loaded_kernels()` (kernels 0.17: a registry keyed by the variant
    directory, which `kernels` itself also consults before importing that directory again). When
    `kernels` is not imported yet (importing it here would cost every load), the entry waits for
    `kernels.importer` to be imported (_ListWhenKernelsLoads). Best effort: another `kernels`
    layout, or metadata it cannot parse, leaves its registry as it was."""
    _unlisted.append((directory, metadata_json, module))
    if "kernels.importer" in sys.modules:
        _flush_unlisted()
    elif not any(isinstance(f, _ListWhenKernelsLoads) for f in sys.meta_path):
        sys.meta_path.insert(0, _ListWhenKernelsLoads())


_unlisted: list[tuple[str, bytes | None, ModuleType]] = []  # loads not yet in kernels' registry


def _flush_unlisted() -> None:
    kernels_importer = sys.modules.get("kernels.importer")
    rust = sys.modules.get("kernels._rust")
    registry = getattr(kernels_importer, "_loaded_kernels", None)
    pending, _unlisted[:] = list(_unlisted), []
    if rust is None or not isinstance(registry, dict):
        return
    for directory, metadata_json, module in pending:
        if metadata_json is None:
            continue
        try:
            metadata = rust.Metadata.from_bytes(bytes(metadata_json))
            registry[Path(directory)] = kernels_importer.LoadedKernel(metadata=metadata, module=module, repo_info=None)
        except (AttributeError, TypeError, ValueError):
            continue


class _ListWhenKernelsLoads(importlib.abc.MetaPathFinder):
    """Lists the loads made before `kernels` was imported once `kernels.importer` has run, then
    leaves sys.meta_path. Finds nothing itself: it wraps the spec the path finder gives."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "kernels.importer":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module, run=run):
            run(module)
            with _lock:
                if self in sys.meta_path:
                    sys.meta_path.remove(self)
                _flush_unlisted()
        spec.loader.exec_module = exec_module
        return spec


def _exec_package(name: str, finder: _KernelFinder) -> ModuleType:
    spec = finder.find_spec(name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as e:
        # As kernels does: a retry imports from scratch.
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
        if hasattr(e, "add_note"):
            e.add_note(f"while importing verified kernel module '{name}' (kernel_lock)")
        raise
    return module
