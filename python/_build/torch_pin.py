"""scikit-build-core dynamic-metadata provider: the wheel's torch requirement.

The extension links the libtorch of the torch installed in the build
environment, whose C++ ABI holds within one major.minor: the wheel requires
exactly that series, `torch>=X.Y,<X.(Y+1)` (python/pyproject.toml).
"""

from __future__ import annotations


def dynamic_metadata(field, settings=None, project=None):
    if field != "dependencies":
        raise RuntimeError(f"torch_pin provides 'dependencies' only, not {field!r}")
    import torch

    major, minor = (int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    return [f"torch>={major}.{minor},<{major}.{minor + 1}"] + list((settings or {}).get("extra", []))


def get_requires_for_dynamic_metadata(settings=None):
    return []
