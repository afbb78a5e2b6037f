// The Fulcio certificate: chain to the trusted root, embedded SCT (RFC 6962),
// X.509 profile, validity period and the signer identity extensions.
#include <ctime>

#include <openssl/ct.h>
#include <openssl/x509v3.h>

#include "codec.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "steps.hpp"

namespace kernel_lock::trust::detail {
namespace {

constexpr int kMaxChainDepth = 8;
constexpr std::size_t kMaxExtensionText = 4096;

using SctListPtr = Owner<STACK_OF(SCT), SCT_LIST_free>;
using ExtensionPtr = Owner<X509_EXTENSION, X509_EXTENSION_free>;
using ObjectPtr = Owner<ASN1_OBJECT, ASN1_OBJECT_free>;
using Utf8Ptr = Owner<ASN1_UTF8STRING, ASN1_UTF8STRING_free>;
inline void free_general_names(GENERAL_NAMES* names) noexcept { GENERAL_NAMES_free(names); }
using GeneralNamesPtr = Owner<GENERAL_NAMES, free_general_names>;

// True when every certificate above the issuing one is inside its validity period at `at`.
bool upper_chain_valid_at(const std::vector<X509Ptr>& certs, UnixTime at) {
  time_t t = static_cast<time_t>(at);
  for (std::size_t i = 1; i < certs.size(); ++i) {
    if (X509_cmp_time(X509_get0_notBefore(certs[i].get()), &t) > 0) return false;
    if (X509_cmp_time(X509_get0_notAfter(certs[i].get()), &t) < 0) return false;
  }
  return true;
}

// Adds the certificates of the CAs valid at `at` to a store (all trusted, as the
// reference verifier does; partial chains end at any of them). Returns how many CAs.
// A CA whose chain was verified when the root was loaded (RootMaterial) and whose
// upper certificates are valid at `at` adds only its issuing certificate: the
// chain then ends there, and the static CA signatures (ECDSA P-384, about 1 ms
// each) are not verified again for every signature. Otherwise every certificate
// goes in and OpenSSL checks (and names) what fails, as before.
int add_authorities(X509_STORE* store, const RootMaterial& root, UnixTime at) {
  int count = 0;
  const auto& authorities = root.root().certificate_authorities;
  for (std::size_t i = 0; i < authorities.size(); ++i) {
    if (!authorities[i].valid_for.contains(at)) continue;
    ++count;
    const auto& certs = root.certificates_of(i);
    const bool issuing_only = root.chain_preverified(i) && upper_chain_valid_at(certs, at);
    for (std::size_t c = 0; c < certs.size() && (c == 0 || !issuing_only); ++c) {
      if (X509_STORE_add_cert(store, certs[c].get()) != 1) openssl_error();  // duplicates are fine
    }
  }
  return count;
}

void put_u24(Bytes& out, std::size_t n) {
  out.push_back(static_cast<std::uint8_t>(n >> 16));
  out.push_back(static_cast<std::uint8_t>(n >> 8));
  out.push_back(static_cast<std::uint8_t>(n));
}

// TBSCertificate of the leaf with the SCT list extension removed: the precertificate
// TBS that the CT log signed (RFC 6962 section 3.2).
Bytes precertificate_tbs(X509* leaf) {
  X509Ptr copy(X509_dup(leaf));
  if (!copy) throw Error(ErrorCode::generic, "X509_dup failed");
  const int index = X509_get_ext_by_NID(copy.get(), NID_ct_precert_scts, -1);
  if (index < 0) fail(VerifyStep::sct, "certificate has no embedded SCT list");
  ExtensionPtr removed(X509_delete_ext(copy.get(), index));
  unsigned char* out = nullptr;
  const int n = i2d_re_X509_tbs(copy.get(), &out);
  if (n <= 0) throw Error(ErrorCode::generic, "i2d_re_X509_tbs failed: " + openssl_error());
  Bytes tbs(out, out + n);
  OPENSSL_free(out);
  return tbs;
}

bool is_precertificate_signer(X509* cert) {
  Owner<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free> eku(
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
  if (!eku) return false;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i)) == NID_ct_precert_signer) return true;
  }
  return false;
}

