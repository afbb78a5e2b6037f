"""Our own kernels (kernels/), built by CMake into the Hub layout, loaded by the
real Python `kernels` package (get_local_kernel) and checked against PyTorch's
own results computed in float64.

Needs KERNEL_LOCK_BUILD_DIR (a build with KERNEL_LOCK_BUILD_KERNELS=ON, the
default) and KERNEL_LOCK_SOURCE_DIR; skipped when the build holds no kernels.
"""

import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.dont_write_bytecode = True  # never leave __pycache__ in the built variants

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

BUILD_DIR = Path(os.environ.get("KERNEL_LOCK_BUILD_DIR", "build"))
SOURCE_DIR = Path(os.environ.get("KERNEL_LOCK_SOURCE_DIR", Path(__file__).resolve().parents[2]))
# API version -> folder holding <name>/build/<variant>/ for that version.
ROOTS = {2: BUILD_DIR / "hub-kernels", 1: BUILD_DIR / "hub-kernels-v1"}
KERNELS = ("activation", "rmsnorm")

if not (ROOTS[2] / "activation" / "build").is_dir():
    pytest.skip(f"no kernels built in {BUILD_DIR} (KERNEL_LOCK_BUILD_KERNELS=OFF?)", allow_module_level=True)

from kernels import get_local_kernel  # noqa: E402  (after the skip: import is slow)


def expected_cpu_variant() -> str:
    v = torch.__version__.split("+")[0].split(".")
    abi = "cxx11" if torch.compiled_with_cxx11_abi() else "cxx98"
    return f"torch{v[0]}{v[1]}-{abi}-cpu-{platform.machine()}-linux"


def variant_dir(name: str, version: int) -> Path:
    return ROOTS[version] / name / "build" / expected_cpu_variant()


_modules = {}


def load(name: str, version: int = 2):
    key = (name, version)
    if key not in _modules:
        _modules[key] = get_local_kernel(ROOTS[version] / name, backend="cpu")
    return _modules[key]


DTYPES = [torch.float32, torch.float16, torch.bfloat16]
# One rounding of a float32 result to the dtype, plus float32 math error:
# at most about one unit in the last place of the dtype.
TOL = {
    torch.float32: dict(rtol=2e-5, atol=2e-6),
    torch.float16: dict(rtol=1e-3, atol=2e-5),
    torch.bfloat16: dict(rtol=8e-3, atol=1e-4),
}


def gelu_fast_ref(x):
    return 0.5 * x * (1.0 + torch.tanh(0.7978845608 * x * (1.0 + 0.044715 * x * x)))


def gelu_new_ref(x):
    return 0.5 * x * (1.0 + torch.tanh(0.7978845608 * (x + 0.044715 * torch.pow(x, 3.0))))


ELEMENTWISE = {
    "gelu_fast": gelu_fast_ref,
    "gelu_new": gelu_new_ref,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,  # API version 2
}
GATED = {
    "silu_and_mul": F.silu,
    "gelu_and_mul": F.gelu,
    "gelu_tanh_and_mul": lambda x: F.gelu(x, approximate="tanh"),  # API version 2
}
V1_ACTIVATION_OPS = {"gelu_fast", "gelu_new", "gelu_tanh", "silu_and_mul", "gelu_and_mul"}
SHAPES = [(1,), (7,), (3, 16), (2, 3, 34), (5, 1000), (4, 4098), (0, 8), (130, 9)]
GATED_SHAPES = [(2,), (3, 16), (2, 3, 34), (5, 1000), (4, 4098), (0, 8), (130, 18)]


