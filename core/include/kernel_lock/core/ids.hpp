// Validation of the identifiers that come from outside (locks, manifests,
// Hub answers, archives). One rule set each, used by every library.
#pragma once

#include <string_view>

namespace kernel_lock {

// Input validation shared by bundle/install/verify (all throw Error(invalid_input)
// naming `what` and the offending value):
// "org/name" as the Hub accepts it (no "--", "..", leading/trailing separators).
void check_repo_id(std::string_view repo_id, std::string_view what);
// 40 lower-case hex (a commit sha).
void check_commit_sha(std::string_view sha, std::string_view what);
// 40 or 64 lower-case hex (a git blob sha1 or an LFS sha256).
void check_blob_digest(std::string_view digest, std::string_view what);
// Relative '/'-separated path without empty, ".", ".." components, NUL or '\'.
void check_relative_path(std::string_view path, std::string_view what);

}  // namespace kernel_lock
