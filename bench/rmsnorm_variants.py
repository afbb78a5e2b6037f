#!/usr/bin/env python3
"""Times the rms_norm launch variants of bench/rmsnorm_variants.cu against
torch.compile of the same formula and a same-size copy, with the method of
bench/gpu_kernels.py (CUDA events, median of 5 runs of back-to-back calls).

    python3 bench/rmsnorm_variants.py rmsnorm_variants.so [--fused] [--dtypes fp32,bf16]
        [--shapes 16384x4096,...] [--profile]

Prints a markdown table, one column per variant (µs per call); a "!" marks a
result that differs from F.rms_norm beyond the tolerance of tests/gpu.
--profile runs each variant and the compiled formula once per shape inside an
NVTX range "prof" holding one named "<dtype> <shape> <variant>" (for
ncu --nvtx --nvtx-include "prof/" --print-nvtx-rename kernel) instead.
"""
import argparse
import ctypes
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import gpu_kernels as gk  # noqa: E402

DTYPES = {"fp32": (0, torch.float32), "fp16": (1, torch.float16), "bf16": (2, torch.bfloat16)}
SHAPES = "1x4096,256x4096,4096x4096,4096x8192,8192x8192,16384x4096,16384x8192"


def reference(fused):
    if fused:
        def f(v, r, w):
            s = v + r
            return F.rms_norm(s, (v.shape[-1],), w, 1e-6), s
        return f
    return lambda v, r, w: F.rms_norm(v, (v.shape[-1],), w, 1e-6)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("lib")
    p.add_argument("--fused", action="store_true", help="fused_add_rms_norm instead of rms_norm")
    p.add_argument("--dtypes", default="fp32,fp16,bf16")
    p.add_argument("--shapes", default=SHAPES)
    p.add_argument("--profile", action="store_true")
    a = p.parse_args(argv[1:])
    lib = ctypes.CDLL(a.lib)
    lib.variant_name.restype = ctypes.c_char_p
    names = [lib.variant_name(i).decode() for i in range(lib.n_variants())]
    torch._dynamo.config.recompile_limit = 1 << 16
    ref = reference(a.fused)
    op = "fused_add_rms_norm" if a.fused else "rms_norm"
    if not a.profile:
        print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}; {op}\n")
        print("| dtype | shape | copy µs | compile µs | " + " | ".join(names) + " |")
        print("|---|---|" + "---:|" * (2 + len(names)))
    for dname in a.dtypes.split(","):
        code, dtype = DTYPES[dname]
        for shape in (tuple(map(int, s.split("x"))) for s in a.shapes.split(",")):
            torch.manual_seed(0)
            x = torch.randn(shape, device="cuda", dtype=dtype)
            res = torch.randn(shape, device="cuda", dtype=dtype) if a.fused else None
            w = torch.randn(shape[-1], device="cuda", dtype=dtype)
            out = torch.empty_like(x)
            moved = (4 if a.fused else 2) * x.numel() * x.element_size()
            iters = gk.iters_for(moved)
            compiled = torch.compile(ref, dynamic=False)

            def call(v, xs=x, rs=res):
                return lib.run(v, code, ctypes.c_void_p((xs if a.fused else out).data_ptr()),
                               ctypes.c_void_p(xs.data_ptr()), ctypes.c_void_p(rs.data_ptr() if a.fused else 0),
                               ctypes.c_void_p(w.data_ptr()), ctypes.c_longlong(shape[0]),
                               ctypes.c_longlong(shape[1]), ctypes.c_float(1e-6))
            if a.profile:
                compiled(x, res, w)
                for v in range(len(names)):
                    call(v)
                torch.cuda.synchronize()
                for label, fn in [("compile", lambda: compiled(x, res, w))] + [
                        (n, lambda v=v: call(v)) for v, n in enumerate(names)]:
                    torch.cuda.nvtx.range_push("prof")
                    torch.cuda.nvtx.range_push(f"{dname} {shape[0]}x{shape[1]} {label}")
                    fn()
                    torch.cuda.nvtx.range_pop()
                    torch.cuda.nvtx.range_pop()
                torch.cuda.synchronize()
                continue
            src = torch.empty(moved // 2, device="cuda", dtype=torch.uint8)
            dst = torch.empty_like(src)
            copy = gk.time_us(lambda: dst.copy_(src), iters)
            comp = gk.time_us(lambda: compiled(x, res, w), iters)
            cells = []
            x0, res0 = x.clone(), (res.clone() if a.fused else None)  # timing runs fused ops in place
            expect = ref(x0.float(), res0.float() if a.fused else None, w.float())
            for v in range(len(names)):
                xs, rs = (x0.clone(), res0.clone()) if a.fused else (x, None)
                rc = call(v, xs, rs)
                torch.cuda.synchronize()
                got = (xs, rs) if a.fused else out
                if a.fused:
                    ok = torch.allclose(got[0].float(), expect[0], rtol=2e-2, atol=2e-2) and torch.allclose(
                        got[1].float(), expect[1], rtol=2e-2, atol=2e-2)
                else:
                    ok = torch.allclose(got.float(), expect, rtol=2e-2, atol=2e-2)
                if rc != 0:
                    cells.append(f"err {rc}")
                    continue
                cells.append(f"{gk.time_us(lambda v=v: call(v), iters):.1f}{'' if ok else '!'}")
            print(f"| {dname} | {shape[0]}x{shape[1]} | {copy:.1f} | {comp:.1f} | " + " | ".join(cells) + " |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
