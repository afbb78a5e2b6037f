// Trust material in bundles (format version 2), and the signature checks of
// install and verify: the carried root's digest and freshness, the trust store,
// pinned signatures that do not hold, --require-signature, provenance.
#include <doctest/doctest.h>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/bundle/install.hpp"
#include "kernel_lock/bundle/signatures.hpp"
#include "kernel_lock/bundle/verify.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/trust/trusted_root.hpp"
#include "test_bundle_support.hpp"

using namespace kernel_lock;
using namespace kltest;

namespace {

constexpr trust::UnixTime kNow = 1'790'000'000;  // 2026-09-21
constexpr trust::UnixTime kDay = 86400;

trust::CapturedTrustRoot test_root(trust::UnixTime captured_at) {
  const fs::path file = fs::path(KERNEL_LOCK_SOURCE_DIR) / "fixtures" / "sigstore" / "trusted_root.staging.json";
  return trust::CapturedTrustRoot{read_file(file), captured_at, file};
}

LockedSignature test_signer() {
  return LockedSignature{"https://token.actions.githubusercontent.com", "https://github.com/kernels-test/relu",
                         "https://github.com/kernels-test/relu/.github/workflows/build.yaml@refs/heads/main", 7,
                         "2026-09-01T00:00:00Z"};
}

// The sample kernels' lock with a pinned signer on relu's CPU variant (whose
// files hold no metadata.json.sigstore: the signature can never hold).
Lockfile signed_lock(const fs::path& cache) {
  auto lock = make_cache(cache, sample_kernels());
  lock.find("kernels-test/relu")->variants.at("torch211-cxx11-cpu-x86_64-linux").signature = test_signer();
  return lock;
}

SignatureOptions fresh_options() {
  SignatureOptions o;
  o.now = kNow;
  return o;
}

}  // namespace

TEST_CASE("bundle trust: the root travels as the second entry, recorded in a version 2 manifest") {
  TempDir t;
  auto lock = signed_lock(t / "cache");
  auto plan = plan_bundle(lock, t / "cache");
  const auto root = test_root(kNow - 3 * kDay);
  carry_trust_root(plan, root);
  write_bundle(plan, t / "b.tar.zst");
  auto entries = read_raw_archive(t / "b.tar.zst");
  REQUIRE(entries.size() > 2);
  CHECK(entries[1].first == "trust/trusted_root.json");
  CHECK(entries[1].second == root.json);
  auto m = parse_bundle_manifest(entries[0].second);
  CHECK(m.format_version == 2);
  REQUIRE(m.trust);
  CHECK(m.trust->sha256 == root.sha256_hex());
  CHECK(m.trust->captured_at == root.captured_at);
  CHECK(entries[0].second.find("\"captured_at\": \"" + trust::format_rfc3339(root.captured_at) + "\"") !=
        std::string::npos);
  CHECK(format_bundle_manifest(m) == entries[0].second);

  BundleReader reader(t / "b.tar.zst");
  REQUIRE(reader.trust_root());
  CHECK(reader.trust_root()->json == root.json);
  CHECK(reader.trust_root()->captured_at == root.captured_at);
  std::size_t blobs = 0;
  while (reader.next_blob([](std::string_view) {})) ++blobs;
  CHECK(blobs == m.blobs.size());
}

TEST_CASE("bundle trust: a lock without signatures bundles as before; one with signatures needs a root") {
  TempDir t;
  auto lock = make_cache(t / "cache", sample_kernels());
  bundle_from(lock, t / "cache", t / "plain.tar.zst");
  auto plan = plan_bundle(lock, t / "cache");
  carry_trust_root(plan, std::nullopt);
  write_bundle(plan, t / "again.tar.zst");
  CHECK(slurp(t / "again.tar.zst") == slurp(t / "plain.tar.zst"));
  CHECK(parse_bundle_manifest(read_raw_archive(t / "plain.tar.zst")[0].second).format_version == 1);
  BundleReader reader(t / "plain.tar.zst");
  CHECK(!reader.trust_root());

  auto signed_plan = plan_bundle(signed_lock(t / "cache2"), t / "cache2");
  try {
    carry_trust_root(signed_plan, std::nullopt);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(e.hint().find("kernel-lock trust import") != std::string::npos);
    CHECK(e.hint().find("--trusted-root") != std::string::npos);
  }
}

