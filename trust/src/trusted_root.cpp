#include "kernel_lock/trust/trusted_root.hpp"

#include <algorithm>

#include "codec.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "openssl.hpp"

namespace kernel_lock::trust {
namespace {

constexpr std::string_view kTrustedRootMediaType = "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
constexpr std::size_t kMaxEntries = 256;  // per list: logs, CAs, certificates of one chain

ValidityWindow parse_validity(const nlohmann::json* valid_for, std::string_view what) {
  ValidityWindow window;
  if (!valid_for) throw Error(ErrorCode::invalid_input, std::string(what) + ": missing `validFor`");
  window.start = parse_rfc3339(detail::string_field(*valid_for, "start", what));
  if (const auto* end = detail::optional_field(*valid_for, "end")) {
    if (!end->is_string()) throw Error(ErrorCode::invalid_input, std::string(what) + ": `validFor.end` not a string");
    window.end = parse_rfc3339(end->get<std::string>());
  }
  return window;
}

const nlohmann::json& bounded_array(const nlohmann::json& value, std::string_view what) {
  if (!value.is_array()) throw Error(ErrorCode::invalid_input, std::string(what) + ": expected an array");
  if (value.size() > kMaxEntries) throw Error(ErrorCode::invalid_input, std::string(what) + ": too many entries");
  return value;
}

LogKey parse_log_key(const nlohmann::json& entry, std::string_view what) {
  LogKey key;
  if (const auto* url = detail::optional_field(entry, "baseUrl"); url && url->is_string()) key.base_url = *url;
  const auto& public_key = detail::field(entry, "publicKey", what);
  key.public_key_der = detail::base64_decode(detail::string_field(public_key, "rawBytes", what), what,
                                             detail::kMaxDerBytes);
  if (const auto* details = detail::optional_field(public_key, "keyDetails"); details && details->is_string()) {
    key.key_details = *details;
  }
  // Checks it is a key, and stores it as SubjectPublicKeyInfo (PKCS#1 RSA keys converted).
  const auto parsed = detail::parse_log_public_key(key.public_key_der, key.key_details);
  key.public_key_der = detail::public_key_der(parsed.get());
  key.key_id = detail::sha256(key.public_key_der);
  key.valid_for = parse_validity(detail::optional_field(public_key, "validFor"), what);
  return key;
}

std::vector<LogKey> parse_log_keys(const nlohmann::json& doc, std::string_view name) {
  std::vector<LogKey> keys;
  const auto* list = detail::optional_field(doc, name);
  if (!list) return keys;
  std::size_t i = 0;
  for (const auto& entry : bounded_array(*list, name)) {
    const std::string what = std::string(name) + "[" + std::to_string(i++) + "]";
    keys.push_back(with_context("trusted root " + what, [&] { return parse_log_key(entry, what); }));
  }
  return keys;
}

CertificateAuthority parse_authority(const nlohmann::json& entry, std::string_view what) {
  CertificateAuthority ca;
  if (const auto* uri = detail::optional_field(entry, "uri"); uri && uri->is_string()) ca.uri = *uri;
  const auto& certs = detail::field(detail::field(entry, "certChain", what), "certificates", what);
  for (const auto& cert : bounded_array(certs, what)) {
    auto der = detail::base64_decode(detail::string_field(cert, "rawBytes", what), what, detail::kMaxDerBytes);
    detail::parse_certificate_der(der);  // checks it is a certificate
    ca.chain_der.push_back(std::move(der));
  }
  if (ca.chain_der.empty()) throw Error(ErrorCode::invalid_input, std::string(what) + ": empty certificate chain");
  ca.valid_for = parse_validity(detail::optional_field(entry, "validFor"), what);
  return ca;
}

const LogKey* find_key(const std::vector<LogKey>& keys, std::span<const std::uint8_t> key_id) noexcept {
  auto it = std::find_if(keys.begin(), keys.end(), [&](const LogKey& k) {
    return std::equal(k.key_id.begin(), k.key_id.end(), key_id.begin(), key_id.end());
  });
  return it == keys.end() ? nullptr : &*it;
}

}  // namespace

const LogKey* TrustedRoot::find_tlog(std::span<const std::uint8_t> key_id) const noexcept {
  return find_key(tlogs, key_id);
}

const LogKey* TrustedRoot::find_ctlog(std::span<const std::uint8_t> key_id) const noexcept {
  return find_key(ctlogs, key_id);
}

TrustedRoot parse_trusted_root(std::string_view json) {
  const auto doc = detail::parse_json(json, "trusted root", kMaxTrustedRootBytes);
  const auto media_type = detail::string_field(doc, "mediaType", "trusted root");
  if (media_type != kTrustedRootMediaType) {
    throw Error(ErrorCode::unsupported, "trusted root: unsupported media type `" + media_type + "`");
  }
  TrustedRoot root;
  root.tlogs = parse_log_keys(doc, "tlogs");
  root.ctlogs = parse_log_keys(doc, "ctlogs");
  if (const auto* cas = detail::optional_field(doc, "certificateAuthorities")) {
    std::size_t i = 0;
    for (const auto& entry : bounded_array(*cas, "certificateAuthorities")) {
      const std::string what = "certificateAuthorities[" + std::to_string(i++) + "]";
      root.certificate_authorities.push_back(
          with_context("trusted root " + what, [&] { return parse_authority(entry, what); }));
    }
  }
  if (const auto* tsas = detail::optional_field(doc, "timestampAuthorities")) {
    root.timestamp_authority_count = bounded_array(*tsas, "timestampAuthorities").size();
  }
  if (root.tlogs.empty() || root.ctlogs.empty() || root.certificate_authorities.empty()) {
    throw Error(ErrorCode::invalid_input,
                "trusted root: needs at least one transparency log, CT log and certificate authority");
  }
  return root;
}

TrustedRoot load_trusted_root(const std::filesystem::path& path) {
  const auto text = read_file_at_most(path, kMaxTrustedRootBytes);
  return with_context(path.string(), [&] { return parse_trusted_root(text); });
}

}  // namespace kernel_lock::trust
