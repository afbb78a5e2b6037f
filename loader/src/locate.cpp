// Finding the lockfile and cached revisions (see sealed_variant.hpp).
#include <unistd.h>

#include <cstdlib>
#include <system_error>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/loader/sealed_variant.hpp"

namespace fs = std::filesystem;

namespace kernel_lock {
namespace {

// kernel.lock, then kernels.lock, in `dir`; records what it looked at.
std::optional<fs::path> lock_in_dir(const fs::path& dir, std::vector<std::string>& searched) {
  for (std::string_view name : {kDefaultLockfileName, kPythonLockfileName}) {
    fs::path candidate = dir / std::string(name);
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return candidate;
    searched.push_back(candidate.string());
  }
  return std::nullopt;
}

// A file, or a directory holding a lockfile.
std::optional<fs::path> lock_at(const fs::path& path, std::vector<std::string>& searched) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return lock_in_dir(path, searched);
  if (fs::is_regular_file(path, ec)) return path;
  searched.push_back(path.string());
  return std::nullopt;
}

std::string searched_list(const std::vector<std::string>& searched) {
  std::string out;
  for (const auto& s : searched) out += "\n  " + s;
  return out;
}

}  // namespace

fs::path locate_lockfile(const std::optional<fs::path>& explicit_path) {
  std::vector<std::string> searched;
  const char* hint = "run `kernel-lock resolve` to write kernel.lock, or pass its path / set KERNEL_LOCK_FILE";
  if (explicit_path) {
    if (auto p = lock_at(*explicit_path, searched)) return *p;
    throw Error(ErrorCode::not_found, "no lockfile at " + explicit_path->string() + "; looked at:" + searched_list(searched),
                hint);
  }
  if (const char* env = std::getenv("KERNEL_LOCK_FILE"); env != nullptr && *env != '\0') {
    if (auto p = lock_at(env, searched)) return *p;
    throw Error(ErrorCode::not_found,
                "KERNEL_LOCK_FILE=" + std::string(env) + " names no lockfile; looked at:" + searched_list(searched), hint);
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && exe.has_parent_path()) {
    if (auto p = lock_in_dir(exe.parent_path(), searched)) return *p;
  }
  fs::path cwd = fs::current_path(ec);
  if (!ec) {
    if (auto p = lock_in_dir(cwd, searched)) return *p;
  }
  throw Error(ErrorCode::not_found,
              "no kernel.lock or kernels.lock found (KERNEL_LOCK_FILE unset); looked at:" + searched_list(searched),
              hint);
}

std::optional<std::string> resolve_cached_revision(const CacheRepoPaths& repo, std::string_view revision) {
  std::error_code ec;
  if (is_commit_sha(revision) && fs::is_directory(repo.snapshot(revision), ec)) return std::string(revision);
  if (revision.empty() || revision.find("..") != std::string_view::npos || revision.front() == '/')
    throw Error(ErrorCode::invalid_input, "invalid revision '" + std::string(revision) + "'");
  return read_cache_ref(repo, revision);
}

}  // namespace kernel_lock
