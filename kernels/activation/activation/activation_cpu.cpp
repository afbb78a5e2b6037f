// CPU implementations of the activation ops (see torch_binding.h for the
// contract). Elements are converted to float, transformed, and rounded once
// to the output dtype; work is split over ATen's intra-op thread pool.
#include "activation_math.h"
#include "checks.h"

#include "torch_binding.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

namespace activation {
namespace {

constexpr int64_t kGrain = 16384;

template <typename T, Act A>
void elementwise(T* out, const T* in, int64_t n) {
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      out[i] = static_cast<T>(apply<A>(static_cast<float>(in[i])));
    }
  });
}

template <typename T, Act A>
void gated(T* out, const T* in, int64_t rows, int64_t d) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(d, 1));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* x = in + r * 2 * d;
      const T* y = x + d;
      T* o = out + r * d;
      for (int64_t i = 0; i < d; ++i) {
        o[i] = static_cast<T>(apply<A>(static_cast<float>(x[i])) * static_cast<float>(y[i]));
      }
    }
  });
}

template <Act A>
void run_elementwise(at::Tensor& out, const at::Tensor& input, const char* op) {
  check_args(out, input, /*gated=*/false, c10::DeviceType::CPU, op);
  const int64_t n = input.numel();
  if (n == 0) return;
  switch (input.scalar_type()) {
    case at::kFloat:
      elementwise<float, A>(out.data_ptr<float>(), input.const_data_ptr<float>(), n);
      break;
    case at::kHalf:
      elementwise<c10::Half, A>(out.data_ptr<c10::Half>(), input.const_data_ptr<c10::Half>(), n);
      break;
    default:
      elementwise<c10::BFloat16, A>(out.data_ptr<c10::BFloat16>(),
                                    input.const_data_ptr<c10::BFloat16>(), n);
      break;
  }
}

template <Act A>
void run_gated(at::Tensor& out, const at::Tensor& input, const char* op) {
  check_args(out, input, /*gated=*/true, c10::DeviceType::CPU, op);
  const int64_t d = input.size(-1) / 2;
  if (out.numel() == 0) return;
  const int64_t rows = out.numel() / d;
  switch (input.scalar_type()) {
    case at::kFloat:
      gated<float, A>(out.data_ptr<float>(), input.const_data_ptr<float>(), rows, d);
      break;
    case at::kHalf:
      gated<c10::Half, A>(out.data_ptr<c10::Half>(), input.const_data_ptr<c10::Half>(), rows, d);
      break;
    default:
      gated<c10::BFloat16, A>(out.data_ptr<c10::BFloat16>(), input.const_data_ptr<c10::BFloat16>(),
                              rows, d);
      break;
  }
}

}  // namespace
}  // namespace activation

using activation::Act;

void gelu_fast(at::Tensor& out, const at::Tensor& input) {
  activation::run_elementwise<Act::gelu_fast>(out, input, "gelu_fast");
}
void gelu_new(at::Tensor& out, const at::Tensor& input) {
  activation::run_elementwise<Act::gelu_new>(out, input, "gelu_new");
}
void gelu_tanh(at::Tensor& out, const at::Tensor& input) {
  activation::run_elementwise<Act::gelu_tanh>(out, input, "gelu_tanh");
}
void silu_and_mul(at::Tensor& out, const at::Tensor& input) {
  activation::run_gated<Act::silu>(out, input, "silu_and_mul");
}
void gelu_and_mul(at::Tensor& out, const at::Tensor& input) {
  activation::run_gated<Act::gelu_erf>(out, input, "gelu_and_mul");
}
#if KERNEL_API_VERSION >= 2
void silu(at::Tensor& out, const at::Tensor& input) {
  activation::run_elementwise<Act::silu>(out, input, "silu");
}
void gelu_tanh_and_mul(at::Tensor& out, const at::Tensor& input) {
  activation::run_gated<Act::gelu_tanh>(out, input, "gelu_tanh_and_mul");
}
#endif
