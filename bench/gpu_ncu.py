#!/usr/bin/env python3
"""Runs a few of our CUDA kernels once each, inside an NVTX range "prof", for
Nsight Compute:

    ncu --clock-control none --nvtx --nvtx-include "prof/" --section SpeedOfLight \
        --section MemoryWorkloadAnalysis --section Occupancy python3 bench/gpu_ncu.py BUILD_DIR

Inputs are made (and warmed up) outside the range, so only the listed kernels
and a same-size device copy are profiled. BUILD_DIR as for bench/gpu_kernels.py.
"""

import sys
from pathlib import Path

sys.dont_write_bytecode = True

import torch  # noqa: E402


def main(argv):
    from kernels import get_local_kernel

    build = Path(argv[1]).resolve()
    act = get_local_kernel(build / "hub-kernels" / "activation").ops
    rms = get_local_kernel(build / "hub-kernels" / "rmsnorm").ops
    torch.manual_seed(0)
    bf, fp, f32 = torch.bfloat16, torch.float16, torch.float32
    x = torch.randn(16384, 8192, dtype=bf, device="cuda")
    r = torch.randn_like(x)
    w = torch.randn(8192, dtype=bf, device="cuda")
    y = torch.empty_like(x)
    g = torch.randn(16384, 16384, dtype=fp, device="cuda")
    gy = torch.empty(16384, 8192, dtype=fp, device="cuda")
    x32 = torch.randn(8192, 8192, dtype=f32, device="cuda")
    w32 = torch.randn(8192, dtype=f32, device="cuda")
    y32 = torch.empty_like(x32)
    calls = [
        ("copy bf16 16384x8192", lambda: y.copy_(x)),
        ("rms_norm bf16 16384x8192", lambda: rms.rms_norm(y, x, w, 1e-6)),
        ("fused_add_rms_norm bf16 16384x8192", lambda: rms.fused_add_rms_norm(x, r, w, 1e-6)),
        ("rms_norm fp32 8192x8192", lambda: rms.rms_norm(y32, x32, w32, 1e-6)),
        ("silu bf16 16384x8192", lambda: act.silu(y, x)),
        ("gelu_tanh bf16 16384x8192", lambda: act.gelu_tanh(y, x)),
        ("gelu_and_mul fp16 16384x16384", lambda: act.gelu_and_mul(gy, g)),
    ]
    for _, fn in calls:  # module load and first-launch costs outside the range
        fn()
    torch.cuda.synchronize()
    for name, fn in calls:
        torch.cuda.nvtx.range_push("prof")
        torch.cuda.nvtx.range_push(name)
        fn()
        torch.cuda.nvtx.range_pop()
        torch.cuda.nvtx.range_pop()
    torch.cuda.synchronize()
    print("\n".join(name for name, _ in calls))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
