// Tuning aid for kernels/activation (bench/elementwise_shapes.py drives it through ctypes):
// the vectorised element-wise kernel under several launch shapes (threads a block, 16-byte
// packs a thread, streaming cache hints or not, one pass or a persistent grid), fp32 and bf16.
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
