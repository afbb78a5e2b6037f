// Bundle writing: content, determinism, filters, manifest validation.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/core/error.hpp"
#include "test_bundle_support.hpp"

using namespace kernel_lock;
using namespace kltest;

namespace {

BundleOptions offline_from(const fs::path& cache) {
  BundleOptions o;
  o.cache_dir = cache;
  return o;  // no hub: never downloads
}

}  // namespace

TEST_CASE("bundle: manifest first, blobs sorted and stored once, fixed metadata") {
  TempDir t;
  auto lock = make_cache(t / "cache", sample_kernels());
  auto s = write_bundle(lock, t / "b.tar.zst", offline_from(t / "cache"));
  CHECK(s.kernels == 2);
  CHECK(s.variants == 4);
  CHECK(s.downloaded == 0);

  std::vector<struct stat> stats;
  auto entries = read_raw_archive(t / "b.tar.zst", &stats);
  REQUIRE(!entries.empty());
  CHECK(entries[0].first == "kernel-lock-bundle.json");
  std::vector<std::string> names;
  std::set<std::string> unique;
  for (std::size_t i = 1; i < entries.size(); ++i) {
    names.push_back(entries[i].first);
    unique.insert(entries[i].first);
    REQUIRE(entries[i].first.starts_with("blobs/"));
    // Each blob's content hashes to its name.
    std::string digest = entries[i].first.substr(6);
    std::string actual = digest.size() == 64 ? sha256_hex(entries[i].second) : git_blob_sha1_hex(entries[i].second);
    CHECK(actual == digest);
  }
  CHECK(std::is_sorted(names.begin(), names.end()));
  CHECK(unique.size() == names.size());
  // "layers/__init__.py" ("# shared\n") is in 3 variants of 2 repos, metadata.json in 3: stored once each.
  CHECK(names.size() == s.blobs);
  CHECK(s.files > s.blobs);
  for (const auto& st : stats) {
    CHECK(st.st_mtime == 0);
    CHECK(st.st_uid == 0);
    CHECK(st.st_gid == 0);
    CHECK((st.st_mode & 07777) == 0644);
    CHECK(S_ISREG(st.st_mode));
  }
  auto manifest = parse_bundle_manifest(entries[0].second);
  CHECK(format_lockfile(manifest.lock) == format_lockfile(lock));
  REQUIRE(manifest.kernels.size() == 2);
  CHECK(manifest.kernels[0].repo_id == "kernels-test/gelu");
  CHECK(manifest.kernels[0].refs == std::vector<std::string>{"v2"});
  CHECK(manifest.kernels[1].refs == std::vector<std::string>{"v1"});
}

TEST_CASE("bundle: same inputs give the same bytes, whatever the thread count or output path") {
  TempDir t;
  auto lock = make_cache(t / "cache", sample_kernels());
  auto o1 = offline_from(t / "cache");
  o1.threads = 1;
  auto o4 = offline_from(t / "cache");
  o4.threads = 4;
  write_bundle(lock, t / "one.tar.zst", o1);
  write_bundle(lock, t / "four.tar.zst", o4);
  fs::create_directories(t / "elsewhere");
  write_bundle(lock, t / "elsewhere/x.bundle", o1);
  CHECK(slurp(t / "one.tar.zst") == slurp(t / "four.tar.zst"));
  CHECK(slurp(t / "one.tar.zst") == slurp(t / "elsewhere/x.bundle"));

  // A different file content changes the bytes.
  auto kernels = sample_kernels();
  kernels[1].variants["torch211-cxx11-cpu-x86_64-linux"]["__init__.py"] = "changed\n";
  auto lock2 = make_cache(t / "cache2", kernels);
  write_bundle(lock2, t / "two.tar.zst", offline_from(t / "cache2"));
  CHECK(slurp(t / "one.tar.zst") != slurp(t / "two.tar.zst"));
}