TEST_CASE("bundle trust: manifest and trust entry must agree") {
  TempDir t;
  auto lock = signed_lock(t / "cache");
  auto plan = plan_bundle(lock, t / "cache");
  carry_trust_root(plan, test_root(kNow));
  write_bundle(plan, t / "b.tar.zst");
  auto entries = read_raw_archive(t / "b.tar.zst");
  auto m = parse_bundle_manifest(entries[0].second);

  SUBCASE("a trust record in a version 1 manifest, none in a version 2 one") {
    auto v1 = m;
    v1.format_version = 1;
    CHECK_THROWS_AS(parse_bundle_manifest(format_bundle_manifest(v1)), Error);
    auto no_trust = m;
    no_trust.trust.reset();
    CHECK_THROWS_AS(parse_bundle_manifest(format_bundle_manifest(no_trust)), Error);
  }
  SUBCASE("a trust entry whose bytes do not match the manifest's digest") {
    std::vector<RawEntry> raw;
    for (const auto& [name, content] : entries) raw.push_back(RawEntry{name, content});
    raw[1].content[raw[1].content.find('{') + 1] = ' ';  // still JSON, other bytes
    write_raw_archive(t / "bad.tar.zst", raw);
    try {
      BundleReader reader(t / "bad.tar.zst");
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::integrity);
      CHECK(std::string(e.what()).find("trust/trusted_root.json") != std::string::npos);
    }
  }
  SUBCASE("the trust entry missing") {
    std::vector<RawEntry> raw;
    for (std::size_t i = 0; i < entries.size(); ++i)
      if (i != 1) raw.push_back(RawEntry{entries[i].first, entries[i].second});
    write_raw_archive(t / "bad.tar.zst", raw);
    CHECK_THROWS_AS(BundleReader(t / "bad.tar.zst"), Error);
  }
}

TEST_CASE("install: stores the carried root; a stale one is refused before anything is written") {
  TempDir t;
  auto lock = make_cache(t / "cache", sample_kernels());
  auto plan = plan_bundle(lock, t / "cache");
  carry_trust_root(plan, test_root(kNow - 200 * kDay));
  write_bundle(plan, t / "b.tar.zst");

  InstallOptions options;
  options.cache_dir = t / "target";
  options.signatures = fresh_options();
  try {
    install_bundle(t / "b.tar.zst", options);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::stale_trust);
    CHECK(e.hint().find("kernel-lock trust import") != std::string::npos);
  }
  CHECK(tree_snapshot(t / "target").empty());

  options.signatures.max_age_days = 365;
  auto s = install_bundle(t / "b.tar.zst", options);
  REQUIRE(s.trust_store);
  CHECK(*s.trust_store == trust::TrustStoreWrite::written);
  auto stored = trust::read_trust_store(t / "target");
  REQUIRE(stored);
  CHECK(stored->json == test_root(0).json);
  CHECK(stored->captured_at == kNow - 200 * kDay);
  REQUIRE(s.provenance.size() == 4);
  for (const auto& p : s.provenance) CHECK(p.describe() == "pinned by the lock only");
}

