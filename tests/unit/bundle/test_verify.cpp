// verify_cache / verify_bundle, and the cache / bundle RepoStores.
#include <doctest/doctest.h>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/bundle/install.hpp"
#include "kernel_lock/mirror/repo_store.hpp"
#include "kernel_lock/bundle/verify.hpp"
#include "test_bundle_support.hpp"

using namespace kernel_lock;
using namespace kltest;

namespace {

const std::string kCpu = "torch211-cxx11-cpu-x86_64-linux";

std::vector<ProblemKind> kinds(const VerifyReport& r) {
  std::vector<ProblemKind> out;
  for (const auto& p : r.problems) out.push_back(p.kind);
  return out;
}

void replace_blob(const fs::path& blob, std::string content) {
  fs::remove(blob);
  spit(blob, content);
}

}  // namespace

TEST_CASE("verify cache: reports each missing, altered and unexpected file") {
  TempDir t;
  for (bool per_file : {true, false}) {
    CAPTURE(per_file);
    const fs::path cache = t / (per_file ? "c1" : "c2");
    auto kernels = sample_kernels();
    auto lock = make_cache(cache, kernels, per_file);
    auto report = verify_cache(lock, cache);
    CHECK(report.ok());
    CHECK(report.variants == 4);
    CHECK(report.files == 15);

    auto repo = cache_repo_paths(cache, "kernel", "kernels-test/gelu");
    const auto snap = repo.snapshot(std::string(40, 'b')) / "build" / kCpu;
    const std::string so = kernels[1].variants[kCpu]["_gelu_cpu_1111111.abi3.so"];

    SUBCASE("one byte altered") {
      std::string bad = so;
      bad[12345] ^= 1;
      replace_blob(repo.blob(sha256_hex(so)), bad);
      report = verify_cache(lock, cache);
      REQUIRE(report.problems.size() == 1);
      CHECK(report.problems[0].kind == ProblemKind::altered_file);
      CHECK(report.problems[0].path == "build/" + kCpu + "/_gelu_cpu_1111111.abi3.so");
      CHECK(report.problems[0].actual.find(sha256_hex(bad)) != std::string::npos);
    }
    SUBCASE("a file missing") {
      fs::remove(snap / "__init__.py");
      report = verify_cache(lock, cache);
      REQUIRE(!report.ok());
      // Per-file locks name the missing file; Python locks can only say the hash differs.
      CHECK(kinds(report)[0] == (per_file ? ProblemKind::missing_file : ProblemKind::hash_mismatch));
    }
    SUBCASE("a dangling symlink") {
      fs::remove(repo.blob(git_blob_sha1_hex("from ._ops import ops\n")));
      report = verify_cache(lock, cache);
      REQUIRE(!report.ok());
      CHECK(kinds(report)[0] == ProblemKind::missing_file);
    }
    SUBCASE("an extra file") {
      spit(snap / "evil.py", "import os\n");
      report = verify_cache(lock, cache);
      REQUIRE(!report.ok());
      CHECK(kinds(report)[0] == (per_file ? ProblemKind::unexpected_file : ProblemKind::hash_mismatch));
    }
    SUBCASE("bytecode is ignored, as in the variant hash") {
      spit(snap / "__pycache__" / "x.cpython-311.pyc", "junk");
      CHECK(verify_cache(lock, cache).ok());
    }
    SUBCASE("a variant missing; filters narrow what must be present") {
      fs::remove_all(snap);
      report = verify_cache(lock, cache);
      REQUIRE(report.problems.size() == 1);
      CHECK(report.problems[0].kind == ProblemKind::missing_variant);
      VerifyOptions arm;
      arm.filter.arch = {"aarch64"};  // only the noarch variant is needed there
      CHECK(verify_cache(lock, cache, arm).ok());
    }
    SUBCASE("json report") {
      fs::remove_all(snap);
      auto j = verify_cache(lock, cache).to_json();
      CHECK(j["ok"] == false);
      CHECK(j["problems"][0]["kind"] == "missing-variant");
      CHECK(j["problems"][0]["repo_id"] == "kernels-test/gelu");
    }
  }
}