// The issuer whose key hash the SCT binds: the leaf's issuer in the verified
// chain, or the one above it when that is a precertificate signing certificate.
X509* sct_issuer(STACK_OF(X509) * chain) {
  if (sk_X509_num(chain) < 2) fail(VerifyStep::sct, "verified chain has no issuer certificate");
  X509* issuer = sk_X509_value(chain, 1);
  if (is_precertificate_signer(issuer)) {
    if (sk_X509_num(chain) < 3) fail(VerifyStep::sct, "precertificate signer without an issuer in the chain");
    issuer = sk_X509_value(chain, 2);
  }
  if (X509_check_ca(issuer) <= 0) fail(VerifyStep::sct, "SCT issuer is not a CA");
  return issuer;
}

// digitally-signed struct of RFC 6962 section 3.2 for a precert_entry SCT.
Bytes sct_signed_data(const SCT* sct, std::span<const std::uint8_t> issuer_key_hash, std::span<const std::uint8_t> tbs) {
  Bytes data{0x00, 0x00};  // sct_version v1, signature_type certificate_timestamp
  const std::uint64_t timestamp = SCT_get_timestamp(sct);
  for (int shift = 56; shift >= 0; shift -= 8) data.push_back(static_cast<std::uint8_t>(timestamp >> shift));
  data.push_back(0x00);  // entry_type precert_entry (1), big-endian u16
  data.push_back(0x01);
  data.insert(data.end(), issuer_key_hash.begin(), issuer_key_hash.end());
  put_u24(data, tbs.size());
  data.insert(data.end(), tbs.begin(), tbs.end());
  unsigned char* ext = nullptr;
  const std::size_t ext_len = SCT_get0_extensions(sct, &ext);
  data.push_back(static_cast<std::uint8_t>(ext_len >> 8));
  data.push_back(static_cast<std::uint8_t>(ext_len));
  if (ext_len > 0) data.insert(data.end(), ext, ext + ext_len);
  return data;
}

std::string extension_text(X509* cert, const char* oid, bool der_utf8) {
  ObjectPtr object(OBJ_txt2obj(oid, 1));
  if (!object) throw Error(ErrorCode::generic, "OBJ_txt2obj failed");
  const int index = X509_get_ext_by_OBJ(cert, object.get(), -1);
  if (index < 0) return {};
  if (X509_get_ext_by_OBJ(cert, object.get(), index) >= 0) {
    fail(VerifyStep::identity_policy, std::string("certificate repeats extension ") + oid);
  }
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(cert, index));
  const unsigned char* p = ASN1_STRING_get0_data(data);
  const long n = ASN1_STRING_length(data);
  if (n < 0 || static_cast<std::size_t>(n) > kMaxExtensionText) fail(VerifyStep::identity_policy, "extension too long");
  if (!der_utf8) return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  Utf8Ptr text(d2i_ASN1_UTF8STRING(nullptr, &p, n));
  if (!text) fail(VerifyStep::identity_policy, std::string("extension ") + oid + " is not a DER UTF8String");
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text.get())),
                     static_cast<std::size_t>(ASN1_STRING_length(text.get())));
}

std::string subject_alternative_name(X509* cert) {
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return {};
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI && name->type != GEN_EMAIL) continue;
    const ASN1_IA5STRING* s = name->type == GEN_URI ? name->d.uniformResourceIdentifier : name->d.rfc822Name;
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<std::size_t>(ASN1_STRING_length(s)));
  }
  return {};
}

UnixTime asn1_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) fail(VerifyStep::validity_period, "unreadable certificate validity time");
  return static_cast<UnixTime>(timegm(&tm));
}

}  // namespace

X509StackPtr verify_certificate_chain(X509* leaf, const RootMaterial& root, UnixTime at) {
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx) throw Error(ErrorCode::generic, "X509_STORE_new failed");
  if (add_authorities(store.get(), root, at) == 0) {
    fail(VerifyStep::certificate_chain, "no Fulcio certificate authority of the trusted root is valid at the signing time " +
                                            std::to_string(at));
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) != 1) {
    throw Error(ErrorCode::generic, "X509_STORE_CTX_init failed: " + openssl_error());
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(at));
  X509_VERIFY_PARAM_set_depth(param, kMaxChainDepth);
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    openssl_error();
    fail(VerifyStep::certificate_chain, std::string("certificate does not chain to a Fulcio CA at the signing time: ") +
                                            X509_verify_cert_error_string(err));
  }
  return X509StackPtr(X509_STORE_CTX_get1_chain(ctx.get()));
}

