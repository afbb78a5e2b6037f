// "Variants from a tree": the one function that turns a listing of build/ at a
// commit into locked variants (git_lfs_concat hash + per-file records). The
// resolver, the lock completion step (hub/lock_fetch.hpp) and the bundler use
// it; which variants to keep (a VariantFilter) is the caller's choice.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/repo.hpp"

namespace kernel_lock {

struct TreeVariants {
  // build/<name>/ with at least one hashed file: hash + files sorted by path
  // (bytecode dropped, see is_hashed_variant_path).
  std::map<std::string, LockedVariant> variants;
  // Every directory name directly under build/, sorted, including empty and
  // bytecode-only ones (for "available: ..." messages).
  std::vector<std::string> names;
};

// `entries`: a recursive listing whose paths start at the repo root (the Hub's
// tree of "build", a snapshot listing). Entries outside build/ and files directly
// under build/ are ignored. Throws Error(invalid_input) on a malformed digest
// (from git_lfs_concat_hash).
TreeVariants variants_from_tree(const std::vector<TreeEntry>& entries);

}  // namespace kernel_lock
