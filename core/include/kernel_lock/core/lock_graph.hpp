// The kernel-depends edges a kernel.lock records (docs/formats.md
// "required-by"): the one place that reads them, for the SBOMs (sbom) and the
// lock reports (report: tree, why). Today a lock holds one entry per repo and a
// kernel pulled in through another kernel's `kernel-depends` carries
// `requirement.required-by: <that kernel>`; when the lock format changes, only
// this file and its source change.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/core/lockfile.hpp"

namespace kernel_lock {

// The repo ids `repo_id` depends on (its kernel-depends that the lock holds),
// sorted. Never throws.
std::vector<std::string> lock_dependencies(const Lockfile& lock, std::string_view repo_id);
// The repo ids that pulled `kernel` in through their kernel-depends (empty for a
// top-level requirement), sorted. Never throws.
std::vector<std::string> lock_dependents(const LockedKernel& kernel);
// True when `kernel` was asked for by the requirements themselves (no dependent).
bool is_top_level(const LockedKernel& kernel);

}  // namespace kernel_lock
