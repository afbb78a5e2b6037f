// CUDA activation kernels: float32 math, one rounding to the output type;
// 128-bit loads/stores when every pointer (and, for gated ops, every row half)
// is 16-byte aligned (element-wise: one pass of the grid over the tensor;
// gated: a 2-D grid of column blocks by rows), scalar grid-stride code otherwise.
#include "activation_kernels.h"
#include "cuda_utils.cuh"

#include <type_traits>

namespace activation {
namespace {

using kernel_lock_cuda::from_float;
using kernel_lock_cuda::Pack;
using kernel_lock_cuda::round_pack;
using kernel_lock_cuda::to_float;
using kernel_lock_cuda::unpack;

constexpr int kThreads = 256;

// Vectorised kernels: each thread loads its 16-byte packs (a block's packs are
// consecutive, so every load is coalesced) before computing any, keeping several
// loads in flight per thread.

// Gated kernels keep 4 blocks of kThreads resident per SM (<= 64 registers a thread):
// without the bound, nvcc gives the bf16 variants 96 registers (2 blocks per SM),
// too few loads in flight for the erf/tanh gated ops to reach copy bandwidth on H200.
constexpr int kGatedBlocksPerSm = 4;

// Packs of each half a thread of the vectorised gated kernel, and its cache policy,
// as measured on an H200 through the torch ops (bench/results/gpu_gated_h200.md):
// 16-bit silu, the least math per byte, 2 packs with default caching (0.1-1.5 µs
// faster than 4 streaming packs at 64 MB and more, the shape that tied
// torch.compile); the others 4 packs with streaming (evict-first) hints.
template <typename T, Act A>
struct GatedShape {
  static constexpr bool kLight = sizeof(T) == 2 && A == Act::silu;
  static constexpr int kPacks = kLight ? 2 : 4;
  static constexpr bool kStreaming = !kLight;
};

// Launch shape of the vectorised element-wise kernel, per element type and op,
// as measured on an H200 (bench/results/gpu_elementwise_shapes_h200.md): fp32,
// and 16-bit silu (little math per byte), run fastest with 128-thread blocks of
// 2 packs a thread and default caching; the 16-bit GELUs (more math per byte)
// with 256 x 4 packs and streaming (evict-first) hints.
template <typename T, Act A>
struct ElementwiseShape {
  static constexpr bool kLight = std::is_same_v<T, float> || A == Act::silu;
  static constexpr int kBlock = kLight ? 128 : 256;
  static constexpr int kPacks = kLight ? 2 : 4;
  static constexpr bool kStreaming = !kLight;
};

// 16-byte load and store; kStreaming marks each byte as touched once (evict-first).
template <bool kStreaming, typename T>
__device__ __forceinline__ Pack<T> load16(const Pack<T>* p) {
  const float4 v = kStreaming ? __ldcs(reinterpret_cast<const float4*>(p)) : *reinterpret_cast<const float4*>(p);
  return *reinterpret_cast<const Pack<T>*>(&v);
}
template <bool kStreaming, typename T>
__device__ __forceinline__ void store16(Pack<T>* p, const Pack<T>& v) {
  if constexpr (kStreaming) {
    __stcs(reinterpret_cast<float4*>(p), *reinterpret_cast<const float4*>(&v));
  } else {
    *reinterpret_cast<float4*>(p) = *reinterpret_cast<const float4*>(&v);
  }
}

template <typename T, Act A, bool kVec>
__global__ void elementwise_kernel(T* __restrict__ out, const T* __restrict__ in, int64_t n) {
  if constexpr (kVec) {
    constexpr int V = Pack<T>::kSize;
    const int64_t packs = n / V;
    const Pack<T>* pin = reinterpret_cast<const Pack<T>*>(in);
    Pack<T>* pout = reinterpret_cast<Pack<T>*>(out);
    using Shape = ElementwiseShape<T, A>;
    const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x * Shape::kPacks + threadIdx.x;
    Pack<T> x[Shape::kPacks];
#pragma unroll
    for (int u = 0; u < Shape::kPacks; ++u) {
      const int64_t i = first + static_cast<int64_t>(u) * blockDim.x;
      if (i < packs) x[u] = load16<Shape::kStreaming>(pin + i);
    }
#pragma unroll
    for (int u = 0; u < Shape::kPacks; ++u) {
      const int64_t i = first + static_cast<int64_t>(u) * blockDim.x;
      if (i < packs) {
        float f[V];
#pragma unroll
        for (int k = 0; k < V; ++k) f[k] = apply<A>(to_float(x[u].v[k]));
        Pack<T> y;
        round_pack(y, f);
        store16<Shape::kStreaming>(pout + i, y);
      }
    }
    // The tail (n % V elements) goes to the first threads of block 0.
    if (blockIdx.x == 0) {
      for (int64_t i = packs * V + threadIdx.x; i < n; i += blockDim.x) out[i] = from_float<T>(apply<A>(to_float(in[i])));
    }
  } else {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    for (int64_t i = tid; i < n; i += stride) out[i] = from_float<T>(apply<A>(to_float(in[i])));
  }
}

// Vectorised gated op: block (bx, by) owns packs [bx * blockDim.x * P, +blockDim.x * P)
// of the output rows by, by + gridDim.y, ... (P = GatedShape::kPacks); each thread
// loads its P packs of both halves (2 * P loads in flight) before computing.
// No index division: the row comes from the grid, the column from the block.
template <typename T, Act A>
__global__ void __launch_bounds__(kThreads, kGatedBlocksPerSm)
    gated_vec_kernel(T* __restrict__ out, const T* __restrict__ in, int64_t rows, int64_t dv) {
  constexpr int V = Pack<T>::kSize;
  const Pack<T>* pin = reinterpret_cast<const Pack<T>*>(in);
  Pack<T>* pout = reinterpret_cast<Pack<T>*>(out);
  using Shape = GatedShape<T, A>;
  constexpr int kUnroll = Shape::kPacks;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x * kUnroll + threadIdx.x;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const Pack<T>* xr = pin + r * 2 * dv;
    Pack<T> x[kUnroll];
    Pack<T> g[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = first + static_cast<int64_t>(u) * blockDim.x;
      if (c < dv) {
        x[u] = load16<Shape::kStreaming>(xr + c);
        g[u] = load16<Shape::kStreaming>(xr + dv + c);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = first + static_cast<int64_t>(u) * blockDim.x;
      if (c < dv) {
        float f[V];
        float gf[V];
        unpack(x[u], f);
        unpack(g[u], gf);
#pragma unroll
        for (int k = 0; k < V; ++k) f[k] = apply<A>(f[k]) * gf[k];
        Pack<T> y;
        round_pack(y, f);
        store16<Shape::kStreaming>(pout + r * dv + c, y);
      }
    }
  }
}

// Scalar gated op (unaligned pointers or d not a multiple of the pack size).
template <typename T, Act A>
__global__ void gated_kernel(T* __restrict__ out, const T* __restrict__ in, int64_t rows, int64_t d) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t total = rows * d;
  for (int64_t j = tid; j < total; j += stride) {
    const int64_t r = j / d;
    const int64_t c = j - r * d;
    out[j] = from_float<T>(apply<A>(to_float(in[r * 2 * d + c])) * to_float(in[r * 2 * d + d + c]));
  }
}

template <typename T, Act A>
void elementwise(void* out, const void* in, int64_t n, cudaStream_t stream) {
  T* o = static_cast<T*>(out);
  const T* x = static_cast<const T*>(in);
  if (kernel_lock_cuda::aligned16(o) && kernel_lock_cuda::aligned16(x)) {
    using Shape = ElementwiseShape<T, A>;
    const int64_t per_block = static_cast<int64_t>(Shape::kBlock) * Shape::kPacks;
    const int64_t packs = n / Pack<T>::kSize;
    const auto grid = static_cast<unsigned>(std::max<int64_t>(1, (packs + per_block - 1) / per_block));
    elementwise_kernel<T, A, true><<<grid, Shape::kBlock, 0, stream>>>(o, x, n);
  } else {
    elementwise_kernel<T, A, false><<<kernel_lock_cuda::grid_for(n, kThreads), kThreads, 0, stream>>>(o, x, n);
  }
}

template <typename T, Act A>
void gated(void* out, const void* in, int64_t rows, int64_t d, cudaStream_t stream) {
  T* o = static_cast<T*>(out);
  const T* x = static_cast<const T*>(in);
  if (d % Pack<T>::kSize == 0 && kernel_lock_cuda::aligned16(o) && kernel_lock_cuda::aligned16(x)) {
    // Threads per block: enough for one row's packs at kUnroll each (a multiple
    // of 32, at most kThreads); longer rows take several blocks (grid.x).
    constexpr int kUnroll = GatedShape<T, A>::kPacks;
    const int64_t dv = d / Pack<T>::kSize;
    const int64_t threads = std::min<int64_t>(kThreads, ((dv + kUnroll - 1) / kUnroll + 31) / 32 * 32);
    const dim3 grid(static_cast<unsigned>((dv + threads * kUnroll - 1) / (threads * kUnroll)),
                    static_cast<unsigned>(std::min<int64_t>(rows, 65535)));
    gated_vec_kernel<T, A><<<grid, static_cast<unsigned>(threads), 0, stream>>>(o, x, rows, dv);
  } else {
    gated_kernel<T, A><<<kernel_lock_cuda::grid_for(rows * d, kThreads), kThreads, 0, stream>>>(o, x, rows, d);
  }
}

template <typename T>
cudaError_t elementwise_for(Act act, void* out, const void* in, int64_t n, cudaStream_t stream) {
  switch (act) {
    case Act::gelu_fast: elementwise<T, Act::gelu_fast>(out, in, n, stream); break;
    case Act::gelu_new: elementwise<T, Act::gelu_new>(out, in, n, stream); break;
    case Act::gelu_tanh: elementwise<T, Act::gelu_tanh>(out, in, n, stream); break;
    case Act::silu: elementwise<T, Act::silu>(out, in, n, stream); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t gated_for(Act act, void* out, const void* in, int64_t rows, int64_t d, cudaStream_t stream) {
  switch (act) {
    case Act::silu: gated<T, Act::silu>(out, in, rows, d, stream); break;
    case Act::gelu_erf: gated<T, Act::gelu_erf>(out, in, rows, d, stream); break;
    case Act::gelu_tanh: gated<T, Act::gelu_tanh>(out, in, rows, d, stream); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_elementwise(Act act, DType dtype, void* out, const void* in, int64_t n,
                               cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  switch (dtype) {
    case DType::f32: return elementwise_for<float>(act, out, in, n, stream);
    case DType::f16: return elementwise_for<__half>(act, out, in, n, stream);
    case DType::bf16: return elementwise_for<__nv_bfloat16>(act, out, in, n, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_gated(Act act, DType dtype, void* out, const void* in, int64_t rows, int64_t d,
                         cudaStream_t stream) {
  if (rows <= 0 || d <= 0) return cudaSuccess;
  switch (dtype) {
    case DType::f32: return gated_for<float>(act, out, in, rows, d, stream);
    case DType::f16: return gated_for<__half>(act, out, in, rows, d, stream);
    case DType::bf16: return gated_for<__nv_bfloat16>(act, out, in, rows, d, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace activation
