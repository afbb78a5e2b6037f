#include "kernel_lock/core/ids.hpp"

#include <algorithm>
#include <string>

#include "kernel_lock/core/error.hpp"

namespace kernel_lock {
namespace {

constexpr std::size_t kMaxRepoPart = 96;
constexpr std::size_t kMaxPath = 4096;
constexpr const char* kRepoIdHint =
    "repo ids look like 'org/name': letters, digits, '-', '_' and '.', each part starting and ending with a letter "
    "or digit; no '--', '..' or '.git' suffix";

bool is_alnum(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// The reason `repo_id` is not a repo id, or nullptr when it is one.
const char* repo_id_problem(std::string_view repo_id) noexcept {
  auto slash = repo_id.find('/');
  if (slash == std::string_view::npos || repo_id.find('/', slash + 1) != std::string_view::npos)
    return "expected 'org/name'";
  for (std::string_view part : {repo_id.substr(0, slash), repo_id.substr(slash + 1)}) {
    if (part.empty() || part.size() > kMaxRepoPart) return "each part must be 1-96 characters";
    if (!std::all_of(part.begin(), part.end(), [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; }))
      return "character outside [A-Za-z0-9._-]";
    if (!is_alnum(part.front()) || !is_alnum(part.back())) return "each part must start and end with a letter or digit";
  }
  if (repo_id.find("--") != std::string_view::npos || repo_id.find("..") != std::string_view::npos)
    return "'--' and '..' are not allowed";
  if (repo_id.ends_with(".git")) return "a '.git' suffix is not allowed";
  return nullptr;
}

}  // namespace

const char* relative_path_problem(std::string_view path) noexcept {
  if (path.empty()) return "empty";
  if (path.size() > kMaxPath) return "too long";
  if (path.front() == '/') return "absolute path";
  if (path.find('\0') != std::string_view::npos) return "NUL byte";
  if (path.find('\\') != std::string_view::npos) return "backslash";
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty()) return "empty component";
    if (part == "." || part == "..") return "'.' or '..' component (path traversal)";
    start = end + 1;
  }
  return nullptr;
}

namespace {

[[noreturn]] void fail_hex(std::string_view what, std::string_view expected, std::string_view value) {
  throw Error(ErrorCode::invalid_input,
              std::string(what) + ": expected " + std::string(expected) + ", got '" + std::string(value.substr(0, 80)) + "'");
}

}  // namespace

bool is_lower_hex(std::string_view text) noexcept {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_valid_repo_id(std::string_view repo_id) noexcept { return repo_id_problem(repo_id) == nullptr; }
bool is_commit_sha(std::string_view sha) noexcept { return sha.size() == 40 && is_lower_hex(sha); }
bool is_blob_digest(std::string_view digest) noexcept {
  return (digest.size() == 40 || digest.size() == 64) && is_lower_hex(digest);
}
bool is_safe_relative_path(std::string_view path) noexcept { return relative_path_problem(path) == nullptr; }

RepoId RepoId::parse(std::string_view text, std::string_view what) {
  if (const char* why = repo_id_problem(text))
    throw Error(ErrorCode::invalid_input,
                std::string(what) + ": invalid repo id '" + std::string(text.substr(0, 200)) + "': " + why, kRepoIdHint);
  return RepoId(std::string(text));
}

CommitSha CommitSha::parse(std::string_view text, std::string_view what) {
  if (!is_commit_sha(text)) fail_hex(what, "a 40-hex commit sha", text);
  return CommitSha(std::string(text));
}

BlobDigest BlobDigest::parse(std::string_view text, std::string_view what) {
  if (!is_blob_digest(text)) fail_hex(what, "a 40- or 64-hex digest", text);
  return BlobDigest(std::string(text));
}

BlobDigest BlobDigest::parse(std::string_view text, DigestKind kind, std::string_view what) {
  const std::size_t length = kind == DigestKind::lfs_sha256 ? 64 : 40;
  if (text.size() != length || !is_lower_hex(text))
    fail_hex(what, kind == DigestKind::lfs_sha256 ? "a 64-hex sha256 digest" : "a 40-hex git blob sha1", text);
  return BlobDigest(std::string(text));
}

RelativePath RelativePath::parse(std::string_view text, std::string_view what) {
  if (const char* why = relative_path_problem(text))
    throw Error(ErrorCode::invalid_input,
                std::string(what) + ": unsafe path '" + std::string(text.substr(0, 200)) + "': " + why);
  return RelativePath(std::string(text));
}

void check_repo_id(std::string_view repo_id, std::string_view what) { (void)RepoId::parse(repo_id, what); }
void check_commit_sha(std::string_view sha, std::string_view what) { (void)CommitSha::parse(sha, what); }
void check_blob_digest(std::string_view digest, std::string_view what) { (void)BlobDigest::parse(digest, what); }
void check_relative_path(std::string_view path, std::string_view what) { (void)RelativePath::parse(path, what); }

}  // namespace kernel_lock
