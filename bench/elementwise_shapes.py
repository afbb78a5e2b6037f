#!/usr/bin/env python3
"""Times the element-wise launch shapes of bench/elementwise_shapes.cu against
torch.compile of the same formula and a same-size copy, with the method of
bench/gpu_kernels.py (CUDA events, median of 5 runs of back-to-back calls).

    python3 bench/elementwise_shapes.py elementwise_shapes.so
    python3 bench/elementwise_shapes.py elementwise_shapes.so --gated [--acts silu,gelu,gelu_tanh]
        [--dtypes bf16,fp16,fp32]

Prints a markdown table, one column per shape (µs per call); a "!" marks a
result that differs from the eager formula beyond rtol 2e-2 / atol 2e-3 (bf16
gelu_fast: the eager reference itself computes in bf16).
"""
import ctypes
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import gpu_kernels as gk  # noqa: E402

REFS = {0: ("gelu_fast", gk.gelu_fast_ref), 2: ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh")), 3: ("silu", F.silu)}


GATED = {"gelu": (0, F.gelu), "gelu_tanh": (1, lambda v: F.gelu(v, approximate="tanh")), "silu": (2, F.silu)}
DTYPE_CODES = {"elementwise": {"fp32": (0, torch.float32), "bf16": (1, torch.bfloat16)},
               "gated": {"fp32": (0, torch.float32), "bf16": (1, torch.bfloat16), "fp16": (2, torch.float16)}}


def print_header(names):
    print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}\n")
    print("| op | dtype | shape | copy µs | compile µs | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---:|" * (2 + len(names)))


def row(label, x, out, ref, expect, run_variant, names, atol):
    """One table row: copy and torch.compile of `ref` on x, then each variant (run_variant(v)
    fills `out`), "!" where `out` differs from `expect`."""
    moved = (x.numel() + out.numel()) * x.element_size()
    iters = gk.iters_for(moved)
    src = torch.empty(moved // 2, device="cuda", dtype=torch.uint8)
    dst = torch.empty_like(src)
    copy = gk.time_us(lambda: dst.copy_(src), iters)
    compiled = torch.compile(ref, dynamic=False)
    comp = gk.time_us(lambda: compiled(x), iters)
    cells = []
    for v in range(len(names)):
        run_variant(v)
        torch.cuda.synchronize()
        ok = torch.allclose(out.float(), expect, rtol=2e-2, atol=atol)
        cells.append(f"{gk.time_us(lambda v=v: run_variant(v), iters):.1f}{'' if ok else '!'}")
    shape = "x".join(map(str, x.shape))
    print(f"| {label} | {str(x.dtype)[6:]} | {shape} | {copy:.1f} | {comp:.1f} | " + " | ".join(cells) + " |",
          flush=True)


def gated_main(lib, acts, dtypes):
    """silu_and_mul & co.: input rows x 2d, output rows x d."""
    lib.gated_variant_name.restype = ctypes.c_char_p
    names = [lib.gated_variant_name(i).decode() for i in range(lib.n_gated_variants())]
    print_header(names)
    for dt, tdt in (DTYPE_CODES["gated"][d] for d in dtypes):
        for shape in ((4096, 8192), (4096, 16384), (16384, 8192), (16384, 16384)):
            for act in acts:
                code, fn = GATED[act]
                d = shape[1] // 2
                ref = gk.gated_ref(fn)
                x = torch.randn(shape, device="cuda", dtype=tdt)
                out = torch.empty(shape[0], d, device="cuda", dtype=tdt)
                row(f"{act}_and_mul", x, out, ref, ref(x.float()),
                    lambda v: lib.run_gated(v, code, dt, ctypes.c_void_p(out.data_ptr()),
                                            ctypes.c_void_p(x.data_ptr()), ctypes.c_longlong(shape[0]),
                                            ctypes.c_longlong(d)), names, 2e-2)
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    lib = ctypes.CDLL(argv[1])
    torch._dynamo.config.recompile_limit = 1000
    if "--gated" in argv:
        acts = argv[argv.index("--acts") + 1].split(",") if "--acts" in argv else list(GATED)
        dtypes = argv[argv.index("--dtypes") + 1].split(",") if "--dtypes" in argv else ["bf16", "fp16"]
        return gated_main(lib, acts, dtypes)
    lib.variant_name.restype = ctypes.c_char_p
    names = [lib.variant_name(i).decode() for i in range(lib.n_variants())]
    print_header(names)
    for dt, tdt in DTYPE_CODES["elementwise"].values():
        for shape in ((4096, 4096), (4096, 8192), (16384, 4096), (16384, 8192)):
            for act, (name, ref) in REFS.items():
                x = torch.randn(shape, device="cuda", dtype=tdt)
                out = torch.empty_like(x)
                row(name, x, out, ref, ref(x).float(),
                    lambda v: lib.run(v, act, dt, ctypes.c_void_p(out.data_ptr()), ctypes.c_void_p(x.data_ptr()),
                                      ctypes.c_longlong(x.numel())), names, 2e-3)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
