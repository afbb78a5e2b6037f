// complete_lock / fetch_locked_files (lock_fetch.hpp) and HubFetcher, against
// the product's Hub server over a fixture Hub on a loopback port.
#include <doctest/doctest.h>
#include "../temp_dir.hpp"

#include <filesystem>
#include <string>

#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/hub/hub_fetcher.hpp"
#include "kernel_lock/hub/lock_fetch.hpp"
#include "kernel_lock/mirror/hub_server.hpp"
#include "kernel_lock/testing/fixture_hub.hpp"

using namespace kernel_lock;
namespace fs = std::filesystem;

namespace {

const RepoRef kA{"kernels-test/a", RepoType::kernel};
const RepoRef kB{"kernels-test/b", RepoType::kernel};
const std::string kCu = "torch211-cxx11-cu130-x86_64-linux";
const std::string kB210 = "torch210-cxx11-cpu-x86_64-linux";

void put(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  write_file_atomic(path, content);
}

struct HubFixture {
  kltest::TempDir tmp;
  std::string sha_a, sha_b;
  std::unique_ptr<HubServer> server;
  fs::path cache = tmp.path() / "cache";

  HubFixture() {
    put(tmp.path() / "a/torch-cpu/__init__.py", "A = 1\n");
    put(tmp.path() / "a/torch-cpu/sub/_ops.so", std::string(4000, 's'));
    put(tmp.path() / ("a/" + kCu + "/__init__.py"), "CU = 1\n");
    put(tmp.path() / ("b/" + kB210 + "/__init__.py"), "B = 1\n");
    auto hub = FixtureHub::open_or_create(tmp.path() / "hub");
    PublishOptions o;
    o.repo = kA;
    o.under = "build";
    sha_a = hub.publish(o, tmp.path() / "a").sha;
    o.repo = kB;
    sha_b = hub.publish(o, tmp.path() / "b").sha;
    server = std::make_unique<HubServer>(hub.store(), HubServerOptions{});
    server->start();
  }
  HubConfig config() const {
    HubConfig c;
    c.endpoint = server->url();
    c.max_attempts = 1;
    return c;
  }
  std::string hash_of(const std::vector<std::pair<std::string, std::string>>& files) const {
    std::vector<VariantFileDigest> d;
    for (const auto& [path, content] : files)
      d.push_back({path, path.ends_with(".so") ? sha256_hex(content) : git_blob_sha1_hex(content)});
    return git_lfs_concat_hash(d);
  }
  // A lock as Python writes it: A with hashes only, B pinned without variants.
  Lockfile python_lock() const {
    Lockfile lock;
    LockedKernel a;
    a.repo_id = kA.repo_id;
    a.sha = sha_a;
    a.variants["torch-cpu"].hash = hash_of({{"__init__.py", "A = 1\n"}, {"sub/_ops.so", std::string(4000, 's')}});
    a.variants[kCu].hash = hash_of({{"__init__.py", "CU = 1\n"}});
    LockedKernel b;
    b.repo_id = kB.repo_id;
    b.sha = sha_b;
    lock.kernels = {a, b};
    return lock;
  }
};

}  // namespace

TEST_CASE("complete_lock fills per-file records from one batched tree request") {
  HubFixture f;
  HubClient client(f.config());
  Lockfile lock = f.python_lock();
  CHECK(complete_lock(lock, client, {}) == 2);
  CHECK(client.stats().requests == 2);  // one listing per kernel, in one batch
  const auto& cpu = lock.kernels[0].variants.at("torch-cpu");
  REQUIRE(cpu.files.size() == 2);
  CHECK(cpu.files[1] == LockedFile{"sub/_ops.so", 4000, sha256_hex(std::string(4000, 's')), DigestKind::lfs_sha256});
  CHECK(lock.kernels[0].variants.at(kCu).files.size() == 1);
  REQUIRE(lock.kernels[1].variants.size() == 1);  // B: every variant at its commit
  CHECK(lock.kernels[1].variants.at(kB210).hash == f.hash_of({{"__init__.py", "B = 1\n"}}));
  // Complete already: no request.
  CHECK(complete_lock(lock, client, {}) == 0);
  CHECK(client.stats().requests == 2);
}

