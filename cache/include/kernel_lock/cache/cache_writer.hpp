// Writing into a Hugging Face cache directory the way huggingface_hub does, so
// that Python (`kernels`, `huggingface_hub`) and our loader read it offline
// (docs/hf-cache.md):
//   <cache>/.locks/<repo_folder>/<digest>.lock      filelock-compatible flock files
//   <cache>/<repo_folder>/blobs/<digest>            verified file contents
//   <cache>/<repo_folder>/snapshots/<sha>/<path>    relative symlinks -> ../../blobs/<digest>
//   <cache>/<repo_folder>/refs/<name>               40-hex sha, no newline
// No trees/<sha>.json is ever written (it would make offline snapshot_download
// refuse the partial snapshots we install).
//
// Crash contract: every change is a rename of a fully written, fsynced file or
// directory; a snapshot variant directory appears (or is swapped) in one rename,
// so a reader sees either the old variant or the complete new one, and no
// symlink or ref ever points at a missing blob.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/repo.hpp"
#include "kernel_lock/core/unique_fd.hpp"

namespace kernel_lock {

// An exclusive lock on a file, interoperable with Python `filelock` (Unix):
// open(O_RDWR|O_CREAT|O_NOFOLLOW, 0664) + flock(LOCK_EX); a lock file found
// unlinked after locking (older filelock releases unlink) is reopened.
// Released (flock(LOCK_UN) + close, the file stays) by the destructor. Move-only.
class CacheFileLock {
 public:
  // Blocks until acquired; creates parent directories. Throws Error(io).
  static CacheFileLock acquire(const std::filesystem::path& lock_path);
  CacheFileLock(CacheFileLock&& other) noexcept;
  CacheFileLock& operator=(CacheFileLock&& other) noexcept;
  CacheFileLock(const CacheFileLock&) = delete;
  CacheFileLock& operator=(const CacheFileLock&) = delete;
  ~CacheFileLock();

 private:
  explicit CacheFileLock(UniqueFd fd) noexcept : fd_(std::move(fd)) {}
  void unlock() noexcept;
  UniqueFd fd_;
};

// <cache>/.locks/<repo_folder>/<name>.lock, the path huggingface_hub locks
// while it writes blobs/<name> (name = the blob digest).
std::filesystem::path cache_lock_path(const std::filesystem::path& cache_dir, std::string_view repo_folder,
                                      std::string_view name);

// One file of a snapshot: repo path -> blob digest.
struct SnapshotFile {
  std::string path;    // repo-relative, e.g. "build/torch-cpu/__init__.py"
  std::string digest;  // blob name
};

// Writes into one cache directory. Thread-compatible; many processes may write
// the same cache at once (blob writes are locked and atomic, directory swaps
// are serialised by a lock per snapshot).
class CacheWriter {
 public:
  explicit CacheWriter(std::filesystem::path cache_dir);
  ~CacheWriter();  // removes the staging directory, if one was made
  CacheWriter(const CacheWriter&) = delete;
  CacheWriter& operator=(const CacheWriter&) = delete;

  const std::filesystem::path& cache_dir() const noexcept { return cache_dir_; }

  // A private directory inside the cache (<cache>/.kernel-lock-staging/<pid>-<random>),
  // on the same file system as the blobs, created on first use. Leftovers of
  // dead processes are removed when a new one is made.
  const std::filesystem::path& staging_dir();

  // Puts the verified file `staged` (inside staging_dir()) at
  // <repo_folder>/blobs/<digest>, under the blob's filelock: hard link + rename
  // (copy when linking fails), replacing any existing blob of that name (which
  // heals a corrupted one: `staged` is known good). `staged` itself stays.
  void commit_blob(std::string_view repo_folder, std::string_view digest, const std::filesystem::path& staged);

  // Makes snapshots/<sha>/<dir> hold exactly `files` (all below `dir`, e.g.
  // "build/<variant>"), as relative symlinks to blobs that must already exist.
  // Built in the staging directory, then renamed into place (or atomically
  // exchanged with a differing existing directory). Returns false when the
  // existing directory already held exactly these links.
  bool install_snapshot_dir(std::string_view repo_folder, std::string_view sha, std::string_view dir,
                            const std::vector<SnapshotFile>& files);

  // What snapshots/<sha>/<dir> holds compared with `files`: nothing yet, exactly
  // these links, or something else (other links, stray files, entries the strict
  // snapshot reader refuses). Reads only, takes no lock. Throws
  // Error(invalid_input) for the arguments install_snapshot_dir refuses.
  enum class SnapshotDirState { absent, same, different };
  SnapshotDirState snapshot_dir_state(std::string_view repo_folder, std::string_view sha, std::string_view dir,
                                      const std::vector<SnapshotFile>& files) const;

  // Writes refs/<name> = sha (no newline) atomically; `name` may contain '/'.
  void write_ref(std::string_view repo_folder, std::string_view name, std::string_view sha);

 private:
  std::filesystem::path cache_dir_;
  std::optional<std::filesystem::path> staging_;
};

// Relative symlink target from snapshots/<sha>/<path> to blobs/<digest>
// ("../../blobs/<d>" for a top-level file, one more "../" per directory level).
std::string snapshot_link_target(std::string_view path, std::string_view digest);

}  // namespace kernel_lock
