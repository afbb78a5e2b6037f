// The resolver over an HF cache (CacheSource, source.hpp): no HTTP server.
#include <doctest/doctest.h>
#include "../temp_dir.hpp"

#include <map>
#include <string>

#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/resolve/resolve.hpp"

using namespace kernel_lock;
namespace fs = std::filesystem;

namespace {

const std::string kSha1 = std::string(39, '1') + "a";
const std::string kSha2 = std::string(39, '2') + "b";
const std::string kCu = "torch211-cxx11-cu130-x86_64-linux";

// Writes `files` (repo path -> content; ".so" files are LFS) as the snapshot
// of `sha`, one snapshot directory per build/<variant>.
void put_snapshot(const fs::path& cache, const std::string& repo_id, const std::string& sha,
                  const std::map<std::string, std::string>& files) {
  CacheWriter writer(cache);
  const std::string folder = cache_repo_folder("kernel", repo_id);
  std::map<std::string, std::vector<SnapshotFile>> by_dir;
  for (const auto& [path, content] : files) {
    const bool lfs = path.ends_with(".so");
    const std::string digest = lfs ? sha256_hex(content) : git_blob_sha1_hex(content);
    const fs::path staged = writer.staging_dir() / digest;
    fs::create_directories(staged.parent_path());
    write_file_atomic(staged, content);
    writer.commit_blob(folder, digest, staged);
    const auto second_slash = path.find('/', 6);
    by_dir[path.substr(0, second_slash)].push_back({path, digest});
  }
  for (const auto& [dir, snapshot] : by_dir) writer.install_snapshot_dir(folder, sha, dir, snapshot);
}

struct CacheFixture {
  kltest::TempDir tmp;
  fs::path cache = tmp.path() / "hub";
  CacheFixture() {
    put_snapshot(cache, "org/a", kSha1, {{"build/torch-cpu/__init__.py", "v1\n"}});
    put_snapshot(cache, "org/a", kSha2,
                 {{"build/torch-cpu/__init__.py", "v2\n"},
                  {"build/" + kCu + "/__init__.py", "cu130\n"},
                  {"build/" + kCu + "/_k_cuda_abc1234.abi3.so", std::string(3000, 'c')},
                  {"build/" + kCu + "/__pycache__/x.cpython-311.pyc", "pyc"}});
    CacheWriter writer(cache);
    const std::string folder = cache_repo_folder("kernel", "org/a");
    writer.write_ref(folder, "main", kSha2);
    writer.write_ref(folder, "v1", kSha1);
    writer.write_ref(folder, "v2", kSha2);
    writer.write_ref(folder, "v0.1.0", kSha1);
  }
};

Requirements reqs(std::vector<KernelRequirement> ks) {
  Requirements r;
  r.source = "kernels.yaml";
  r.kernels = std::move(ks);
  return r;
}

KernelRequirement req(const std::string& id) {
  KernelRequirement r;
  r.repo_id = id;
  return r;
}

}  // namespace

TEST_CASE("resolve from an HF cache: versions, tags, revisions, hashes; no request") {
  CacheFixture f;
  CacheSource source(f.cache);
  KernelRequirement latest = req("org/a");
  Resolver resolver(source, {});
  auto result = resolver.resolve(reqs({latest}));
  REQUIRE(result.lock.kernels.size() == 1);
  const auto& a = result.lock.kernels[0];
  CHECK(a.sha == kSha2);
  CHECK(result.report.kernels[0].resolved_from == "branch v2 (latest)");
  REQUIRE(a.variants.size() == 2);
  const auto& cu = a.variants.at(kCu);
  REQUIRE(cu.files.size() == 2);  // the .pyc is not locked
  CHECK(cu.files[1] == LockedFile{"_k_cuda_abc1234.abi3.so", 3000, sha256_hex(std::string(3000, 'c')), DigestKind::lfs_sha256});
  CHECK(cu.hash == git_lfs_concat_hash({{"__init__.py", git_blob_sha1_hex("cu130\n")},
                                        {"_k_cuda_abc1234.abi3.so", sha256_hex(std::string(3000, 'c'))}}));
  CHECK(result.report.stats.requests == 0);

  KernelRequirement tag = req("org/a");
  tag.tag_range = TagRange::parse(">=0.1.0,<0.2.0");
  auto by_tag = Resolver(source, {}).resolve(reqs({tag}));
  CHECK(by_tag.lock.kernels[0].sha == kSha1);
  CHECK(by_tag.report.kernels[0].resolved_from == "tag v0.1.0");

  KernelRequirement rev = req("org/a");
  rev.revision = kSha1.substr(0, 7);
  auto by_rev = Resolver(source, {}).resolve(reqs({rev}));
  CHECK(by_rev.lock.kernels[0].sha == kSha1);
  CHECK(by_rev.lock.kernels[0].variants.at("torch-cpu").files[0].digest == git_blob_sha1_hex("v1\n"));
}

TEST_CASE("resolve from an HF cache: missing repos and revisions are not_found") {
  CacheFixture f;
  CacheSource source(f.cache);
  CHECK_THROWS_WITH_AS(Resolver(source, {}).resolve(reqs({req("org/none")})), doctest::Contains("not in the cache"),
                       Error);
  KernelRequirement v9 = req("org/a");
  v9.version = 9;
  try {
    Resolver(source, {}).resolve(reqs({v9}));
    FAIL("expected not_found");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(std::string(e.what()).find("available versions: 1, 2") != std::string::npos);
  }
  KernelRequirement rev = req("org/a");
  rev.revision = "no-such-branch";
  CHECK_THROWS_AS(Resolver(source, {}).resolve(reqs({rev})), Error);
}

TEST_CASE("resolve from an HF cache with --verify-content reads and checks every locked file") {
  CacheFixture f;
  CacheSource source(f.cache);
  ResolveOptions options;
  options.verify_content = true;
  options.scratch_dir = f.tmp.path();
  CHECK(Resolver(source, options).resolve(reqs({req("org/a")})).lock.kernels.size() == 1);
  // Alter one cached blob (same size): the check names it.
  const fs::path blob = cache_repo_paths(f.cache, "kernel", "org/a").blob(git_blob_sha1_hex("cu130\n"));
  fs::remove(blob);
  write_file_atomic(blob, "cu131\n");
  try {
    Resolver(source, options).resolve(reqs({req("org/a")}));
    FAIL("expected integrity");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::integrity);
    CHECK(std::string(e.what()).find("build/" + kCu + "/__init__.py") != std::string::npos);
  }
}

TEST_CASE("CacheSource lists refs: v<N> as branches, dotted names as tags too") {
  CacheFixture f;
  CacheSource source(f.cache);
  auto refs = source.list_refs({RefsQuery{RepoRef{"org/a", RepoType::kernel}, false}});
  REQUIRE(refs.size() == 1);
  std::vector<std::string> branches, tags;
  for (const auto& b : refs[0].refs.branches) branches.push_back(b.name);
  for (const auto& t : refs[0].refs.tags) tags.push_back(t.name);
  CHECK(branches == std::vector<std::string>{"main", "v0.1.0", "v1", "v2"});
  CHECK(tags == std::vector<std::string>{"v0.1.0"});
}