def randn(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    # Wide range so that tanh/exp saturate on both sides.
    return (torch.randn(shape, generator=g, dtype=torch.float64) * 3.0).to(dtype)


def assert_close_to_ref(out, ref64, dtype):
    # Compare with the float64 reference rounded to the dtype (the best any
    # implementation can return), within about one unit in the last place.
    torch.testing.assert_close(out.double(), ref64.to(dtype).double(), **TOL[dtype])


@pytest.mark.parametrize("version", [2, 1])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", sorted(ELEMENTWISE))
def test_elementwise_ops_match_pytorch(op, dtype, version):
    mod = load("activation", version)
    if version == 1 and op not in V1_ACTIVATION_OPS:
        pytest.skip("added in API version 2")
    for i, shape in enumerate(SHAPES):
        x = randn(shape, dtype, seed=i)
        out = torch.full_like(x, float("nan"))
        ret = getattr(mod, op)(out, x)
        assert ret is out
        assert_close_to_ref(out, ELEMENTWISE[op](x.double()), dtype)
        # The raw dispatcher op gives the same bytes as the Python wrapper.
        out2 = torch.empty_like(x)
        getattr(mod.ops, op)(out2, x)
        assert torch.equal(out2, out) or (out.numel() == 0)


@pytest.mark.parametrize("version", [2, 1])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", sorted(GATED))
def test_gated_ops_match_pytorch(op, dtype, version):
    mod = load("activation", version)
    if version == 1 and op not in V1_ACTIVATION_OPS:
        pytest.skip("added in API version 2")
    for i, shape in enumerate(GATED_SHAPES):
        x = randn(shape, dtype, seed=100 + i)
        d = shape[-1] // 2
        out = torch.full(shape[:-1] + (d,), float("nan"), dtype=dtype)
        assert getattr(mod, op)(out, x) is out
        x64 = x.double()
        ref = GATED[op](x64[..., :d]) * x64[..., d:]
        assert_close_to_ref(out, ref, dtype)


def test_activation_version_1_lacks_version_2_ops():
    v1, v2 = load("activation", 1), load("activation", 2)
    for op in ("silu", "gelu_tanh_and_mul"):
        assert hasattr(v2, op) and hasattr(v2.ops, op)
        assert not hasattr(v1, op) and not hasattr(v1.ops, op)
    for op in V1_ACTIVATION_OPS:
        assert hasattr(v1, op)
    # Both versions live side by side in one process, in different namespaces.
    assert v1.ops.name != v2.ops.name


@pytest.mark.parametrize("version", [2, 1])
@pytest.mark.parametrize("dtype", DTYPES)
def test_rms_norm_matches_pytorch(dtype, version):
    mod = load("rmsnorm", version)
    shapes = [(1,), (4, 8), (3, 5, 64), (7, 1000), (2, 4097), (0, 16), (257, 3)]
    for i, shape in enumerate(shapes):
        x = randn(shape, dtype, seed=200 + i)
        w = randn(shape[-1:], dtype, seed=300 + i)
        for eps in (1e-6, 1e-2):
            out = torch.full_like(x, float("nan"))
            assert mod.rms_norm(out, x, w, eps) is out
            ref = F.rms_norm(x.double(), shape[-1:], w.double(), eps)
            assert_close_to_ref(out, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_add_rms_norm_matches_pytorch(dtype):
    mod = load("rmsnorm", 2)
    for i, shape in enumerate([(4, 8), (3, 5, 64), (7, 1000), (1, 4097)]):
        x = randn(shape, dtype, seed=400 + i)
        res = randn(shape, dtype, seed=500 + i)
        w = randn(shape[-1:], dtype, seed=600 + i)
        x_in, res_in = x.clone(), res.clone()
        mod.fused_add_rms_norm(x, res, w, 1e-5)
        res_ref = (x_in.double() + res_in.double()).to(dtype)
        assert_close_to_ref(res, x_in.double() + res_in.double(), dtype)
        ref = F.rms_norm(res_ref.double(), shape[-1:], w.double(), 1e-5)
        assert_close_to_ref(x, ref, dtype)
    assert not hasattr(load("rmsnorm", 1).ops, "fused_add_rms_norm")


def test_bad_arguments_raise():
    act, norm = load("activation"), load("rmsnorm")
    x = torch.randn(4, 8)
    cases = [
        (lambda: act.gelu_fast(torch.empty(4, 8, dtype=torch.float64), x.double()), "unsupported dtype"),
        (lambda: act.gelu_fast(torch.empty(4, 8, dtype=torch.float16), x), "dtype"),
        (lambda: act.gelu_fast(torch.empty(8, 4).t(), x), "contiguous"),
        (lambda: act.gelu_fast(torch.empty(8, 4), x.t()), "contiguous"),
        (lambda: act.gelu_fast(torch.empty(4, 7), x), "shape"),
        (lambda: act.silu_and_mul(torch.empty(4, 8), x), "shape"),
        (lambda: act.silu_and_mul(torch.empty(4, 3), torch.randn(4, 7)), "even"),
        (lambda: act.gelu_new(torch.empty(()), torch.randn(())), "dimension"),
        (lambda: norm.rms_norm(torch.empty(4, 8), x, torch.randn(7), 1e-6), "weight"),
        (lambda: norm.rms_norm(torch.empty(4, 8), x, torch.randn(8).half(), 1e-6), "dtype"),
        (lambda: norm.rms_norm(torch.empty(4, 8), x, torch.randn(8), -1.0), "eps"),
        (lambda: norm.rms_norm(torch.empty(4, 8), x.t().contiguous().t(), torch.randn(8), 1e-6), "contiguous"),
    ]
    for fn, needle in cases:
        with pytest.raises(RuntimeError, match=needle):
            fn()


def schema_summary(packet):
    s = packet.default._schema
    args = [(a.name, str(a.type), bool(a.alias_info and a.alias_info.is_write)) for a in s.arguments]
    return s.name, args, [str(r.type) for r in s.returns]


def test_schemas_registered_in_dispatcher():
    act = load("activation")
    ns = act.ops.name
    for op in ("gelu_fast", "gelu_new", "gelu_tanh", "silu_and_mul", "gelu_and_mul", "silu", "gelu_tanh_and_mul"):
        assert schema_summary(getattr(getattr(torch.ops, ns), op)) == (
            f"{ns}::{op}",
            [("out", "Tensor", True), ("input", "Tensor", False)],
            [],
        )
    norm = load("rmsnorm")
    assert schema_summary(norm.ops.rms_norm) == (
        f"{norm.ops.name}::rms_norm",
        [("out", "Tensor", True), ("input", "Tensor", False), ("weight", "Tensor", False), ("eps", "float", False)],
        [],
    )
    assert schema_summary(norm.ops.fused_add_rms_norm) == (
        f"{norm.ops.name}::fused_add_rms_norm",
        [("input", "Tensor", True), ("residual", "Tensor", True), ("weight", "Tensor", False), ("eps", "float", False)],
        [],
    )


def dynamic_section(so: Path) -> str:
    return subprocess.run(["readelf", "-d", "-W", str(so)], check=True, capture_output=True, text=True).stdout


def dynamic_symbols(so: Path, undefined: bool):
    args = ["nm", "-D", "--undefined-only" if undefined else "--defined-only", str(so)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize("version", [2, 1])
@pytest.mark.parametrize("name", KERNELS)
def test_layout_metadata_and_elf(name, version):
    vdir = variant_dir(name, version)
    assert vdir.is_dir(), f"missing variant {vdir}; built: {sorted(p.name for p in vdir.parent.iterdir())}"
    sos = sorted(vdir.glob("*.so"))
    assert len(sos) == 1, sos
    so = sos[0]
    ns = so.name[: -len(".abi3.so")]
    pyname = name.replace("-", "_")
    assert re.fullmatch(rf"_{pyname}_cpu_[0-9a-f]{{7}}", ns), ns
    # Exactly the flat layout: nothing else is shipped (__pycache__ may appear
    # when some other process imported the variant; it is never published).
    shipped = sorted(p.name for p in vdir.iterdir() if p.name != "__pycache__")
    layers = ["layers.py"] if name == "activation" else []  # activation has layers (kernelize)
    assert shipped == sorted(["__init__.py", "_ops.py", "metadata.json", so.name] + layers)

    raw = (vdir / "metadata.json").read_text()
    meta = json.loads(raw)
    assert list(meta) == ["name", "id", "version", "license", "python-depends", "kernel-depends", "backend"]
    assert meta == {
        "name": name,
        "id": ns,
        "version": version,
        "license": "Apache-2.0",
        "python-depends": [],
        "kernel-depends": [],
        "backend": {"type": "cpu"},
    }
    assert raw == json.dumps(meta, indent=2)  # serde-pretty style, no trailing newline

    ops_py = (vdir / "_ops.py").read_text()
    assert re.findall(r"^ops = torch\.ops\.(\w+)$", ops_py, re.M) == [ns]
    assert f"from . import {ns}\n" in ops_py
    assert f'return f"{ns}::{{op_name}}"' in ops_py
    mod = load(name, version)
    assert mod.__name__ == ns
    assert mod.add_op_namespace_prefix("x") == f"{ns}::x"

    dyn = dynamic_section(so)
    assert re.search(r"\(FLAGS\)\s+.*BIND_NOW", dyn) or re.search(r"\(FLAGS_1\)\s+.*\bNOW\b", dyn), dyn
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
    assert not [n for n in needed if "python" in n], needed
    assert {"libtorch_cpu.so", "libc10.so"} <= set(needed), needed
    assert not [n for n in needed if "cuda" in n or "cudart" in n], needed
    assert "RPATH" not in dyn and "RUNPATH" not in dyn
    undefined = dynamic_symbols(so, undefined=True)
    py_undefined = {s for s in undefined if s.startswith(("Py", "_Py"))}
    assert py_undefined == {"PyModule_Create2"}
    assert f"PyInit_{ns}" in dynamic_symbols(so, undefined=False)


def test_build_id_is_git_tree_id_of_kernel_folder():
    sys.path.insert(0, str(SOURCE_DIR / "kernels" / "cmake"))
    try:
        import hub_kernel
    finally:
        sys.path.pop(0)
    import hashlib

    for name in KERNELS:
        tree = hub_kernel.git_tree_id(str(SOURCE_DIR / "kernels" / name))
        cur = json.loads((variant_dir(name, 2) / "metadata.json").read_text())["id"]
        assert cur.endswith("_" + tree[:7])
        old = json.loads((variant_dir(name, 1) / "metadata.json").read_text())["id"]
        assert old.endswith("_" + hashlib.sha1(f"{tree}:v1".encode()).hexdigest()[:7])
        # When the folder is committed and clean, the id is git's own tree id.
        try:
            rel = f"kernels/{name}"
            status = subprocess.run(["git", "status", "--porcelain", "--ignored", "--", rel], cwd=SOURCE_DIR,
                                    capture_output=True, text=True, check=True).stdout
            head = subprocess.run(["git", "rev-parse", f"HEAD:{rel}"], cwd=SOURCE_DIR,
                                  capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
        if not status.strip():
            assert head == tree


def cuda_variant_dirs(name: str, version: int):
    build = ROOTS[version] / name / "build"
    return sorted(p for p in build.iterdir() if re.fullmatch(r"torch\d+-cxx11-cu\d+-\w+-linux", p.name))


@pytest.mark.parametrize("version", [2, 1])
@pytest.mark.parametrize("name", KERNELS)
def test_cuda_variant_layout_and_load(name, version):
    """When the CUDA variant was built (KERNEL_LOCK_BUILD_CUDA_KERNELS), it is
    laid out like the CPU one and Python `kernels` picks and loads it for this
    CUDA torch; no GPU is needed to load it and see its ops."""
    dirs = cuda_variant_dirs(name, version)
    if not dirs:
        pytest.skip("CUDA variant not built")
    assert len(dirs) == 1, dirs
    vdir = dirs[0]
    so = sorted(vdir.glob("*.so"))
    assert len(so) == 1
    ns = so[0].name[: -len(".abi3.so")]
    assert re.fullmatch(rf"_{name}_cuda_[0-9a-f]{{7}}", ns)
    cpu_ns = json.loads((variant_dir(name, version) / "metadata.json").read_text())["id"]
    assert ns.split("_")[-1] == cpu_ns.split("_")[-1]  # one build id per source tree and version
    meta = json.loads((vdir / "metadata.json").read_text())
    assert meta["id"] == ns and meta["version"] == version
    assert meta["backend"]["type"] == "cuda" and meta["backend"]["archs"] == sorted(set(meta["backend"]["archs"]))
    dyn = dynamic_section(so[0])
    assert re.search(r"\(FLAGS\)\s+.*BIND_NOW", dyn)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
    assert any(n.startswith("libcudart.so.") for n in needed) and not [n for n in needed if "python" in n]
    assert {s for s in dynamic_symbols(so[0], undefined=True) if s.startswith(("Py", "_Py"))} == {"PyModule_Create2"}
    if torch.version.cuda is None:
        return
    if vdir.name.split("-")[2] != "cu" + "".join(torch.version.cuda.split(".")[:2]):
        pytest.skip(f"{vdir.name} is not for this torch's CUDA {torch.version.cuda}")
    mod = get_local_kernel(ROOTS[version] / name)  # backend detected: cuda
    assert mod.ops.name == ns
    if not torch.cuda.is_available():
        # Only CUDA kernels are registered: CPU tensors find no kernel.
        x = torch.randn(4, 8)
        with pytest.raises(NotImplementedError, match="CPU"):
            if name == "activation":
                mod.ops.gelu_tanh(torch.empty_like(x), x)
            else:
                mod.ops.rms_norm(torch.empty_like(x), x, torch.ones(8), 1e-6)


def test_published_to_fixture_hub_and_loaded_by_get_kernel(tmp_path):
    """fixtures/build_fixture_hub.sh publishes these builds as kernels-test/activation
    and kernels-test/rmsnorm; `kernel-lock-dev serve` serves them and Python
    `kernels.get_kernel` (HF_ENDPOINT) downloads and loads each version."""
    binary = BUILD_DIR / "testing" / "kernel-lock-dev"
    script = SOURCE_DIR / "fixtures" / "build_fixture_hub.sh"
    if not binary.exists() or not script.exists():
        pytest.skip("needs the kernel-lock-dev binary and fixtures/build_fixture_hub.sh")
    hub = tmp_path / "hub"
    env = dict(os.environ, KERNELS_BUILD=str(BUILD_DIR))
    r = subprocess.run(["bash", str(script), str(hub), str(binary)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    refs = json.loads((hub / "repos" / "kernel" / "kernels-test" / "activation" / "refs.json").read_text())
    assert set(refs["branches"]) == {"main", "v1", "v2"} and set(refs["tags"]) == {"v1.0.0", "v2.0.0"}
    port_file = tmp_path / "port"
    server = subprocess.Popen([str(binary), "serve", str(hub), "--port-file", str(port_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            if port_file.exists() and port_file.read_text().strip():
                break
            assert server.poll() is None, server.stderr.read()
            time.sleep(0.05)
        port = port_file.read_text().strip()
        code = r"""
import json, sys
sys.dont_write_bytecode = True
import torch, kernels
out = {}
for rev in ("v1", "v2", "v1.0.0"):
    kw = {"version": int(rev[1])} if rev in ("v1", "v2") else {"revision": rev}
    m = kernels.get_kernel("kernels-test/activation", backend="cpu", trust_remote_code=True, **kw)
    x = torch.randn(3, 8, dtype=torch.float64).float()
    o = torch.empty(3, 4)
    m.silu_and_mul(o, x)
    ok = torch.allclose(o, torch.nn.functional.silu(x[:, :4]) * x[:, 4:], rtol=1e-5, atol=1e-6)
    n = kernels.get_kernel("kernels-test/rmsnorm", backend="cpu", trust_remote_code=True, **kw)
    out[rev] = [m.__name__, hasattr(m, "silu"), ok, n.__name__, hasattr(n.ops, "fused_add_rms_norm")]
print(json.dumps(out))
"""
        penv = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HUB_CACHE=str(tmp_path / "cache"),
                    HF_HUB_DISABLE_PROGRESS_BARS="1")
        # (HF_HUB_DISABLE_TELEMETRY=1 makes huggingface_hub 2.4 send an illegal User-Agent.)
        penv.pop("HF_HUB_OFFLINE", None)
        r = subprocess.run([sys.executable, "-c", code], env=penv, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        server.terminate()
        server.wait(timeout=10)

    def ids(version):
        return [json.loads((variant_dir(k, version) / "metadata.json").read_text())["id"] for k in KERNELS]

    a1, n1 = ids(1)
    a2, n2 = ids(2)
    assert got["v1"] == [a1, False, True, n1, False]
    assert got["v1.0.0"] == got["v1"]
    assert got["v2"] == [a2, True, True, n2, True]
