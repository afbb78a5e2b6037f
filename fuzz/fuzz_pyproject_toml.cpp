// libFuzzer target for parse_pyproject_toml: any input either throws
// kernel_lock::Error or yields requirements that satisfy the documented invariants.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/requirements.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto req = kernel_lock::parse_pyproject_toml(text, "fuzz.toml");
    if (req.kernels.empty()) std::abort();
    for (const auto& kernel : req.kernels) {
      if (!kernel_lock::is_valid_repo_id(kernel.repo_id)) std::abort();
      const int pins = (kernel.version ? 1 : 0) + (kernel.revision ? 1 : 0) + (kernel.tag_range ? 1 : 0);
      if (pins != 1) std::abort();
      (void)kernel.to_json().dump();
    }
  } catch (const kernel_lock::Error&) {
  }
  return 0;
}
