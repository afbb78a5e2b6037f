// CUDA rmsnorm: one block per row (grid-stride over rows), float32 sums
// reduced with warp shuffles and one shared-memory step; 128-bit loads and
// stores when hidden is a multiple of the pack size and every pointer is
// 16-byte aligned.
//   Rows of up to kMaxThreads * kMaxItems items (16-byte packs, or elements when not
//   vectorised): one pass over memory. Every thread loads all its items of
//   the row (and of the residual) into registers before the first use, so
//   several loads are in flight per thread; the row is written from those
//   registers after the reduction (each thread writes only what it read, so
//   `out` may alias `in`).
//   Longer rows: two passes over the row (sum of squares, then scale; the
//   second read mostly hits L2).
//   Large rms_norm inputs with rows of 1024 to 4096 packs (see takes_two_pass): two
//   passes too, 2 to 8 packs a thread, L2 eviction priorities keeping the row for
//   the second pass (faster than the register path there on an H200).
#include "cuda_utils.cuh"
#include "rmsnorm_kernels.h"

namespace rmsnorm {
namespace {

using kernel_lock_cuda::from_float;
using kernel_lock_cuda::Pack;
using kernel_lock_cuda::to_float;

// Register path: kMinItems items per thread or more (one 16-byte load in
// flight per thread was 15-20 % slower on an H200 for 4096-wide fp16/bf16
// rows), up to kMaxItems, with at most kThreads threads (rms_norm: for rows of up
// to kLongRowPacks packs); rows that need more get up to kMaxThreads (the register
// cap of its __launch_bounds__). Chosen on an H200 (256 beat 512 threads for
// 8192-wide bf16 rows by 2-3 %; for rms_norm rows of 1536-2048 packs, 512 threads x
// 4 items ran 2-25 % faster than 256 x 8; fused_add_rms_norm: within 1.5 % either way).
constexpr int kMinItems = 2;
constexpr int kThreads = 256;
constexpr int kMaxItems = 8;
constexpr int kMaxThreads = 512;

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

template <typename T, bool kVec>
using ItemOf = typename std::conditional<kVec, Pack<T>, T>::type;

// Elements of one item as T (a Pack's lanes, or the scalar itself).
template <typename T>
__device__ __forceinline__ T* lanes(Pack<T>& p) { return p.v; }
template <typename T>
__device__ __forceinline__ T* lanes(T& s) { return &s; }

// a * inv * g lane by lane in float32, one rounding to T.
template <typename T, typename Item>
__device__ __forceinline__ Item normalized(Item a, Item g, float inv) {
  constexpr int V = static_cast<int>(sizeof(Item) / sizeof(T));
  const T* av = lanes<T>(a);
  const T* gv = lanes<T>(g);
  Item y;
  T* yv = lanes<T>(y);
#pragma unroll
  for (int j = 0; j < V; ++j) yv[j] = from_float<T>(to_float(av[j]) * inv * to_float(gv[j]));
  return y;
}

// kStream: loads and stores of the rows marked evict-first (ld/st.global.cs;
// each byte is touched once), so that L2 keeps the weight.
template <bool kStream, typename Item>
__device__ __forceinline__ Item load(const Item* p) {
  if constexpr (kStream) {
    if constexpr (sizeof(Item) == 16) {
      const float4 v = __ldcs(reinterpret_cast<const float4*>(p));
      return *reinterpret_cast<const Item*>(&v);
    } else if constexpr (sizeof(Item) == 4) {
      const float v = __ldcs(reinterpret_cast<const float*>(p));
      return *reinterpret_cast<const Item*>(&v);
    }
  }
  return *p;
}
template <bool kStream, typename Item>
__device__ __forceinline__ void store(Item* p, const Item& v) {
  if constexpr (kStream && sizeof(Item) == 16) {
    __stcs(reinterpret_cast<float4*>(p), *reinterpret_cast<const float4*>(&v));
  } else if constexpr (kStream && sizeof(Item) == 4) {
    __stcs(reinterpret_cast<float*>(p), *reinterpret_cast<const float*>(&v));
  } else {
    *p = v;
  }
}

// Register path: thread t owns items t, t + blockDim.x, ... (kItems of them
// at most) of each row; `items` <= kItems * blockDim.x.
template <typename T, bool kVec, int kItems, bool kResidual, bool kStream>
__global__ void __launch_bounds__(kMaxThreads)
    rms_norm_reg_kernel(T* out, const T* in, T* residual, const T* __restrict__ weight,
                        int64_t rows, int items, float eps) {
  using Item = ItemOf<T, kVec>;
  constexpr int V = kVec ? Pack<T>::kSize : 1;
  const float inv_hidden = 1.0f / static_cast<float>(static_cast<int64_t>(items) * V);
  const Item* w = reinterpret_cast<const Item*>(weight);
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t base = row * items;
    const Item* x = reinterpret_cast<const Item*>(in) + base;
    Item a[kItems];
    Item r[kResidual ? kItems : 1];
#pragma unroll
    for (int k = 0; k < kItems; ++k) {
      const int i = static_cast<int>(threadIdx.x) + k * static_cast<int>(blockDim.x);
      if (i < items) {
        a[k] = load<kStream>(x + i);
        if constexpr (kResidual) r[k] = load<kStream>(reinterpret_cast<const Item*>(residual) + base + i);
      }
    }
    // The weight's loads (L2 hits) are issued here, so that they complete
    // during the block reduction instead of after it; the residual's registers
    // are free again by then. Not for bf16: there the compiler widens the
    // preloaded weight to float early (96 instead of 58 registers for 4 items),
    // which cost 20 % of bandwidth on an H200 (bench/rmsnorm_variants.cu).
    constexpr bool kPreload = !std::is_same<T, __nv_bfloat16>::value;
    Item g[kPreload ? kItems : 1];
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < kItems; ++k) {
      const int i = static_cast<int>(threadIdx.x) + k * static_cast<int>(blockDim.x);
      if (i < items) {
        if constexpr (kPreload) g[k] = w[i];
        T* av = lanes<T>(a[k]);
        if constexpr (kResidual) {
          const T* rv = lanes<T>(r[k]);
#pragma unroll
          for (int j = 0; j < V; ++j) av[j] = from_float<T>(to_float(av[j]) + to_float(rv[j]));
          store<kStream>(reinterpret_cast<Item*>(residual) + base + i, a[k]);
        }
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const float f = to_float(av[j]);
          sum += f * f;
        }
      }
    }
    const float inv = rsqrtf(block_sum(sum) * inv_hidden + eps);
    Item* o = reinterpret_cast<Item*>(out) + base;
#pragma unroll
    for (int k = 0; k < kItems; ++k) {
      const int i = static_cast<int>(threadIdx.x) + k * static_cast<int>(blockDim.x);
      if (i < items) {
        Item wk;
        if constexpr (kPreload) {
          wk = g[k];
        } else {
          wk = w[i];
        }
        store<kStream>(o + i, normalized<T>(a[k], wk, inv));
      }
    }
  }
}

