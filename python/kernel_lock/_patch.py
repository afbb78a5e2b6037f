"""patch_kernels(): make Python `kernels` load through kernel_lock's verified path.

`kernels` 0.17.2 binds the load functions by name in several modules (`from
kernels.load import get_kernel` in kernels/__init__.py, kernels/layer/layer.py,
kernels/layer/func.py): each of those names is replaced, so code that calls
`kernels.get_kernel` directly, `LayerRepository` / `FuncRepository` (what
`kernelize` and `use_kernel_forward_from_hub` load through) and
`LocalLayerRepository` all get verified loads without being edited. The
`Locked*Repository.load` methods, which go through kernels' own resolver, are
replaced by a call to our get_locked_kernel with the repository's lockfile.
unpatch_kernels() restores everything.
"""

from __future__ import annotations

import importlib
import threading

_NAMES = ("get_kernel", "load_kernel", "get_locked_kernel", "get_local_kernel", "has_kernel")
_MODULES = ("kernels", "kernels.load", "kernels.layer.layer", "kernels.layer.func")
_LOCKED_REPOS = (("kernels.layer.layer", "LockedLayerRepository", "_get_kernel_layer"),
                 ("kernels.layer.func", "LockedFuncRepository", "_get_kernel_func"))

_lock = threading.Lock()
_originals: dict[tuple[object, str], object] = {}


def _locked_load(get_part):
    def load(self):
        from . import get_locked_kernel

        return get_part(self, get_locked_kernel(self._repo_id, lockfile=self._lockfile))

    load.__kernel_lock_patched__ = True
    return load


def patch_kernels() -> None:
    """Replace kernels' load functions with kernel_lock's (idempotent). Raises ImportError without kernels."""
    import kernel_lock

    with _lock:
        for module_name in _MODULES:
            module = importlib.import_module(module_name)
            for name in _NAMES:
                if hasattr(module, name) and (module, name) not in _originals:
                    _originals[(module, name)] = getattr(module, name)
                    setattr(module, name, getattr(kernel_lock, name))
        for module_name, class_name, part in _LOCKED_REPOS:
            module = importlib.import_module(module_name)
            cls = getattr(module, class_name, None)
            if cls is None or (cls, "load") in _originals:
                continue
            _originals[(cls, "load")] = cls.__dict__["load"]
            cls.load = _locked_load(getattr(module, part))


def unpatch_kernels() -> None:
    """Undo patch_kernels()."""
    with _lock:
        for (owner, name), original in _originals.items():
            setattr(owner, name, original)
        _originals.clear()


def is_patched() -> bool:
    return bool(_originals)
