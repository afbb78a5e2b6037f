#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kernel_lock/core/error.hpp"
#include "steps.hpp"

namespace kernel_lock::trust::detail {
namespace {

template <class Decoded>
Decoded decode_key(const LogKey& log) {
  Decoded out;
  try {
    out.key = parse_public_key_der(log.public_key_der);
  } catch (const Error& e) {
    out.error = "trusted root key of " + log.base_url + ": " + e.message();
  }
  return out;
}

// Each certificate issued (names, key identifiers) and signed by the next one.
bool chain_signed_in_order(const std::vector<X509Ptr>& certs) {
  for (std::size_t i = 0; i + 1 < certs.size(); ++i) {
    X509* subject = certs[i].get();
    X509* issuer = certs[i + 1].get();
    if (X509_check_issued(issuer, subject) != X509_V_OK) return false;
    if (X509_verify(subject, X509_get0_pubkey(issuer)) != 1) {
      ERR_clear_error();
      return false;
    }
  }
  return true;
}

}  // namespace

RootMaterial::RootMaterial(TrustedRoot root) : root_(std::move(root)) {
  for (const auto& log : root_.tlogs) tlog_keys_.push_back(decode_key<Decoded>(log));
  for (const auto& log : root_.ctlogs) ctlog_keys_.push_back(decode_key<Decoded>(log));
  for (const auto& ca : root_.certificate_authorities) {
    std::vector<X509Ptr> certs;
    std::string error;
    try {
      for (const auto& der : ca.chain_der) certs.push_back(parse_certificate_der(der));
    } catch (const Error& e) {
      error = "trusted root certificate authority " + ca.uri + ": " + e.message();
    }
    ca_preverified_.push_back(error.empty() && !certs.empty() && chain_signed_in_order(certs));
    ca_certificates_.push_back(std::move(certs));
    ca_errors_.push_back(std::move(error));
  }
}

EVP_PKEY* RootMaterial::key_of(const LogKey& log, VerifyStep step) const {
  const bool is_tlog = &log >= root_.tlogs.data() && &log < root_.tlogs.data() + root_.tlogs.size();
  const auto& keys = is_tlog ? tlog_keys_ : ctlog_keys_;
  const auto index = static_cast<std::size_t>(&log - (is_tlog ? root_.tlogs.data() : root_.ctlogs.data()));
  if (index >= keys.size()) throw Error(ErrorCode::generic, "log key not from this trusted root");
  if (!keys[index].key) fail(step, keys[index].error);
  return keys[index].key.get();
}

const std::vector<X509Ptr>& RootMaterial::certificates_of(std::size_t index) const {
  if (!ca_errors_.at(index).empty()) fail(VerifyStep::certificate_chain, ca_errors_[index]);
  return ca_certificates_[index];
}

}  // namespace kernel_lock::trust::detail
