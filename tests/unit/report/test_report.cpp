// Lock reports (report/): the kernel-depends tree, why a kernel is locked, the
// difference of two locks, and outdated rows against a repo's refs; and the one
// reader of kernel-depends edges (core/lock_graph.hpp).
#include <doctest/doctest.h>

#include <string>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/lock_graph.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/requirements.hpp"
#include "kernel_lock/report/diff.hpp"
#include "kernel_lock/report/labels.hpp"
#include "kernel_lock/report/outdated.hpp"
#include "kernel_lock/report/tree.hpp"

using namespace kernel_lock;
using namespace kernel_lock::report;

namespace {

std::string sha(char c) { return std::string(40, c); }
std::string hash(char c) { return "sha256-" + std::string(64, c); }

LockedKernel kernel(const std::string& repo, char c, std::optional<std::string> required_by = {},
                    std::optional<std::uint64_t> version = 1) {
  LockedKernel k;
  k.repo_id = repo;
  k.sha = sha(c);
  k.variants["torch-cpu"] = LockedVariant{hash(c), "git_lfs_concat", {}, {}};
  LockedRequirement r;
  r.version = version;
  r.required_by = std::move(required_by);
  k.requirement = r;
  return k;
}

// top -> mid -> leaf, other -> leaf? (one required-by each): top -> mid -> leaf, plus other alone.
Lockfile graph_lock() {
  Lockfile lock;
  lock.kernels = {kernel("org/top", 'a'), kernel("org/mid", 'b', "org/top"), kernel("org/leaf", 'c', "org/mid"),
                  kernel("org/other", 'd')};
  return lock;
}

GitRef ref(const std::string& name, char c) { return GitRef{name, sha(c)}; }

}  // namespace

TEST_CASE("lock_graph: dependencies and dependents come from required-by") {
  const auto lock = graph_lock();
  const auto top_deps = lock_dependencies(lock, *lock.find("org/top"));
  REQUIRE(top_deps.size() == 1);
  CHECK(top_deps[0]->repo_id == "org/mid");
  CHECK(lock_dependencies(lock, *lock.find("org/leaf")).empty());
  const auto leaf_dependents = lock_dependents(lock, *lock.find("org/leaf"));
  REQUIRE(leaf_dependents.size() == 1);
  CHECK(leaf_dependents[0]->repo_id == "org/mid");
  CHECK(is_top_level(*lock.find("org/other")));
  CHECK_FALSE(is_top_level(*lock.find("org/mid")));
}

TEST_CASE("tree: roots are the top-level kernels, sorted, with their kernel-depends below") {
  const auto roots = lock_tree(graph_lock());
  REQUIRE(roots.size() == 2);
  CHECK(roots[0].repo_id == "org/other");
  CHECK(roots[1].repo_id == "org/top");
  CHECK(roots[1].version == "v1");
  REQUIRE(roots[1].children.size() == 1);
  CHECK(roots[1].children[0].repo_id == "org/mid");
  REQUIRE(roots[1].children[0].children.size() == 1);
  CHECK(roots[1].children[0].children[0].repo_id == "org/leaf");
  CHECK(roots[1].variants.empty());  // variants only when asked for

  const auto shallow = lock_tree(graph_lock(), TreeOptions{1, true});
  REQUIRE(shallow[1].children.size() == 1);
  CHECK(shallow[1].children[0].children.empty());  // --depth 1
  CHECK(shallow[1].variants == std::vector<std::string>{"torch-cpu"});
}

TEST_CASE("tree: a cycle in a hand-edited lock ends as a repeated node") {
  Lockfile lock;
  lock.kernels = {kernel("org/root", 'a'), kernel("org/x", 'b', "org/y"), kernel("org/y", 'c', "org/x")};
  auto roots = lock_tree(lock);
  REQUIRE(roots.size() == 1);  // x and y both have a dependent: neither is a root
  CHECK(roots[0].children.empty());
  const auto why = why_kernel(lock, "org/x");
  REQUIRE(why.children.size() == 1);
  REQUIRE(why.children[0].children.size() == 1);
  CHECK(why.children[0].children[0].repeated);
}

TEST_CASE("why: the inverted path up to the top-level requirement") {
  const auto lock = graph_lock();
  const auto why = why_kernel(lock, "org/leaf");
  CHECK(why.repo_id == "org/leaf");
  CHECK_FALSE(why.requirement);
  REQUIRE(why.children.size() == 1);
  const auto& top = why.children[0].children.at(0);
  CHECK(top.repo_id == "org/top");
  REQUIRE(top.requirement);
  CHECK(describe_requirement(*top.requirement) == "version 1");
  CHECK(top.requirement_source == "kernel.lock");
}

TEST_CASE("why: a lock without requirement records falls back to the requirements file") {
  Lockfile lock;
  lock.kernels = {kernel("org/top", 'a')};
  lock.kernels[0].requirement.reset();
  Requirements reqs;
  reqs.source = "proj/kernels.yaml";
  KernelRequirement wanted;
  wanted.repo_id = "org/top";
  wanted.revision = "main";
  reqs.kernels.push_back(wanted);
  CHECK_FALSE(why_kernel(lock, "org/top").requirement);
  const auto why = why_kernel(lock, "org/top", "kernel.lock", &reqs);
  REQUIRE(why.requirement);
  CHECK(describe_requirement(*why.requirement) == "revision main");
  CHECK(why.requirement_source == "proj/kernels.yaml");
}