void verify_embedded_sct(X509* leaf, STACK_OF(X509) * chain, const RootMaterial& root) {
  int critical = 0;
  SctListPtr scts(static_cast<STACK_OF(SCT)*>(X509_get_ext_d2i(leaf, NID_ct_precert_scts, &critical, nullptr)));
  if (!scts) fail(VerifyStep::sct, "certificate has no readable embedded SCT list");
  if (sk_SCT_num(scts.get()) != 1) fail(VerifyStep::sct, "expected one embedded SCT, found " + std::to_string(sk_SCT_num(scts.get())));
  const SCT* sct = sk_SCT_value(scts.get(), 0);
  if (SCT_get_version(sct) != SCT_VERSION_V1) fail(VerifyStep::sct, "SCT is not version 1");
  const int nid = SCT_get_signature_nid(sct);
  if (nid != NID_ecdsa_with_SHA256 && nid != NID_sha256WithRSAEncryption) fail(VerifyStep::sct, "SCT is not signed with SHA-256");
  unsigned char* log_id = nullptr;
  const std::size_t log_id_len = SCT_get0_log_id(sct, &log_id);
  const LogKey* log = root.root().find_ctlog(std::span<const std::uint8_t>(log_id, log_id_len));
  if (!log) fail(VerifyStep::sct, "no CT log of the trusted root has log ID " + to_hex({log_id, log_id_len}));
  const auto sct_time = static_cast<UnixTime>(SCT_get_timestamp(sct) / 1000);
  if (!log->valid_for.contains(sct_time)) fail(VerifyStep::sct, "SCT time lies outside the CT log key's validity window");
  X509* issuer = sct_issuer(chain);
  const auto issuer_key_hash = sha256(certificate_public_key_der(issuer));
  const auto signed_data = sct_signed_data(sct, issuer_key_hash, precertificate_tbs(leaf));
  unsigned char* sig = nullptr;
  const std::size_t sig_len = SCT_get0_signature(sct, &sig);
  EVP_PKEY* key = root.key_of(*log, VerifyStep::sct);
  if (!verify_message(key, signed_data, std::span<const std::uint8_t>(sig, sig_len), log_key_hash(log->key_details))) {
    fail(VerifyStep::sct, "embedded SCT does not verify with the key of CT log " + log->base_url);
  }
}

void verify_certificate_profile(X509* leaf) {
  const std::uint32_t flags = X509_get_extension_flags(leaf);
  if ((flags & EXFLAG_KUSAGE) == 0 || (X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) == 0) {
    fail(VerifyStep::certificate_profile, "key usage is not `digital signature`");
  }
  if ((flags & EXFLAG_XKUSAGE) == 0 || (X509_get_extended_key_usage(leaf) & XKU_CODE_SIGN) == 0) {
    fail(VerifyStep::certificate_profile, "extended key usage does not contain `code signing`");
  }
}

void verify_validity_period(X509* leaf, UnixTime at) {
  const UnixTime not_before = asn1_time(X509_get0_notBefore(leaf));
  const UnixTime not_after = asn1_time(X509_get0_notAfter(leaf));
  if (at < not_before || at > not_after) {
    fail(VerifyStep::validity_period, "signing time " + std::to_string(at) + " is outside the certificate's validity " +
                                          std::to_string(not_before) + ".." + std::to_string(not_after));
  }
}

SignerIdentity read_signer_identity(X509* leaf) {
  SignerIdentity id;
  id.subject_alternative_name = subject_alternative_name(leaf);
  id.issuer_v1 = extension_text(leaf, kOidIssuerV1, false);
  id.issuer_v2 = extension_text(leaf, kOidIssuerV2, true);
  id.issuer = id.issuer_v2.empty() ? id.issuer_v1 : id.issuer_v2;
  id.build_signer_uri = extension_text(leaf, kOidBuildSignerUri, true);
  id.source_repository_uri = extension_text(leaf, kOidSourceRepositoryUri, true);
  id.source_repository_digest = extension_text(leaf, kOidSourceRepositoryDigest, true);
  id.source_repository_ref = extension_text(leaf, kOidSourceRepositoryRef, true);
  id.run_invocation_uri = extension_text(leaf, kOidRunInvocationUri, true);
  return id;
}

}  // namespace kernel_lock::trust::detail
