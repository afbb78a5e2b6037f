// Ops of the activation kernel. Every op has the schema
// `(Tensor! out, Tensor input) -> ()` and writes into `out`:
//   * element-wise ops: `out` and `input` have the same shape;
//   * gated ops (*_and_mul): `input` is [..., 2d], `out` is [..., d] and
//     out = act(input[..., :d]) * input[..., d:].
// Supported: float32, float16 and bfloat16 (math in float32, one rounding to
// the output type); `out` and `input` must be contiguous, on the same device,
// of the same dtype. One set of declarations, implemented once per backend:
// the CPU variant's .so holds the CPU implementations, the CUDA variant's the
// CUDA ones.
#pragma once

#include <ATen/core/Tensor.h>

void gelu_fast(at::Tensor& out, const at::Tensor& input);
void gelu_new(at::Tensor& out, const at::Tensor& input);
void gelu_tanh(at::Tensor& out, const at::Tensor& input);
void silu_and_mul(at::Tensor& out, const at::Tensor& input);
void gelu_and_mul(at::Tensor& out, const at::Tensor& input);
#if KERNEL_API_VERSION >= 2
void silu(at::Tensor& out, const at::Tensor& input);
void gelu_tanh_and_mul(at::Tensor& out, const at::Tensor& input);
#endif
