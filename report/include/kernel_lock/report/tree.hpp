// `kernel-lock tree` and `kernel-lock why` as data (docs/lock-commands.md): the
// kernel-depends graph of a lock (read through core lock_graph.hpp), top-down
// from the top-level requirements, or inverted from one kernel up to them.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/requirements.hpp"

namespace kernel_lock::report {

struct TreeNode {
  std::string repo_id;
  std::string sha;
  std::string version;                // version_label(); "" without a requirement
  std::vector<std::string> variants;  // sorted; filled only when asked for
  std::vector<TreeNode> children;     // tree: its kernel-depends; why: its dependents
  bool repeated = false;  // shown in full earlier: children left out (cargo's "(*)")
  bool missing = false;   // named by an edge but not locked (a hand-edited lock)
  // why only, on a top-level kernel: what the requirements asked for, and where
  // that was read ("kernel.lock", or the kernels.yaml / pyproject.toml path).
  std::optional<LockedRequirement> requirement;
  std::string requirement_source;
};

struct TreeOptions {
  std::optional<std::size_t> depth;  // levels of kernel-depends below the roots (0: roots only)
  bool variants = false;             // fill TreeNode::variants
};

// Roots: the top-level kernels (sorted by repo id), each with its kernel-depends
// below it. A kernel reached a second time is `repeated`; a cycle ends there too.
// Never throws.
std::vector<TreeNode> lock_tree(const Lockfile& lock, const TreeOptions& options = {});

// The inverted tree of `repo_id`: its dependents, theirs, ... up to the top-level
// kernels, which carry the requirement that pulled the chain in: the lock's own
// record, else the entry for that repo in `requirements` (when given), else none.
// Throws Error(not_found) "<repo_id> is not in <lock_source>" listing the locked
// repos, with a hint to run `kernel-lock tree`.
TreeNode why_kernel(const Lockfile& lock, std::string_view repo_id, std::string_view lock_source = "kernel.lock",
                    const Requirements* requirements = nullptr);

}  // namespace kernel_lock::report
