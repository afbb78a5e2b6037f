// libFuzzer target for parse_lockfile. Contract checked: any input either throws
// kernel_lock::Error or parses; a parsed lock formats (both shapes) to text that
// parses back to the same lock, and formatting is idempotent.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/lockfile.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  kernel_lock::Lockfile lock;
  try {
    lock = kernel_lock::parse_lockfile(text, "fuzz.lock");
  } catch (const kernel_lock::Error&) {
    return 0;
  }
  const auto canonical = kernel_lock::format_lockfile(lock);
  const auto reread = kernel_lock::parse_lockfile(canonical, "canonical.lock");
  if (kernel_lock::format_lockfile(reread) != canonical) std::abort();
  const auto python = kernel_lock::format_python_lockfile(lock);
  const auto from_python = kernel_lock::parse_lockfile(python, "python.lock");
  if (from_python.kernels.size() > lock.kernels.size()) std::abort();  // entries spelled alike are one
  for (const auto& kernel : lock.kernels)  // every (repo, commit) survives, whatever the versions
    if (from_python.find_commit(kernel.repo_id, kernel.sha) == nullptr) std::abort();
  return 0;
}
