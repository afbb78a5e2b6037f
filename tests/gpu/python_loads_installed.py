#!/usr/bin/env python3
"""The real Python `kernels` loads the CUDA variants of our kernels from an HF
cache written by `kernel-lock install` (offline, pinned by the lock) and gets
PyTorch's results. Run on a GPU host by bench/gpu_run.sh:

    HF_HUB_CACHE=CACHE HF_HUB_OFFLINE=1 python3 tests/gpu/python_loads_installed.py CACHE KERNELS_LOCK

KERNELS_LOCK is the lock in the shape kernels 0.17.2 reads
(`kernel-lock lock-fmt --python kernel.lock`). Prints one line per check;
exits 0 when every check passes.
"""

import sys
from pathlib import Path

sys.dont_write_bytecode = True  # the installed snapshot stays as the lock pins it

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from kernels import load_kernel  # noqa: E402

TOL = {torch.float32: (1.3e-6, 1e-5), torch.float16: (1e-3, 1e-3), torch.bfloat16: (1.6e-2, 1.6e-2)}
ELEMENTWISE = {
    "gelu_fast": lambda x: 0.5 * x * (1.0 + torch.tanh(0.7978845608 * x * (1.0 + 0.044715 * x * x))),
    "gelu_new": lambda x: 0.5 * x * (1.0 + torch.tanh(0.7978845608 * (x + 0.044715 * torch.pow(x, 3.0)))),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
}
GATED = {
    "silu_and_mul": lambda a, b: F.silu(a) * b,
    "gelu_and_mul": lambda a, b: F.gelu(a) * b,
}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__)
        return 2
    cache, lock = Path(argv[1]).resolve(), Path(argv[2]).resolve()
    failures = checks = 0

    def report(what: str, ok: bool, detail: str = "") -> None:
        nonlocal failures, checks
        checks += 1
        failures += 0 if ok else 1
        print(f"{'PASS' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}")

    act = load_kernel("kernels-test/activation", lockfile=lock)
    norm = load_kernel("kernels-test/rmsnorm", lockfile=lock)
    for name, mod in (("activation", act), ("rmsnorm", norm)):
        where = Path(mod.__file__).absolute()  # the snapshot path (resolving would follow it into blobs/)
        variant = where.parent.name
        report(f"{name} loaded from the installed cache, CUDA variant",
               str(where).startswith(str(cache)) and "/snapshots/" in str(where) and "-cu" in variant, str(where))
    torch.manual_seed(0)
    for dtype, (rtol, atol) in TOL.items():
        x = torch.randn(64, 4096, device="cuda", dtype=torch.float32).to(dtype)
        for op, ref in ELEMENTWISE.items():
            out = torch.empty_like(x)
            getattr(act, op)(out, x)
            want = ref(x.double()).to(dtype)
            report(f"{op} {dtype}", torch.allclose(out.float(), want.float(), rtol=rtol, atol=atol))
        for op, ref in GATED.items():
            out = torch.empty(64, 2048, device="cuda", dtype=dtype)
            getattr(act, op)(out, x)
            want = ref(x[:, :2048].double(), x[:, 2048:].double()).to(dtype)
            report(f"{op} {dtype}", torch.allclose(out.float(), want.float(), rtol=rtol, atol=atol))
        weight = torch.randn(4096, device="cuda", dtype=torch.float32).to(dtype)
        out = torch.empty_like(x)
        norm.rms_norm(out, x, weight, 1e-6)
        x64 = x.double()
        want = (x64 * torch.rsqrt(x64.pow(2).mean(-1, keepdim=True) + 1e-6) * weight.double()).to(dtype)
        report(f"rms_norm {dtype}", torch.allclose(out.float(), want.float(), rtol=rtol, atol=atol))
    torch.cuda.synchronize()
    print(f"{checks - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
