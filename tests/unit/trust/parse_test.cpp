// Parsers of outside input: trusted roots and bundles, well-formed and hostile.
#include <doctest/doctest.h>

#include "kernel_lock/trust/bundle.hpp"
#include "kernel_lock/trust/trusted_root.hpp"
#include "trust_fixtures.hpp"

using namespace kernel_lock::trust;
using namespace trust_test;
using kernel_lock::ErrorCode;
using nlohmann::json;

namespace {

ErrorCode bundle_error(const std::string& text) {
  try {
    parse_bundle(text);
  } catch (const kernel_lock::Error& e) {
    return e.code();
  }
  FAIL("parse_bundle accepted the input");
  return ErrorCode::generic;
}

ErrorCode root_error(const std::string& text) {
  try {
    parse_trusted_root(text);
  } catch (const kernel_lock::Error& e) {
    return e.code();
  }
  FAIL("parse_trusted_root accepted the input");
  return ErrorCode::generic;
}

json github_bundle() { return json::parse(fixture("bundle_v3_github.whl.sigstore")); }

}  // namespace

TEST_CASE("RFC 3339 timestamps") {
  CHECK(parse_rfc3339("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_rfc3339("2022-04-13T20:06:15Z") == 1649880375);
  CHECK(parse_rfc3339("2022-12-31T23:59:59.999Z") == 1672531199);
  CHECK(parse_rfc3339("2000-02-29T12:00:00+00:00") == 951825600);
  CHECK_THROWS_AS(parse_rfc3339("2022-04-13 20:06:15"), kernel_lock::Error);
  CHECK_THROWS_AS(parse_rfc3339("2022-04-13T20:06:15+02:00"), kernel_lock::Error);
  CHECK_THROWS_AS(parse_rfc3339("2022-13-13T20:06:15Z"), kernel_lock::Error);
}

TEST_CASE("production and staging trusted roots parse") {
  const auto& prod = production_root();
  CHECK(prod.tlogs.size() == 2);
  CHECK(prod.ctlogs.size() == 2);
  CHECK(prod.certificate_authorities.size() == 2);
  CHECK(prod.timestamp_authority_count == 1);
  CHECK(prod.certificate_authorities[0].valid_for.end.has_value());
  CHECK_FALSE(prod.certificate_authorities[1].valid_for.end.has_value());
  // The log ID is computed from the key, and equals the one the file states.
  const auto stated = json::parse(fixture("trusted_root.production.json"))["tlogs"][0]["logId"]["keyId"];
  CHECK(b64encode(prod.tlogs[0].key_id) == stated.get<std::string>());
  CHECK(prod.find_tlog(prod.tlogs[0].key_id) == &prod.tlogs[0]);
  const auto& staging = staging_root();
  CHECK(staging.tlogs.size() == 4);
  CHECK(staging.ctlogs.size() == 4);  // including a PKCS#1 RSA key
}

TEST_CASE("hostile trusted roots are refused with a clear error") {
  auto root = json::parse(fixture("trusted_root.production.json"));
  CHECK(root_error("{") == ErrorCode::invalid_input);
  CHECK(root_error("[]") == ErrorCode::invalid_input);
  CHECK(root_error(std::string(5 * 1024 * 1024, ' ')) == ErrorCode::invalid_input);
  CHECK(root_error(std::string(1000, '[') + std::string(1000, ']')) == ErrorCode::invalid_input);
  auto bad = root;
  bad["mediaType"] = "application/vnd.dev.sigstore.trustedroot+json;version=0.2";
  CHECK(root_error(bad.dump()) == ErrorCode::unsupported);
  bad = root;
  bad["tlogs"][0]["publicKey"]["rawBytes"] = "not base64!";
  CHECK(root_error(bad.dump()) == ErrorCode::invalid_input);
  bad = root;
  bad["certificateAuthorities"][0]["certChain"]["certificates"][0]["rawBytes"] = "AAAA";
  CHECK(root_error(bad.dump()) == ErrorCode::invalid_input);
  bad = root;
  bad["certificateAuthorities"][0]["validFor"]["start"] = "yesterday";
  CHECK(root_error(bad.dump()) == ErrorCode::invalid_input);
  bad = root;
  bad["tlogs"] = json::array();
  CHECK(root_error(bad.dump()) == ErrorCode::invalid_input);
  bad = root;
  bad["ctlogs"] = json::array();
  for (int i = 0; i < 300; ++i) bad["ctlogs"].push_back(root["ctlogs"][0]);
  CHECK(root_error(bad.dump()) == ErrorCode::invalid_input);
}

TEST_CASE("bundles of each version parse into their parts") {
  const auto v2 = parse_bundle(fixture("bundle_v3_github.whl.sigstore"));
  CHECK(v2.version == BundleVersion::v0_2);
  CHECK(v2.tlog_entry.log_index == 79605083);
  CHECK(v2.tlog_entry.integrated_time == 1710888076);
  CHECK(v2.tlog_entry.inclusion_proof.hashes.size() == 16);
  CHECK(v2.message_digest.size() == 32);
  CHECK(parse_bundle(fixture("bundle.txt.sigstore")).version == BundleVersion::v0_1);
  CHECK(parse_bundle(fixture("bundle_v3.txt.sigstore")).version == BundleVersion::v0_3);
  CHECK(parse_bundle(fixture("bundle_v3_alt.txt.sigstore")).version == BundleVersion::v0_3);
}

TEST_CASE("the malformed vectors are refused when parsed") {
  CHECK(bundle_error(fixture("bundle_no_log_entry.txt.sigstore")) == ErrorCode::invalid_input);
  CHECK(bundle_error(fixture("bundle_no_checkpoint.txt.sigstore")) == ErrorCode::invalid_input);
  CHECK(bundle_error(fixture("bundle_no_cert_v1.txt.sigstore")) == ErrorCode::invalid_input);
  CHECK(bundle_error(fixture("bundle_invalid_version.txt.sigstore")) == ErrorCode::unsupported);
}

TEST_CASE("hostile bundles are refused with a clear error, never a crash") {
  CHECK(bundle_error("") == ErrorCode::invalid_input);
  CHECK(bundle_error(std::string(2 * 1024 * 1024, ' ')) == ErrorCode::invalid_input);
  CHECK(bundle_error(std::string(100000, '[') + std::string(100000, ']')) == ErrorCode::invalid_input);
  CHECK(bundle_error(R"({"mediaType": 7})") == ErrorCode::invalid_input);
  auto b = github_bundle();
  b["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"] = "%%%%";
  CHECK(bundle_error(b.dump()) == ErrorCode::invalid_input);
  b = github_bundle();
  b["verificationMaterial"]["x509CertificateChain"]["certificates"][0]["rawBytes"] = "MIIB";
  CHECK(bundle_error(b.dump()) == ErrorCode::invalid_input);
  b = github_bundle();
  b["verificationMaterial"]["tlogEntries"][0]["logIndex"] = "-1";
  CHECK(bundle_error(b.dump()) == ErrorCode::invalid_input);
  b = github_bundle();
  b["verificationMaterial"]["tlogEntries"][0]["integratedTime"] = "99999999999999999999999";
  CHECK(bundle_error(b.dump()) == ErrorCode::invalid_input);
  b = github_bundle();
  b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"] = json::array();
  for (int i = 0; i < 100; ++i) b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"].push_back("AA==");
  CHECK(bundle_error(b.dump()) == ErrorCode::invalid_input);
  b = github_bundle();
  b["verificationMaterial"]["tlogEntries"].push_back(b["verificationMaterial"]["tlogEntries"][0]);
  CHECK(bundle_error(b.dump()) == ErrorCode::invalid_input);
  b = github_bundle();
  b["verificationMaterial"]["tlogEntries"][0].erase("inclusionPromise");
  CHECK(bundle_error(b.dump()) == ErrorCode::invalid_input);
  b = github_bundle();
  b.erase("messageSignature");
  CHECK(bundle_error(b.dump()) == ErrorCode::invalid_input);
  b = github_bundle();
  b["verificationMaterial"]["x509CertificateChain"]["certificates"] =
      json::array({b["verificationMaterial"]["x509CertificateChain"]["certificates"][0]});
  for (int i = 0; i < 20; ++i) {
    b["verificationMaterial"]["x509CertificateChain"]["certificates"].push_back(
        b["verificationMaterial"]["x509CertificateChain"]["certificates"][0]);
  }
  CHECK(bundle_error(b.dump()) == ErrorCode::invalid_input);  // certificate loops: chain length bounded
}

TEST_CASE("bundles this verifier cannot fully verify are refused as unsupported") {
  auto b = github_bundle();
  b["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["version"] = "0.0.2";  // Rekor v2
  CHECK(bundle_error(b.dump()) == ErrorCode::unsupported);
  b = github_bundle();
  b["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"] = "dsse";
  CHECK(bundle_error(b.dump()) == ErrorCode::unsupported);
  b = github_bundle();
  b.erase("messageSignature");
  b["dsseEnvelope"] = {{"payload", "e30="}, {"payloadType", "application/vnd.in-toto+json"}};
  CHECK(bundle_error(b.dump()) == ErrorCode::unsupported);
  b = github_bundle();  // time from RFC 3161 timestamps only
  b["verificationMaterial"]["tlogEntries"][0].erase("inclusionPromise");
  b["verificationMaterial"]["timestampVerificationData"] = {{"rfc3161Timestamps", {{{"signedTimestamp", "MAA="}}}}};
  CHECK(bundle_error(b.dump()) == ErrorCode::unsupported);
  b = github_bundle();
  b["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.4+json";
  CHECK(bundle_error(b.dump()) == ErrorCode::unsupported);
}

TEST_CASE("verify_blob names the parse failure as the step") {
  auto b = github_bundle();
  b["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["version"] = "0.0.2";
  const std::string artifact = fixture("bundle_v3_github.whl");
  const auto bytes = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(artifact.data()), artifact.size());
  auto verdict = verify_blob(bytes, b.dump(), production_root(), github_policy());
  CHECK(verdict.failed_step == VerifyStep::unsupported);
  CHECK(verdict.message.find("Rekor v2") != std::string::npos);
  verdict = verify_blob(bytes, "{]", production_root(), github_policy());
  CHECK(verdict.failed_step == VerifyStep::bundle_format);
  CHECK(verdict.describe().find("rejected at bundle format") == 0);
}
