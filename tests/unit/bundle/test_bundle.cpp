// Bundle writing: content, determinism, filters, manifest validation.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/core/error.hpp"
#include "test_bundle_support.hpp"

using namespace kernel_lock;
using namespace kltest;

TEST_CASE("bundle: manifest first, blobs sorted and stored once, fixed metadata") {
  TempDir t;
  auto lock = make_cache(t / "cache", sample_kernels());
  auto s = bundle_from(lock, t / "cache", t / "b.tar.zst");
  CHECK(s.kernels == 2);
  CHECK(s.variants == 4);
  CHECK(s.from_cache == s.blobs);  // the bundler never downloads: every blob came from the cache

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
  BundleOptions o1;
  o1.threads = 1;
  BundleOptions o4;
  o4.threads = 4;
  bundle_from(lock, t / "cache", t / "one.tar.zst", {}, o1);
  bundle_from(lock, t / "cache", t / "four.tar.zst", {}, o4);
  fs::create_directories(t / "elsewhere");
  bundle_from(lock, t / "cache", t / "elsewhere/x.bundle", {}, o1);
  CHECK(slurp(t / "one.tar.zst") == slurp(t / "four.tar.zst"));
  CHECK(slurp(t / "one.tar.zst") == slurp(t / "elsewhere/x.bundle"));

  // A different file content changes the bytes.
  auto kernels = sample_kernels();
  kernels[1].variants["torch211-cxx11-cpu-x86_64-linux"]["__init__.py"] = "changed\n";
  auto lock2 = make_cache(t / "cache2", kernels);
  bundle_from(lock2, t / "cache2", t / "two.tar.zst");
  CHECK(slurp(t / "one.tar.zst") != slurp(t / "two.tar.zst"));
}

TEST_CASE("bundle: filters select variants; CPU and noarch kept for a CUDA fleet") {
  TempDir t;
  auto lock = make_cache(t / "cache", sample_kernels());
  VariantFilter filter;
  filter.cuda = {"12.0"};  // cu130 does not run on CUDA 12.0
  bundle_from(lock, t / "cache", t / "cuda.tar.zst", filter);
  auto m = parse_bundle_manifest(read_raw_archive(t / "cuda.tar.zst")[0].second);
  std::set<std::string> variants;
  for (const auto& k : m.kernels)
    for (const auto& v : k.variants) variants.insert(k.repo_id + " " + v);
  CHECK(variants.count("kernels-test/relu torch211-cxx11-cu130-x86_64-linux") == 0);
  CHECK(variants.count("kernels-test/relu torch-cpu") == 1);
  CHECK(variants.count("kernels-test/relu torch211-cxx11-cpu-x86_64-linux") == 1);
  CHECK(variants.size() == 3);
  filter = {};
  filter.arch = {"aarch64"};  // only noarch variants fit
  bundle_from(lock, t / "cache", t / "arm.tar.zst", filter);
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
    bundle_from(lock, t / "cache", t / "b.tar.zst");
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
  auto s = bundle_from(lock, t / "cache", t / "b.tar.zst");
  CHECK(s.variants == 4);
  // A lock whose hash does not match the cache cannot be bundled offline.
  lock.kernels[0].variants.begin()->second.hash = "sha256-" + std::string(64, '0');
  CHECK_THROWS_AS(bundle_from(lock, t / "cache", t / "c.tar.zst"), Error);
}

TEST_CASE("plan_bundle: network-free; one error lists every missing variant and file, with the hint to fetch") {
  TempDir t;
  auto kernels = sample_kernels();
  auto lock = make_cache(t / "cache", kernels);
  auto gelu = cache_repo_paths(t / "cache", "kernel", "kernels-test/gelu");
  auto relu = cache_repo_paths(t / "cache", "kernel", "kernels-test/relu");
  // A plan names a verified cache file for every blob.
  const auto plan = plan_bundle(lock, t / "cache");
  CHECK(plan.sources.size() == plan.manifest.blobs.size());
  for (const auto& blob : plan.manifest.blobs) CHECK(plan.sources.count(blob.digest) == 1);

  fs::remove(gelu.blob(sha256_hex(kernels[1].variants["torch211-cxx11-cpu-x86_64-linux"]["_gelu_cpu_1111111.abi3.so"])));
  fs::remove(relu.blob(sha256_hex(kernels[0].variants["torch211-cxx11-cu130-x86_64-linux"]["_relu_cuda_abc1234.abi3.so"])));
  try {
    plan_bundle(lock, t / "cache");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    const std::string what = e.what();
    CHECK(what.find("2 locked variant(s)/file(s)") != std::string::npos);
    CHECK(what.find("kernels-test/gelu:build/torch211-cxx11-cpu-x86_64-linux/_gelu_cpu_1111111.abi3.so") != std::string::npos);
    CHECK(what.find("kernels-test/relu:build/torch211-cxx11-cu130-x86_64-linux/_relu_cuda_abc1234.abi3.so") != std::string::npos);
    CHECK(e.hint().find("fetch") != std::string::npos);
  }
}

TEST_CASE("plan_bundle: a Python-shaped lock reads the snapshot with the strict policy") {
  TempDir t;
  auto lock = make_cache(t / "cache", sample_kernels(), /*per_file=*/false);
  auto gelu = cache_repo_paths(t / "cache", "kernel", "kernels-test/gelu");
  const auto dir = gelu.snapshot(std::string(40, 'b')) / "build" / "torch211-cxx11-cpu-x86_64-linux";
  // Re-point one link at an identical copy outside blobs/: same bytes, same
  // variant hash, but not a valid snapshot entry.
  const auto target = dir / fs::read_symlink(dir / "__init__.py");
  fs::create_directories(t / "outside");
  fs::copy_file(target, t / "outside" / target.filename());
  fs::remove(dir / "__init__.py");
  fs::create_symlink(fs::relative(t / "outside" / target.filename(), dir), dir / "__init__.py");
  try {
    plan_bundle(lock, t / "cache");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(std::string(e.what()).find("__init__.py") != std::string::npos);
    CHECK(std::string(e.what()).find("outside the repository's blobs/") != std::string::npos);
  }
  // The commit-only shape (no variants locked) takes the cached variants that
  // the reader accepts and reports the refused one.
  for (auto& k : lock.kernels) k.variants.clear();
  CHECK_THROWS_AS(plan_bundle(lock, t / "cache"), Error);
  VariantFilter noarch;
  noarch.arch = {"aarch64"};
  const auto plan = plan_bundle(lock, t / "cache", noarch);
  REQUIRE(plan.manifest.kernels.size() == 1);
  CHECK(plan.manifest.kernels[0].variants == std::vector<std::string>{"torch-cpu"});
  CHECK(plan.manifest.lock.kernels[1].variants.count("torch-cpu") == 1);
}

TEST_CASE("bundle manifest: round trip and refusal of inconsistent manifests") {
  TempDir t;
  auto lock = make_cache(t / "cache", sample_kernels());
  bundle_from(lock, t / "cache", t / "b.tar.zst");
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
