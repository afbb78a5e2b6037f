#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/repo.hpp"

namespace kernel_lock {

std::string_view to_string(RepoType type) noexcept { return type == RepoType::kernel ? "kernel" : "model"; }

RepoType parse_repo_type(std::string_view text) {
  if (text == "kernel") return RepoType::kernel;
  if (text == "model") return RepoType::model;
  throw Error(ErrorCode::invalid_input, "unknown repo type '" + std::string(text) + "' (expected 'kernel' or 'model')");
}

}  // namespace kernel_lock
