// CUDA implementations of the rmsnorm ops (contract in torch_binding.h):
// argument checks, device guard and current stream on the host, then the
// kernel of rmsnorm_kernels.cu.
#include "checks.h"
#include "rmsnorm_kernels.h"

#include "torch_binding.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace rmsnorm {
namespace {

DType dtype_of(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return DType::f32;
    case at::kHalf: return DType::f16;
    default: return DType::bf16;  // check_rms_norm_args admits only these three
  }
}

void run(at::Tensor& out, const at::Tensor& input, at::Tensor* residual, const at::Tensor& weight,
         double eps, const char* op) {
  if (input.numel() == 0) return;
  const c10::cuda::CUDAGuard guard(input.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(input.device().index()).stream();
  const int64_t hidden = input.size(-1);
  const cudaError_t err = launch_rms_norm(dtype_of(input), out.data_ptr(), input.const_data_ptr(),
                                          residual != nullptr ? residual->data_ptr() : nullptr,
                                          weight.const_data_ptr(), input.numel() / hidden, hidden,
                                          static_cast<float>(eps), stream);
  TORCH_CHECK(err == cudaSuccess, op, ": CUDA kernel launch failed: ", cudaGetErrorString(err));
}

}  // namespace
}  // namespace rmsnorm

void rms_norm(at::Tensor& out, const at::Tensor& input, const at::Tensor& weight, double eps) {
  rmsnorm::check_rms_norm_args(out, input, weight, eps, c10::DeviceType::CUDA, "rms_norm", "out");
  rmsnorm::run(out, input, nullptr, weight, eps, "rms_norm");
}

#if KERNEL_API_VERSION >= 2
void fused_add_rms_norm(at::Tensor& input, at::Tensor& residual, const at::Tensor& weight,
                        double eps) {
  rmsnorm::check_rms_norm_args(residual, input, weight, eps, c10::DeviceType::CUDA,
                               "fused_add_rms_norm", "residual");
  rmsnorm::run(input, input, &residual, weight, eps, "fused_add_rms_norm");
}
#endif
