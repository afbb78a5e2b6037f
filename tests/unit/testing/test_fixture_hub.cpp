// Fixture Hub publishing and FixtureHubStore (fixture_hub.hpp, repo_store.hpp).
// Expected ids were computed with git itself (git write-tree / commit-tree with
// author and committer "kernel-lock <kernel-lock@localhost>" at the given date).
#include <doctest/doctest.h>
#include "../temp_dir.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/testing/fixture_hub.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/mirror/repo_store.hpp"

namespace fs = std::filesystem;
using namespace kernel_lock;

namespace {

using kltest::TempDir;

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

const std::string kSoContent = std::string("\x7f") + "ELF-fake-so";

// README.md "Hello, World!", build/torch-cpu/x.py, build/torch-cpu/_x.so (LFS by default).
void make_source(const fs::path& dir) {
  write(dir / "README.md", "Hello, World!");
  write(dir / "build/torch-cpu/x.py", "x = 1\n");
  write(dir / "build/torch-cpu/_x.so", kSoContent);
}

std::string read_all(BlobReader& reader) {
  std::string out(reader.size(), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    std::size_t n = reader.read_at(done, std::span<char>(out.data() + done, out.size() - done));
    REQUIRE(n > 0);
    done += n;
  }
  return out;
}

const RepoRef kRepo{"kernels-test/demo", RepoType::kernel};

}  // namespace

