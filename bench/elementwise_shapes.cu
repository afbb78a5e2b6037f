// Tuning aid for kernels/activation (bench/elementwise_shapes.py drives it through ctypes):
// the vectorised element-wise kernel under several launch shapes (threads a block, 16-byte
// packs a thread, streaming cache hints or not, one pass or a persistent grid), fp32 and bf16;
// the gated kernel (run_gated) under block sizes, packs a thread, hints and launch bounds.
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Xcompiler -fPIC -shared \
//     -Ikernels/activation/activation bench/elementwise_shapes.cu -o elementwise_shapes.so
// Chose ElementwiseShape in activation_kernels.cu (bench/results/gpu_elementwise_shapes_h200.md).
#include "activation_math.h"
#include "cuda_utils.cuh"
using namespace activation;
using kernel_lock_cuda::Pack;

template <typename T> __device__ __forceinline__ Pack<T> ld(const Pack<T>* p, bool cs) {
  const float4 v = cs ? __ldcs(reinterpret_cast<const float4*>(p)) : *reinterpret_cast<const float4*>(p);
  return *reinterpret_cast<const Pack<T>*>(&v);
}
template <typename T> __device__ __forceinline__ void st(Pack<T>* p, const Pack<T>& v, bool cs) {
  if (cs) __stcs(reinterpret_cast<float4*>(p), *reinterpret_cast<const float4*>(&v));
  else *reinterpret_cast<float4*>(p) = *reinterpret_cast<const float4*>(&v);
}

template <typename T, Act A, int U, bool CS, bool PERSIST>
__global__ void ew(T* __restrict__ out, const T* __restrict__ in, int64_t packs) {
  constexpr int V = Pack<T>::kSize;
  const Pack<T>* pin = reinterpret_cast<const Pack<T>*>(in);
  Pack<T>* pout = reinterpret_cast<Pack<T>*>(out);
  const int64_t per_block = (int64_t)blockDim.x * U;
  const int64_t step = PERSIST ? (int64_t)gridDim.x * per_block : packs;
  for (int64_t first = blockIdx.x * per_block + threadIdx.x; first < packs; first += step) {
    Pack<T> x[U];
#pragma unroll
    for (int u = 0; u < U; ++u) { const int64_t i = first + (int64_t)u * blockDim.x; if (i < packs) x[u] = ld(pin + i, CS); }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t i = first + (int64_t)u * blockDim.x;
      if (i < packs) {
        float f[V];
        kernel_lock_cuda::unpack(x[u], f);
#pragma unroll
        for (int k = 0; k < V; ++k) f[k] = apply<A>(f[k]);
        Pack<T> y; kernel_lock_cuda::round_pack(y, f); st(pout + i, y, CS);
      }
    }
    if (!PERSIST) break;
  }
}

struct Variant { const char* name; int threads; int unroll; bool persist; };
static const Variant kVariants[] = {
  {"t256u4cs", 256, 4, false}, {"t256u4", 256, 4, false}, {"t256u2cs", 256, 2, false}, {"t128u4cs", 128, 4, false},
  {"t512u2cs", 512, 2, false}, {"t128u8cs", 128, 8, false}, {"t256u8cs", 256, 8, false}, {"t256u4cs-persist", 256, 4, true},
  {"t128u4", 128, 4, false}, {"t128u2", 128, 2, false},
};
template <typename T, Act A>
static void launch(int v, void* out, const void* in, int64_t n) {
  const auto& d = kVariants[v];
  const int64_t packs = n / Pack<T>::kSize;
  const int64_t per_block = (int64_t)d.threads * d.unroll;
  int64_t grid = (packs + per_block - 1) / per_block;
  if (d.persist) { int sms = 0; cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0); grid = std::min<int64_t>(grid, sms * (2048 / d.threads)); }
  T* o = (T*)out; const T* x = (const T*)in;
  const bool cs = !(v == 1 || v == 8 || v == 9);
#define L(U, CS, P) ew<T, A, U, CS, P><<<(unsigned)grid, d.threads>>>(o, x, packs)
  if (d.persist) L(4, true, true);
  else if (d.unroll == 4) { if (cs) L(4, true, false); else L(4, false, false); }
  else if (d.unroll == 2) { if (cs) L(2, true, false); else L(2, false, false); }
  else L(8, true, false);
}
// Gated ops (silu_and_mul & co.): block (bx, by) owns U packs a thread of each half of
// rows by, by + gridDim.y, ...; BPS: __launch_bounds__ minimum blocks per SM (0: none).
template <typename T, Act A, int U, bool CS>
__device__ __forceinline__ void gated_body(T* __restrict__ out, const T* __restrict__ in, int64_t rows, int64_t dv) {
  constexpr int V = Pack<T>::kSize;
  const Pack<T>* pin = reinterpret_cast<const Pack<T>*>(in);
  Pack<T>* pout = reinterpret_cast<Pack<T>*>(out);
  const int64_t first = (int64_t)blockIdx.x * blockDim.x * U + threadIdx.x;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const Pack<T>* xr = pin + r * 2 * dv;
    Pack<T> x[U], g[U];
#pragma unroll
    for (int u = 0; u < U; ++u) { const int64_t c = first + (int64_t)u * blockDim.x; if (c < dv) { x[u] = ld(xr + c, CS); g[u] = ld(xr + dv + c, CS); } }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t c = first + (int64_t)u * blockDim.x;
      if (c < dv) {
        float f[V], gf[V];
        kernel_lock_cuda::unpack(x[u], f);
        kernel_lock_cuda::unpack(g[u], gf);
#pragma unroll
        for (int k = 0; k < V; ++k) f[k] = apply<A>(f[k]) * gf[k];
        Pack<T> y; kernel_lock_cuda::round_pack(y, f); st(pout + r * dv + c, y, CS);
      }
    }
  }
}
template <typename T, Act A, int U, bool CS>
__global__ void __launch_bounds__(256, 4) gated_lb(T* __restrict__ out, const T* __restrict__ in, int64_t rows, int64_t dv) {
  gated_body<T, A, U, CS>(out, in, rows, dv);
}
template <typename T, Act A, int U, bool CS>
__global__ void gated_free(T* __restrict__ out, const T* __restrict__ in, int64_t rows, int64_t dv) {
  gated_body<T, A, U, CS>(out, in, rows, dv);
}

