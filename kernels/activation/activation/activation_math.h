// Scalar activation formulas, shared by the CPU and CUDA implementations.
// All math is float32; callers convert from and round to the tensor dtype
// once. Formulas (x is float):
//   gelu_fast : 0.5 x (1 + tanh(0.7978845608 x (1 + 0.044715 x^2)))
//   gelu_new  : 0.5 x (1 + tanh(0.7978845608 (x + 0.044715 x^3)))
//   gelu_tanh : 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (= torch gelu approximate='tanh')
//   gelu_erf  : 0.5 x (1 + erf(x / sqrt(2)))                       (= torch gelu, used by gelu_and_mul)
//   silu      : x / (1 + exp(-x))
#pragma once

#include <math.h>

#if defined(__CUDACC__)
#define KL_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define KL_HOST_DEVICE inline
#endif

namespace activation {

enum class Act : int { gelu_fast = 0, gelu_new = 1, gelu_tanh = 2, silu = 3, gelu_erf = 4 };

template <Act A>
KL_HOST_DEVICE float apply(float x) {
  if constexpr (A == Act::gelu_fast) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608f * x * (1.0f + 0.044715f * x * x)));
  } else if constexpr (A == Act::gelu_new) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
  } else if constexpr (A == Act::gelu_tanh) {
    constexpr float kBeta = 0.79788456080286535588f;  // sqrt(2 / pi)
    return 0.5f * x * (1.0f + tanhf(kBeta * (x + 0.044715f * x * x * x)));
  } else if constexpr (A == Act::silu) {
#if defined(__CUDA_ARCH__)
    // One reciprocal and a multiply (2 ulp) instead of IEEE division, whose
    // slow-path check made silu the one element-wise op under copy bandwidth.
    // 1 + exp(-x) = inf (x < -88.7) gives x * 0 = -0, the limit.
    return __fdividef(x, 1.0f + expf(-x));
#else
    return x / (1.0f + expf(-x));
#endif
  } else {
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
  }
}

}  // namespace activation
