#!/usr/bin/env python3
"""Correctness of our CUDA kernels (kernels/) on a GPU, loaded by the real
Python `kernels` package from the Hub layout, against PyTorch in float64.

    python3 tests/gpu/test_cuda_kernels.py BUILD_DIR [-k SUBSTRING]

BUILD_DIR holds hub-kernels/<name>/build/<variant>/ (API version 2) and
hub-kernels-v1/... (version 1) with a CUDA variant, as built by
`kernels/build_standalone.sh BUILD_DIR` or the main CMake build with
KERNEL_LOCK_BUILD_CUDA_KERNELS=ON. Exits 0 when every check passes, 1
otherwise; prints one line per check. Also runs under pytest
(KERNEL_LOCK_BUILD_DIR=BUILD_DIR pytest tests/gpu/test_cuda_kernels.py).
"""

import json
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.dont_write_bytecode = True  # keep the built variants free of __pycache__

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

BUILD_DIR = Path(os.environ.get("KERNEL_LOCK_BUILD_DIR", "build"))
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
# float32 math + one rounding to the dtype: within about one unit in the last place.
TOL = {
    torch.float32: dict(rtol=2e-5, atol=2e-6),
    torch.float16: dict(rtol=1e-3, atol=2e-5),
    torch.bfloat16: dict(rtol=8e-3, atol=1e-4),
}

ELEMENTWISE = {
    "gelu_fast": lambda x: 0.5 * x * (1.0 + torch.tanh(0.7978845608 * x * (1.0 + 0.044715 * x * x))),
    "gelu_new": lambda x: 0.5 * x * (1.0 + torch.tanh(0.7978845608 * (x + 0.044715 * torch.pow(x, 3.0)))),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
}
GATED = {
    "silu_and_mul": F.silu,
    "gelu_and_mul": F.gelu,
    "gelu_tanh_and_mul": lambda x: F.gelu(x, approximate="tanh"),
}
V1_OPS = {"gelu_fast", "gelu_new", "gelu_tanh", "silu_and_mul", "gelu_and_mul", "rms_norm"}

# Shapes: tiny, odd (scalar tail), multiples of the 16-byte pack, and large.
SHAPES = [(1,), (3,), (7,), (8,), (33,), (2, 5), (3, 16), (2, 3, 34), (5, 1000), (4, 4098), (0, 8), (130, 9),
          (1, 1 << 20), (3, 1 << 20) , (4096, 4096), (7, 11, 13), (65537,)]
GATED_SHAPES = [(2,), (6,), (16,), (3, 18), (2, 3, 34), (5, 1000), (4, 4098), (0, 8), (130, 18), (4096, 2 * 4096),
                (17, 2 * 14336), (1, 2 * 7)]
NORM_SHAPES = [(1,), (5,), (4, 8), (3, 5, 64), (7, 1000), (2, 4097), (0, 16), (257, 3), (33, 4096), (8, 8192),
               (2, 16384), (1, 65536), (4096, 4096), (100000, 16), (3, 7168), (5, 12288), (3, 12296)]

_modules = {}


def load(name, version=2):
    from kernels import get_local_kernel

    root = BUILD_DIR / ("hub-kernels" if version == 2 else "hub-kernels-v1") / name
    key = (name, version)
    if key not in _modules:
        _modules[key] = get_local_kernel(root)  # backend auto-detected: cuda
    return _modules[key]


def randn(shape, dtype, seed, device="cuda", scale=3.0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype).to(device)


def unaligned(t):
    """A contiguous copy of `t` whose data pointer is off 16-byte alignment."""
    buf = torch.empty(t.numel() + 1, dtype=t.dtype, device=t.device)
    view = buf[1:].view(t.shape)
    view.copy_(t)
    assert view.is_contiguous()
    return view


def close(out, ref64, dtype, what):
    torch.testing.assert_close(out.double().cpu(), ref64.to(dtype).double().cpu(), **TOL[dtype], msg=lambda m: f"{what}: {m}")


