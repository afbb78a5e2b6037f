// Ops of the rmsnorm kernel (math in float32, one rounding to the dtype):
//   rms_norm(Tensor! out, Tensor input, Tensor weight, float eps) -> ()
//     out = input * rsqrt(mean(input^2 over the last dim) + eps) * weight
//   fused_add_rms_norm(Tensor! input, Tensor! residual, Tensor weight, float eps) -> ()
//     (API version >= 2) residual <- round(input + residual);
//                        input    <- rms_norm(residual, weight, eps)
// input/out/residual: [..., hidden]; weight: [hidden], same dtype as input;
// float32, float16 or bfloat16; all contiguous and on one device; eps >= 0.
#pragma once

#include <ATen/core/Tensor.h>

void rms_norm(at::Tensor& out, const at::Tensor& input, const at::Tensor& weight, double eps);
#if KERNEL_API_VERSION >= 2
void fused_add_rms_norm(at::Tensor& input, at::Tensor& residual, const at::Tensor& weight,
                        double eps);
#endif
