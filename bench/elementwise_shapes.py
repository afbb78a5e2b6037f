#!/usr/bin/env python3
"""Times the element-wise launch shapes of bench/elementwise_shapes.cu against
torch.compile of the same formula and a same-size copy, with the method of
bench/gpu_kernels.py (CUDA events, median of 5 runs of back-to-back calls).

    python3 bench/elementwise_shapes.py elementwise_shapes.so

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


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    lib = ctypes.CDLL(argv[1])
    lib.variant_name.restype = ctypes.c_char_p
    names = [lib.variant_name(i).decode() for i in range(lib.n_variants())]
    torch._dynamo.config.recompile_limit = 1000
    print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}\n")
    print("| op | dtype | shape | copy µs | compile µs | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---:|" * (2 + len(names)))
    for dt, tdt in ((0, torch.float32), (1, torch.bfloat16)):
        for shape in ((4096, 4096), (4096, 8192), (16384, 4096), (16384, 8192)):
            for act, (name, ref) in REFS.items():
                x = torch.randn(shape, device="cuda", dtype=tdt)
                out = torch.empty_like(x)
                iters = gk.iters_for(2 * x.numel() * x.element_size())
                src, dst = torch.empty_like(x), torch.empty_like(x)
                copy = gk.time_us(lambda: dst.copy_(src), iters)
                compiled = torch.compile(ref, dynamic=False)
                comp = gk.time_us(lambda: compiled(x), iters)
                cells = []
                for v in range(len(names)):
                    def call(v=v):
                        lib.run(v, act, dt, ctypes.c_void_p(out.data_ptr()), ctypes.c_void_p(x.data_ptr()),
                                ctypes.c_longlong(x.numel()))
                    call()
                    torch.cuda.synchronize()
                    ok = torch.allclose(out.float(), ref(x).float(), rtol=2e-2, atol=2e-3)
                    cells.append(f"{gk.time_us(call, iters):.1f}{'' if ok else '!'}")
                print(f"| {name} | {str(tdt)[6:]} | {shape[0]}x{shape[1]} | {copy:.1f} | {comp:.1f} | "
                      + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
