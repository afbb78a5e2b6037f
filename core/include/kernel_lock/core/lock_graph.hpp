// The kernel-depends edges a kernel.lock records (docs/formats.md
// "required-by"): the one place that reads them, for the SBOMs (sbom) and the
// lock reports (report: tree, why). A lock holds one entry per (repo, version);
// an entry pulled in through another kernel's `kernel-depends` carries
// `requirement.required-by: <that kernel's repo id>` (a repo, not a version);
// when the lock format changes, only this file and its source change.
#pragma once

#include <vector>

#include "kernel_lock/core/lockfile.hpp"

namespace kernel_lock {

// The entries `kernel` depends on (those whose required-by names its repo), in
// lock_order (a repo locked at two versions: the one it requires). Pointers into
// `lock`. Never throws.
std::vector<const LockedKernel*> lock_dependencies(const Lockfile& lock, const LockedKernel& kernel);
// The entries that pulled `kernel` in through their kernel-depends (every locked
// version of the required-by repo; empty for a top-level requirement), in
// lock_order. Never throws.
std::vector<const LockedKernel*> lock_dependents(const Lockfile& lock, const LockedKernel& kernel);
// True when `kernel` was asked for by the requirements themselves (no dependent).
bool is_top_level(const LockedKernel& kernel);
// The entries asked for by the requirements themselves (the roots of the
// kernel-depends graph), in lock_order. Never throws.
std::vector<const LockedKernel*> top_level_entries(const Lockfile& lock);

}  // namespace kernel_lock
