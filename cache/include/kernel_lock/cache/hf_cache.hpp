// The Hugging Face cache layout shared with huggingface_hub / kernels:
//   <cache>/<type>s--org--name/{blobs/<digest>, snapshots/<sha>/<path> -> ../../blobs/<digest>, refs/<name>}
// Path logic and read-side lookups only; writing is done by the installer.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "kernel_lock/core/repo.hpp"

namespace kernel_lock {

// HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > $HF_HOME/hub > $XDG_CACHE_HOME/huggingface/hub
// > ~/.cache/huggingface/hub. KERNELS_CACHE, when set, wins for kernel repos (Python `kernels`).
std::filesystem::path hf_hub_cache_dir();
std::filesystem::path kernels_cache_dir();

// "kernels--org--name" for repo_type "kernel", "models--org--name" for "model".
std::string cache_repo_folder(std::string_view repo_type, std::string_view repo_id);

struct CacheRepoPaths {
  std::filesystem::path root;  // <cache>/<type>s--org--name
  std::filesystem::path blobs() const { return root / "blobs"; }
  std::filesystem::path snapshots() const { return root / "snapshots"; }
  std::filesystem::path refs() const { return root / "refs"; }
  std::filesystem::path snapshot(std::string_view sha) const { return snapshots() / std::string(sha); }
  std::filesystem::path blob(std::string_view digest) const { return blobs() / std::string(digest); }
};
CacheRepoPaths cache_repo_paths(const std::filesystem::path& cache_dir, std::string_view repo_type, std::string_view repo_id);

// Commit sha stored in refs/<name>, if present (40-hex, no newline).
std::optional<std::string> read_cache_ref(const CacheRepoPaths& repo, std::string_view ref_name);

// The refs of a cached repo (refs/**, each a 40-hex commit; other files are
// skipped), each list sorted by name. The HF cache does not record whether a
// ref is a branch or a tag, so: every ref is a branch, and a ref whose name
// holds a '.' (v1.0.0, the shape of a release tag) is also a tag, so that a
// `tags` range matches it. The one reading of cached refs: `resolve
// --from-cache` and `serve CACHE` (docs/hf-cache.md).
RepoRefs read_cache_refs(const CacheRepoPaths& repo);

}  // namespace kernel_lock
