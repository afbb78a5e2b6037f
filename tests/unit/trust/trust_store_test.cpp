// The trust store kept with a cache, the freshness rule and the kernel signer policy.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/trust/policy.hpp"
#include "kernel_lock/trust/trust_store.hpp"
#include "trust_fixtures.hpp"

namespace fs = std::filesystem;
using namespace kernel_lock;
using namespace kernel_lock::trust;

namespace {

struct TempCache {
  fs::path path = fs::temp_directory_path() / ("kl-trust-store-" + std::to_string(::getpid()) + "-" +
                                               std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  TempCache() { fs::create_directories(path); }
  ~TempCache() {
    std::error_code ec;
    remove_tree(path, ec);
  }
};

CapturedTrustRoot staging_captured(UnixTime at) {
  return CapturedTrustRoot{trust_test::fixture("trusted_root.staging.json"), at, "staging.json"};
}

}  // namespace

TEST_CASE("RFC 3339 times format and parse back") {
  CHECK(format_rfc3339(0) == "1970-01-01T00:00:00Z");
  CHECK(format_rfc3339(1767225600) == "2026-01-01T00:00:00Z");
  CHECK(format_rfc3339(1780315199) == "2026-06-01T11:59:59Z");  // python: datetime.utcfromtimestamp
  for (UnixTime t : {UnixTime{0}, UnixTime{951782400}, UnixTime{1780315199}, UnixTime{4102444800}})
    CHECK(parse_rfc3339(format_rfc3339(t)) == t);
}

TEST_CASE("trust store: absent, written, unchanged, newer kept, damaged refused") {
  TempCache cache;
  CHECK_FALSE(read_trust_store(cache.path).has_value());
  const auto first = staging_captured(1767225600);
  CHECK(write_trust_store(cache.path, first) == TrustStoreWrite::written);
  auto stored = read_trust_store(cache.path);
  REQUIRE(stored.has_value());
  CHECK(stored->json == first.json);
  CHECK(stored->captured_at == first.captured_at);
  CHECK(stored->origin == trust_store_dir(cache.path) / "trusted_root.json");
  CHECK(write_trust_store(cache.path, first) == TrustStoreWrite::unchanged);
  // An older capture does not replace a newer one unless asked to.
  auto older = staging_captured(1767225600 - 86400);
  CHECK(write_trust_store(cache.path, older) == TrustStoreWrite::kept_newer);
  CHECK(read_trust_store(cache.path)->captured_at == first.captured_at);
  CHECK(write_trust_store(cache.path, older, true) == TrustStoreWrite::written);
  CHECK(read_trust_store(cache.path)->captured_at == older.captured_at);

  // A root whose bytes do not match the record is refused, naming the file and the fix.
  write_file_atomic(trust_store_dir(cache.path) / "trusted_root.json", first.json + " ");
  try {
    (void)read_trust_store(cache.path);
    FAIL("a damaged store was read");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_input);
    CHECK(std::string(e.what()).find("trusted_root.json") != std::string::npos);
    CHECK(e.hint().find("kernel-lock trust import") != std::string::npos);
  }
  // Writing over a damaged store repairs it.
  CHECK(write_trust_store(cache.path, first) == TrustStoreWrite::written);
  CHECK(read_trust_store(cache.path).has_value());
  // A hostile record (too deep, too large, not JSON) is a damaged store, refused before it is trusted.
  for (const std::string& record : {std::string(1000, '[') + std::string(1000, ']'), std::string(5000, ' ') + "{}",
                                   std::string("{\"captured_at\": ")}) {
    write_file_atomic(trust_store_dir(cache.path) / "captured.json", record);
    try {
      (void)read_trust_store(cache.path);
      FAIL("a hostile captured.json was read");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_input);
      CHECK(std::string(e.what()).find("damaged trust store") != std::string::npos);
    }
  }
  fs::remove(trust_store_dir(cache.path) / "captured.json");
  CHECK_THROWS_AS((void)read_trust_store(cache.path), Error);
}