def check_elementwise(version):
    mod = load("activation", version)
    for op, ref in ELEMENTWISE.items():
        if version == 1 and op not in V1_OPS:
            assert not hasattr(mod.ops, op), f"v1 must not have {op}"
            continue
        for dtype in DTYPES:
            for i, shape in enumerate(SHAPES):
                x = randn(shape, dtype, seed=i)
                for variant in ("aligned", "unaligned"):
                    xi = x if variant == "aligned" else unaligned(x)
                    out = torch.full_like(x, float("nan"))
                    if variant == "unaligned":
                        out = unaligned(out)
                    assert getattr(mod, op)(out, xi) is out
                    close(out, ref(x.double()), dtype, f"{op} {dtype} {shape} {variant}")


def check_gated(version):
    mod = load("activation", version)
    for op, act in GATED.items():
        if version == 1 and op not in V1_OPS:
            assert not hasattr(mod.ops, op), f"v1 must not have {op}"
            continue
        for dtype in DTYPES:
            for i, shape in enumerate(GATED_SHAPES):
                x = randn(shape, dtype, seed=100 + i)
                d = shape[-1] // 2
                x64 = x.double()
                ref = act(x64[..., :d]) * x64[..., d:]
                for variant in ("aligned", "unaligned"):
                    xi = x if variant == "aligned" else unaligned(x)
                    out = torch.full(shape[:-1] + (d,), float("nan"), dtype=dtype, device="cuda")
                    if variant == "unaligned":
                        out = unaligned(out)
                    assert getattr(mod, op)(out, xi) is out
                    close(out, ref, dtype, f"{op} {dtype} {shape} {variant}")


def check_rms_norm(version):
    mod = load("rmsnorm", version)
    for dtype in DTYPES:
        for i, shape in enumerate(NORM_SHAPES):
            x = randn(shape, dtype, seed=200 + i)
            w = randn(shape[-1:], dtype, seed=300 + i, scale=1.0)
            for eps in (1e-6, 1e-2):
                ref = F.rms_norm(x.double(), shape[-1:], w.double(), eps)
                for variant in ("aligned", "unaligned"):
                    xi = x if variant == "aligned" else unaligned(x)
                    out = torch.full_like(x, float("nan"))
                    if variant == "unaligned":
                        out = unaligned(out)
                    assert mod.rms_norm(out, xi, w, eps) is out
                    close(out, ref, dtype, f"rms_norm {dtype} {shape} eps={eps} {variant}")


def check_rms_norm_two_pass():
    """Large rms_norm inputs with rows of 1024 to 4096 16-byte packs (a multiple of
    512) take the two-pass kernel (rmsnorm_kernels.cu, takes_two_pass) at 2, 4 and 8
    packs a thread; rows of other lengths there keep the register path (fp32 x 7168
    and x 12300); out of place, then in place."""
    mod = load("rmsnorm", 2)
    for i, (dtype, shape) in enumerate(((torch.float32, (16384, 4096)), (torch.float16, (16384, 8192)),
                                        (torch.bfloat16, (16384, 8192)), (torch.float32, (16384, 8192)),
                                        (torch.bfloat16, (8192, 16384)), (torch.float16, (16384, 12288)),
                                        (torch.float32, (4096, 12288)), (torch.float32, (3000, 12300)),
                                        (torch.float32, (16384, 7168)))):
        x = randn(shape, dtype, seed=400 + i)
        w = randn(shape[-1:], dtype, seed=410 + i, scale=1.0)
        ref = F.rms_norm(x.double(), shape[-1:], w.double(), 1e-6)
        out = torch.full_like(x, float("nan"))
        assert mod.rms_norm(out, x, w, 1e-6) is out
        close(out, ref, dtype, f"rms_norm two-pass {dtype} {shape}")
        assert mod.rms_norm(x, x, w, 1e-6) is x
        close(x, ref, dtype, f"rms_norm two-pass in place {dtype} {shape}")