// Two-pass path for rows longer than the register path holds.
// `out` may alias `in`: no __restrict__ on those two.
template <typename T, bool kVec>
__global__ void rms_norm_kernel(T* out, const T* in, T* residual, const T* __restrict__ weight,
                                int64_t rows, int64_t hidden, float eps) {
  constexpr int V = kVec ? Pack<T>::kSize : 1;
  using Item = ItemOf<T, kVec>;
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
      T* av = lanes<T>(a);
      if (res != nullptr) {
        Item r = res[i];
        T* rv = lanes<T>(r);
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
      o[i] = normalized<T>(src[i], w[i], inv);
    }
  }
}

// 16-byte load with an L2 eviction priority (sm_80 and later; a plain load before,
// and for `normal`). Evict-last keeps a row in L2 between the two passes;
// evict-first lets the second pass's read of it go, and evict-last keeps the
// weight, which every row reads.
enum class L2Priority { normal, evict_first, evict_last };

template <L2Priority P, typename Item>
__device__ __forceinline__ Item load_l2(const Item* p) {
  static_assert(sizeof(Item) == 16, "16-byte packs only");
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (P != L2Priority::normal) {
    uint64_t policy;
    uint4 v;
    if constexpr (P == L2Priority::evict_last) {
      asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(policy));
      asm volatile("ld.global.L1::evict_last.L2::cache_hint.v4.u32 {%0,%1,%2,%3}, [%4], %5;"
                   : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                   : "l"(p), "l"(policy));
    } else {
      asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
      asm volatile("ld.global.L1::evict_first.L2::cache_hint.v4.u32 {%0,%1,%2,%3}, [%4], %5;"
                   : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                   : "l"(p), "l"(policy));
    }
    return *reinterpret_cast<const Item*>(&v);
  }
#endif
  return *p;
}

// Two-pass path of large rms_norm inputs with long rows (the shape torch.compile's
// Triton reduction takes, and the fastest of bench/rmsnorm_variants.cu there on an
// H200): thread t owns packs t, t + blockDim.x, ... (kPacks of them) of a row of
// `items` = kPacks * blockDim.x packs; each pass issues all its loads before their
// first use (one load in flight a thread, as in a runtime loop, was 5-20 % slower).
// Pass one sums the squares (row loads with kFirst), pass two reads the row again
// from L2 (kSecond) with the weight and writes the output. Few registers a thread,
// so several blocks an SM. Each thread writes only the packs it read, after the
// block reduction: `out` may alias `in`. The template defaults are the shipped
// choice; the sweep tool instantiates others.
template <typename T, int kPacks, L2Priority kFirst = L2Priority::evict_last,
          L2Priority kSecond = L2Priority::evict_first>
