#include "test_log.hpp"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <stdexcept>

#include "trust_fixtures.hpp"

namespace trust_test {

struct TestLog::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

std::string hex(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (auto b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

}  // namespace

TestLog::TestLog() : key_(std::make_unique<Key>()) {
  key_->pkey = EVP_EC_gen("P-256");
  if (!key_->pkey) throw std::runtime_error("EVP_EC_gen failed");
  const auto der = spki_der();
  key_id_.resize(SHA256_DIGEST_LENGTH);
  SHA256(der.data(), der.size(), key_id_.data());
}

TestLog::~TestLog() = default;

std::vector<std::uint8_t> TestLog::spki_der() const {
  unsigned char* out = nullptr;
  const int n = i2d_PUBKEY(key_->pkey, &out);
  std::vector<std::uint8_t> der(out, out + n);
  OPENSSL_free(out);
  return der;
}

std::vector<std::uint8_t> TestLog::sign(const std::string& message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_->pkey);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(message.data()), message.size());
  std::vector<std::uint8_t> sig(len);
  EVP_DigestSign(ctx, sig.data(), &len, reinterpret_cast<const unsigned char*>(message.data()), message.size());
  EVP_MD_CTX_free(ctx);
  sig.resize(len);
  return sig;
}

void TestLog::install(nlohmann::json& trusted_root, const std::string& start) const {
  nlohmann::json tlog = {{"baseUrl", "https://rekor.test"},
                         {"hashAlgorithm", "SHA2_256"},
                         {"publicKey",
                          {{"rawBytes", b64encode(spki_der())},
                           {"keyDetails", "PKIX_ECDSA_P256_SHA_256"},
                           {"validFor", {{"start", start}}}}},
                         {"logId", {{"keyId", b64encode(key_id_)}}}};
  trusted_root["tlogs"] = nlohmann::json::array({tlog});
}

void TestLog::resign(nlohmann::json& bundle) const {
  auto& entry = bundle["verificationMaterial"]["tlogEntries"][0];
  entry["logId"]["keyId"] = b64encode(key_id_);
  const std::string body = entry["canonicalizedBody"];
  const std::string payload = R"({"body":")" + body + R"(","integratedTime":)" +
                              entry["integratedTime"].get<std::string>() + R"(,"logID":")" + hex(key_id_) +
                              R"(","logIndex":)" + entry["logIndex"].get<std::string>() + "}";
  entry["inclusionPromise"]["signedEntryTimestamp"] = b64encode(sign(payload));
  const auto& proof = entry["inclusionProof"];
  resign_checkpoint(bundle, "rekor.test - 1\n" + proof["treeSize"].get<std::string>() + "\n" +
                                proof["rootHash"].get<std::string>() + "\n");
}

void TestLog::resign_checkpoint(nlohmann::json& bundle, const std::string& note) const {
  auto hint_and_sig = std::vector<std::uint8_t>(key_id_.begin(), key_id_.begin() + 4);
  const auto sig = sign(note);
  hint_and_sig.insert(hint_and_sig.end(), sig.begin(), sig.end());
  bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"] =
      note + "\n\xE2\x80\x94 rekor.test " + b64encode(hint_and_sig) + "\n";
}

}  // namespace trust_test
