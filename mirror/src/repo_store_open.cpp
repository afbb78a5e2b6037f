// open_repo_store: picks the RepoStore implementation for a path.
#include <filesystem>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/mirror/repo_store.hpp"

namespace kernel_lock {

std::shared_ptr<RepoStore> open_repo_store(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ErrorCode::not_found, "nothing to serve at " + path.string() + ": no such file or directory");
  if (fs::is_regular_file(path, ec) && is_bundle_file(path)) return open_bundle_store(path);
  if (fs::is_directory(path, ec)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      const auto name = entry.path().filename().string();
      if (entry.is_directory() && (name.starts_with("kernels--") || name.starts_with("models--")))
        return open_cache_store(path);
    }
  }
  throw Error(ErrorCode::invalid_input,
              path.string() + " is neither an HF cache (no kernels--org--name or models--org--name folder) nor a bundle",
              "serve the cache that 'kernel-lock install' wrote, or a bundle made by 'kernel-lock bundle'");
}

}  // namespace kernel_lock