__global__ void __launch_bounds__(1024)
    rms_norm_two_pass_kernel(T* out, const T* in, const T* __restrict__ weight, int64_t rows, int items,
                             float eps) {
  using Item = Pack<T>;
  constexpr int V = Item::kSize;
  const float inv_hidden = 1.0f / static_cast<float>(static_cast<int64_t>(items) * V);
  const Item* w = reinterpret_cast<const Item*>(weight);
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const Item* x = reinterpret_cast<const Item*>(in) + row * items;
    Item a[kPacks];
#pragma unroll
    for (int k = 0; k < kPacks; ++k) a[k] = load_l2<kFirst>(x + threadIdx.x + k * blockDim.x);
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < kPacks; ++k) {
      const T* av = lanes<T>(a[k]);
#pragma unroll
      for (int j = 0; j < V; ++j) sum += to_float(av[j]) * to_float(av[j]);
    }
    const float inv = rsqrtf(block_sum(sum) * inv_hidden + eps);
    Item* o = reinterpret_cast<Item*>(out) + row * items;
    Item g[kPacks];
#pragma unroll
    for (int k = 0; k < kPacks; ++k) {
      const int i = static_cast<int>(threadIdx.x) + k * static_cast<int>(blockDim.x);
      a[k] = load_l2<kSecond>(x + i);
      g[k] = load_l2<L2Priority::evict_last>(w + i);
    }
#pragma unroll
    for (int k = 0; k < kPacks; ++k) o[threadIdx.x + k * blockDim.x] = normalized<T>(a[k], g[k], inv);
  }
}

// Launches the two-pass kernel on rows of `items` packs, a multiple of kPacks * 32.
template <typename T, int kPacks, L2Priority kFirst = L2Priority::evict_last,
          L2Priority kSecond = L2Priority::evict_first>
void launch_two_pass(T* o, const T* x, const T* w, int64_t rows, int items, float eps, cudaStream_t stream) {
  const auto grid = static_cast<unsigned>(std::min<int64_t>(rows, 0x7fffffff));
  rms_norm_two_pass_kernel<T, kPacks, kFirst, kSecond><<<grid, items / kPacks, 0, stream>>>(o, x, w, rows, items, eps);
}

// Launch shape of the register path: `per_thread` items per thread (1, 2, 4
// or 8), `threads` a multiple of 32; per_thread == 0: use the two-pass path.
struct Shape {
  int per_thread;
  int threads;
};

Shape shape_for(int64_t items, int max_threads, int min_items) {
  max_threads = std::min(max_threads, kMaxThreads);
  for (int p = min_items; p <= kMaxItems; p *= 2) {
    if (items <= static_cast<int64_t>(max_threads) * p) {
      return {p, static_cast<int>((items + p - 1) / p + 31) / 32 * 32};
    }
  }
  if (items <= static_cast<int64_t>(kMaxThreads) * kMaxItems) {
    return {kMaxItems, static_cast<int>((items + kMaxItems - 1) / kMaxItems + 31) / 32 * 32};
  }
  return {0, 1024};
}

template <typename T, bool kVec, bool kResidual, bool kStream>
void launch_reg(Shape s, unsigned grid, T* o, const T* x, T* r, const T* w, int64_t rows, int items,
                float eps, cudaStream_t stream) {
  switch (s.per_thread) {
    case 1: rms_norm_reg_kernel<T, kVec, 1, kResidual, kStream><<<grid, s.threads, 0, stream>>>(o, x, r, w, rows, items, eps); break;
    case 2: rms_norm_reg_kernel<T, kVec, 2, kResidual, kStream><<<grid, s.threads, 0, stream>>>(o, x, r, w, rows, items, eps); break;
    case 4: rms_norm_reg_kernel<T, kVec, 4, kResidual, kStream><<<grid, s.threads, 0, stream>>>(o, x, r, w, rows, items, eps); break;
    default: rms_norm_reg_kernel<T, kVec, kMaxItems, kResidual, kStream><<<grid, s.threads, 0, stream>>>(o, x, r, w, rows, items, eps); break;
  }
}

