// Argument checks shared by the CPU and CUDA implementations (host code).
// check_rms_norm_args raises c10::Error (TORCH_CHECK) unless: input is on
// `device_type`; out and weight are on input's device; input dtype is
// float32/float16/bfloat16 and out/weight have the same dtype; all three are
// contiguous; input has >= 1 dimension; weight is 1-D of size input.size(-1);
// out.sizes() == input.sizes(); eps is finite and >= 0.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cmath>

namespace rmsnorm {

inline void check_rms_norm_args(const at::Tensor& out, const at::Tensor& input,
                                const at::Tensor& weight, double eps,
                                c10::DeviceType device_type, const char* op,
                                const char* out_name) {
  TORCH_CHECK(input.device().type() == device_type, op, ": input must be a ",
              c10::DeviceTypeName(device_type), " tensor, got ", input.device());
  TORCH_CHECK(out.device() == input.device(), op, ": ", out_name,
              " must be on the input's device ", input.device(), ", got ", out.device());
  TORCH_CHECK(weight.device() == input.device(), op, ": weight must be on the input's device ",
              input.device(), ", got ", weight.device());
  const auto dtype = input.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16, op,
              ": unsupported dtype ", dtype, " (float32, float16 and bfloat16 are supported)");
  TORCH_CHECK(out.scalar_type() == dtype, op, ": ", out_name, " dtype ", out.scalar_type(),
              " differs from input dtype ", dtype);
  TORCH_CHECK(weight.scalar_type() == dtype, op, ": weight dtype ", weight.scalar_type(),
              " differs from input dtype ", dtype);
  TORCH_CHECK(input.is_contiguous(), op, ": input must be contiguous");
  TORCH_CHECK(out.is_contiguous(), op, ": ", out_name, " must be contiguous");
  TORCH_CHECK(weight.is_contiguous(), op, ": weight must be contiguous");
  TORCH_CHECK(input.dim() >= 1, op, ": input must have at least one dimension");
  TORCH_CHECK(weight.dim() == 1 && weight.size(0) == input.size(-1), op,
              ": weight must have shape [", input.size(-1), "], got ", weight.sizes());
  TORCH_CHECK(out.sizes() == input.sizes(), op, ": ", out_name, " must have shape ",
              input.sizes(), ", got ", out.sizes());
  TORCH_CHECK(std::isfinite(eps) && eps >= 0.0, op, ": eps must be finite and >= 0, got ", eps);
}

}  // namespace rmsnorm
