// The one reader of a snapshot directory of the HF cache
// (<cache>/<type>s--org--name/snapshots/<sha>/build/<variant>/, each file a
// relative symlink to ../../blobs/<digest>). What counts as a valid snapshot is
// a security rule: it is written here once, and every library that walks a
// snapshot (loader, verify, bundle, mirror, cache writer, `kernel-lock hash`)
// goes through this reader with the policy it needs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"

namespace kernel_lock {

enum class SnapshotPolicy {
  // An HF cache snapshot as huggingface_hub and the cache writer make it. Every
  // entry that is not a real directory must be a RELATIVE symlink whose target,
  // resolved lexically against the link's own directory, is `<blobs>/<name>`
  // (`blobs` = this repository's blobs/ directory, SnapshotOptions::blobs) with
  // <name> 40 or 64 lower-case hex, and that blob must be a regular file (not a
  // link, not a directory). Refused, Error(integrity) naming the entry: regular
  // files, absolute links, links leaving blobs/ (`..`, another repository's
  // blobs, elsewhere), bad blob names, links to directories, special files.
  // Refused, Error(not_found) naming the entry: a dangling link.
  // Used by the loader (locked and unpinned reads), verify, the bundle planner,
  // the cache store of the mirror, the cache writer and `hash --cache-links`.
  strict,
  // A plain directory (the loader's get_local_kernel, `kernel-lock hash DIR`):
  // regular files, and symlinks (relative or absolute, chains allowed) that end
  // at a regular file. Refused: links to directories and special files
  // (Error(invalid_input)), dangling links (Error(not_found)), naming the entry.
  // Entries carry no digest: the caller decides how to hash them.
  plain,
};

struct SnapshotOptions {
  SnapshotPolicy policy = SnapshotPolicy::strict;
  std::filesystem::path blobs;    // strict: the repository's blobs/ directory (required)
  bool skip_unhashed = true;      // leave out what is_hashed_variant_path skips (*.pyc,
                                  // __pycache__, which is never descended into)
  bool follow_root_link = false;  // false: a `dir` that is itself a symlink is refused
};

struct SnapshotEntry {
  std::string path;                  // relative to the walked directory, '/'-separated
  std::filesystem::path link;        // the entry in the walked directory
  std::filesystem::path file;        // the regular file to read: the blob (strict),
                                     // the file the entry ends at (plain)
  std::string link_target;           // the link text as read; "" for a regular file (plain)
  std::string digest;                // strict: the blob name; plain: ""
  DigestKind kind = DigestKind::git_sha1;  // strict: from the blob name (40 hex: git_sha1,
                                           // 64 hex: lfs_sha256); plain: git_sha1
  std::uint64_t size = 0;            // size of `file` when listed
};

// An entry the policy refuses; `error` names the entry (see SnapshotPolicy).
struct SnapshotProblem {
  std::string path;  // relative, '/'-separated
  Error error;
};

struct SnapshotListing {
  std::vector<SnapshotEntry> entries;     // accepted entries, sorted bytewise by path
  std::vector<SnapshotProblem> problems;  // refused entries, sorted bytewise by path
};

// Walks `dir` under `options` and sorts what it finds into accepted entries and
// refused ones; never throws for an entry. Throws for `dir` itself:
// Error(not_found) when it does not exist, Error(integrity) when it is a symlink
// and follow_root_link is false, Error(invalid_input) when it is not a directory
// or a strict walk has no `blobs`, Error(io) when it cannot be listed.
SnapshotListing scan_snapshot(const std::filesystem::path& dir, const SnapshotOptions& options);

// scan_snapshot, then throws the first problem (bytewise path order) as is.
std::vector<SnapshotEntry> read_snapshot(const std::filesystem::path& dir, const SnapshotOptions& options);

// Names of the variant directories directly under `build_dir` (a snapshot's
// build/; a link to a directory counts), sorted bytewise; empty when build_dir
// is absent. Never throws for a missing directory; the variants themselves are
// read (and judged) with read_snapshot.
std::vector<std::string> list_variant_dirs(const std::filesystem::path& build_dir);

// The repository root of a path inside a snapshot (<root>/snapshots/<sha>/...),
// for callers given only a directory (`hash --cache-links`). Throws
// Error(invalid_input) when `dir` is not below a snapshots/<sha>/ directory.
std::filesystem::path snapshot_repo_root(const std::filesystem::path& dir);

// Hashes every entry of `dir` read with `options` (in parallel on `threads`,
// 0 = all CPUs): strict entries are hashed with the kind their blob name says and
// must hash to that name (Error(integrity) naming the file otherwise); plain
// entries with the kind `choose` gives. Returns the git_lfs_concat hash and the
// per-file records. Throws what read_snapshot throws.
VariantDirectoryDigest hash_variant_directory(const std::filesystem::path& dir, const SnapshotOptions& options,
                                              const DigestKindChooser& choose, unsigned threads = 0);

}  // namespace kernel_lock