template <typename T, bool kVec, bool kStream>
void launch_path(Shape s, T* o, const T* x, T* r, const T* w, int64_t rows, int64_t hidden, float eps,
                 cudaStream_t stream) {
  const int64_t items = kVec ? hidden / Pack<T>::kSize : hidden;
  if (s.per_thread == 0) {
    int device = 0;
    int sms = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || sms <= 0) {
      sms = 128;
    }
    const auto grid = static_cast<unsigned>(std::min<int64_t>(rows, static_cast<int64_t>(sms) * 64));
    rms_norm_kernel<T, kVec><<<grid, s.threads, 0, stream>>>(o, x, r, w, rows, hidden, eps);
    return;
  }
  // One block per row; the grid-stride loop only matters past 2^31 - 1 rows.
  const auto grid = static_cast<unsigned>(std::min<int64_t>(rows, 0x7fffffff));
  const int n = static_cast<int>(items);
  if (r != nullptr) {
    launch_reg<T, kVec, true, kStream>(s, grid, o, x, r, w, rows, n, eps, stream);
  } else {
    launch_reg<T, kVec, false, kStream>(s, grid, o, x, r, w, rows, n, eps, stream);
  }
}

// Which rms_norm inputs take the two-pass path, and the register path's block cap for
// long rows; measured on H200s through the torch ops against the register path and
// torch.compile (bench/results/gpu_rms_norm_h200.md):
// - rows of 1024 packs at 256 MiB and more: 512 threads x 2 packs, 1-2 % faster than
//   the register path (fp32 x 4096, 16-bit x 8192); at 64-128 MB it was 1-6 % slower;
// - rows of 1536 to 4096 packs, a multiple of 512, at 256 MiB and more (128 MiB past
//   2048 packs): 512 threads or fewer, 4 or 8 packs a thread; up to 21 % faster than
//   the register path (16-bit x 12288 and x 16384, fp32 x 12288 and x 16384), even with
//   it at fp32 x 8192. Not at fp32 x 7168 (1792 packs: 2-3 % slower in two runs).
//   Below that, the register path with up to 512 threads (4 or 8 items a thread) beat
//   both the two-pass kernel and 256-thread blocks (8 items a thread, 25 % occupancy:
//   bf16 x 16384 ran at 75-80 % of copy bandwidth).
constexpr int64_t kTwoPassMinBytes = int64_t{256} << 20;
constexpr int64_t kTwoPassMinBytesWide = int64_t{128} << 20;
constexpr int kLongRowPacks = 1024;
constexpr int kLongRowThreads = 512;

bool takes_two_pass(int64_t packs, int64_t bytes) {
  if (packs < kLongRowPacks || packs > 8 * kLongRowThreads || packs % kLongRowThreads != 0) return false;
  return bytes >= (packs > 2 * kLongRowPacks ? kTwoPassMinBytesWide : kTwoPassMinBytes);
}

// max_threads, min_items, stream_hint: the register path's shape and cache policy;
// two_pass: whether large rms_norm inputs may take the two-pass path (defaults: the
// tuned ones; bench/rmsnorm_variants.cu tries others).
template <typename T>
cudaError_t launch(void* out, const void* in, void* residual, const void* weight, int64_t rows,
                   int64_t hidden, float eps, cudaStream_t stream, int max_threads = kThreads,
                   int min_items = kMinItems, bool stream_hint = true, bool two_pass = true) {
  T* o = static_cast<T*>(out);
  const T* x = static_cast<const T*>(in);
  T* r = static_cast<T*>(residual);
  const T* w = static_cast<const T*>(weight);
  const bool vec = hidden % Pack<T>::kSize == 0 && kernel_lock_cuda::aligned16(o) &&
                   kernel_lock_cuda::aligned16(x) && kernel_lock_cuda::aligned16(w) &&
                   (r == nullptr || kernel_lock_cuda::aligned16(r));
  const int64_t packs = hidden / Pack<T>::kSize;
  if (vec && two_pass && r == nullptr && takes_two_pass(packs, rows * hidden * static_cast<int64_t>(sizeof(T)))) {
    // 2 packs a thread for rows of 1024 packs, 4 up to 2048, 8 beyond: at most 512 threads.
    const auto items = static_cast<int>(packs);
    if (items <= 2 * kLongRowThreads) {
      launch_two_pass<T, 2>(o, x, w, rows, items, eps, stream);
    } else if (items <= 4 * kLongRowThreads) {
      launch_two_pass<T, 4>(o, x, w, rows, items, eps, stream);
    } else {
      launch_two_pass<T, 8>(o, x, w, rows, items, eps, stream);
    }
    return cudaGetLastError();
  }
  const bool long_row = vec && r == nullptr && packs > kLongRowPacks;  // fused_add_rms_norm keeps 256
  const Shape s = shape_for(vec ? packs : hidden, long_row ? std::max(max_threads, kLongRowThreads) : max_threads,
                            min_items);
  if (vec && stream_hint) {
    launch_path<T, true, true>(s, o, x, r, w, rows, hidden, eps, stream);
  } else if (vec) {
    launch_path<T, true, false>(s, o, x, r, w, rows, hidden, eps, stream);
  } else {
    launch_path<T, false, false>(s, o, x, r, w, rows, hidden, eps, stream);
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