TEST_CASE("verify bundle: good, altered blob, other lock") {
  TempDir t;
  auto lock = make_cache(t / "src", sample_kernels());
  bundle_from(lock, t / "src", t / "b.tar.zst");
  CHECK(verify_bundle(lock, t / "b.tar.zst").ok());

  auto entries = read_raw_archive(t / "b.tar.zst");
  std::vector<RawEntry> raw;
  for (const auto& [n, c] : entries) raw.push_back(RawEntry{n, c});
  raw[3].content[0] ^= 1;
  write_raw_archive(t / "bad.tar.zst", raw);
  auto report = verify_bundle(lock, t / "bad.tar.zst");
  REQUIRE(!report.ok());
  CHECK(report.problems[0].kind == ProblemKind::altered_file);

  auto other = lock;
  other.kernels[0].sha = std::string(40, 'f');
  report = verify_bundle(other, t / "b.tar.zst");
  REQUIRE(!report.ok());
  CHECK(report.problems[0].kind == ProblemKind::manifest_mismatch);

  // A lock variant the bundle lacks.
  VariantFilter cuda;
  cuda.cuda = {"12.0"};  // drops the cu130 variant
  bundle_from(lock, t / "src", t / "cuda.tar.zst", cuda);
  report = verify_bundle(lock, t / "cuda.tar.zst");
  CHECK(!report.ok());
  VerifyOptions vo;
  vo.filter = cuda;
  CHECK(verify_bundle(lock, t / "cuda.tar.zst", vo).ok());
}

TEST_CASE("cache store and bundle store serve the installed files") {
  TempDir t;
  auto kernels = sample_kernels();
  auto lock = make_cache(t / "src", kernels);
  bundle_from(lock, t / "src", t / "b.tar.zst");
  InstallOptions io;
  io.cache_dir = t / "cache";
  io.durable = false;
  install_bundle(t / "b.tar.zst", io);
  CHECK(is_bundle_file(t / "b.tar.zst"));
  CHECK(!is_bundle_file(t / "cache"));

  auto check_store = [&](const RepoStore& store) {
    auto repos = store.list_repos();
    REQUIRE(repos.size() == 2);
    CHECK(repos[0].ref.repo_id == "kernels-test/gelu");
    const RepoRef relu{"kernels-test/relu", RepoType::kernel};
    auto refs = store.refs(relu);
    REQUIRE(refs.branches.size() == 1);
    CHECK(refs.branches[0].name == "v1");
    CHECK(store.resolve(relu, "v1") == std::string(40, 'a'));
    CHECK(store.resolve(relu, std::string(40, 'a')) == std::string(40, 'a'));
    CHECK(!store.resolve(relu, "v9"));
    auto commit = store.commit(relu, std::string(40, 'a'));
    const auto* so = commit->find("build/" + kCpu + "/_relu_cpu_abc1234.abi3.so");
    REQUIRE(so);
    const std::string content = kernels[0].variants[kCpu]["_relu_cpu_abc1234.abi3.so"];
    CHECK(so->lfs_sha256 == sha256_hex(content));
    CHECK(so->size == content.size());
    CHECK(so->oid == git_blob_sha1_hex(lfs_pointer_text(sha256_hex(content), content.size())));
    const auto* dir = commit->find("build/" + kCpu);
    REQUIRE(dir);
    CHECK(dir->is_directory);
    auto reader = store.open(relu, so->digest());
    std::string back(reader->size(), '\0');
    std::size_t done = 0;
    while (done < back.size()) {
      auto n = reader->read_at(done, std::span<char>(back.data() + done, back.size() - done));
      REQUIRE(n > 0);
      done += n;
    }
    CHECK(back == content);
    CHECK_THROWS_AS(store.open(relu, "../../../etc/passwd"), Error);
    CHECK_THROWS_AS(store.commit(relu, std::string(40, '9')), Error);
  };
  SUBCASE("cache") { check_store(*open_cache_store(t / "cache")); }
  SUBCASE("bundle") { check_store(*open_bundle_store(t / "b.tar.zst")); }
}
