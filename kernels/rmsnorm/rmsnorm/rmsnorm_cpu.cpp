// CPU implementations of the rmsnorm ops (contract in torch_binding.h): one
// task per row over ATen's intra-op thread pool; sums in float32.
#include "checks.h"

#include "torch_binding.h"

#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>

namespace rmsnorm {
namespace {

constexpr int64_t kGrain = 16384;

// For each row r: when `residual` is non-null, residual[r] = T(x[r] + residual[r])
// and the row normalised is that rounded sum; out[r] = T(v * inv_rms * w).
template <typename T>
void rows_kernel(T* out, const T* x, T* residual, const T* w, int64_t rows, int64_t hidden,
                 float eps) {
  const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(hidden, 1));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * hidden;
      T* outr = out + r * hidden;
      const T* src = xr;
      if (residual != nullptr) {
        T* res = residual + r * hidden;
        for (int64_t i = 0; i < hidden; ++i) {
          res[i] = static_cast<T>(static_cast<float>(xr[i]) + static_cast<float>(res[i]));
        }
        src = res;
      }
      float sum = 0.0f;
      for (int64_t i = 0; i < hidden; ++i) {
        const float v = static_cast<float>(src[i]);
        sum += v * v;
      }
      const float inv = 1.0f / std::sqrt(sum / static_cast<float>(hidden) + eps);
      for (int64_t i = 0; i < hidden; ++i) {
        outr[i] = static_cast<T>(static_cast<float>(src[i]) * inv * static_cast<float>(w[i]));
      }
    }
  });
}

template <typename T>
void run(at::Tensor& out, const at::Tensor& input, at::Tensor* residual, const at::Tensor& weight,
         double eps) {
  const int64_t hidden = input.size(-1);
  if (input.numel() == 0) return;
  const int64_t rows = input.numel() / hidden;
  rows_kernel<T>(out.data_ptr<T>(), input.const_data_ptr<T>(),
                 residual != nullptr ? residual->data_ptr<T>() : nullptr,
                 weight.const_data_ptr<T>(), rows, hidden, static_cast<float>(eps));
}

void dispatch(at::Tensor& out, const at::Tensor& input, at::Tensor* residual,
              const at::Tensor& weight, double eps) {
  switch (input.scalar_type()) {
    case at::kFloat:
      run<float>(out, input, residual, weight, eps);
      break;
    case at::kHalf:
      run<c10::Half>(out, input, residual, weight, eps);
      break;
    default:
      run<c10::BFloat16>(out, input, residual, weight, eps);
      break;
  }
}

}  // namespace
}  // namespace rmsnorm

void rms_norm(at::Tensor& out, const at::Tensor& input, const at::Tensor& weight, double eps) {
  rmsnorm::check_rms_norm_args(out, input, weight, eps, c10::DeviceType::CPU, "rms_norm", "out");
  rmsnorm::dispatch(out, input, nullptr, weight, eps);
}

#if KERNEL_API_VERSION >= 2
void fused_add_rms_norm(at::Tensor& input, at::Tensor& residual, const at::Tensor& weight,
                        double eps) {
  rmsnorm::check_rms_norm_args(residual, input, weight, eps, c10::DeviceType::CPU,
                               "fused_add_rms_norm", "residual");
  // The normalised row is written over `input` after residual has been updated
  // from it, row by row, so aliasing input as out is safe here.
  rmsnorm::dispatch(input, input, &residual, weight, eps);
}
#endif
