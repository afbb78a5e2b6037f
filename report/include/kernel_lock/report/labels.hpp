// Short texts the lock reports share (docs/lock-commands.md).
#pragma once

#include <string>
#include <string_view>

#include "kernel_lock/core/lockfile.hpp"

namespace kernel_lock::report {

// What a requirement asked for: "version 1", "tags >=0.1,<0.2", "revision main",
// "" when it names none of them. Never throws.
std::string describe_requirement(const LockedRequirement& requirement);
// What a kernel was locked as: "v<N>" for a version, the tag range or the
// revision as written, "" without a requirement. Never throws.
std::string version_label(const LockedKernel& kernel);
// The first 7 characters of a commit sha (the whole text when shorter).
std::string short_sha(std::string_view sha);

}  // namespace kernel_lock::report
