// kernel.lock: read, validate and canonical write. Compatible both ways with the
// Python `kernels lock` output (kernels.lock), see docs/formats.md "kernel.lock".
//
// On disk: a JSON array of kernel objects, 2-space indent, trailing newline:
//   {"repo_id", "sha", "variants": {"<variant>": {"hash", "hash_type"}},
//    then our extra keys (Python ignores unknown kernel keys):
//    "repo_type", "requirement", "files": {"<variant>": [{"path","size","digest","kind"}]},
//    "signatures": {"<variant>": {"issuer","source_repository","build_signer_uri","log_index","signing_time"}}}
// Variant objects hold `hash` and `hash_type` only (Python passes them as kwargs).
#pragma once

#include <compare>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/locked_requirement.hpp"  // is_valid_repo_id, is_safe_relative_path (the one rule set)

namespace kernel_lock {

inline constexpr std::string_view kDefaultLockfileName = "kernel.lock";
inline constexpr std::string_view kPythonLockfileName = "kernels.lock";

struct LockedFile {
  std::string path;  // relative to build/<variant>/, '/'-separated
  std::uint64_t size = 0;
  std::string digest;  // hex; 64 for lfs_sha256, 40 for git_sha1
  DigestKind kind = DigestKind::git_sha1;
  friend bool operator==(const LockedFile&, const LockedFile&) = default;
};

// Who signed a variant's metadata.json, as verified when the lock was written
// (Fulcio certificate extensions and the Rekor entry). The lock pins it: install,
// verify and the loader accept only a signature by this identity, and a re-lock
// that changes it needs --allow-signer-change (docs/trust.md).
struct LockedSignature {
  std::string issuer;               // OIDC issuer, e.g. "https://token.actions.githubusercontent.com"
  std::string source_repository;    // e.g. "https://github.com/huggingface/kernels-community"
  std::string build_signer_uri;     // the workflow that signed, "<repo>/.github/workflows/x.yaml@refs/heads/main"
  std::int64_t log_index = 0;       // Rekor log index of the entry
  std::string signing_time;         // Rekor integrated time, RFC 3339 UTC "2026-06-01T12:00:00Z"
  // Same signer: issuer, source repository and build signer URI (not the entry).
  bool same_signer(const LockedSignature& other) const noexcept {
    return issuer == other.issuer && source_repository == other.source_repository &&
           build_signer_uri == other.build_signer_uri;
  }
  // "<build signer URI> (issuer <issuer>)".
  std::string describe() const;
  friend bool operator==(const LockedSignature&, const LockedSignature&) = default;
};

struct LockedVariant {
  std::string hash;                          // "sha256-<64hex>"
  std::string hash_type = "git_lfs_concat";
  std::vector<LockedFile> files;  // sorted by path; empty for locks written by Python
  std::optional<LockedSignature> signature;  // set when the variant was signed and verified at lock time
  friend bool operator==(const LockedVariant&, const LockedVariant&) = default;
};

struct LockedKernel {
  std::string repo_id;  // "org/name"
  std::string sha;      // 40-hex commit
  std::map<std::string, LockedVariant> variants;  // by variant name (sorted)
  std::optional<std::string> repo_type;           // "kernel" or "model"; absent = kernel
  std::optional<LockedRequirement> requirement;   // what was asked (none when unknown)
  nlohmann::ordered_json unknown_keys = nlohmann::ordered_json::object();  // preserved verbatim
  friend bool operator==(const LockedKernel&, const LockedKernel&) = default;
};

// A lock holds one entry per (repo, version), as Python `kernels lock` does
// (its key is KernelDependency: repo id + version or revision): a kernel required
// at v2 that a dependency also requires at v1 is locked twice, the v1 entry with
// "required-by". What tells two entries of one repo apart is their requirement's
// version, else revision, else tag range (PinnedAs); an entry without a
// requirement pins its sha.
struct PinnedAs {
  int kind = 1;                   // 0 version, 1 revision (or sha), 2 tag range: Python's order, then ours
  std::uint64_t version = 0;      // kind 0
  std::string text;               // kind 1: the revision (or sha), kind 2: the range
  friend auto operator<=>(const PinnedAs&, const PinnedAs&) = default;
};
PinnedAs pinned_as(const LockedKernel& kernel);
// The order a lock is written in: repo_id, then PinnedAs (Python's order of the
// dependency shape: versions numerically, then revisions).
bool lock_order(const LockedKernel& a, const LockedKernel& b) noexcept;

struct Lockfile {
  std::vector<LockedKernel> kernels;  // sorted by lock_order when written
  // The entry of `repo_id` that the requirements name directly (no
  // "required-by"), else the first entry of it; what `load_kernel(repo_id)` and
  // every per-repo reader mean. For a lock with one entry per repo: that entry.
  const LockedKernel* find(std::string_view repo_id) const noexcept;
  LockedKernel* find(std::string_view repo_id) noexcept;
  // Version-aware: the entry of `repo_id` locked for "version" N or "revision" R
  // (kernel-depends spelling: exactly one is set); null when none.
  const LockedKernel* find_pinned(std::string_view repo_id, std::optional<std::uint64_t> version,
                                  const std::optional<std::string>& revision) const noexcept;
  // The entry of `repo_id` at commit `sha` (bundle manifests name (repo, sha)).
  const LockedKernel* find_commit(std::string_view repo_id, std::string_view sha) const noexcept;
  // The entry matching `other` (an entry of another lock): same repo pinned the
  // same way (PinnedAs), else find(other.repo_id). For comparing two locks.
  const LockedKernel* find_like(const LockedKernel& other) const noexcept;
  // Every entry of `repo_id`, in the order of `kernels`.
  std::vector<const LockedKernel*> find_all(std::string_view repo_id) const;
  friend bool operator==(const Lockfile&, const Lockfile&) = default;
};

// Parses and validates. `source` names the file in errors ("kernel.lock:3:5: ...").
// Throws Error(invalid_input) with line/column or the JSON path of the bad field.
Lockfile parse_lockfile(std::string_view text, std::string_view source = "kernel.lock");
Lockfile read_lockfile(const std::filesystem::path& path);

// Canonical bytes: kernels sorted by repo_id, variants and files sorted, fixed key
// order, 2-space indent, trailing newline. Same input, same bytes.
std::string format_lockfile(const Lockfile& lock);
// Writes atomically, only when the bytes change. Returns true when written.
bool write_lockfile(const std::filesystem::path& path, const Lockfile& lock);

// Finds the lockfile in a directory: kernel.lock, else kernels.lock. Throws
// Error(not_found) naming both and suggesting `kernel-lock resolve`.
std::filesystem::path find_lockfile(const std::filesystem::path& dir);

// The two on-disk shapes parse_lockfile accepts (docs/formats.md):
//   variants:   [{"repo_id", "sha", "variants", ...}]  ours, and Python `kernels lock`
//               up to the 0.17 development line (the format of docs/formats.md; what format_lockfile writes);
//   dependency: [{"dependency": {"repo-id", "version"|"revision"}, "lock": {"commit"}}]
//               written by the released Python kernels 0.17.2, which reads only this shape.
// A lock read from the dependency shape has no variants; its requirement holds
// {"version": N} or {"revision": "..."}.
enum class LockfileShape { variants, dependency };
// Shape of a parsed JSON text (an empty array counts as `variants`). Throws like parse_lockfile.
LockfileShape detect_lockfile_shape(std::string_view text, std::string_view source = "kernel.lock");

// Exactly the bytes the Python kernels 0.17.2 `KernelLocks.to_json()` (and so
// `kernels lock`) produces for these kernels: the dependency shape, in lock_order
// (Python sorts by repo id, then version or revision), 2-space indent, raw UTF-8, no trailing newline. The dependency is
// taken from `requirement` ("version" N, else "revision"); without one it is
// {"revision": sha}; entries that spell the same are written once (same commit).
// Variants, files and our extra keys have no place in it.
std::string format_python_lockfile(const Lockfile& lock);

}  // namespace kernel_lock
