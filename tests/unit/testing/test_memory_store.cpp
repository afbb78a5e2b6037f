// MemoryStore (memory_store.hpp) and the fault interceptor's checks (faults.hpp).
// The faults themselves are exercised over HTTP in tests/unit/mirror.
#include <doctest/doctest.h>

#include <span>
#include <string>
#include <vector>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/testing/faults.hpp"
#include "kernel_lock/testing/memory_store.hpp"

using namespace kernel_lock;

namespace {
const std::string kSha = std::string(39, 'a') + "1";
const RepoRef kKernel{"org/k", RepoType::kernel};

std::string read_all(BlobReader& blob) {
  std::string out(blob.size(), '\0');
  CHECK(blob.read_at(0, std::span<char>(out.data(), out.size())) == out.size());
  return out;
}
}  // namespace

TEST_CASE("MemoryStore serves repos, refs, trees and blobs from memory") {
  MemoryStore store;
  store.edit("org/k", [](MemoryRepo& r) {
    r.branches = {{"main", kSha}};
    r.tags = {{"v1", kSha}};
    r.commits[kSha] = {{"build/torch-cpu/__init__.py", {"x\n", false}}, {"build/torch-cpu/_ops.so", {"binary", true}}};
  });
  store.edit("org/m", [](MemoryRepo& r) { r.type = RepoType::model; });

  auto repos = store.list_repos();
  REQUIRE(repos.size() == 2);
  CHECK(repos[0].ref.repo_id == "org/k");
  CHECK(repos[1].ref.type == RepoType::model);
  CHECK_FALSE(store.find_repo(RepoRef{"org/k", RepoType::model}));
  CHECK(store.refs(kKernel).tags.at(0).name == "v1");
  CHECK(store.resolve(kKernel, "main") == kSha);
  CHECK(store.resolve(kKernel, kSha.substr(0, 7)) == kSha);
  CHECK_FALSE(store.resolve(kKernel, "nope"));

  auto commit = store.commit(kKernel, kSha);
  const TreeEntry* so = commit->find("build/torch-cpu/_ops.so");
  REQUIRE(so);
  CHECK(so->digest() == sha256_hex("binary"));
  CHECK(so->oid == git_blob_sha1_hex(lfs_pointer_text(sha256_hex("binary"), 6)));
  const TreeEntry* dir = commit->find("build/torch-cpu");
  REQUIRE(dir);
  CHECK(dir->is_directory);
  CHECK(commit->tree_oid.size() == 40);

  auto blob = store.open(kKernel, git_blob_sha1_hex("x\n"));
  CHECK(read_all(*blob) == "x\n");
  CHECK(memory_file_digest(MemoryFile{"binary", true}) == sha256_hex("binary"));

  // Edits show up in later reads.
  store.edit("org/k", [](MemoryRepo& r) { r.branches["main"] = std::string(40, 'b'); });
  CHECK(store.refs(kKernel).branches.at(0).target_commit == std::string(40, 'b'));

  auto code_of = [](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::generic;
  };
  CHECK(code_of([&] { store.refs(RepoRef{"org/none", RepoType::kernel}); }) == ErrorCode::not_found);
  CHECK(code_of([&] { store.commit(kKernel, std::string(40, 'c')); }) == ErrorCode::not_found);
  CHECK(code_of([&] { store.open(kKernel, sha256_hex("other")); }) == ErrorCode::not_found);
  CHECK(code_of([&] { store.repo("org/none"); }) == ErrorCode::not_found);
}

TEST_CASE("fault options are checked when the interceptor is made") {
  auto code_of = [](const FaultOptions& f) {
    try {
      make_fault_interceptor(f);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::generic;
  };
  FaultOptions too_high;
  too_high.rate_429 = 1.5;
  CHECK(code_of(too_high) == ErrorCode::usage);
  FaultOptions too_many;
  too_many.rate_429 = 0.6;
  too_many.rate_5xx = 0.6;
  CHECK(code_of(too_many) == ErrorCode::usage);
  FaultOptions bad_regex;
  bad_regex.match = "(";
  CHECK(code_of(bad_regex) == ErrorCode::usage);
  FaultOptions fine;
  fine.rate_reset = 0.5;
  fine.rate_truncate = 0.5;
  CHECK_NOTHROW(make_fault_interceptor(fine));
}
