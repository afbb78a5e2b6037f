// Host interface of the CUDA rmsnorm kernel (rmsnorm_kernels.cu), free of
// torch types so that nvcc never compiles torch headers.
//   launch_rms_norm: for each of `rows` rows of `hidden` elements:
//     if residual != nullptr: residual[r] = round(in[r] + residual[r]) and v = residual[r],
//     else v = in[r];  out[r] = round(v * rsqrt(mean(v^2) + eps) * weight).
//   `out` may alias `in` (fused_add_rms_norm writes the result over its input).
// Pointers are contiguous device pointers of `dtype` on the current device;
// work is queued on `stream`. Returns the launch error (cudaSuccess if none).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace rmsnorm {

enum class DType : int { f32 = 0, f16 = 1, bf16 = 2 };

cudaError_t launch_rms_norm(DType dtype, void* out, const void* in, void* residual, const void* weight,
                            int64_t rows, int64_t hidden, float eps, cudaStream_t stream);

}  // namespace rmsnorm
