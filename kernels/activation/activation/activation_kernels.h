// Host interface of the CUDA activation kernels (activation_kernels.cu), free
// of torch types so that nvcc never compiles torch headers.
//   launch_elementwise: out[i] = act(in[i]) for 0 <= i < n.
//   launch_gated: for r < rows, i < d: out[r*d+i] = act(in[r*2d+i]) * in[r*2d+d+i].
// Pointers are device pointers of `dtype`, contiguous; work is queued on
// `stream` of the current device. Returns the launch error (cudaSuccess if none).
#pragma once

#include "activation_math.h"

#include <cuda_runtime_api.h>

#include <cstdint>

namespace activation {

enum class DType : int { f32 = 0, f16 = 1, bf16 = 2 };

cudaError_t launch_elementwise(Act act, DType dtype, void* out, const void* in, int64_t n,
                               cudaStream_t stream);
cudaError_t launch_gated(Act act, DType dtype, void* out, const void* in, int64_t rows, int64_t d,
                         cudaStream_t stream);

}  // namespace activation
