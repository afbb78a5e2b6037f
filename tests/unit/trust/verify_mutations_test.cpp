// Mutations of verified vectors: each must be rejected, at the step that checks
// the mutated part.
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include "kernel_lock/trust/verify.hpp"
#include "test_log.hpp"
#include "trust_fixtures.hpp"

using namespace kernel_lock::trust;
using namespace trust_test;
using nlohmann::json;

namespace {

const std::string kEntry = "/verificationMaterial/tlogEntries/0";
const std::string kProof = kEntry + "/inclusionProof";

struct Vector {
  const char* artifact;
  const TrustedRoot* root;
  IdentityPolicy policy;
  std::string certificate_pointer;
};

std::vector<Vector> vectors() {
  return {{"bundle_v3_github.whl", &production_root(), github_policy(),
           "/verificationMaterial/x509CertificateChain/certificates/0/rawBytes"},
          {"bundle_v3.txt", &staging_root(), IdentityPolicy::any_identity(), "/verificationMaterial/certificate/rawBytes"}};
}

json bundle_of(const Vector& v) { return json::parse(fixture(std::string(v.artifact) + ".sigstore")); }

Verdict verify(const Vector& v, const json& bundle) { return verify_json(v.artifact, bundle.dump(), *v.root, v.policy); }

void add_to_string_int(json& doc, const std::string& pointer, long delta) {
  auto& value = doc[json::json_pointer(pointer)];
  value = std::to_string(std::stoll(value.get<std::string>()) + delta);
}

}  // namespace

TEST_CASE("unmutated vectors verify (baseline for the mutations)") {
  for (const auto& v : vectors()) {
    CAPTURE(v.artifact);
    CHECK(verify(v, bundle_of(v)).verified);
  }
}

TEST_CASE("mutated signature is rejected at the artifact signature") {
  for (const auto& v : vectors()) {
    for (long index : {8L, 20L, -1L}) {
      auto b = bundle_of(v);
      flip_base64_byte(b, "/messageSignature/signature", index);
      CHECK(verify(v, b).failed_step == VerifyStep::artifact_signature);
    }
    auto b = bundle_of(v);
    flip_base64_byte(b, "/messageSignature/messageDigest/digest", 0);
    CHECK(verify(v, b).failed_step == VerifyStep::artifact_signature);
  }
}

TEST_CASE("mutated certificate is rejected at the certificate chain") {
  for (const auto& v : vectors()) {
    CAPTURE(v.artifact);
    auto b = bundle_of(v);
    flip_base64_byte(b, v.certificate_pointer, -1);  // inside the CA's signature
    CHECK(verify(v, b).failed_step == VerifyStep::certificate_chain);
    b = bundle_of(v);
    flip_base64_byte(b, v.certificate_pointer, 200);  // inside the to-be-signed part
    const auto step = verify(v, b).failed_step;
    CHECK((step == VerifyStep::certificate_chain || step == VerifyStep::bundle_format));
  }
}

TEST_CASE("each mutated inclusion proof hash is rejected at the inclusion proof") {
  for (const auto& v : vectors()) {
    const auto count = bundle_of(v)[json::json_pointer(kProof + "/hashes")].size();
    for (std::size_t i = 0; i < count; ++i) {
      CAPTURE(i);
      auto b = bundle_of(v);
      flip_base64_byte(b, kProof + "/hashes/" + std::to_string(i), 5);
      CHECK(verify(v, b).failed_step == VerifyStep::inclusion_proof);
    }
    auto b = bundle_of(v);
    b[json::json_pointer(kProof + "/hashes")].erase(0);
    CHECK(verify(v, b).failed_step == VerifyStep::inclusion_proof);
    b = bundle_of(v);
    flip_base64_byte(b, kProof + "/rootHash", 0);
    CHECK(verify(v, b).failed_step == VerifyStep::inclusion_proof);
    b = bundle_of(v);
    add_to_string_int(b, kProof + "/logIndex", 1);
    CHECK(verify(v, b).failed_step == VerifyStep::inclusion_proof);
    b = bundle_of(v);
    add_to_string_int(b, kProof + "/treeSize", 1);
    CHECK(verify(v, b).failed_step == VerifyStep::inclusion_proof);
  }
}

TEST_CASE("mutated checkpoint is rejected at the checkpoint") {
  for (const auto& v : vectors()) {
    const std::string envelope = bundle_of(v)[json::json_pointer(kProof + "/checkpoint/envelope")];
    const auto sig_at = envelope.rfind(' ') + 10;   // inside the signature's base64
    const auto size_at = envelope.find('\n') + 1;    // first digit of the tree size
    const auto origin_at = std::size_t{2};
    for (auto at : {sig_at, size_at, origin_at}) {
      CAPTURE(at);
      auto b = bundle_of(v);
      std::string mutated = envelope;
      mutated[at] = mutated[at] == '1' ? '2' : '1';
      b[json::json_pointer(kProof + "/checkpoint/envelope")] = mutated;
      CHECK(verify(v, b).failed_step == VerifyStep::checkpoint);
    }
    auto b = bundle_of(v);
    b[json::json_pointer(kProof + "/checkpoint/envelope")] = envelope.substr(0, envelope.find("\n\n") + 2);
    CHECK(verify(v, b).failed_step == VerifyStep::checkpoint);
  }
}