TEST_CASE("install: a pinned signature that does not hold installs no snapshot") {
  TempDir t;
  auto lock = signed_lock(t / "cache");
  auto plan = plan_bundle(lock, t / "cache");
  carry_trust_root(plan, test_root(kNow));
  write_bundle(plan, t / "b.tar.zst");
  InstallOptions options;
  options.cache_dir = t / "target";
  options.lock = lock;
  options.signatures = fresh_options();
  try {
    install_bundle(t / "b.tar.zst", options);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::integrity);
    const std::string what = e.what();
    CHECK(what.find("kernels-test/relu torch211-cxx11-cpu-x86_64-linux") != std::string::npos);
    CHECK(what.find("signature bundle missing") != std::string::npos);
  }
  for (const char* folder : {"kernels--kernels-test--relu", "kernels--kernels-test--gelu"}) {
    CHECK(!fs::exists(t / "target" / folder / "snapshots"));
    CHECK(!fs::exists(t / "target" / folder / "refs"));
  }
  CHECK(!fs::exists(trust::trust_store_dir(t / "target")));
}

TEST_CASE("install: a lock that pins signatures needs a root; --require-signature refuses unsigned variants") {
  TempDir t;
  auto lock = signed_lock(t / "cache");
  auto plan = plan_bundle(lock, t / "cache");
  write_bundle(plan, t / "no-root.tar.zst");  // written without carry_trust_root: an old-style bundle
  InstallOptions options;
  options.cache_dir = t / "target";
  options.signatures = fresh_options();
  try {
    install_bundle(t / "no-root.tar.zst", options);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(e.hint().find("kernel-lock trust import") != std::string::npos);
  }
  CHECK(tree_snapshot(t / "target").empty());

  auto plain = make_cache(t / "cache-plain", sample_kernels());
  bundle_from(plain, t / "cache-plain", t / "plain.tar.zst");
  options.signatures.require_signature = true;
  try {
    install_bundle(t / "plain.tar.zst", options);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::integrity);
    CHECK(std::string(e.what()).find("kernels-test/gelu torch211-cxx11-cpu-x86_64-linux") != std::string::npos);
  }
  CHECK(tree_snapshot(t / "target").empty());
}

TEST_CASE("verify: pinned signatures are checked and each variant's proof reported") {
  TempDir t;
  auto lock = signed_lock(t / "cache");
  VerifyOptions options;
  options.signatures = fresh_options();
  SUBCASE("no root anywhere") {
    try {
      verify_cache(lock, t / "cache", options);
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::not_found);
    }
  }
  SUBCASE("the cache's root: the signed variant fails, the others are pinned by the lock only") {
    trust::write_trust_store(t / "cache", test_root(kNow));
    auto report = verify_cache(lock, t / "cache", options);
    REQUIRE(report.problems.size() == 1);
    CHECK(report.problems[0].kind == ProblemKind::signature_failed);
    CHECK(report.problems[0].variant == "torch211-cxx11-cpu-x86_64-linux");
    CHECK(report.problems[0].message().find("signature bundle missing") != std::string::npos);
    REQUIRE(report.provenance.size() == 3);
    for (const auto& p : report.provenance) CHECK(!p.signer);
    CHECK(report.to_json()["provenance"].size() == 3);

    options.signatures.require_signature = true;
    report = verify_cache(lock, t / "cache", options);
    std::size_t unsigned_count = 0;
    for (const auto& p : report.problems) unsigned_count += p.kind == ProblemKind::unsigned_variant;
    CHECK(unsigned_count == 3);
  }
  SUBCASE("a stale root") {
    trust::write_trust_store(t / "cache", test_root(kNow - 400 * kDay));
    CHECK_THROWS_AS(verify_cache(lock, t / "cache", options), Error);
  }
  SUBCASE("verify --bundle uses the bundle's root") {
    auto plan = plan_bundle(lock, t / "cache");
    carry_trust_root(plan, test_root(kNow));
    write_bundle(plan, t / "b.tar.zst");
    auto report = verify_bundle(lock, t / "b.tar.zst", options);
    REQUIRE(report.problems.size() == 1);
    CHECK(report.problems[0].kind == ProblemKind::signature_failed);
    CHECK(report.provenance.size() == 3);
  }
}
