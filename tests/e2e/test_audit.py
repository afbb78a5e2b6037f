"""`kernel-lock audit` against kernel-abi-check 0.14.1 on the same .so files.

Crafted with gcc: one .so that needs a GLIBC_2.34 symbol (pthread_create moved
into libc at 2.34) and a too-new GLIBCXX one, one abi3 .so that uses non-abi3
Python symbols (_PyObject_GetDictPtr, PyUnicode_AsUTF8) and one added after 3.9
(PyObject_GenericGetDict, 3.10), and a clean one. The manylinux_2_28 and abi3
findings must name the same symbols as kernel-abi-check; output is deterministic
and SARIF 2.1.0.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hf_cache_helpers import install, write_lock

kac = pytest.importorskip("kernel_abi_check")

SOURCES = {
    "_new_glibc.abi3.so": ("c", "#include <pthread.h>\nstatic void* f(void* a) { return a; }\n"
                           "int start(void) { pthread_t t; return pthread_create(&t, 0, f, 0); }\n"
                           "void* PyInit__new_glibc(void) { extern void* PyModule_Create2(void*, int); return PyModule_Create2(0, 3); }\n"),
    "_not_abi3.abi3.so": ("c", "extern void* _PyObject_GetDictPtr(void*);\nextern const char* PyUnicode_AsUTF8(void*);\n"
                          "extern void* PyObject_GenericGetDict(void*, void*);\nextern void* PyLong_FromLong(long);\n"
                          "void* use(void* o) { PyUnicode_AsUTF8(o); PyObject_GenericGetDict(o, 0); PyLong_FromLong(1);"
                          " return _PyObject_GetDictPtr(o); }\n"),
    "_clean.abi3.so": ("c", "int add(int a, int b) { return a + b; }\n"),
}


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    root = tmp_path_factory.mktemp("audit")
    v = root / "torch211-cxx11-cpu-x86_64-linux"
    v.mkdir()
    for name, (_, src) in SOURCES.items():
        c = root / (name + ".c")
        c.write_text(src)
        subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(v / name), str(c)], check=True)
    (v / "metadata.json").write_text(json.dumps({"name": "crafted", "backend": {"type": "cpu"},
                                                 "provenance": {"dirty": True}}))
    return v


def audit(kernel_lock_bin, variant: Path, tmp_path: Path, *extra):
    cache = tmp_path / "cache"
    if not cache.exists():
        write_lock(tmp_path / "kernel.lock", [install(variant, cache, repo_id="kernels-test/crafted")])
    return subprocess.run([str(kernel_lock_bin), "audit", "--lock", str(tmp_path / "kernel.lock"), "--cache", str(cache),
                           *map(str, extra)], capture_output=True, text=True)


def test_manylinux_and_abi3_findings_agree_with_kernel_abi_check(kernel_lock_bin, crafted, tmp_path):
    proc = audit(kernel_lock_bin, crafted, tmp_path, "--target", "manylinux_2_28", "--json")
    assert proc.returncode == 9, proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    for so in SOURCES:
        ours_ml = sorted({f["message"].split("@")[0] for f in findings
                          if f["rule"] == "manylinux-symbol" and f["file"].endswith("/" + so)})
        ours_abi3 = sorted({f["message"].split(" ")[0] for f in findings if f["rule"] == "abi3" and f["file"].endswith("/" + so)})
        obj = kac.ObjectFile(str(crafted / so))
        theirs_ml = sorted({s.name for s in obj.check_manylinux("manylinux_2_28")})
        theirs_abi3 = sorted({s.name for s in obj.check_python_abi("3.9")})
        assert ours_ml == theirs_ml, so
        assert ours_abi3 == theirs_abi3, so
    assert any(f["rule"] == "manylinux-symbol" and "pthread_create@GLIBC_2.34" in f["message"] for f in findings)
    abi3 = {f["message"].split(" ")[0] for f in findings if f["rule"] == "abi3"}
    assert {"_PyObject_GetDictPtr", "PyUnicode_AsUTF8", "PyObject_GenericGetDict"} <= abi3
    assert "PyLong_FromLong" not in abi3
    notes = [f["message"] for f in findings if f["rule"] == "python-symbol"]
    assert "PyModule_Create2 (shimmed by the loader)" in notes
    assert any(f["rule"] == "provenance-dirty" for f in findings)
    assert any(f["rule"] == "unsigned" for f in findings)
    assert not [f for f in findings if f["file"].endswith("_clean.abi3.so") and f["level"] == "error"]


def test_newer_target_accepts_glibc_2_34_and_sarif_is_deterministic(kernel_lock_bin, crafted, tmp_path):
    proc = audit(kernel_lock_bin, crafted, tmp_path, "--target", "manylinux_2_35", "--json")
    findings = json.loads(proc.stdout)["findings"]
    assert not [f for f in findings if f["rule"] == "manylinux-symbol"]
    a = audit(kernel_lock_bin, crafted, tmp_path, "--sarif")
    b = audit(kernel_lock_bin, crafted, tmp_path, "--sarif")
    assert a.stdout == b.stdout
    sarif = json.loads(a.stdout)
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    assert audit(kernel_lock_bin, crafted, tmp_path, "--target", "manylinux_9_99").returncode == 2
    # --sysroot: DT_NEEDED resolved in the root's lib directories instead of the manylinux list.
    empty = tmp_path / "root"
    empty.mkdir()
    needed = [f for f in json.loads(audit(kernel_lock_bin, crafted, tmp_path, "--sysroot", empty, "--json").stdout)["findings"]
              if f["rule"] == "needed-unresolved"]
    assert needed and all("libc.so.6 is not in the sysroot" in f["message"] for f in needed)
    (empty / "lib").mkdir()
    (empty / "lib" / "libc.so.6").write_bytes(b"")
    assert not [f for f in json.loads(audit(kernel_lock_bin, crafted, tmp_path, "--sysroot", empty, "--json").stdout)["findings"]
                if f["rule"] == "needed-unresolved"]


def test_built_kernel_against_libtorch(kernel_lock_bin, tmp_path):
    """Our built CUDA kernel resolves every torch/c10 symbol in the torch wheel's lib/; an empty libtorch does not."""
    import os
    root = None
    for r in (os.environ.get("KERNEL_LOCK_HUB_KERNELS"), Path(os.environ.get("KERNEL_LOCK_BUILD_DIR", "build")) / "hub-kernels"):
        if r and (Path(r) / "activation" / "build").is_dir():
            root = Path(r)
    if root is None:
        pytest.skip("our kernels are not built (KERNEL_LOCK_BUILD_KERNELS, or set KERNEL_LOCK_HUB_KERNELS)")
    torch = pytest.importorskip("torch")
    variant = next(d for d in sorted((root / "activation" / "build").iterdir()) if "-cpu-" in d.name)
    proc = audit(kernel_lock_bin, variant, tmp_path, "--libtorch", Path(torch.__file__).parent / "lib", "--json")
    findings = json.loads(proc.stdout)["findings"]
    assert not [f for f in findings if f["rule"] in ("torch-symbol", "abi3")], findings
    # Built on this machine's glibc: whatever it needs beyond manylinux_2_28, kernel-abi-check says the same.
    so = next(variant.glob("*.so"))
    ours = sorted({f["message"].split("@")[0] for f in findings if f["rule"] == "manylinux-symbol"})
    assert ours == sorted({s.name for s in kac.ObjectFile(str(so)).check_manylinux("manylinux_2_28")})
    assert not [f for f in findings if f["rule"] == "needed-unresolved"], findings  # libc10.so, libtorch*.so resolve there
    fake = tmp_path / "faketorch"
    fake.mkdir()
    shutil.copy(next(Path(torch.__file__).parent.joinpath("lib").glob("libc10.so")), fake / "libc10.so")
    proc = audit(kernel_lock_bin, variant, tmp_path, "--libtorch", fake, "--json")
    assert any(f["rule"] == "torch-symbol" for f in json.loads(proc.stdout)["findings"])