TEST_CASE("mutated SET, integratedTime, logIndex, body or log ID is rejected at the signing time") {
  for (const auto& v : vectors()) {
    auto b = bundle_of(v);
    flip_base64_byte(b, kEntry + "/inclusionPromise/signedEntryTimestamp", 10);
    CHECK(verify(v, b).failed_step == VerifyStep::signing_time);
    b = bundle_of(v);
    add_to_string_int(b, kEntry + "/integratedTime", 1);
    CHECK(verify(v, b).failed_step == VerifyStep::signing_time);
    b = bundle_of(v);
    add_to_string_int(b, kEntry + "/integratedTime", -86400 * 365);
    CHECK(verify(v, b).failed_step == VerifyStep::signing_time);
    b = bundle_of(v);
    add_to_string_int(b, kEntry + "/logIndex", 1);
    CHECK(verify(v, b).failed_step == VerifyStep::signing_time);
    b = bundle_of(v);
    flip_base64_byte(b, kEntry + "/canonicalizedBody", 40);
    CHECK(verify(v, b).failed_step == VerifyStep::signing_time);
    b = bundle_of(v);
    flip_base64_byte(b, kEntry + "/logId/keyId", 0);
    const auto verdict = verify(v, b);
    CHECK(verdict.failed_step == VerifyStep::signing_time);
    CHECK(verdict.message.find("no transparency log") != std::string::npos);
  }
}

TEST_CASE("mutated trusted root keys reject at the step that uses them") {
  const Vector v = vectors()[0];
  const auto root_json = json::parse(fixture("trusted_root.production.json"));
  const auto staging = json::parse(fixture("trusted_root.staging.json"));
  const auto bundle = bundle_of(v);
  auto verify_with = [&](const json& root) {
    const auto parsed = parse_trusted_root(root.dump());
    return verify_json(v.artifact, bundle.dump(), parsed, v.policy);
  };
  auto root = root_json;  // Rekor key replaced with another valid key
  root["tlogs"][0]["publicKey"] = staging["tlogs"][0]["publicKey"];
  CHECK(verify_with(root).failed_step == VerifyStep::signing_time);
  root = root_json;  // CT log keys replaced
  root["ctlogs"] = staging["ctlogs"];
  CHECK(verify_with(root).failed_step == VerifyStep::sct);
  root = root_json;  // Fulcio CAs replaced
  root["certificateAuthorities"] = staging["certificateAuthorities"];
  CHECK(verify_with(root).failed_step == VerifyStep::certificate_chain);
  root = root_json;  // one byte of the Rekor key: either not a key any more, or another key
  flip_base64_byte(root, "/tlogs/0/publicKey/rawBytes", -1);
  try {
    const auto step = verify_with(root).failed_step;
    CHECK(step == VerifyStep::signing_time);
  } catch (const kernel_lock::Error& e) {
    CHECK(e.code() == kernel_lock::ErrorCode::invalid_input);
    CHECK(std::string(e.what()).find("tlogs[0]") != std::string::npos);
  }
  root = root_json;  // the Fulcio CA was not valid at the signing time
  for (auto& ca : root["certificateAuthorities"]) ca["validFor"]["end"] = "2023-01-01T00:00:00Z";
  CHECK(verify_with(root).failed_step == VerifyStep::certificate_chain);
  root = root_json;  // the Rekor key was not valid at the signing time
  root["tlogs"][0]["publicKey"]["validFor"]["end"] = "2023-01-01T00:00:00Z";
  CHECK(verify_with(root).failed_step == VerifyStep::signing_time);
}

TEST_CASE("re-signed by a test log: the test log itself verifies") {
  const Vector v = vectors()[0];
  TestLog log;
  auto root = json::parse(fixture("trusted_root.production.json"));
  log.install(root);
  auto bundle = bundle_of(v);
  log.resign(bundle);
  const auto verdict = verify_json(v.artifact, bundle.dump(), parse_trusted_root(root.dump()), v.policy);
  INFO(verdict.describe());
  CHECK(verdict.verified);
}

