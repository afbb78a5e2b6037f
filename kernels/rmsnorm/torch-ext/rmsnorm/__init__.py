"""kernels-test/rmsnorm: RMS normalisation.

`rms_norm(out, x, weight, eps)` writes `x * rsqrt(mean(x**2, -1) + eps) * weight`
into `out` and returns it. API version 2 adds
`fused_add_rms_norm(x, residual, weight, eps)`: `residual += x`, then
`x = rms_norm(residual)` (both in place). float32, float16 and bfloat16;
`weight` has the input's dtype; all tensors contiguous.
"""

import torch

from ._ops import add_op_namespace_prefix, ops

__all__ = ["add_op_namespace_prefix", "ops", "rms_norm"]


def rms_norm(out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    ops.rms_norm(out, x, weight, eps)
    return out


if hasattr(ops, "fused_add_rms_norm"):

    def fused_add_rms_norm(
        x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ops.fused_add_rms_norm(x, residual, weight, eps)
        return x, residual

    __all__.append("fused_add_rms_norm")