TEST_CASE("why: a repo that is not locked is not_found, listing the locked repos") {
  try {
    why_kernel(graph_lock(), "org/nope", "proj/kernel.lock");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    const std::string what = e.what();
    CHECK(what.find("org/nope is not in proj/kernel.lock") != std::string::npos);
    CHECK(what.find("org/leaf, org/mid, org/other, org/top") != std::string::npos);
  }
}

TEST_CASE("diff: added, removed and changed kernels, variants and signers") {
  const auto old_lock = graph_lock();
  auto new_lock = graph_lock();
  new_lock.kernels.erase(new_lock.kernels.begin() + 3);  // other removed
  new_lock.kernels.push_back(kernel("org/new", 'e'));
  auto& top = *new_lock.find("org/top");
  top.sha = sha('f');
  top.variants["torch-cpu"].hash = hash('f');
  top.variants["torch-cuda"] = LockedVariant{hash('g'), "git_lfs_concat", {}, {}};
  auto& mid = *new_lock.find("org/mid");
  mid.variants["torch-cpu"].signature = LockedSignature{"issuer", "repo", "uri", 1, "t"};

  const auto d = diff_locks(old_lock, new_lock);
  REQUIRE(d.kernels.size() == 4);
  CHECK(d.kernels[0].repo_id == "org/mid");
  CHECK(d.kernels[0].change == Change::changed);
  REQUIRE(d.kernels[0].variants.size() == 1);
  CHECK(d.kernels[0].variants[0].signer_changed);
  CHECK_FALSE(d.kernels[0].variants[0].hash_changed);
  CHECK(d.kernels[1].repo_id == "org/new");
  CHECK(d.kernels[1].change == Change::added);
  CHECK(d.kernels[2].repo_id == "org/other");
  CHECK(d.kernels[2].change == Change::removed);
  CHECK(d.kernels[3].repo_id == "org/top");
  CHECK(d.kernels[3].old_sha == sha('a'));
  CHECK(d.kernels[3].new_sha == sha('f'));
  REQUIRE(d.kernels[3].variants.size() == 2);
  CHECK(d.kernels[3].variants[0].hash_changed);
  CHECK(d.kernels[3].variants[1].change == Change::added);
  CHECK(diff_locks(old_lock, old_lock).empty());
}

TEST_CASE("diff: a new Rekor entry of the same signer is no change; another signer is") {
  auto a = graph_lock();
  a.kernels[0].variants["torch-cpu"].signature = LockedSignature{"issuer", "repo", "uri", 1, "t1"};
  auto b = a;
  b.kernels[0].variants["torch-cpu"].signature->log_index = 2;
  CHECK(diff_locks(a, b).empty());
  b.kernels[0].variants["torch-cpu"].signature->build_signer_uri = "other";
  CHECK(diff_locks(a, b).kernels.at(0).variants.at(0).signer_changed);
}

TEST_CASE("outdated: a version requirement against its branch and newer branches") {
  const auto k = kernel("org/top", 'a');
  RepoRefs refs{{ref("main", 'z'), ref("v1", 'a'), ref("v2", 'b'), ref("v10", 'c')}, {}};
  auto row = outdated_row(k, refs);
  CHECK(row.version == "v1");
  CHECK(row.wanted == "v1");
  CHECK(row.wanted_commit == sha('a'));
  CHECK(row.latest == "v10");  // numeric, not string, order
  CHECK(row.outdated());
  refs.branches = {ref("v1", 'b')};  // v1 moved on
  row = outdated_row(k, refs);
  CHECK(row.wanted_commit == sha('b'));
  CHECK(row.outdated());
  refs.branches = {ref("v1", 'a')};
  CHECK_FALSE(outdated_row(k, refs).outdated());
}

TEST_CASE("outdated: a tag range: wanted inside the range, latest over all tags") {
  auto k = kernel("org/top", 'a', {}, std::nullopt);
  k.requirement->tags = ">=0.1,<0.2";
  RepoRefs refs{{ref("main", 'z')}, {ref("v0.1.0", 'a'), ref("v0.1.3", 'b'), ref("v0.2.0", 'c'), ref("nightly", 'd')}};
  const auto row = outdated_row(k, refs);
  CHECK(row.version == "v0.1.0");
  CHECK(row.wanted == "v0.1.3");
  CHECK(row.latest == "v0.2.0");
  CHECK(row.latest_commit == sha('c'));
  CHECK(row.outdated());
}

TEST_CASE("outdated: a revision, and a kernel without requirement") {
  auto k = kernel("org/top", 'a', {}, std::nullopt);
  k.requirement->revision = "main";
  const RepoRefs refs{{ref("main", 'a')}, {ref("v1.0.0", 'a')}};
  auto row = outdated_row(k, refs);
  CHECK(row.version == "main");
  CHECK(row.wanted == "main");
  CHECK(row.latest == "v1.0.0");  // no v<N> branches: the tags
  CHECK_FALSE(row.outdated());
  k.requirement.reset();
  row = outdated_row(k, RepoRefs{});
  CHECK(row.version == "aaaaaaa");
  CHECK(row.wanted.empty());
  CHECK_FALSE(row.outdated());
}
