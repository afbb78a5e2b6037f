// Argument checks shared by the CPU and CUDA implementations (host code).
// Contract: raise c10::Error (TORCH_CHECK) unless
//   * input is on `device_type`, out is on the same device;
//   * input dtype is float32, float16 or bfloat16 and out has the same dtype;
//   * both are contiguous and input has at least one dimension;
//   * element-wise: out.sizes() == input.sizes();
//     gated: input.size(-1) is even and out.sizes() == input.sizes() with the
//     last dimension halved.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <vector>

namespace activation {

inline void check_args(const at::Tensor& out, const at::Tensor& input, bool gated,
                       c10::DeviceType device_type, const char* op) {
  TORCH_CHECK(input.device().type() == device_type, op, ": input must be a ",
              c10::DeviceTypeName(device_type), " tensor, got ", input.device());
  TORCH_CHECK(out.device() == input.device(), op, ": out must be on the input's device ",
              input.device(), ", got ", out.device());
  const auto dtype = input.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16, op,
              ": unsupported dtype ", dtype, " (float32, float16 and bfloat16 are supported)");
  TORCH_CHECK(out.scalar_type() == dtype, op, ": out dtype ", out.scalar_type(),
              " differs from input dtype ", dtype);
  TORCH_CHECK(input.is_contiguous(), op, ": input must be contiguous");
  TORCH_CHECK(out.is_contiguous(), op, ": out must be contiguous");
  TORCH_CHECK(input.dim() >= 1, op, ": input must have at least one dimension");
  if (gated) {
    TORCH_CHECK(input.size(-1) % 2 == 0, op, ": the last dimension of input must be even, got ",
                input.size(-1));
    std::vector<int64_t> expected(input.sizes().begin(), input.sizes().end());
    expected.back() /= 2;
    TORCH_CHECK(out.sizes() == at::IntArrayRef(expected), op, ": out must have shape ",
                at::IntArrayRef(expected), ", got ", out.sizes());
  } else {
    TORCH_CHECK(out.sizes() == input.sizes(), op, ": out must have shape ", input.sizes(),
                ", got ", out.sizes());
  }
}

}  // namespace activation