TEST_CASE("bundle: filters select variants; CPU and noarch kept for a CUDA fleet") {
  TempDir t;
  auto lock = make_cache(t / "cache", sample_kernels());
  auto o = offline_from(t / "cache");
  o.filter.cuda = {"12.0"};  // cu130 does not run on CUDA 12.0
  write_bundle(lock, t / "cuda.tar.zst", o);
  auto m = parse_bundle_manifest(read_raw_archive(t / "cuda.tar.zst")[0].second);
  std::set<std::string> variants;
  for (const auto& k : m.kernels)
    for (const auto& v : k.variants) variants.insert(k.repo_id + " " + v);
  CHECK(variants.count("kernels-test/relu torch211-cxx11-cu130-x86_64-linux") == 0);
  CHECK(variants.count("kernels-test/relu torch-cpu") == 1);
  CHECK(variants.count("kernels-test/relu torch211-cxx11-cpu-x86_64-linux") == 1);
  CHECK(variants.size() == 3);
  o.filter = {};
  o.filter.arch = {"aarch64"};  // only noarch variants fit
  write_bundle(lock, t / "arm.tar.zst", o);
  m = parse_bundle_manifest(read_raw_archive(t / "arm.tar.zst")[0].second);
  REQUIRE(m.kernels.size() == 1);
  CHECK(m.kernels[0].variants == std::vector<std::string>{"torch-cpu"});
}

TEST_CASE("bundle: a corrupted cached file is not packed; offline that is an error naming the file") {
  TempDir t;
  auto kernels = sample_kernels();
  auto lock = make_cache(t / "cache", kernels);
  auto repo = cache_repo_paths(t / "cache", "kernel", "kernels-test/gelu");
  const std::string so = sha256_hex(kernels[1].variants["torch211-cxx11-cpu-x86_64-linux"]["_gelu_cpu_1111111.abi3.so"]);
  std::string bytes = slurp(repo.blob(so));
  bytes[100] ^= 1;
  fs::remove(repo.blob(so));
  spit(repo.blob(so), bytes);
  try {
    write_bundle(lock, t / "b.tar.zst", offline_from(t / "cache"));
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(std::string(e.what()).find("kernels-test/gelu") != std::string::npos);
  }
  CHECK(!fs::exists(t / "b.tar.zst"));
  for (const auto& entry : fs::directory_iterator(t.path()))  // no temp file left behind
    CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("bundle: Python-written lock without per-file records is bundled from the cached snapshot") {
  TempDir t;
  auto lock = make_cache(t / "cache", sample_kernels(), /*per_file=*/false);
  auto s = write_bundle(lock, t / "b.tar.zst", offline_from(t / "cache"));
  CHECK(s.variants == 4);
  // A lock whose hash does not match the cache cannot be bundled offline.
  lock.kernels[0].variants.begin()->second.hash = "sha256-" + std::string(64, '0');
  CHECK_THROWS_AS(write_bundle(lock, t / "c.tar.zst", offline_from(t / "cache")), Error);
}

TEST_CASE("bundle manifest: round trip and refusal of inconsistent manifests") {
  TempDir t;
  auto lock = make_cache(t / "cache", sample_kernels());
  write_bundle(lock, t / "b.tar.zst", offline_from(t / "cache"));
  const std::string text = read_raw_archive(t / "b.tar.zst")[0].second;
  auto m = parse_bundle_manifest(text);
  CHECK(format_bundle_manifest(m) == text);

  SUBCASE("a file digest that does not hash to the locked variant hash") {
    auto bad = m;
    bad.kernels[0].files[0].digest = std::string(40, 'c');
    for (auto& b : bad.blobs)
      if (b.digest == m.kernels[0].files[0].digest) b.digest = std::string(40, 'c');
    std::sort(bad.blobs.begin(), bad.blobs.end(), [](auto& a, auto& b) { return a.digest < b.digest; });
    try {
      parse_bundle_manifest(format_bundle_manifest(bad));
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK((e.code() == ErrorCode::integrity || e.code() == ErrorCode::invalid_input));
    }
  }
  SUBCASE("path traversal in a manifest path") {
    auto bad = m;
    bad.kernels[0].files[0].path = "build/" + bad.kernels[0].variants[0] + "/../../../etc/passwd";
    CHECK_THROWS_AS(parse_bundle_manifest(format_bundle_manifest(bad)), Error);
  }
  SUBCASE("unknown format version") {
    auto bad = m;
    bad.format_version = 99;
    try {
      parse_bundle_manifest(format_bundle_manifest(bad));
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::unsupported);
    }
  }
  SUBCASE("against a different lock") {
    auto other = lock;
    other.kernels[0].sha = std::string(40, 'e');
    CHECK_THROWS_AS(check_manifest_against_lock(m, other), Error);
    CHECK_NOTHROW(check_manifest_against_lock(m, lock));
  }
}
