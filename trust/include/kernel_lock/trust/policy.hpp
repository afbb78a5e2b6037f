// Who may have signed: the identity policy checked on a Fulcio certificate's
// extensions, and the identity read from a certificate.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/core/locked_requirement.hpp"  // SignerRule, SigningRequirement
#include "kernel_lock/core/lockfile.hpp"            // LockedSignature

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

// An identity policy for one kernels.yaml signer rule (exact issuer and source
// repository; one of its build signer URIs when it lists any).
IdentityPolicy policy_for_rule(const SignerRule& rule);

// The policy that accepts exactly the signer a lock pinned: its issuer, source
// repository and build signer URI.
IdentityPolicy pinned_policy(const LockedSignature& signature);

// What a kernel's signatures must satisfy when it is locked (docs/trust.md "Policy"):
//   - kernels.yaml `signers` when given (any one rule);
//   - else, for a repo of the kernels-community org, the Python `kernels` default;
//   - else no constraint: a valid signature by anyone is accepted and its signer
//     pinned in the lock on first use.
// A signature is required with signers or the kernels-community default (unless
// `allow-unsigned`), and always with `require-signature`.
struct KernelSignerPolicy {
  std::vector<IdentityPolicy> accepted;  // any one matches; empty = any identity
  bool signature_required = false;
  bool allow_unsigned = false;
  std::string origin;  // "kernels.yaml signers", "the kernels-community default", "no signer policy"
};
KernelSignerPolicy signer_policy_for(std::string_view repo_id, const SigningRequirement& signing);

// nullopt when `identity` satisfies one of `accepted` (or `accepted` is empty),
// else one sentence per policy tried, joined with "; or ".
std::optional<std::string> check_identity_any(const std::vector<IdentityPolicy>& accepted,
                                              const SignerIdentity& identity);

}  // namespace kernel_lock::trust
