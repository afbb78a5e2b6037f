// Tuning aid for kernels/rmsnorm (bench/rmsnorm_variants.py drives it through ctypes, next to
// torch.compile): the shipped launch, other launches of its register path (block size, items a
// thread, cache policies of loads and stores), and a two-pass kernel of few registers in the
// shape of torch.compile's Triton reduction (block size, packs a thread an iteration, policies).
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Xcompiler -fPIC -shared \
//     -Ikernels/rmsnorm/rmsnorm bench/rmsnorm_variants.cu -o rmsnorm_variants.so
#include "rmsnorm_kernels.cu"

namespace rmsnorm {
namespace {

// Cache policies of 16-byte loads and stores: default; .cs (evict-first in L1 and
// L2: rmsnorm_kernels.cu's load/store<true>); an L2 evict-first or evict-last access
// policy (its load_l2), as Triton's eviction_policy= emits.
enum Policy { kDefault = 0, kCs = 1, kL2First = 2, kL2Last = 3 };

template <int P>
constexpr L2Priority kPriority = P == kL2First ? L2Priority::evict_first
                                 : P == kL2Last ? L2Priority::evict_last
                                                : L2Priority::normal;

template <int P, typename Item>
__device__ __forceinline__ Item ld(const Item* p) {
  if constexpr (P == kCs) return load<true>(p);
  else return load_l2<kPriority<P>>(p);
}
template <int P, typename Item>
__device__ __forceinline__ void st(Item* p, const Item& v) {
  store<P == kCs>(p, v);
}

// The register path of rmsnorm_kernels.cu (rms_norm, weight read after the
// reduction) with the cache policies as parameters: LX loads of the row, LW of
// the weight, SO stores of the output.
template <typename T, int kItems, int LX, int LW, int SO>
__global__ void __launch_bounds__(kMaxThreads)
    policy_reg_kernel(T* out, const T* in, const T* __restrict__ weight, int64_t rows, int items, float eps) {
  using Item = Pack<T>;
  constexpr int V = Item::kSize;
  const float inv_hidden = 1.0f / static_cast<float>(static_cast<int64_t>(items) * V);
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const Item* x = reinterpret_cast<const Item*>(in) + row * items;
    Item a[kItems];
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < kItems; ++k) {
      const int i = static_cast<int>(threadIdx.x) + k * static_cast<int>(blockDim.x);
      if (i < items) a[k] = ld<LX>(x + i);
    }
#pragma unroll
    for (int k = 0; k < kItems; ++k) {
      const int i = static_cast<int>(threadIdx.x) + k * static_cast<int>(blockDim.x);
      if (i < items) {
#pragma unroll
        for (int j = 0; j < V; ++j) sum += to_float(a[k].v[j]) * to_float(a[k].v[j]);
      }
    }
    const float inv = rsqrtf(block_sum(sum) * inv_hidden + eps);
    Item* o = reinterpret_cast<Item*>(out) + row * items;
#pragma unroll
    for (int k = 0; k < kItems; ++k) {
      const int i = static_cast<int>(threadIdx.x) + k * static_cast<int>(blockDim.x);
      if (i < items) {
        st<SO>(o + i, normalized<T>(a[k], ld<LW>(reinterpret_cast<const Item*>(weight) + i), inv));
      }
    }
  }
}

// Two passes over each row, one block per row (the shape torch.compile's Triton
// reduction takes): sum of squares over U packs a thread an iteration, then the
// row again (L2 hits) for the scaled output. Few registers, high occupancy.
template <typename T, int U, bool kResidual, int L1st = kDefault, int L2nd = kDefault>
__global__ void __launch_bounds__(1024)
    two_pass_kernel(T* out, const T* in, T* residual, const T* __restrict__ weight, int64_t rows, int items,
                    float eps) {
  using Item = Pack<T>;
  constexpr int V = Item::kSize;
  const float inv_hidden = 1.0f / static_cast<float>(static_cast<int64_t>(items) * V);
  const int step = static_cast<int>(blockDim.x) * U;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const Item* x = reinterpret_cast<const Item*>(in) + row * items;
    Item* res = kResidual ? reinterpret_cast<Item*>(residual) + row * items : nullptr;
    float sum = 0.0f;
    for (int i0 = static_cast<int>(threadIdx.x); i0 < items; i0 += step) {
      Item a[U];
      Item r[kResidual ? U : 1];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int i = i0 + u * static_cast<int>(blockDim.x);
        if (i < items) {
          a[u] = ld<L1st>(x + i);
          if constexpr (kResidual) r[u] = res[i];
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int i = i0 + u * static_cast<int>(blockDim.x);
        if (i < items) {
          if constexpr (kResidual) {
#pragma unroll
            for (int j = 0; j < V; ++j) a[u].v[j] = from_float<T>(to_float(a[u].v[j]) + to_float(r[u].v[j]));
            res[i] = a[u];
          }
#pragma unroll
          for (int j = 0; j < V; ++j) sum += to_float(a[u].v[j]) * to_float(a[u].v[j]);
        }
      }
    }
    const float inv = rsqrtf(block_sum(sum) * inv_hidden + eps);
    const Item* src = kResidual ? res : x;
    Item* o = reinterpret_cast<Item*>(out) + row * items;
    for (int i0 = static_cast<int>(threadIdx.x); i0 < items; i0 += step) {
      Item a[U];
      Item g[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int i = i0 + u * static_cast<int>(blockDim.x);
        if (i < items) {
          a[u] = kResidual ? src[i] : ld<L2nd>(src + i);
          g[u] = reinterpret_cast<const Item*>(weight)[i];
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int i = i0 + u * static_cast<int>(blockDim.x);
        if (i < items) o[i] = normalized<T>(a[u], g[u], inv);
      }
    }
  }
}