TEST_CASE("complete_lock refuses a tree that does not hash to the locked hash") {
  HubFixture f;
  HubClient client(f.config());
  Lockfile lock = f.python_lock();
  lock.kernels[0].variants.at(kCu).hash = f.hash_of({{"__init__.py", "CU = 2\n"}});
  try {
    complete_lock(lock, client, {});
    FAIL("expected integrity");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::integrity);
    CHECK(std::string(e.what()).find(kCu) != std::string::npos);
  }
  Lockfile missing = f.python_lock();
  missing.kernels[0].variants["torch-none"].hash = f.hash_of({{"x.py", "x"}});
  CHECK_THROWS_AS(complete_lock(missing, client, {}), Error);
}

TEST_CASE("complete_lock applies the filter to kernels locked without variants") {
  HubFixture f;
  HubClient client(f.config());
  Lockfile lock = f.python_lock();
  lock.kernels.erase(lock.kernels.begin());
  VariantFilter torch211;
  torch211.torch = {"2.11"};
  complete_lock(lock, client, torch211);
  CHECK(lock.kernels[0].variants.empty());  // B builds for torch 2.10 only
}

TEST_CASE("fetch_locked_files downloads what the cache lacks, verified, once") {
  HubFixture f;
  HubClient client(f.config());
  Lockfile lock = f.python_lock();
  CHECK_THROWS_AS(fetch_locked_files(lock, f.cache, {}, client), Error);  // no records yet
  complete_lock(lock, client, {});
  VariantFilter torch211;
  torch211.torch = {"2.11"};
  auto s = fetch_locked_files(lock, f.cache, torch211, client);
  CHECK(s.variants == 2);  // A's variants; B builds for torch 2.10 only
  CHECK(s.downloaded == 3);
  CHECK_FALSE(fs::exists(cache_repo_paths(f.cache, "kernel", kB.repo_id).snapshot(f.sha_b)));
  s = fetch_locked_files(lock, f.cache, {}, client);
  CHECK(s.variants == 3);
  CHECK(s.present == 3);
  CHECK(s.downloaded == 1);
  const auto a = cache_repo_paths(f.cache, "kernel", kA.repo_id);
  CHECK(read_file(a.snapshot(f.sha_a) / "build/torch-cpu/sub/_ops.so") == std::string(4000, 's'));
  CHECK(fs::is_symlink(a.snapshot(f.sha_a) / "build/torch-cpu/__init__.py"));
  // A damaged blob is fetched again; intact ones are kept.
  const fs::path blob = a.blob(git_blob_sha1_hex("A = 1\n"));
  fs::remove(blob);
  write_file_atomic(blob, "A = 2\n");
  s = fetch_locked_files(lock, f.cache, {}, client);
  CHECK(s.downloaded == 1);
  CHECK(s.present == 3);
  CHECK(read_file(a.snapshot(f.sha_a) / "build/torch-cpu/__init__.py") == "A = 1\n");
}

TEST_CASE("HubFetcher completes a Python lock's variant and checks its hash") {
  HubFixture f;
  const Lockfile lock = f.python_lock();
  HubFetcher fetcher(f.config());
  FetchRequest r{kA.repo_id, "kernel", f.sha_a, "torch-cpu", &lock.kernels[0].variants.at("torch-cpu"), f.cache};
  fetcher.fetch(r);
  const auto a = cache_repo_paths(f.cache, "kernel", kA.repo_id);
  CHECK(read_file(a.snapshot(f.sha_a) / "build/torch-cpu/__init__.py") == "A = 1\n");
  LockedVariant wrong;
  wrong.hash = f.hash_of({{"__init__.py", "other\n"}});
  r.variant = kCu;
  r.locked = &wrong;
  try {
    fetcher.fetch(r);
    FAIL("expected integrity");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::integrity);
  }
  CHECK_FALSE(fs::exists(a.snapshot(f.sha_a) / "build" / kCu));  // nothing installed
}
