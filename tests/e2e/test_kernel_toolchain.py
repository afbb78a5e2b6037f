"""The kernels' CMake (kernels/cmake/HubKernel.cmake) refuses, at configure time, a
GCC that finds only the static libstdc++.a: a kernel carrying its own copy of
libstdc++ segfaults on its first TORCH_CHECK message that formats a number (seen
with a GPU image's /opt/gcc). The normal compiler configures cleanly."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SOURCE_DIR

GXX = shutil.which("g++")


def configure(cxx: str, build: Path) -> subprocess.CompletedProcess:
    import torch

    torch_dir = Path(torch.__file__).parent / "share" / "cmake" / "Torch"
    argv = ["cmake", "-S", str(SOURCE_DIR / "kernels"), "-B", str(build), f"-DTorch_DIR={torch_dir}",
            f"-DPython3_EXECUTABLE={sys.executable}", "-DKERNEL_LOCK_BUILD_CUDA_KERNELS=OFF"]
    env = dict(os.environ, CXX=cxx)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(GXX is None, reason="no g++")
def test_static_only_libstdcxx_is_refused(tmp_path):
    # A g++ that answers like one whose search path has no libstdc++.so.
    wrapper = tmp_path / "g++"
    wrapper.write_text('#!/bin/bash\nfor a in "$@"; do [ "$a" = "-print-file-name=libstdc++.so" ] && '
                       f'{{ echo libstdc++.so; exit 0; }}; done\nexec {GXX} "$@"\n')
    wrapper.chmod(0o755)
    r = configure(str(wrapper), tmp_path / "static")
    assert r.returncode != 0, r.stdout[-2000:]
    text = " ".join((r.stdout + r.stderr).split())
    assert "finds no shared libstdc++" in text, text[-3000:]
    assert "CXX=/usr/bin/g++" in text


@pytest.mark.skipif(GXX is None, reason="no g++")
def test_normal_gcc_configures(tmp_path):
    r = configure(GXX, tmp_path / "normal")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "finds no shared libstdc++" not in r.stdout + r.stderr
