// CUDA implementations of the activation ops (contract in torch_binding.h):
// argument checks, device guard and current stream on the host, then the
// kernels of activation_kernels.cu.
#include "activation_kernels.h"
#include "checks.h"

#include "torch_binding.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace activation {
namespace {

DType dtype_of(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return DType::f32;
    case at::kHalf: return DType::f16;
    default: return DType::bf16;  // check_args admits only these three
  }
}

void run(Act act, bool is_gated, at::Tensor& out, const at::Tensor& input, const char* op) {
  check_args(out, input, is_gated, c10::DeviceType::CUDA, op);
  if (out.numel() == 0) return;
  const c10::cuda::CUDAGuard guard(input.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(input.device().index()).stream();
  cudaError_t err;
  if (is_gated) {
    const int64_t d = input.size(-1) / 2;
    err = launch_gated(act, dtype_of(input), out.data_ptr(), input.const_data_ptr(), out.numel() / d, d,
                       stream);
  } else {
    err = launch_elementwise(act, dtype_of(input), out.data_ptr(), input.const_data_ptr(), input.numel(),
                             stream);
  }
  TORCH_CHECK(err == cudaSuccess, op, ": CUDA kernel launch failed: ", cudaGetErrorString(err));
}

}  // namespace
}  // namespace activation

using activation::Act;

void gelu_fast(at::Tensor& out, const at::Tensor& input) {
  activation::run(Act::gelu_fast, false, out, input, "gelu_fast");
}
void gelu_new(at::Tensor& out, const at::Tensor& input) {
  activation::run(Act::gelu_new, false, out, input, "gelu_new");
}
void gelu_tanh(at::Tensor& out, const at::Tensor& input) {
  activation::run(Act::gelu_tanh, false, out, input, "gelu_tanh");
}
void silu_and_mul(at::Tensor& out, const at::Tensor& input) {
  activation::run(Act::silu, true, out, input, "silu_and_mul");
}
void gelu_and_mul(at::Tensor& out, const at::Tensor& input) {
  activation::run(Act::gelu_erf, true, out, input, "gelu_and_mul");
}
#if KERNEL_API_VERSION >= 2
void silu(at::Tensor& out, const at::Tensor& input) {
  activation::run(Act::silu, false, out, input, "silu");
}
void gelu_tanh_and_mul(at::Tensor& out, const at::Tensor& input) {
  activation::run(Act::gelu_tanh, true, out, input, "gelu_tanh_and_mul");
}
#endif