TEST_CASE("a signing time outside the certificate's validity is rejected") {
  const Vector v = vectors()[0];
  TestLog log;
  auto root_json = json::parse(fixture("trusted_root.production.json"));
  log.install(root_json);
  const auto root = parse_trusted_root(root_json.dump());
  const auto integrated = std::stoll(bundle_of(v)[json::json_pointer(kEntry + "/integratedTime")].get<std::string>());
  // Fulcio certificates live 10 minutes: an hour later, and a day earlier, are outside.
  for (long delta : {3600L, -86400L}) {
    CAPTURE(delta);
    auto bundle = bundle_of(v);
    bundle[json::json_pointer(kEntry + "/integratedTime")] = std::to_string(integrated + delta);
    log.resign(bundle);
    const auto verdict = verify_json(v.artifact, bundle.dump(), root, v.policy);
    CHECK(verdict.failed_step == VerifyStep::certificate_chain);
    CHECK(verdict.signing_time == integrated + delta);
  }
}

TEST_CASE("a checkpoint signed by the log but for another root or size is rejected") {
  const Vector v = vectors()[0];
  TestLog log;
  auto root_json = json::parse(fixture("trusted_root.production.json"));
  log.install(root_json);
  const auto root = parse_trusted_root(root_json.dump());
  auto bundle = bundle_of(v);
  log.resign(bundle);
  const std::string size = bundle[json::json_pointer(kProof + "/treeSize")];
  const std::string root_hash = bundle[json::json_pointer(kProof + "/rootHash")];
  auto other = bundle;
  log.resign_checkpoint(other, "rekor.test - 1\n" + size + "\n" + b64encode(std::vector<std::uint8_t>(32, 7)) + "\n");
  auto verdict = verify_json(v.artifact, other.dump(), root, v.policy);
  CHECK(verdict.failed_step == VerifyStep::checkpoint);
  CHECK(verdict.message.find("root hash") != std::string::npos);
  other = bundle;
  log.resign_checkpoint(other, "rekor.test - 1\n" + std::to_string(std::stoll(size) + 1) + "\n" + root_hash + "\n");
  verdict = verify_json(v.artifact, other.dump(), root, v.policy);
  CHECK(verdict.failed_step == VerifyStep::checkpoint);
  CHECK(verdict.message.find("tree size") != std::string::npos);
}

TEST_CASE("the log entry must name the bundle's signature, certificate and digest (CVE-2022-36056)") {
  // Another valid body for the same log: take it from the staging CVE vector's
  // sibling. Here: re-signed entries whose body differs in one field.
  const Vector v = vectors()[0];
  TestLog log;
  auto root_json = json::parse(fixture("trusted_root.production.json"));
  log.install(root_json);
  const auto root = parse_trusted_root(root_json.dump());
  const auto original = bundle_of(v);
  auto body = json::parse([&] {
    const auto raw = b64decode(original[json::json_pointer(kEntry + "/canonicalizedBody")].get<std::string>());
    return std::string(raw.begin(), raw.end());
  }());
  auto with_body = [&](const json& new_body) {
    auto b = original;
    const auto text = new_body.dump();
    b[json::json_pointer(kEntry + "/canonicalizedBody")] = b64encode({text.begin(), text.end()});
    b[json::json_pointer(kProof + "/hashes")] = json::array();  // a one-leaf tree: root = leaf hash
    b[json::json_pointer(kProof + "/logIndex")] = "0";
    b[json::json_pointer(kProof + "/treeSize")] = "1";
    std::vector<std::uint8_t> leaf{0};
    leaf.insert(leaf.end(), text.begin(), text.end());
    std::vector<std::uint8_t> hash(32);
    EVP_Digest(leaf.data(), leaf.size(), hash.data(), nullptr, EVP_sha256(), nullptr);
    b[json::json_pointer(kProof + "/rootHash")] = b64encode(hash);
    log.resign(b);
    return verify_json(v.artifact, b.dump(), root, v.policy);
  };
  CHECK(with_body(body).verified);
  auto changed = body;
  changed["spec"]["data"]["hash"]["value"] = std::string(64, '0');
  CHECK(with_body(changed).failed_step == VerifyStep::log_entry_consistency);
  changed = body;
  changed["spec"]["signature"]["content"] = b64encode(std::vector<std::uint8_t>(70, 1));
  CHECK(with_body(changed).failed_step == VerifyStep::log_entry_consistency);
  changed = body;
  changed["kind"] = "rekord";
  CHECK(with_body(changed).failed_step == VerifyStep::log_entry_consistency);
  changed = body;
  changed["spec"]["signature"]["publicKey"]["content"] = b64encode(std::vector<std::uint8_t>(30, 'A'));
  CHECK(with_body(changed).failed_step == VerifyStep::log_entry_consistency);
}

TEST_CASE("hand-built trust material that does not parse is a verdict at its step, not an exception") {
  const Vector v = vectors()[0];
  auto root = production_root();
  for (auto& log : root.tlogs) log.public_key_der.assign(10, 0x30);
  const auto verdict = verify_json(v.artifact, bundle_of(v).dump(), root, v.policy);
  CHECK(verdict.failed_step == VerifyStep::signing_time);
  CHECK(verdict.message.find("public key") != std::string::npos);
}