TEST_CASE("trust store refuses what is not a trusted root") {
  TempCache cache;
  CapturedTrustRoot bad{"{\"mediaType\": \"nope\"}", 1, "bad.json"};
  CHECK_THROWS_AS(write_trust_store(cache.path, bad), Error);
  CHECK_FALSE(fs::exists(trust_store_dir(cache.path) / "trusted_root.json"));
}

TEST_CASE("freshness: within the limit passes, beyond it is stale_trust naming the refresh command") {
  const auto root = staging_captured(1767225600);
  const UnixTime day = 86400;
  CHECK_NOTHROW(check_trust_fresh(root, root.captured_at + 180 * day, 180));
  CHECK_NOTHROW(check_trust_fresh(root, root.captured_at - 10 * day, 180));  // clock skew
  try {
    check_trust_fresh(root, root.captured_at + 181 * day, 180);
    FAIL("a stale root passed");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::stale_trust);
    CHECK(std::string(e.what()).find("181 days ago") != std::string::npos);
    CHECK(std::string(e.what()).find("staging.json") != std::string::npos);
    CHECK(e.hint().find("kernel-lock trust import") != std::string::npos);
  }
}

TEST_CASE("KERNEL_LOCK_TRUST_MAX_AGE_DAYS: default, value, refusal") {
  ::unsetenv("KERNEL_LOCK_TRUST_MAX_AGE_DAYS");
  CHECK(trust_max_age_days_from_env() == kDefaultTrustMaxAgeDays);
  ::setenv("KERNEL_LOCK_TRUST_MAX_AGE_DAYS", "30", 1);
  CHECK(trust_max_age_days_from_env() == 30);
  for (const char* bad : {"0", "-1", "30d", "1e3"}) {
    ::setenv("KERNEL_LOCK_TRUST_MAX_AGE_DAYS", bad, 1);
    CHECK_THROWS_AS(trust_max_age_days_from_env(), Error);
  }
  ::unsetenv("KERNEL_LOCK_TRUST_MAX_AGE_DAYS");
}

TEST_CASE("signer policy of a kernel: kernels.yaml signers, the kernels-community default, or none") {
  SigningRequirement none;
  auto community = signer_policy_for("kernels-community/activation", none);
  REQUIRE(community.accepted.size() == 1);
  CHECK(community.accepted[0].source_repositories ==
        std::vector<std::string>{"https://github.com/huggingface/kernels-community"});
  CHECK(community.signature_required);

  auto other = signer_policy_for("org/k", none);
  CHECK(other.accepted.empty());
  CHECK_FALSE(other.signature_required);

  SigningRequirement old;
  old.allow_unsigned = true;
  CHECK_FALSE(signer_policy_for("kernels-community/activation", old).signature_required);
  SigningRequirement strict;
  strict.require_signature = true;
  CHECK(signer_policy_for("org/k", strict).signature_required);

  SigningRequirement own;
  own.signers = {SignerRule{"https://i.example", "https://github.com/org/k", {}},
                 SignerRule{"https://i.example", "https://github.com/org/m", {"https://github.com/org/m/w@main"}}};
  auto policy = signer_policy_for("kernels-community/activation", own);  // signers replace the default
  REQUIRE(policy.accepted.size() == 2);
  CHECK(policy.signature_required);

  SignerIdentity id;
  id.issuer = id.issuer_v2 = "https://i.example";
  id.source_repository_uri = "https://github.com/org/m";
  id.build_signer_uri = "https://github.com/org/m/w@main";
  CHECK_FALSE(check_identity_any(policy.accepted, id).has_value());
  id.build_signer_uri = "https://github.com/org/m/other@main";
  const auto failure = check_identity_any(policy.accepted, id);
  REQUIRE(failure.has_value());
  CHECK(failure->find("; or ") != std::string::npos);  // both rules named
  CHECK_FALSE(check_identity_any({}, id).has_value());

  LockedSignature pinned{"https://i.example", "https://github.com/org/m", "https://github.com/org/m/w@main", 1,
                         "2026-01-01T00:00:00Z"};
  id.build_signer_uri = "https://github.com/org/m/w@main";
  CHECK_FALSE(check_identity(pinned_policy(pinned), id).has_value());
  pinned.source_repository = "https://github.com/org/k";
  CHECK(check_identity(pinned_policy(pinned), id).has_value());
}
