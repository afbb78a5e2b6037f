// The Hugging Face cache layout shared with huggingface_hub / kernels:
//   <cache>/<type>s--org--name/{blobs/<digest>, snapshots/<sha>/<path> -> ../../blobs/<digest>, refs/<name>}
// Path logic and read-side lookups only; writing is done by the installer.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// What kernel-lock knows of the kind of a cached repo's refs: the side file
// <repo>/.kernel-lock-refs.json (docs/hf-cache.md "Ref kinds"), which `install`
// writes from a bundle's record; huggingface_hub ignores it.
inline constexpr std::string_view kRefKindsFileName = ".kernel-lock-refs.json";
struct RefKinds {
  std::vector<std::string> branches;  // sorted, unique
  std::vector<std::string> tags;      // sorted, unique
  friend bool operator==(const RefKinds&, const RefKinds&) = default;
};
// The recorded kinds; empty when there is no side file, or it is unreadable or
// malformed (then the name heuristic of read_cache_refs applies). Bounded: a
// file over 1 MiB or nesting deeper than the JSON limit is ignored the same way.
RefKinds read_ref_kinds(const CacheRepoPaths& repo) noexcept;
// Adds `kinds` to the side file (a name recorded as one kind and now given as
// the other keeps both), written atomically. Throws Error(io).
void record_ref_kinds(const CacheRepoPaths& repo, const RefKinds& kinds);

// The refs of a cached repo (refs/**, each a 40-hex commit; other files are
// skipped), each list sorted by name. The HF cache does not record whether a
// ref is a branch or a tag: a ref named in the side file (read_ref_kinds) is
// reported as the kind(s) recorded there; any other ref is a branch, and also
// a tag when its name holds a '.' (v1.0.0, the shape of a release tag), so that
// a `tags` range matches it. The one reading of cached refs: `resolve
// --from-cache` and `serve CACHE` / `serve BUNDLE` (docs/hf-cache.md).
RepoRefs read_cache_refs(const CacheRepoPaths& repo);

}  // namespace kernel_lock
