#include "kernel_lock/core/ids.hpp"

#include <string>

#include "kernel_lock/core/error.hpp"

namespace kernel_lock {
namespace {

bool is_lower_hex(std::string_view text) {
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return !text.empty();
}

}  // namespace

void check_repo_id(std::string_view repo_id, std::string_view what) {
  auto fail = [&](const std::string& why) {
    throw Error(ErrorCode::invalid_input,
                std::string(what) + ": invalid repo id '" + std::string(repo_id) + "': " + why);
  };
  if (repo_id.empty() || repo_id.size() > 200) fail("empty or too long");
  auto slash = repo_id.find('/');
  if (slash == std::string_view::npos || repo_id.find('/', slash + 1) != std::string_view::npos)
    fail("expected 'org/name'");
  for (std::string_view part : {repo_id.substr(0, slash), repo_id.substr(slash + 1)}) {
    if (part.empty() || part.size() > 96) fail("empty or over-long component");
    for (char c : part) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '_' || c == '.';
      if (!ok) fail("character outside [A-Za-z0-9._-]");
    }
    if (part == "." || part.front() == '-' || part.front() == '.' || part.back() == '-' || part.back() == '.')
      fail("component starts or ends with '-' or '.'");
  }
  if (repo_id.find("--") != std::string_view::npos || repo_id.find("..") != std::string_view::npos)
    fail("'--' and '..' are not allowed");
}

void check_commit_sha(std::string_view sha, std::string_view what) {
  if (sha.size() != 40 || !is_lower_hex(sha))
    throw Error(ErrorCode::invalid_input,
                std::string(what) + ": expected a 40-hex commit sha, got '" + std::string(sha.substr(0, 80)) + "'");
}

void check_blob_digest(std::string_view digest, std::string_view what) {
  if ((digest.size() != 40 && digest.size() != 64) || !is_lower_hex(digest))
    throw Error(ErrorCode::invalid_input, std::string(what) + ": expected a 40- or 64-hex digest, got '" +
                                              std::string(digest.substr(0, 80)) + "'");
}

void check_relative_path(std::string_view path, std::string_view what) {
  auto fail = [&](const std::string& why) {
    throw Error(ErrorCode::invalid_input,
                std::string(what) + ": unsafe path '" + std::string(path.substr(0, 200)) + "': " + why);
  };
  if (path.empty()) fail("empty");
  if (path.size() > 4096) fail("too long");
  if (path.front() == '/') fail("absolute path");
  if (path.find('\0') != std::string_view::npos) fail("NUL byte");
  if (path.find('\\') != std::string_view::npos) fail("backslash");
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty()) fail("empty component");
    if (part == "." || part == "..") fail("'.' or '..' component (path traversal)");
    start = end + 1;
  }
}

}  // namespace kernel_lock
