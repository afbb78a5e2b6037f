"""Layers of kernels-test/activation, for `kernels.kernelize` /
`use_kernel_forward_from_hub` (stateless nn.Modules: a forward only, as
kernels requires), named like kernels-community/activation's."""

import torch
import torch.nn as nn

from ._ops import ops


def _gated(op, x: torch.Tensor) -> torch.Tensor:
    d = x.shape[-1] // 2
    out = torch.empty(x.shape[:-1] + (d,), dtype=x.dtype, device=x.device)
    op(out, x)
    return out


class SiluAndMul(nn.Module):
    """silu(x[..., :d]) * x[..., d:] for x of shape [..., 2d]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _gated(ops.silu_and_mul, x)


class GeluAndMul(nn.Module):
    """gelu(x[..., :d]) * x[..., d:] for x of shape [..., 2d]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _gated(ops.gelu_and_mul, x)


class FastGELU(nn.Module):
    """The tanh approximation of GELU, element-wise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        ops.gelu_fast(out, x)
        return out