def check_fused_add_rms_norm():
    mod = load("rmsnorm", 2)
    for dtype in DTYPES:
        for i, shape in enumerate(NORM_SHAPES):
            x = randn(shape, dtype, seed=400 + i)
            res = randn(shape, dtype, seed=500 + i)
            w = randn(shape[-1:], dtype, seed=600 + i, scale=1.0)
            sum64 = x.double() + res.double()
            res_ref = sum64.to(dtype).double()
            ref = F.rms_norm(res_ref, shape[-1:], w.double(), 1e-5)
            xi, ri = x.clone(), res.clone()
            mod.fused_add_rms_norm(xi, ri, w, 1e-5)
            close(ri, sum64, dtype, f"fused_add_rms_norm residual {dtype} {shape}")
            close(xi, ref, dtype, f"fused_add_rms_norm out {dtype} {shape}")
    assert not hasattr(load("rmsnorm", 1).ops, "fused_add_rms_norm")


def check_same_as_cpu_variant():
    """The CUDA and CPU variants agree (both: float32 math, one rounding)."""
    from kernels import get_local_kernel

    cpu = get_local_kernel(BUILD_DIR / "hub-kernels" / "activation", backend="cpu")
    gpu = load("activation")
    assert cpu.ops.name != gpu.ops.name
    for dtype in DTYPES:
        x = randn((64, 4096), dtype, seed=7)
        for op in ELEMENTWISE:
            a, b = torch.empty_like(x).cpu(), torch.empty_like(x)
            getattr(cpu, op)(a, x.cpu())
            getattr(gpu, op)(b, x)
            # float32 tanhf/expf may differ by an ulp between libm and CUDA.
            torch.testing.assert_close(b.cpu(), a, **TOL[dtype])


def check_streams_and_devices():
    mod = load("activation")
    x = randn((1024, 4096), torch.float16, seed=11)
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        out = torch.empty_like(x)
        for _ in range(5):
            mod.gelu_tanh(out, x)
    s.synchronize()
    close(out, F.gelu(x.double(), approximate="tanh"), torch.float16, "gelu_tanh on a side stream")
    if torch.cuda.device_count() > 1:
        x1 = x.to("cuda:1")
        out1 = torch.empty_like(x1)
        mod.gelu_tanh(out1, x1)
        close(out1, F.gelu(x.double(), approximate="tanh"), torch.float16, "gelu_tanh on cuda:1")
        norm = load("rmsnorm")
        w1 = torch.ones(4096, dtype=torch.float16, device="cuda:1")
        o1 = torch.empty_like(x1)
        norm.rms_norm(o1, x1, w1, 1e-6)
        close(o1, F.rms_norm(x.double(), (4096,), None, 1e-6), torch.float16, "rms_norm on cuda:1")


def expect_error(fn, needle):
    try:
        fn()
        torch.cuda.synchronize()
    except (RuntimeError, NotImplementedError) as e:
        assert re.search(needle, str(e)), f"expected /{needle}/, got: {str(e)[:300]}"
        return
    raise AssertionError(f"no error raised (expected /{needle}/)")


def check_errors():
    act, norm = load("activation"), load("rmsnorm")
    x = torch.randn(4, 8, device="cuda")
    expect_error(lambda: act.gelu_fast(torch.empty(4, 8, device="cuda", dtype=torch.float64), x.double()), "unsupported dtype")
    expect_error(lambda: act.gelu_fast(torch.empty(4, 8, device="cuda", dtype=torch.float16), x), "dtype")
    expect_error(lambda: act.gelu_fast(torch.empty(8, 4, device="cuda").t(), x), "contiguous")
    expect_error(lambda: act.gelu_fast(torch.empty(4, 7, device="cuda"), x), "shape")
    expect_error(lambda: act.silu_and_mul(torch.empty(4, 3, device="cuda"), torch.randn(4, 7, device="cuda")), "even")
    expect_error(lambda: act.gelu_fast(torch.empty(4, 8), x), "device")
    expect_error(lambda: act.gelu_fast(torch.empty(4, 8), x.cpu()), "CPU")  # no CPU kernel in this variant
    expect_error(lambda: norm.rms_norm(torch.empty(4, 8, device="cuda"), x, torch.randn(7, device="cuda"), 1e-6), "weight")
    expect_error(lambda: norm.rms_norm(torch.empty(4, 8, device="cuda"), x, torch.randn(8), 1e-6), "device")
    expect_error(lambda: norm.rms_norm(torch.empty(4, 8, device="cuda"), x, torch.randn(8, device="cuda"), -1.0), "eps")


