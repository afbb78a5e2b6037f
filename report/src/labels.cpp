#include "kernel_lock/report/labels.hpp"

namespace kernel_lock::report {

std::string describe_requirement(const LockedRequirement& requirement) {
  if (requirement.version) return "version " + std::to_string(*requirement.version);
  if (requirement.tags) return "tags " + *requirement.tags;
  if (requirement.revision) return "revision " + *requirement.revision;
  return "";
}

std::string version_label(const LockedKernel& kernel) {
  if (!kernel.requirement) return "";
  const auto& requirement = *kernel.requirement;
  if (requirement.version) return "v" + std::to_string(*requirement.version);
  if (requirement.tags) return *requirement.tags;
  return requirement.revision.value_or("");
}

std::string short_sha(std::string_view sha) { return std::string(sha.substr(0, 7)); }

}  // namespace kernel_lock::report
