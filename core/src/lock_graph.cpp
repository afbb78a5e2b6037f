#include "kernel_lock/core/lock_graph.hpp"

#include <algorithm>

namespace kernel_lock {
namespace {

std::vector<const LockedKernel*> in_lock_order(std::vector<const LockedKernel*> entries) {
  std::sort(entries.begin(), entries.end(), [](const LockedKernel* a, const LockedKernel* b) { return lock_order(*a, *b); });
  return entries;
}

}  // namespace

std::vector<const LockedKernel*> lock_dependencies(const Lockfile& lock, const LockedKernel& kernel) {
  std::vector<const LockedKernel*> out;
  for (const auto& entry : lock.kernels)
    if (entry.requirement && entry.requirement->required_by == kernel.repo_id) out.push_back(&entry);
  return in_lock_order(std::move(out));
}

std::vector<const LockedKernel*> lock_dependents(const Lockfile& lock, const LockedKernel& kernel) {
  std::vector<const LockedKernel*> out;
  if (is_top_level(kernel)) return out;
  for (const auto& entry : lock.kernels)
    if (entry.repo_id == *kernel.requirement->required_by) out.push_back(&entry);
  return in_lock_order(std::move(out));
}

bool is_top_level(const LockedKernel& kernel) { return !kernel.requirement || !kernel.requirement->required_by; }

std::vector<const LockedKernel*> top_level_entries(const Lockfile& lock) {
  std::vector<const LockedKernel*> out;
  for (const auto& kernel : lock.kernels)
    if (is_top_level(kernel)) out.push_back(&kernel);
  return in_lock_order(std::move(out));
}

}  // namespace kernel_lock