def check_layout_and_elf():
    for name in ("activation", "rmsnorm"):
        for root, version in (("hub-kernels", 2), ("hub-kernels-v1", 1)):
            variants = sorted((BUILD_DIR / root / name / "build").glob("*-cu*-*"))
            assert len(variants) == 1, variants
            vdir = variants[0]
            cu = torch.version.cuda.split(".")
            assert re.fullmatch(rf"torch\d+-cxx11-cu{cu[0]}\d+-\w+-linux", vdir.name), vdir.name
            so = list(vdir.glob("*.abi3.so"))
            assert len(so) == 1, so
            ns = so[0].name[: -len(".abi3.so")]
            meta = json.loads((vdir / "metadata.json").read_text())
            assert meta["id"] == ns and meta["version"] == version and meta["backend"]["type"] == "cuda"
            assert meta["backend"]["archs"], meta
            assert f"ops = torch.ops.{ns}\n" in (vdir / "_ops.py").read_text()
            dyn = subprocess.run(["readelf", "-d", "-W", str(so[0])], capture_output=True, text=True, check=True).stdout
            assert "BIND_NOW" in dyn or re.search(r"FLAGS_1.*\bNOW\b", dyn), dyn
            needed = re.findall(r"Shared library: \[([^\]]+)\]", dyn)
            assert not [n for n in needed if "python" in n], needed
            assert any(n.startswith("libcudart.so") for n in needed), needed
            und = subprocess.run(["nm", "-D", "--undefined-only", str(so[0])], capture_output=True, text=True, check=True).stdout
            assert {l.split()[-1] for l in und.splitlines() if re.search(r"\s_?Py", l)} == {"PyModule_Create2"}
    # The device this runs on is among the declared archs (kernels checks it too).
    major, minor = torch.cuda.get_device_capability()
    meta = json.loads(next((BUILD_DIR / "hub-kernels" / "activation" / "build").glob("*-cu*-*/metadata.json")).read_text())
    print(f"    device sm_{major}{minor}; built archs {meta['backend']['archs']}")


CHECKS = [
    ("layout and ELF of the CUDA variants", check_layout_and_elf),
    ("element-wise ops, version 2", lambda: check_elementwise(2)),
    ("element-wise ops, version 1", lambda: check_elementwise(1)),
    ("gated ops, version 2", lambda: check_gated(2)),
    ("gated ops, version 1", lambda: check_gated(1)),
    ("rms_norm, version 2", lambda: check_rms_norm(2)),
    ("rms_norm, version 1", lambda: check_rms_norm(1)),
    ("rms_norm, two-pass path", check_rms_norm_two_pass),
    ("fused_add_rms_norm", check_fused_add_rms_norm),
    ("CUDA variant agrees with the CPU variant", check_same_as_cpu_variant),
    ("streams and devices", check_streams_and_devices),
    ("argument errors", check_errors),
]


# pytest entry points (one test per check).
def _make_test(fn):
    def test():
        fn()

    return test


for _i, (_name, _fn) in enumerate(CHECKS):
    globals()[f"test_{_i:02d}_" + re.sub(r"\W+", "_", _name).strip("_").lower()] = _make_test(_fn)


def main(argv):
    global BUILD_DIR
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2
    BUILD_DIR = Path(argv[1]).resolve()
    only = argv[argv.index("-k") + 1] if "-k" in argv else None
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to test", file=sys.stderr)
        return 1
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}, build {BUILD_DIR}")
    failed = 0
    for name, fn in CHECKS:
        if only and only not in name:
            continue
        t0 = time.time()
        try:
            fn()
            torch.cuda.synchronize()
            print(f"PASS {name} ({time.time() - t0:.1f}s)")
        except Exception:  # report every failure, then the exit status
            failed += 1
            print(f"FAIL {name}\n{traceback.format_exc()}")
    print(f"{len(CHECKS) - failed if not only else 'selected'} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
