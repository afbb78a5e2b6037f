"""kernels-test/activation: GELU/SiLU activations and gated activations.

Every function writes into `out` (same dtype and device as `x`) and returns it.
Element-wise ops need `out.shape == x.shape`; gated ops (`*_and_mul`) take
`x` of shape [..., 2d] and need `out` of shape [..., d]:
`out = act(x[..., :d]) * x[..., d:]`. Supported dtypes: float32, float16,
bfloat16. Ops added in API version 2 (`silu`, `gelu_tanh_and_mul`) exist only
in builds of version >= 2.
"""

import torch

from . import layers
from ._ops import add_op_namespace_prefix, ops

__all__ = ["add_op_namespace_prefix", "layers", "ops"]


def _wrap(name: str):
    op = getattr(ops, name)

    def wrapper(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        op(out, x)
        return out

    wrapper.__name__ = name
    wrapper.__qualname__ = name
    return wrapper


for _name in (
    "gelu_fast",
    "gelu_new",
    "gelu_tanh",
    "silu_and_mul",
    "gelu_and_mul",
    "silu",
    "gelu_tanh_and_mul",
):
    if hasattr(ops, _name):
        globals()[_name] = _wrap(_name)
        __all__.append(_name)
del _name
