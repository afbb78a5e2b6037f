// Who may have signed: the identity policy checked on a Fulcio certificate's
// extensions, and the identity read from a certificate.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace kernel_lock::trust {

// Fulcio extension OIDs (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
inline constexpr const char* kOidIssuerV1 = "1.3.6.1.4.1.57264.1.1";          // raw bytes
inline constexpr const char* kOidIssuerV2 = "1.3.6.1.4.1.57264.1.8";          // DER UTF8String
inline constexpr const char* kOidBuildSignerUri = "1.3.6.1.4.1.57264.1.9";    // DER UTF8String
inline constexpr const char* kOidSourceRepositoryUri = "1.3.6.1.4.1.57264.1.12";
inline constexpr const char* kOidSourceRepositoryDigest = "1.3.6.1.4.1.57264.1.13";
inline constexpr const char* kOidSourceRepositoryRef = "1.3.6.1.4.1.57264.1.14";
inline constexpr const char* kOidRunInvocationUri = "1.3.6.1.4.1.57264.1.21";

// What a Fulcio certificate says about its holder. Empty when absent.
struct SignerIdentity {
  std::string subject_alternative_name;  // the URI or email SAN
  std::string issuer;                    // v2 extension (.1.8), else v1 (.1.1)
  std::string issuer_v1;                 // .1.1 as written
  std::string issuer_v2;                 // .1.8 as written
  std::string build_signer_uri;
  std::string source_repository_uri;
  std::string source_repository_digest;
  std::string source_repository_ref;
  std::string run_invocation_uri;
};

// Each non-empty list must hold the certificate's value ("any one matches");
// all non-empty lists must hold at once. Values compare exactly (byte for byte).
struct IdentityPolicy {
  std::vector<std::string> issuers;
  std::vector<std::string> source_repositories;
  std::vector<std::string> build_signer_uris;
  std::vector<std::string> subject_alternative_names;
  // When true, both issuer extensions (v1 .1.1 and v2 .1.8) must be present and match
  // (the Python `kernels` default); otherwise each present one must match, and at least one.
  bool require_issuer_v1_and_v2 = false;
  // Accepts any signer: only for tests and plumbing. A policy with every list empty
  // and this false is refused (an empty policy is a mistake, not "anyone").
  bool accept_any_identity = false;

  // The Python `kernels` default for kernels-community builds (signing.md).
  static IdentityPolicy kernels_community();
  static IdentityPolicy any_identity();
  bool empty() const noexcept;
};

// nullopt when `identity` satisfies `policy`, else a sentence naming the field that
// failed, the certificate's value and the accepted values. Never throws.
std::optional<std::string> check_identity(const IdentityPolicy& policy, const SignerIdentity& identity);

}  // namespace kernel_lock::trust
