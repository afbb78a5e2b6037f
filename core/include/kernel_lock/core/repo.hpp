// The vocabulary every pipeline step shares: which repo, what a tree listing
// holds, branches and tags, progress reports.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/core/hash.hpp"

namespace kernel_lock {

enum class RepoType { kernel, model };
std::string_view to_string(RepoType type) noexcept;   // "kernel" / "model"
RepoType parse_repo_type(std::string_view text);      // throws Error(invalid_input)

struct RepoRef {
  std::string repo_id;  // "org/name"
  RepoType type = RepoType::kernel;
};

struct TreeEntry {
  std::string path;                    // from the repo root
  bool is_directory = false;
  std::uint64_t size = 0;
  std::string oid;                     // git blob sha1 (of the pointer for LFS) / tree sha1
  std::optional<std::string> lfs_sha256;
  // Digest that names the file in caches: lfs sha256 when LFS, else the git blob sha1.
  const std::string& digest() const noexcept { return lfs_sha256 ? *lfs_sha256 : oid; }
  DigestKind digest_kind() const noexcept { return lfs_sha256 ? DigestKind::lfs_sha256 : DigestKind::git_sha1; }
};

struct GitRef {
  std::string name;
  std::string target_commit;
};
struct RepoRefs {
  std::vector<GitRef> branches;
  std::vector<GitRef> tags;
};

// Progress callback for long operations: bytes done / total (total 0 if unknown).
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;

}  // namespace kernel_lock