template <typename T, bool kResidual, int L1st, int L2nd>
void launch_two_pass(int threads, int unroll, T* o, const T* x, T* r, const T* w, int64_t rows, int items, float eps) {
  const auto grid = static_cast<unsigned>(std::min<int64_t>(rows, 0x7fffffff));
  if (unroll == 1) two_pass_kernel<T, 1, kResidual, L1st, L2nd><<<grid, threads>>>(o, x, r, w, rows, items, eps);
  if (unroll == 2) two_pass_kernel<T, 2, kResidual, L1st, L2nd><<<grid, threads>>>(o, x, r, w, rows, items, eps);
}

template <typename T, int LX, int LW, int SO>
void launch_policy_reg(Shape s, T* o, const T* x, const T* w, int64_t rows, int items, float eps) {
  const auto grid = static_cast<unsigned>(std::min<int64_t>(rows, 0x7fffffff));
  switch (s.per_thread) {
    case 1: policy_reg_kernel<T, 1, LX, LW, SO><<<grid, s.threads>>>(o, x, w, rows, items, eps); break;
    case 2: policy_reg_kernel<T, 2, LX, LW, SO><<<grid, s.threads>>>(o, x, w, rows, items, eps); break;
    case 4: policy_reg_kernel<T, 4, LX, LW, SO><<<grid, s.threads>>>(o, x, w, rows, items, eps); break;
    default: policy_reg_kernel<T, 8, LX, LW, SO><<<grid, s.threads>>>(o, x, w, rows, items, eps); break;
  }
}

using Fn = int (*)(void* out, const void* in, void* residual, const void* weight, int64_t rows, int64_t hidden,
                  float eps);

// The production launch with its register-path shape and hints given, large inputs on
// the two-pass path or not.
template <typename T, int kMaxThreadsA, int kMinItems, bool kStreamA, bool kTwoPass>
int run_shipped(void* out, const void* in, void* residual, const void* weight, int64_t rows, int64_t hidden, float eps) {
  return static_cast<int>(launch<T>(out, in, residual, weight, rows, hidden, eps, nullptr, kMaxThreadsA, kMinItems,
                                    kStreamA, kTwoPass));
}

// rms_norm only (no residual), 16-byte aligned rows.
template <typename T, int kMaxThreadsA, int LX, int LW, int SO>
int run_policy(void* out, const void* in, void* residual, const void* weight, int64_t rows, int64_t hidden, float eps) {
  if (residual != nullptr || hidden % Pack<T>::kSize != 0) return static_cast<int>(cudaErrorInvalidValue);
  const auto items = static_cast<int>(hidden / Pack<T>::kSize);
  launch_policy_reg<T, LX, LW, SO>(shape_for(items, kMaxThreadsA, 2), static_cast<T*>(out),
                                   static_cast<const T*>(in), static_cast<const T*>(weight), rows, items, eps);
  return static_cast<int>(cudaGetLastError());
}

template <typename T, int kThreadsA, int kUnroll, int L1st, int L2nd>
int run_two_pass(void* out, const void* in, void* residual, const void* weight, int64_t rows, int64_t hidden,
                 float eps) {
  if (hidden % Pack<T>::kSize != 0) return static_cast<int>(cudaErrorInvalidValue);
  const auto items = static_cast<int>(hidden / Pack<T>::kSize);
  T* o = static_cast<T*>(out);
  T* r = static_cast<T*>(residual);
  const T* x = static_cast<const T*>(in);
  const T* w = static_cast<const T*>(weight);
  if (r != nullptr) {
    launch_two_pass<T, true, L1st, L2nd>(kThreadsA, kUnroll, o, x, r, w, rows, items, eps);
  } else {
    launch_two_pass<T, false, L1st, L2nd>(kThreadsA, kUnroll, o, x, r, w, rows, items, eps);
  }
  return static_cast<int>(cudaGetLastError());
}

