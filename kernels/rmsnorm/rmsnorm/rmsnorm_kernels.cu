// CUDA rmsnorm: one block per row (grid-stride over rows), float32 sums
// reduced with warp shuffles and one shared-memory step; 128-bit loads and
// stores when hidden is a multiple of the pack size and every pointer is
// 16-byte aligned. Two passes over the row: sum of squares, then scale.
#include "cuda_utils.cuh"
#include "rmsnorm_kernels.h"

namespace rmsnorm {
namespace {

using kernel_lock_cuda::from_float;
using kernel_lock_cuda::Pack;
using kernel_lock_cuda::to_float;

// Sum of `v` over the block (blockDim.x a multiple of 32, at most 1024), returned
// to every thread. Safe to call repeatedly without an extra barrier.
__device__ float block_sum(float v) {
  __shared__ float warp_sums[32];
  __shared__ float total;
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const int warps = static_cast<int>(blockDim.x >> 5);
    float s = lane < warps ? warp_sums[lane] : 0.0f;
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_xor_sync(0xffffffffu, s, offset);
    if (lane == 0) total = s;
  }
  __syncthreads();
  return total;
}

// `out` may alias `in`: no __restrict__ on those two.
template <typename T, bool kVec>
__global__ void rms_norm_kernel(T* out, const T* in, T* residual, const T* __restrict__ weight,
                                int64_t rows, int64_t hidden, float eps) {
  constexpr int V = kVec ? Pack<T>::kSize : 1;
  using Item = typename std::conditional<kVec, Pack<T>, T>::type;
  const int64_t items = hidden / V;
  const float inv_hidden = 1.0f / static_cast<float>(hidden);
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const Item* x = reinterpret_cast<const Item*>(in + row * hidden);
    Item* res = residual != nullptr ? reinterpret_cast<Item*>(residual + row * hidden) : nullptr;
    Item* o = reinterpret_cast<Item*>(out + row * hidden);
    const Item* w = reinterpret_cast<const Item*>(weight);
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < items; i += blockDim.x) {
      Item a = x[i];
      const T* av = reinterpret_cast<const T*>(&a);
      if (res != nullptr) {
        Item r = res[i];
        T* rv = reinterpret_cast<T*>(&r);
#pragma unroll
        for (int k = 0; k < V; ++k) rv[k] = from_float<T>(to_float(av[k]) + to_float(rv[k]));
        res[i] = r;
        a = r;
      }
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float f = to_float(av[k]);
        sum += f * f;
      }
    }
    const float inv = rsqrtf(block_sum(sum) * inv_hidden + eps);
    const Item* src = res != nullptr ? res : x;
    for (int64_t i = threadIdx.x; i < items; i += blockDim.x) {
      const Item a = src[i];
      const Item g = w[i];
      const T* av = reinterpret_cast<const T*>(&a);
      const T* gv = reinterpret_cast<const T*>(&g);
      Item y;
      T* yv = reinterpret_cast<T*>(&y);
#pragma unroll
      for (int k = 0; k < V; ++k) yv[k] = from_float<T>(to_float(av[k]) * inv * to_float(gv[k]));
      o[i] = y;
    }
  }
}

template <typename T>
cudaError_t launch(void* out, const void* in, void* residual, const void* weight, int64_t rows,
                   int64_t hidden, float eps, cudaStream_t stream) {
  T* o = static_cast<T*>(out);
  const T* x = static_cast<const T*>(in);
  T* r = static_cast<T*>(residual);
  const T* w = static_cast<const T*>(weight);
  const bool vec = hidden % Pack<T>::kSize == 0 && kernel_lock_cuda::aligned16(o) &&
                   kernel_lock_cuda::aligned16(x) && kernel_lock_cuda::aligned16(w) &&
                   (r == nullptr || kernel_lock_cuda::aligned16(r));
  const int64_t items = vec ? hidden / Pack<T>::kSize : hidden;
  const int threads = static_cast<int>(std::min<int64_t>(1024, std::max<int64_t>(32, (items + 31) / 32 * 32)));
  int device = 0;
  int sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || sms <= 0) {
    sms = 128;
  }
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(rows, static_cast<int64_t>(sms) * 64));
  if (vec) {
    rms_norm_kernel<T, true><<<grid, threads, 0, stream>>>(o, x, r, w, rows, hidden, eps);
  } else {
    rms_norm_kernel<T, false><<<grid, threads, 0, stream>>>(o, x, r, w, rows, hidden, eps);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_rms_norm(DType dtype, void* out, const void* in, void* residual, const void* weight,
                            int64_t rows, int64_t hidden, float eps, cudaStream_t stream) {
  if (rows <= 0 || hidden <= 0) return cudaSuccess;
  switch (dtype) {
    case DType::f32: return launch<float>(out, in, residual, weight, rows, hidden, eps, stream);
    case DType::f16: return launch<__half>(out, in, residual, weight, rows, hidden, eps, stream);
    case DType::bf16: return launch<__nv_bfloat16>(out, in, residual, weight, rows, hidden, eps, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace rmsnorm
