// `kernel-lock diff OLD NEW` as data (docs/lock-commands.md): kernels added,
// removed and updated between two locks, with their variant and signer changes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kernel_lock/core/lockfile.hpp"

namespace kernel_lock::report {

enum class Change { added, removed, changed };
// "added" / "removed" / "changed".
std::string_view to_string(Change change) noexcept;

struct VariantDiff {
  std::string name;
  Change change = Change::changed;
  std::string old_hash, new_hash;  // "" on the side where the variant is absent
  std::optional<LockedSignature> old_signer, new_signer;
  bool hash_changed = false;    // both sides hold it and the hashes differ
  bool signer_changed = false;  // both sides hold it and the signer identity differs (same_signer), or one side only is signed
};

struct KernelDiff {
  std::string repo_id;
  Change change = Change::changed;  // `changed`: commit, version, or a variant differs
  std::string old_sha, new_sha;          // "" on the absent side
  std::string old_version, new_version;  // version_label()
  std::vector<VariantDiff> variants;     // changed kernels only: the variants that differ, sorted by name
};

struct LockDiff {
  std::vector<KernelDiff> kernels;  // sorted by repo id; kernels equal on both sides are left out
  bool empty() const noexcept { return kernels.empty(); }
};

// Never throws. A variant whose only difference is the Rekor entry of the same
// signer (log index, signing time) is not a change.
LockDiff diff_locks(const Lockfile& old_lock, const Lockfile& new_lock);

}  // namespace kernel_lock::report
