#include "kernel_lock/core/lock_graph.hpp"

#include <algorithm>

namespace kernel_lock {

std::vector<std::string> lock_dependencies(const Lockfile& lock, std::string_view repo_id) {
  std::vector<std::string> out;
  for (const auto& kernel : lock.kernels) {
    const auto dependents = lock_dependents(kernel);
    if (std::find(dependents.begin(), dependents.end(), repo_id) != dependents.end()) out.push_back(kernel.repo_id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> lock_dependents(const LockedKernel& kernel) {
  if (kernel.requirement && kernel.requirement->required_by) return {*kernel.requirement->required_by};
  return {};
}

bool is_top_level(const LockedKernel& kernel) { return lock_dependents(kernel).empty(); }

}  // namespace kernel_lock
