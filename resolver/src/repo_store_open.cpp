// open_repo_store: picks the RepoStore implementation for a path.
#include <filesystem>

#include "kernel_lock/error.hpp"
#include "kernel_lock/fixture_hub.hpp"
#include "kernel_lock/repo_store.hpp"

namespace kernel_lock {

std::shared_ptr<RepoStore> open_repo_store(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ErrorCode::not_found, "nothing to serve at " + path.string() + ": no such file or directory");
  if (fs::is_directory(path, ec) && fs::exists(path / "hub.json", ec)) return open_fixture_hub_store(path);
  // Other store kinds (an HF cache directory, a bundle archive) are recognised here.
  throw Error(ErrorCode::invalid_input, path.string() + " is not a fixture Hub (no hub.json)",
              "build one with 'kernel-lock hub publish --hub DIR ...' or fixtures/build_fixture_hub.sh");
}

}  // namespace kernel_lock
