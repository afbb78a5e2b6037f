#!/usr/bin/env python3
"""The CUDA variants of our kernels loaded from Python through kernel_lock
(verified against kernel.lock, the .so dlopened from sealed memory, the Python
files executed from the verified bytes), compared with PyTorch on the GPU;
then the same through Python `kernels` after kernel_lock.patch_kernels()
(load_kernel, and kernelize with the activation kernel's SiluAndMul layer).

    PYTHONPATH=<build>/python HF_HUB_CACHE=CACHE HF_HUB_OFFLINE=1 \\
        python3 bench/gpu_python_check.py CACHE KERNEL_LOCK

CACHE: an HF cache written by `kernel-lock install` of a bundle of KERNEL_LOCK
(kernels-test/activation and kernels-test/rmsnorm with CUDA variants, e.g. from
bench/gpu_prepare.sh; bench/gpu_run.sh step 1c runs this). Prints one line per
check; exits 0 when every check passes.
"""
import sys
from pathlib import Path

sys.dont_write_bytecode = True

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import kernel_lock  # noqa: E402

TOL = {torch.float32: (1.3e-6, 1e-5), torch.float16: (1e-3, 1e-3), torch.bfloat16: (1.6e-2, 1.6e-2)}
ELEMENTWISE = {
    "gelu_fast": lambda x: 0.5 * x * (1.0 + torch.tanh(0.7978845608 * x * (1.0 + 0.044715 * x * x))),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
}
GATED = {"silu_and_mul": F.silu, "gelu_and_mul": F.gelu}


class Checks:
    def __init__(self):
        self.failures = self.count = 0

    def close(self, name: str, got: torch.Tensor, want: torch.Tensor) -> None:
        rtol, atol = TOL[got.dtype]
        ok = torch.allclose(got.double(), want.double(), rtol=rtol, atol=atol)
        err = (got.double() - want.double()).abs().max().item()
        self.count += 1
        self.failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name} max|err|={err:.3g}")

    def true(self, name: str, value: bool) -> None:
        self.count += 1
        self.failures += not value
        print(f"{'ok  ' if value else 'FAIL'} {name}")


def check_ops(c: Checks, act, rms, tag: str) -> None:
    for dtype in TOL:
        x = torch.randn(257, 1024, device="cuda", dtype=dtype)
        for name, ref in ELEMENTWISE.items():
            if hasattr(act, name):
                c.close(f"{tag} {name} {dtype}", getattr(act, name)(torch.empty_like(x), x), ref(x.double()))
        d = x.shape[-1] // 2
        for name, ref in GATED.items():
            out = torch.empty(x.shape[0], d, device="cuda", dtype=dtype)
            getattr(act, name)(out, x)
            c.close(f"{tag} {name} {dtype}", out, ref(x[:, :d].double()) * x[:, d:].double())
        w = torch.randn(1024, device="cuda", dtype=dtype)
        out = torch.empty_like(x)
        rms.ops.rms_norm(out, x, w, 1e-6)
        xd = x.double()
        c.close(f"{tag} rms_norm {dtype}", out, xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + 1e-6) * w.double())


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__)
        return 2
    cache, lock = Path(argv[1]).resolve(), Path(argv[2]).resolve()
    c = Checks()
    print("environment:", kernel_lock.describe_environment())
    act = kernel_lock.load_kernel("kernels-test/activation", lockfile=lock, cache_dir=cache)
    rms = kernel_lock.load_kernel("kernels-test/rmsnorm", lockfile=lock, cache_dir=cache)
    for m in (act, rms):
        info = m.__kernel_lock__
        print(f"loaded {info.repo_id} {info.variant} ns {info.namespace}: {info.provenance}")
        c.true(f"{info.repo_id}: CUDA variant chosen", "-cu" in info.variant)
        c.true(f"{info.repo_id}: verified against the lock", info.trust == "locked")
    check_ops(c, act, rms, "kernel_lock")

    # The same through Python `kernels`, patched: same module, kernelize on CUDA.
    import kernels
    import torch.nn as nn
    from kernels import LayerRepository, Mode, kernelize, use_kernel_forward_from_hub, use_kernel_mapping

    kernel_lock.patch_kernels()
    c.true("kernels.load_kernel -> kernel_lock (same module)",
           kernels.load_kernel("kernels-test/activation", lockfile=lock) is act)

    @use_kernel_forward_from_hub("SiluAndMul")
    class SiluAndMul(nn.Module):
        def forward(self, x):
            d = x.shape[-1] // 2
            return F.silu(x[..., :d]) * x[..., d:] + 1000.0  # marks the unreplaced forward

    mapping = {"SiluAndMul": {"cuda": LayerRepository("kernels-test/activation", layer_name="SiluAndMul",
                                                      revision=act.__kernel_lock__.sha)}}
    with use_kernel_mapping(mapping):
        model = kernelize(nn.Sequential(SiluAndMul()), mode=Mode.INFERENCE, device="cuda", use_fallback=False)
    x = torch.randn(64, 2048, device="cuda", dtype=torch.float16)
    c.close("kernelize SiluAndMul (cuda, patched kernels)", model(x), F.silu(x[:, :1024].double()) * x[:, 1024:].double())
    print(f"{c.count - c.failures}/{c.count} checks passed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