struct GatedVariant { const char* name; int threads; int unroll; bool cs; bool bound; };
static const GatedVariant kGated[] = {
  {"t256u4cs-lb", 256, 4, true, true}, {"t256u4-lb", 256, 4, false, true}, {"t128u4cs", 128, 4, true, false},
  {"t128u2", 128, 2, false, false}, {"t128u2cs", 128, 2, true, false}, {"t256u2cs-lb", 256, 2, true, true},
  {"t256u2-lb", 256, 2, false, true}, {"t64u4cs", 64, 4, true, false}, {"t128u8cs", 128, 8, true, false},
};
template <typename T, Act A>
static void launch_gated(int v, void* out, const void* in, int64_t rows, int64_t d) {
  const auto& g = kGated[v];
  const int64_t dv = d / Pack<T>::kSize;
  const int64_t threads = std::min<int64_t>(g.threads, ((dv + g.unroll - 1) / g.unroll + 31) / 32 * 32);
  const dim3 grid((unsigned)((dv + threads * g.unroll - 1) / (threads * g.unroll)), (unsigned)std::min<int64_t>(rows, 65535));
  T* o = (T*)out; const T* x = (const T*)in;
#define G(K, U, CS) K<T, A, U, CS><<<grid, (unsigned)threads>>>(o, x, rows, dv)
  if (g.bound) {
    if (g.unroll == 4) { if (g.cs) G(gated_lb, 4, true); else G(gated_lb, 4, false); }
    else { if (g.cs) G(gated_lb, 2, true); else G(gated_lb, 2, false); }
  } else if (g.unroll == 8) G(gated_free, 8, true);
  else if (g.unroll == 4) G(gated_free, 4, true);
  else { if (g.cs) G(gated_free, 2, true); else G(gated_free, 2, false); }
#undef G
}
extern "C" int n_gated_variants() { return sizeof(kGated) / sizeof(kGated[0]); }
extern "C" const char* gated_variant_name(int v) { return kGated[v].name; }
// act: 0 gelu (erf) 1 gelu_tanh 2 silu; dtype 0 fp32 1 bf16 2 fp16; in: rows x 2d, out: rows x d
extern "C" int run_gated(int v, int act, int dtype, void* out, const void* in, long long rows, long long d) {
#define ACTS(T) switch (act) { case 0: launch_gated<T, Act::gelu_erf>(v, out, in, rows, d); break; \
    case 1: launch_gated<T, Act::gelu_tanh>(v, out, in, rows, d); break; default: launch_gated<T, Act::silu>(v, out, in, rows, d); }
  if (dtype == 0) { ACTS(float) } else if (dtype == 1) { ACTS(__nv_bfloat16) } else { ACTS(__half) }
#undef ACTS
  return (int)cudaGetLastError();
}

extern "C" int n_variants() { return sizeof(kVariants) / sizeof(kVariants[0]); }
extern "C" const char* variant_name(int v) { return kVariants[v].name; }
// act: 0 gelu_fast 1 gelu_new 2 gelu_tanh 3 silu; dtype 0 fp32 1 bf16
extern "C" int run(int v, int act, int dtype, void* out, const void* in, long long n) {
  if (dtype == 0) {
    switch (act) { case 0: launch<float, Act::gelu_fast>(v, out, in, n); break; case 1: launch<float, Act::gelu_new>(v, out, in, n); break;
      case 2: launch<float, Act::gelu_tanh>(v, out, in, n); break; default: launch<float, Act::silu>(v, out, in, n); }
  } else {
    switch (act) { case 0: launch<__nv_bfloat16, Act::gelu_fast>(v, out, in, n); break; case 1: launch<__nv_bfloat16, Act::gelu_new>(v, out, in, n); break;
      case 2: launch<__nv_bfloat16, Act::gelu_tanh>(v, out, in, n); break; default: launch<__nv_bfloat16, Act::silu>(v, out, in, n); }
  }
  return (int)cudaGetLastError();
}
