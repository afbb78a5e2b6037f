// RepoStore: the read-only view of a set of Hub repositories that a
// Hub-compatible server (`kernel-lock serve`, hub_server.hpp) needs. Stores
// exist over an installed HF cache and a bundle archive (here), and over a
// fixture Hub and in memory (the testing library).
//
// Contract for every implementation:
//  * Safe for concurrent calls from many server threads.
//  * Commits are immutable: the same (repo, sha) always yields the same Commit.
//    Refs may move between calls (a store may reflect changes on disk).
//  * Paths are repo-relative, '/'-separated, never empty, never absolute, no
//    "." or ".." components.
//  * Digests are lower-case hex: the LFS sha256 for LFS files, else the git
//    blob sha1 (TreeEntry::digest()).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/core/repo.hpp"

namespace kernel_lock {

struct StoreRepo {
  RepoRef ref;
  // Gated repos are only served to requests that carry the server's token
  // (hub_server.hpp); without one the server answers GatedRepo.
  bool gated = false;
};

// One commit of a repo: its whole tree, flattened.
struct StoreCommit {
  std::string sha;                   // 40-hex
  std::vector<std::string> parents;  // 40-hex, first parent first; empty for a root commit
  std::string message;
  std::string date;                  // "YYYY-MM-DDTHH:MM:SS.000Z", or empty when unknown
  std::string tree_oid;              // git tree id of the repo root
  // Every file and directory below the root (the root itself excluded), sorted
  // bytewise by path. Files: size, oid (git blob sha1; of the pointer for LFS),
  // lfs_sha256 when LFS. Directories: is_directory, oid = git tree id, size 0.
  std::vector<TreeEntry> entries;

  // Entry at exactly `path`, or nullptr.
  const TreeEntry* find(std::string_view path) const noexcept;
  // Entries below directory `dir` ("" = root): direct children only, or the
  // whole subtree when recursive. Sorted by path. Throws Error(not_found) when
  // `dir` is neither "" nor a directory of this commit.
  std::vector<const TreeEntry*> list(std::string_view dir, bool recursive) const;
};

// Size in bytes of the git-lfs pointer text for a file of `size` bytes
// ("version https://git-lfs.github.com/spec/v1\noid sha256:<64hex>\nsize <n>\n").
std::uint64_t lfs_pointer_size(std::uint64_t size) noexcept;
// That pointer text itself.
std::string lfs_pointer_text(std::string_view sha256_hex, std::uint64_t size);

// Random-access reader over one stored file content. Not thread-safe: one
// reader per response.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual std::uint64_t size() const noexcept = 0;
  // Reads up to out.size() bytes at `offset`; returns the count (0 only at the
  // end). Throws Error(io) on failure.
  virtual std::size_t read_at(std::uint64_t offset, std::span<char> out) = 0;
};

class RepoStore {
 public:
  virtual ~RepoStore() = default;

  // All repos, sorted by (type, repo_id).
  virtual std::vector<StoreRepo> list_repos() const = 0;
  // The repo with this id and type, if present.
  virtual std::optional<StoreRepo> find_repo(const RepoRef& repo) const = 0;
  // Branches and tags, each sorted by name. Throws Error(not_found) for an unknown repo.
  virtual RepoRefs refs(const RepoRef& repo) const = 0;
  // Commit sha for a branch, tag, full sha or unique sha prefix (>= 7 hex), or
  // "refs/heads/<b>" / "refs/tags/<t>"; nullopt when it names nothing.
  // Throws Error(not_found) for an unknown repo.
  virtual std::optional<std::string> resolve(const RepoRef& repo, std::string_view revision) const = 0;
  // A commit by full sha. Throws Error(not_found) when the repo has no such commit.
  virtual std::shared_ptr<const StoreCommit> commit(const RepoRef& repo, std::string_view sha) const = 0;
  // The content of a file of `repo` by its digest (TreeEntry::digest()).
  // Throws Error(not_found) when the store does not hold it.
  virtual std::unique_ptr<BlobReader> open(const RepoRef& repo, std::string_view digest) const = 0;
};

// Opens the store a path holds, by what it contains: an installed HF cache
// (a directory of <type>s--org--name folders) or a bundle archive. Throws
// Error(invalid_input / not_found) naming what it expected.
std::shared_ptr<RepoStore> open_repo_store(const std::filesystem::path& path);

// A read-only RepoStore over an installed HF cache (for `kernel-lock serve CACHE`):
// every <type>s--org--name folder is a repo; its commits are the snapshot
// directories (trees hold the files present in the snapshot, LFS-ness from the
// blob name length), branches are refs/<name>. Rescans refs on every call.
std::shared_ptr<RepoStore> open_cache_store(const std::filesystem::path& cache_dir);

// A read-only RepoStore over a bundle (for `kernel-lock serve BUNDLE`): the
// bundle is verified and unpacked into a private cache under `work_dir`
// (default: a fresh temp directory, removed with the store) and served from
// there. One commit per kernel (its included files), refs from the manifest.
std::shared_ptr<RepoStore> open_bundle_store(const std::filesystem::path& bundle,
                                             std::optional<std::filesystem::path> work_dir = std::nullopt);

// Helpers shared by store implementations.
namespace store_detail {
// Fills `commit.entries` directories (with git tree ids) and `commit.tree_oid`
// from the file entries already in `commit.entries`; sorts everything.
// Every file is treated as a regular, non-executable git blob (mode 100644).
void complete_tree(StoreCommit& commit);
// Shared resolve() logic over refs and the commit shas a repo holds.
std::optional<std::string> resolve_revision(const RepoRefs& refs, const std::vector<std::string>& commit_shas,
                                            std::string_view revision);
// A BlobReader over a string held in memory.
std::unique_ptr<BlobReader> string_blob(std::string text);
// A pread-based BlobReader over one file (a cache blob, a fixture object).
// Throws Error(not_found) for a missing file, Error(io) when it cannot be opened
// or its size read; read_at throws Error(io) naming the file.
std::unique_ptr<BlobReader> file_blob(const std::filesystem::path& path);
}  // namespace store_detail

}  // namespace kernel_lock