// rmsnorm_kernels.cu's two-pass kernel (all loads of a pass issued before their use, as
// Triton's loops specialised to the shape) with the row loads' priorities given: kPacks
// packs a thread for the first kPacks in {1, 2, 4, 8} that gives at most kThreadsA
// threads, a multiple of 32.
template <typename T, int kThreadsA, int L1st, int L2nd>
int run_static_two_pass(void* out, const void* in, void* residual, const void* weight, int64_t rows,
                        int64_t hidden, float eps) {
  if (residual != nullptr || hidden % Pack<T>::kSize != 0) return static_cast<int>(cudaErrorInvalidValue);
  const auto items = static_cast<int>(hidden / Pack<T>::kSize);
  T* o = static_cast<T*>(out);
  const T* x = static_cast<const T*>(in);
  const T* w = static_cast<const T*>(weight);
  constexpr L2Priority P1 = kPriority<L1st>, P2 = kPriority<L2nd>;
  const auto fits = [items](int k) { return items % k == 0 && items / k <= kThreadsA && (items / k) % 32 == 0; };
  if (fits(1)) {
    launch_two_pass<T, 1, P1, P2>(o, x, w, rows, items, eps, nullptr);
  } else if (fits(2)) {
    launch_two_pass<T, 2, P1, P2>(o, x, w, rows, items, eps, nullptr);
  } else if (fits(4)) {
    launch_two_pass<T, 4, P1, P2>(o, x, w, rows, items, eps, nullptr);
  } else if (fits(8)) {
    launch_two_pass<T, 8, P1, P2>(o, x, w, rows, items, eps, nullptr);
  } else {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  return static_cast<int>(cudaGetLastError());
}

struct Variant {
  const char* name;
  Fn fp32, fp16, bf16;
};
#define KL_VARIANT(name, fn, ...) \
  { name, fn<float, __VA_ARGS__>, fn<__half, __VA_ARGS__>, fn<__nv_bfloat16, __VA_ARGS__> }

// "r": register path, LX/LW/SO = row loads / weight loads / output stores (d default, cs,
// f L2 evict-first, l L2 evict-last); "2p": two passes, first-pass / second-pass loads.
const Variant kVariants[] = {
    KL_VARIANT("shipped", run_shipped, 256, 2, true, true),
    KL_VARIANT("t256i2cs", run_shipped, 256, 2, true, false),
    KL_VARIANT("t256i2", run_shipped, 256, 2, false, false),
    KL_VARIANT("t512i1", run_shipped, 512, 1, false, false),
    KL_VARIANT("r256 cs/d/d", run_policy, 256, kCs, kDefault, kDefault),
    KL_VARIANT("r256 d/d/cs", run_policy, 256, kDefault, kDefault, kCs),
    KL_VARIANT("r256 f/d/d", run_policy, 256, kL2First, kDefault, kDefault),
    KL_VARIANT("r256 d/l/d", run_policy, 256, kDefault, kL2Last, kDefault),
    KL_VARIANT("r256 f/l/d", run_policy, 256, kL2First, kL2Last, kDefault),
    KL_VARIANT("2p t512u1 l/f", run_two_pass, 512, 1, kL2Last, kL2First),
    KL_VARIANT("2p t256u2 l/f", run_two_pass, 256, 2, kL2Last, kL2First),
    KL_VARIANT("2p t1024u1 l/f", run_two_pass, 1024, 1, kL2Last, kL2First),
    KL_VARIANT("2p t512u1 l/cs", run_two_pass, 512, 1, kL2Last, kCs),
    KL_VARIANT("2ps t512 l/f", run_static_two_pass, 512, kL2Last, kL2First),
    KL_VARIANT("2ps t512 d/d", run_static_two_pass, 512, kDefault, kDefault),
    KL_VARIANT("2ps t1024 l/f", run_static_two_pass, 1024, kL2Last, kL2First),
    KL_VARIANT("2ps t256 l/f", run_static_two_pass, 256, kL2Last, kL2First),
};
#undef KL_VARIANT

}  // namespace
}  // namespace rmsnorm

extern "C" int n_variants() { return sizeof(rmsnorm::kVariants) / sizeof(rmsnorm::kVariants[0]); }
extern "C" const char* variant_name(int v) { return rmsnorm::kVariants[v].name; }
// dtype: 0 fp32, 1 fp16, 2 bf16; residual null: rms_norm, else fused_add_rms_norm (in place on `in`).
extern "C" int run(int v, int dtype, void* out, const void* in, void* residual, const void* weight, long long rows,
                   long long hidden, float eps) {
  const auto& var = rmsnorm::kVariants[v];
  const rmsnorm::Fn fn = dtype == 0 ? var.fp32 : dtype == 1 ? var.fp16 : var.bf16;
  return fn(out, in, residual, weight, rows, hidden, eps);
}
