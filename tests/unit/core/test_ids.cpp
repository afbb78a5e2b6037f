// The one rule set for repo ids, commit shas, blob digests and relative paths
// (core/ids.hpp), and proof that the lock, the requirements and the shared
// check_* entry points (bundle manifest, cache writer, Hub client) agree on it.
#include <doctest/doctest.h>

#include <string>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/lockfile.hpp"

using namespace kernel_lock;

namespace {

std::string error_text(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_input);
    return e.what();
  }
  FAIL("expected Error(invalid_input)");
  return "";
}

std::string lock_with_repo(const std::string& repo_id) {
  return R"([{"repo_id": ")" + repo_id + R"(", "sha": ")" + std::string(40, 'a') + R"(", "variants": {}}])";
}

}  // namespace

TEST_CASE("repo id: the Hub's rules") {
  for (const char* good : {"kernels-community/activation", "a/b", "Org_1/name.v2", "a.b/c_d", "x/y-z", "A9/z0"}) {
    CAPTURE(good);
    CHECK(is_valid_repo_id(good));
    CHECK(RepoId::parse(good, "test").str() == good);
  }
  for (const char* bad : {"", "a", "/b", "a/", "a/b/c", "-org/x", "_a/b", "a_/b", "a/b-", "a/.b", "a--b/c", "a/b..c",
                          "a b/c", "a/b\\c", "org/name.git", "org/x.git"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_valid_repo_id(bad));
    CHECK_FALSE(RepoId::is_valid(bad));
    CHECK_THROWS_AS(RepoId::parse(bad, "test"), Error);
  }
  CHECK(is_valid_repo_id("org/name.gi"));
  CHECK(is_valid_repo_id("org/git"));
  CHECK(is_valid_repo_id(std::string(96, 'a') + "/" + std::string(96, 'b')));
  CHECK_FALSE(is_valid_repo_id(std::string(97, 'a') + "/b"));
  const auto id = RepoId::parse("kernels-community/activation", "test");
  CHECK(id.org() == "kernels-community");
  CHECK(id.name() == "activation");
  CHECK(id == RepoId::parse("kernels-community/activation", "other"));
}

TEST_CASE("repo id: one error text naming what and the value") {
  CHECK(error_text([] { (void)RepoId::parse("org/name.git", "bundle manifest kernels[0]"); }) ==
        "bundle manifest kernels[0]: invalid repo id 'org/name.git': a '.git' suffix is not allowed");
  CHECK(error_text([] { check_repo_id("-org/x", "Hub request"); }) ==
        "Hub request: invalid repo id '-org/x': each part must start and end with a letter or digit");
  CHECK(error_text([] { check_repo_id("a/b/c", "x"); }) == "x: invalid repo id 'a/b/c': expected 'org/name'");
}

TEST_CASE("the two drift examples behave the same in the lock and in check_repo_id") {
  // Before: "org/name.git" passed the lock and the cache writer but failed the Hub
  // client; "-org/x" passed the Hub client but failed the lock.
  for (const char* id : {"org/name.git", "-org/x"}) {
    CAPTURE(id);
    CHECK_THROWS_AS(parse_lockfile(lock_with_repo(id)), Error);
    CHECK_THROWS_AS(check_repo_id(id, "cache writer"), Error);
    CHECK_FALSE(is_valid_repo_id(id));
  }
  CHECK(parse_lockfile(lock_with_repo("org/name")).kernels.at(0).repo_id == "org/name");
  CHECK_NOTHROW(check_repo_id("org/name", "cache writer"));
}

TEST_CASE("commit sha and blob digest: lower hex of the right length") {
  const std::string sha(40, 'a'), sha256(64, '0');
  CHECK(is_lower_hex("0123456789abcdef"));
  CHECK_FALSE(is_lower_hex(""));
  CHECK_FALSE(is_lower_hex("ABC"));
  CHECK_FALSE(is_lower_hex("g"));
  CHECK(is_commit_sha(sha));
  CHECK(CommitSha::parse(sha, "t").str() == sha);
  for (const std::string& bad : {std::string(39, 'a'), std::string(41, 'a'), std::string(40, 'A'), std::string(40, 'g'),
                                std::string(64, 'a'), std::string()}) {
    CAPTURE(bad);
    CHECK_FALSE(is_commit_sha(bad));
    CHECK_THROWS_AS(CommitSha::parse(bad, "t"), Error);
  }
  CHECK(error_text([] { (void)CommitSha::parse("main", "ref main"); }) ==
        "ref main: expected a 40-hex commit sha, got 'main'");

  CHECK(BlobDigest::parse(sha, "t").kind() == DigestKind::git_sha1);
  CHECK(BlobDigest::parse(sha256, "t").kind() == DigestKind::lfs_sha256);
  CHECK(is_blob_digest(sha));
  CHECK(is_blob_digest(sha256));
  for (const std::string& bad : {std::string(63, 'a'), std::string(65, 'a'), std::string(64, 'F'), std::string(50, 'a')}) {
    CAPTURE(bad);
    CHECK_FALSE(is_blob_digest(bad));
    CHECK_THROWS_AS(BlobDigest::parse(bad, "t"), Error);
  }
  CHECK(BlobDigest::parse(sha256, DigestKind::lfs_sha256, "t").str() == sha256);
  CHECK_THROWS_AS(BlobDigest::parse(sha, DigestKind::lfs_sha256, "t"), Error);
  CHECK_THROWS_AS(BlobDigest::parse(sha256, DigestKind::git_sha1, "t"), Error);
  CHECK(error_text([] { (void)BlobDigest::parse("xyz", "blob"); }) ==
        "blob: expected a 40- or 64-hex digest, got 'xyz'");
}

TEST_CASE("relative path: no traversal, no absolute, no empty component") {
  for (const char* good : {"a.py", "layers/__init__.py", ".sigstore", "a..b", "build/torch-cpu/x.so", "C:x"}) {
    CAPTURE(good);
    CHECK(is_safe_relative_path(good));
    CHECK(relative_path_problem(good) == nullptr);
    CHECK(RelativePath::parse(good, "t").str() == good);
  }
  for (const char* bad : {"", "/abs", "a/../b", "..", ".", "./a", "a//b", "a/", "a\\b", "C:\\x", "../evil"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_safe_relative_path(bad));
    CHECK(relative_path_problem(bad) != nullptr);
    CHECK_THROWS_AS(RelativePath::parse(bad, "t"), Error);
  }
  CHECK_FALSE(is_safe_relative_path(std::string_view("a\0b", 3)));
  CHECK_FALSE(is_safe_relative_path(std::string(4097, 'a')));
  CHECK(is_safe_relative_path(std::string(4096, 'a')));
  CHECK(error_text([] { check_relative_path("build/../../etc", "tree entry"); }) ==
        "tree entry: unsafe path 'build/../../etc': '.' or '..' component (path traversal)");
}