TEST_CASE("lfs pointer text and size follow the git-lfs spec") {
  CHECK(lfs_pointer_size(123456789) == 134);  // the Hub's typical pointerSize for 9-digit sizes
  std::string sha(64, 'a');
  CHECK(lfs_pointer_text(sha, 12) == "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha + "\nsize 12\n");
  CHECK(lfs_pointer_size(12) == lfs_pointer_text(sha, 12).size());
}

TEST_CASE("publish produces real git tree and commit ids, LFS entries and stored objects") {
  TempDir tmp;
  make_source(tmp.path() / "src");
  auto hub = FixtureHub::open_or_create(tmp.path() / "hub");
  PublishOptions opts;
  opts.repo = kRepo;
  opts.message = "First commit";
  auto result = hub.publish(opts, tmp.path() / "src");
  CHECK(result.tree == "44364e16de55113ee0a2512912186be35ca21c49");
  CHECK(result.sha == "f320a12251cbdee04a6589ec61af3a0be896349d");
  CHECK(result.files == 3);
  CHECK(result.lfs_files == 1);

  auto store = hub.store();
  REQUIRE(store->resolve(kRepo, "main") == result.sha);
  auto commit = store->commit(kRepo, result.sha);
  CHECK(commit->parents.empty());
  CHECK(commit->date == "1970-01-01T00:00:00.000Z");
  CHECK(commit->tree_oid == result.tree);

  const TreeEntry* readme = commit->find("README.md");
  REQUIRE(readme != nullptr);
  CHECK(readme->oid == "b45ef6fec89518d314f546fd6c3025367b721684");
  CHECK_FALSE(readme->lfs_sha256.has_value());
  CHECK(readme->size == 13);

  const TreeEntry* so = commit->find("build/torch-cpu/_x.so");
  REQUIRE(so != nullptr);
  REQUIRE(so->lfs_sha256.has_value());
  CHECK(*so->lfs_sha256 == "e002e3b34a44eecbd4c09b4d03084d4951f6b05c9304becb7be2688d2e3b00d6");
  CHECK(so->oid == "53ce39420d660195ac33922a264c3a78914b7c66");  // blob id of the pointer text
  CHECK(so->size == kSoContent.size());

  const TreeEntry* build = commit->find("build");
  REQUIRE(build != nullptr);
  CHECK(build->is_directory);
  CHECK(build->oid == "12d702eae7f210074341aebc22862836ab3870a1");
  CHECK(commit->find("build/torch-cpu")->oid == "3ae92dc7c72f142eea14064a2adf5ed8aac517f4");

  // Objects are named by the Hub digest and hold the content.
  auto so_blob = store->open(kRepo, so->digest());
  CHECK(read_all(*so_blob) == kSoContent);
  CHECK(fs::exists(tmp.path() / "hub/objects" / *so->lfs_sha256));
  auto readme_blob = store->open(kRepo, readme->digest());
  CHECK(read_all(*readme_blob) == "Hello, World!");
  // Ranged reads.
  char buf[5];
  CHECK(readme_blob->read_at(7, std::span<char>(buf, 5)) == 5);
  CHECK(std::string(buf, 5) == "World");
  CHECK(readme_blob->read_at(13, std::span<char>(buf, 5)) == 0);
  CHECK_THROWS_AS(store->open(kRepo, std::string(40, '0')), Error);
}

TEST_CASE("the same inputs give the same Hub; dates and parents change commit ids") {
  TempDir tmp;
  make_source(tmp.path() / "src");
  PublishOptions opts;
  opts.repo = kRepo;
  opts.message = "First commit";
  auto a = FixtureHub::open_or_create(tmp.path() / "a").publish(opts, tmp.path() / "src");
  auto b = FixtureHub::open_or_create(tmp.path() / "b").publish(opts, tmp.path() / "src");
  CHECK(a.sha == b.sha);

  auto hub = FixtureHub::open(tmp.path() / "a");
  opts.message = "Second";
  opts.date = 86400;
  auto second = hub.publish(opts, tmp.path() / "src");
  CHECK(second.sha == "0df7164cc00bb0f101aa83f888c3f62a31f532ff");  // git commit-tree -p <first>
  auto commit = hub.store()->commit(kRepo, second.sha);
  REQUIRE(commit->parents.size() == 1);
  CHECK(commit->parents[0] == a.sha);
  CHECK(commit->date == "1970-01-02T00:00:00.000Z");
  CHECK(fixture_commit_sha(second.tree, {a.sha}, "Second\n", 86400) == second.sha);
}

TEST_CASE("publish --under replaces one directory and keeps the rest; branches start from main or --from") {
  TempDir tmp;
  make_source(tmp.path() / "src");
  write(tmp.path() / "v2/torch-cuda/y.py", "y = 2\n");
  auto hub = FixtureHub::open_or_create(tmp.path() / "hub");
  PublishOptions opts;
  opts.repo = kRepo;
  auto main = hub.publish(opts, tmp.path() / "src");

  PublishOptions v2;
  v2.repo = kRepo;
  v2.branch = "v2";
  v2.under = "build";
  v2.tags = {"v2.0.0"};
  auto r = hub.publish(v2, tmp.path() / "v2");
  auto store = hub.store();
  auto commit = store->commit(kRepo, r.sha);
  REQUIRE(commit->parents.size() == 1);
  CHECK(commit->parents[0] == main.sha);  // new branch started from main
  CHECK(commit->find("README.md") != nullptr);
  CHECK(commit->find("build/torch-cuda/y.py") != nullptr);
  CHECK(commit->find("build/torch-cpu/x.py") == nullptr);  // replaced
  CHECK(store->resolve(kRepo, "v2.0.0") == r.sha);
  CHECK(store->resolve(kRepo, "refs/tags/v2.0.0") == r.sha);
  CHECK(store->resolve(kRepo, "refs/heads/v2") == r.sha);
  CHECK(store->resolve(kRepo, "main") == main.sha);

  // Short and full shas; unknown revisions.
  CHECK(store->resolve(kRepo, r.sha) == r.sha);
  CHECK(store->resolve(kRepo, r.sha.substr(0, 7)) == r.sha);
  CHECK_FALSE(store->resolve(kRepo, r.sha.substr(0, 6)).has_value());  // too short to be a sha
  CHECK_FALSE(store->resolve(kRepo, "v9").has_value());
  CHECK_FALSE(store->resolve(kRepo, std::string(40, 'f')).has_value());

  auto refs = store->refs(kRepo);
  REQUIRE(refs.branches.size() == 2);
  CHECK(refs.branches[0].name == "main");
  CHECK(refs.branches[1].name == "v2");
  REQUIRE(refs.tags.size() == 1);
  CHECK(refs.tags[0].target_commit == r.sha);

  // A tag that exists elsewhere is not moved silently.
  PublishOptions again = v2;
  CHECK_THROWS_AS(hub.publish(again, tmp.path() / "v2"), Error);
  again.force_tags = true;
  auto moved = hub.publish(again, tmp.path() / "v2");
  CHECK(store->resolve(kRepo, "v2.0.0") == moved.sha);
  CHECK(store->commit(kRepo, moved.sha)->parents[0] == r.sha);

  // --from: an orphan-free branch starting at an older commit.
  PublishOptions old = opts;
  old.branch = "v1";
  old.from = main.sha.substr(0, 10);
  auto v1 = hub.publish(old, tmp.path() / "src");
  CHECK(store->commit(kRepo, v1.sha)->parents[0] == main.sha);
  CHECK(v1.tree == main.tree);

  // tag / branch / delete_ref.
  CHECK(hub.tag(kRepo, "first", main.sha) == main.sha);
  CHECK_THROWS_AS(hub.tag(kRepo, "first", r.sha), Error);
  CHECK(hub.tag(kRepo, "first", "v2", true) == moved.sha);
  CHECK(hub.set_branch(kRepo, "dev/next", "main") == main.sha);
  CHECK(store->resolve(kRepo, "dev/next") == main.sha);
  hub.delete_ref(kRepo, "dev/next", false);
  CHECK_FALSE(store->resolve(kRepo, "dev/next").has_value());
  CHECK_THROWS_AS(hub.delete_ref(kRepo, "dev/next", false), Error);
}

TEST_CASE("tree listing: direct children, recursive subtrees, errors") {
  TempDir tmp;
  make_source(tmp.path() / "src");
  auto hub = FixtureHub::open_or_create(tmp.path() / "hub");
  PublishOptions opts;
  opts.repo = kRepo;
  auto r = hub.publish(opts, tmp.path() / "src");
  auto commit = hub.store()->commit(kRepo, r.sha);

  auto root = commit->list("", false);
  REQUIRE(root.size() == 2);
  CHECK(root[0]->path == "README.md");
  CHECK(root[1]->path == "build");
  CHECK(root[1]->is_directory);

  auto all = commit->list("", true);
  CHECK(all.size() == 5);  // 3 files + build + build/torch-cpu

  auto sub = commit->list("build", true);
  REQUIRE(sub.size() == 3);
  CHECK(sub[0]->path == "build/torch-cpu");
  CHECK(sub[1]->path == "build/torch-cpu/_x.so");

  CHECK_THROWS_AS(commit->list("README.md", false), Error);
  CHECK_THROWS_AS(commit->list("nope", true), Error);
  CHECK(commit->find("build/torch") == nullptr);
}

TEST_CASE("publish options: lfs globs, excludes, model repos, invalid input") {
  TempDir tmp;
  make_source(tmp.path() / "src");
  write(tmp.path() / "src/weights/w.bin", std::string(1000, 'w'));
  write(tmp.path() / "src/build/torch-cpu/__pycache__/x.cpython-311.pyc", "junk");
  auto hub = FixtureHub::open_or_create(tmp.path() / "hub");

  PublishOptions opts;
  opts.repo = RepoRef{"kernels-test/model", RepoType::model};
  opts.lfs_globs = {"weights/*.bin"};
  opts.exclude_globs = {"__pycache__"};
  auto r = hub.publish(opts, tmp.path() / "src");
  auto store = hub.store();
  CHECK(store->find_repo(kRepo) == std::nullopt);
  REQUIRE(store->find_repo(opts.repo).has_value());
  auto commit = store->commit(opts.repo, r.sha);
  CHECK(commit->find("weights/w.bin")->lfs_sha256.has_value());
  CHECK_FALSE(commit->find("build/torch-cpu/_x.so")->lfs_sha256.has_value());  // default '*.so' replaced
  CHECK(commit->find("build/torch-cpu/__pycache__") == nullptr);
  CHECK(r.files == 4);

  auto repos = store->list_repos();
  REQUIRE(repos.size() == 1);
  CHECK(repos[0].ref.repo_id == "kernels-test/model");
  CHECK(repos[0].ref.type == RepoType::model);
  CHECK_FALSE(repos[0].gated);

  // The kernel repo of the same name is a different repo.
  CHECK_THROWS_AS(store->refs(kRepo), Error);
  CHECK_THROWS_AS(store->resolve(kRepo, "main"), Error);

  PublishOptions bad;
  bad.repo = RepoRef{"no-org", RepoType::kernel};
  CHECK_THROWS_AS(hub.publish(bad, tmp.path() / "src"), Error);
  bad.repo = RepoRef{"org/a--b", RepoType::kernel};
  CHECK_THROWS_AS(hub.publish(bad, tmp.path() / "src"), Error);
  bad.repo = kRepo;
  bad.branch = "bad name";
  CHECK_THROWS_AS(hub.publish(bad, tmp.path() / "src"), Error);
  bad.branch = "main";
  bad.under = "../escape";
  CHECK_THROWS_AS(hub.publish(bad, tmp.path() / "src"), Error);
  bad.under = "";
  CHECK_THROWS_AS(hub.publish(bad, tmp.path() / "missing"), Error);

  // Gated flag is recorded.
  PublishOptions gated;
  gated.repo = RepoRef{"kernels-test/gated", RepoType::model};
  gated.gated = true;
  hub.publish(gated, tmp.path() / "src");
  CHECK(store->find_repo(gated.repo)->gated);
}

TEST_CASE("a fixture Hub refuses foreign directories and detects tampered commits") {
  TempDir tmp;
  CHECK_THROWS_AS(FixtureHub::open(tmp.path() / "none"), Error);
  write(tmp.path() / "other/file.txt", "x");
  CHECK_THROWS_AS(FixtureHub::open_or_create(tmp.path() / "other"), Error);
  CHECK_THROWS_AS(open_test_store(tmp.path() / "other"), Error);

  make_source(tmp.path() / "src");
  auto hub = FixtureHub::open_or_create(tmp.path() / "hub");
  PublishOptions opts;
  opts.repo = kRepo;
  auto r = hub.publish(opts, tmp.path() / "src");
  CHECK(open_test_store(tmp.path() / "hub")->resolve(kRepo, "main") == r.sha);

  // Editing a file oid in the commit JSON breaks the recorded tree id.
  fs::path commit_file = tmp.path() / "hub/repos/kernel/kernels-test/demo/commits" / (r.sha + ".json");
  std::string text = read_file(commit_file);
  auto pos = text.find("b45ef6fec89518d314f546fd6c3025367b721684");
  REQUIRE(pos != std::string::npos);
  text.replace(pos, 40, std::string(40, '1'));
  write_file_atomic(commit_file, text);
  auto fresh = open_fixture_hub_store(tmp.path() / "hub");
  CHECK_THROWS_AS(fresh->commit(kRepo, r.sha), Error);
}
