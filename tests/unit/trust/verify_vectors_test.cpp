// The expected-results table of fixtures/sigstore/README.md, row by row.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "kernel_lock/trust/verify.hpp"
#include "trust_fixtures.hpp"

using namespace kernel_lock::trust;
using namespace trust_test;

namespace {

Verdict verify_fixture(const std::string& name, const TrustedRoot& root, const IdentityPolicy& policy) {
  return verify_json(name, fixture(name + ".sigstore"), root, policy);
}

}  // namespace

TEST_CASE("GitHub Actions keyless bundle verifies with the production root and its identity") {
  const auto verdict = verify_fixture("bundle_v3_github.whl", production_root(), github_policy());
  INFO(verdict.describe());
  CHECK(verdict.verified);
  CHECK(verdict.failed_step == VerifyStep::none);
  CHECK(verdict.identity.issuer == kGithubIssuer);
  CHECK(verdict.identity.issuer_v1 == kGithubIssuer);
  CHECK(verdict.identity.source_repository_uri == kRfc8785Repo);
  CHECK(verdict.identity.build_signer_uri == kRfc8785Signer);
  CHECK(verdict.identity.subject_alternative_name == kRfc8785Signer);
  CHECK(verdict.log_index == 79605083);
  CHECK(verdict.signing_time == 1710888076);
}

TEST_CASE("GitHub Actions bundle is rejected at the identity policy for kernels-community") {
  IdentityPolicy policy;
  policy.source_repositories = {"https://github.com/huggingface/kernels-community"};
  const auto verdict = verify_fixture("bundle_v3_github.whl", production_root(), policy);
  CHECK_FALSE(verdict.verified);
  CHECK(verdict.failed_step == VerifyStep::identity_policy);
  CHECK(verdict.message.find("source repository") != std::string::npos);
  const auto with_default = verify_fixture("bundle_v3_github.whl", production_root(), IdentityPolicy::kernels_community());
  CHECK(with_default.failed_step == VerifyStep::identity_policy);
}

TEST_CASE("each identity field is checked: any one of a list matches, a wrong one rejects") {
  auto policy = github_policy();
  policy.build_signer_uris = {"https://example.com/other", kRfc8785Signer};
  CHECK(verify_fixture("bundle_v3_github.whl", production_root(), policy).verified);
  policy = github_policy();
  policy.issuers = {"https://accounts.google.com"};
  CHECK(verify_fixture("bundle_v3_github.whl", production_root(), policy).failed_step == VerifyStep::identity_policy);
  policy = github_policy();
  policy.build_signer_uris = {std::string(kRfc8785Signer) + "x"};
  CHECK(verify_fixture("bundle_v3_github.whl", production_root(), policy).failed_step == VerifyStep::identity_policy);
  policy = github_policy();
  policy.require_issuer_v1_and_v2 = true;
  CHECK(verify_fixture("bundle_v3_github.whl", production_root(), policy).verified);
}

TEST_CASE("an empty identity policy is refused, not treated as anyone") {
  const auto verdict = verify_fixture("bundle_v3_github.whl", production_root(), IdentityPolicy{});
  CHECK(verdict.failed_step == VerifyStep::identity_policy);
}

TEST_CASE("staging bundles v0.1, v0.3 and v0.3-alt verify with any identity") {
  for (const char* name : {"bundle.txt", "bundle_v3.txt", "bundle_v3_alt.txt"}) {
    CAPTURE(name);
    const auto verdict = verify_fixture(name, staging_root(), IdentityPolicy::any_identity());
    INFO(verdict.describe());
    CHECK(verdict.verified);
  }
}

TEST_CASE("staging bundles do not verify with the production root") {
  const auto verdict = verify_fixture("bundle_v3.txt", production_root(), IdentityPolicy::any_identity());
  CHECK(verdict.failed_step == VerifyStep::signing_time);
}

TEST_CASE("CVE-2022-36056: a valid log entry of another signature is rejected") {
  const auto verdict = verify_fixture("bundle_cve_2022_36056.txt", staging_root(), IdentityPolicy::any_identity());
  INFO(verdict.describe());
  CHECK_FALSE(verdict.verified);
  CHECK(verdict.failed_step == VerifyStep::log_entry_consistency);
}

TEST_CASE("malformed bundles are rejected when parsed") {
  for (const char* name : {"bundle_no_log_entry.txt", "bundle_no_checkpoint.txt", "bundle_no_cert_v1.txt"}) {
    CAPTURE(name);
    const auto verdict = verify_fixture(name, staging_root(), IdentityPolicy::any_identity());
    INFO(verdict.message);
    CHECK(verdict.failed_step == VerifyStep::bundle_format);
  }
  const auto verdict = verify_fixture("bundle_invalid_version.txt", staging_root(), IdentityPolicy::any_identity());
  CHECK(verdict.failed_step == VerifyStep::unsupported);
  CHECK(verdict.message.find("media type") != std::string::npos);
}

TEST_CASE("one changed byte of the artifact is rejected at the artifact signature") {
  struct Row {
    const char* name;
    const TrustedRoot* root;
    IdentityPolicy policy;
  };
  const Row rows[] = {{"bundle_v3_github.whl", &production_root(), github_policy()},
                      {"bundle.txt", &staging_root(), IdentityPolicy::any_identity()},
                      {"bundle_v3.txt", &staging_root(), IdentityPolicy::any_identity()},
                      {"bundle_v3_alt.txt", &staging_root(), IdentityPolicy::any_identity()}};
  for (const auto& row : rows) {
    CAPTURE(row.name);
    auto artifact = fixture(row.name);
    artifact[artifact.size() / 2] ^= 0x01;
    const auto verdict = verify_blob({reinterpret_cast<const std::uint8_t*>(artifact.data()), artifact.size()},
                                     fixture(std::string(row.name) + ".sigstore"), *row.root, row.policy);
    CHECK(verdict.failed_step == VerifyStep::artifact_signature);
  }
}

TEST_CASE("verify_artifact_file reads the artifact from disk") {
  const auto bundle = load_bundle(fixtures() / "bundle_v3_github.whl.sigstore");
  const auto verdict = verify_artifact_file(fixtures() / "bundle_v3_github.whl", bundle, production_root(), github_policy());
  CHECK(verdict.verified);
  CHECK(verdict.describe().find("verified: signed by") == 0);
}

TEST_CASE("one Verifier serves many bundles, from several threads at once") {
  const Verifier verifier(staging_root());
  const auto run = [&](const char* name) {
    const auto artifact = fixture(name);
    return verifier.verify_blob({reinterpret_cast<const std::uint8_t*>(artifact.data()), artifact.size()},
                                fixture(std::string(name) + ".sigstore"), IdentityPolicy::any_identity());
  };
  std::vector<std::thread> threads;
  std::atomic<int> verified{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (const char* name : {"bundle.txt", "bundle_v3.txt", "bundle_v3_alt.txt"}) verified += run(name).verified;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(verified == 12);
  CHECK(run("bundle_cve_2022_36056.txt").failed_step == VerifyStep::log_entry_consistency);
  CHECK(verifier.trusted_root().tlogs.size() == staging_root().tlogs.size());
}
