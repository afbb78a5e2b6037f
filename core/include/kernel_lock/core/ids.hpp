// Validation of the identifiers that come from outside (locks, manifests,
// Hub answers, archives). One rule set each, used by every library: a value
// is parsed once into its type, and every rejection reads the same.
#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "kernel_lock/core/hash.hpp"  // DigestKind

namespace kernel_lock {

// --- Predicates (cheap, never throw) -----------------------------------------

// Non-empty and only [0-9a-f].
bool is_lower_hex(std::string_view text) noexcept;
// A Hub repo id, the Hub's rules (huggingface_hub validate_repo_id), both parts
// required: "org/name", each part 1-96 chars of [A-Za-z0-9._-] starting and
// ending with a letter or digit; no "--" or ".." anywhere; and, like the Hub,
// no ".git" suffix ("org/name.git" is rejected everywhere: lock, requirements,
// bundle manifest, cache writer, Hub client).
bool is_valid_repo_id(std::string_view repo_id) noexcept;
// 40 lower-case hex.
bool is_commit_sha(std::string_view sha) noexcept;
// 40 (git blob sha1) or 64 (LFS sha256) lower-case hex.
bool is_blob_digest(std::string_view digest) noexcept;
// A relative '/'-separated path of at most 4096 bytes without empty, "." or
// ".." components, leading '/', trailing '/', NUL or '\'.
bool is_safe_relative_path(std::string_view path) noexcept;
// Why `path` is not a safe relative path (e.g. "absolute path", "'.' or '..'
// component (path traversal)"), or nullptr when it is one.
const char* relative_path_problem(std::string_view path) noexcept;

// --- Validated value types ---------------------------------------------------
// parse() throws Error(invalid_input) "<what>: <rule>, got '<value>'"-style
// texts naming `what` and the offending value (see ids.cpp); it is the one place
// those texts are written.

class RepoId {
 public:
  static RepoId parse(std::string_view text, std::string_view what);
  static bool is_valid(std::string_view text) noexcept { return is_valid_repo_id(text); }
  const std::string& str() const noexcept { return value_; }
  std::string_view org() const noexcept { return std::string_view(value_).substr(0, value_.find('/')); }
  std::string_view name() const noexcept { return std::string_view(value_).substr(value_.find('/') + 1); }
  friend auto operator<=>(const RepoId&, const RepoId&) = default;

 private:
  explicit RepoId(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

class CommitSha {
 public:
  static CommitSha parse(std::string_view text, std::string_view what);
  static bool is_valid(std::string_view text) noexcept { return is_commit_sha(text); }
  const std::string& str() const noexcept { return value_; }
  friend auto operator<=>(const CommitSha&, const CommitSha&) = default;

 private:
  explicit CommitSha(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

class BlobDigest {
 public:
  static BlobDigest parse(std::string_view text, std::string_view what);
  // Also requires the length of `kind` (40 for git_sha1, 64 for lfs_sha256).
  static BlobDigest parse(std::string_view text, DigestKind kind, std::string_view what);
  static bool is_valid(std::string_view text) noexcept { return is_blob_digest(text); }
  const std::string& str() const noexcept { return value_; }
  DigestKind kind() const noexcept { return value_.size() == 64 ? DigestKind::lfs_sha256 : DigestKind::git_sha1; }
  friend auto operator<=>(const BlobDigest&, const BlobDigest&) = default;

 private:
  explicit BlobDigest(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

class RelativePath {
 public:
  static RelativePath parse(std::string_view text, std::string_view what);
  static bool is_valid(std::string_view text) noexcept { return is_safe_relative_path(text); }
  const std::string& str() const noexcept { return value_; }
  friend auto operator<=>(const RelativePath&, const RelativePath&) = default;

 private:
  explicit RelativePath(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

// Validation only, for callers that keep a std::string (same rules and texts as
// the parse() of the matching type; all throw Error(invalid_input)).
void check_repo_id(std::string_view repo_id, std::string_view what);
void check_commit_sha(std::string_view sha, std::string_view what);
void check_blob_digest(std::string_view digest, std::string_view what);
void check_relative_path(std::string_view path, std::string_view what);

}  // namespace kernel_lock
