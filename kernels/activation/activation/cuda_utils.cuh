// Device helpers for the CUDA kernels (no torch headers: nvcc only sees CUDA).
//   Pack<T>: 16 bytes of T, for 128-bit loads and stores.
//   to_float / from_float<T>: float32 conversions (round to nearest even).
//   grid_for(work, threads): blocks for a grid-stride loop over `work` items,
//   capped at a few waves of the current device.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <type_traits>
#include <cstdint>

namespace kernel_lock_cuda {

template <typename T>
struct alignas(16) Pack {
  static constexpr int kSize = 16 / static_cast<int>(sizeof(T));
  T v[kSize];
};

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

// y.v[k] = f[k] rounded to T; 16-bit types convert two lanes per instruction.
__device__ __forceinline__ void round_pack(Pack<float>& y, const float* f) {
#pragma unroll
  for (int k = 0; k < Pack<float>::kSize; ++k) y.v[k] = f[k];
}
__device__ __forceinline__ void round_pack(Pack<__half>& y, const float* f) {
#pragma unroll
  for (int k = 0; k < Pack<__half>::kSize; k += 2) {
    *reinterpret_cast<__half2*>(&y.v[k]) = __floats2half2_rn(f[k], f[k + 1]);
  }
}
__device__ __forceinline__ void round_pack(Pack<__nv_bfloat16>& y, const float* f) {
#pragma unroll
  for (int k = 0; k < Pack<__nv_bfloat16>::kSize; k += 2) {
    *reinterpret_cast<__nv_bfloat162*>(&y.v[k]) = __floats2bfloat162_rn(f[k], f[k + 1]);
  }
}

// f[k] = p.v[k] as float; bf16 lanes are widened from their 32-bit words (a
// shift and a mask, no per-lane extraction).
__device__ __forceinline__ void unpack(const Pack<float>& p, float* f) {
#pragma unroll
  for (int k = 0; k < Pack<float>::kSize; ++k) f[k] = p.v[k];
}
__device__ __forceinline__ void unpack(const Pack<__half>& p, float* f) {
#pragma unroll
  for (int k = 0; k < Pack<__half>::kSize; k += 2) {
    const float2 t = __half22float2(*reinterpret_cast<const __half2*>(&p.v[k]));
    f[k] = t.x;
    f[k + 1] = t.y;
  }
}
__device__ __forceinline__ void unpack(const Pack<__nv_bfloat16>& p, float* f) {
  const uint4 w = *reinterpret_cast<const uint4*>(&p);
  const unsigned words[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    f[2 * k] = __uint_as_float(words[k] << 16);
    f[2 * k + 1] = __uint_as_float(words[k] & 0xffff0000u);
  }
}

inline bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

inline unsigned grid_for(int64_t work, int threads) {
  int device = 0;
  int sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || sms <= 0) {
    sms = 128;
  }
  const int64_t wanted = (work + threads - 1) / threads;
  const int64_t cap = static_cast<int64_t>(sms) * (2048 / threads) * 4;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(wanted, cap)));
}

}  // namespace kernel_lock_cuda
