#include "kernel_lock/trust/policy.hpp"

#include <algorithm>

namespace kernel_lock::trust {
namespace {

constexpr const char* kGithubIssuer = "https://token.actions.githubusercontent.com";
constexpr const char* kKernelsCommunityRepo = "https://github.com/huggingface/kernels-community";

std::string quoted_list(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) {
    if (!out.empty()) out += ", ";
    out += "`" + v + "`";
  }
  return out;
}

// nullopt when `accepted` is empty or holds `value`.
std::optional<std::string> check_one(const char* field, const std::vector<std::string>& accepted,
                                     const std::string& value) {
  if (accepted.empty() || std::find(accepted.begin(), accepted.end(), value) != accepted.end()) return std::nullopt;
  return std::string(field) + " `" + (value.empty() ? std::string("(absent)") : value.substr(0, 512)) +
         "` is not one of " + quoted_list(accepted);
}

std::optional<std::string> check_issuer(const IdentityPolicy& policy, const SignerIdentity& identity) {
  if (policy.issuers.empty()) return std::nullopt;
  if (identity.issuer_v1.empty() && identity.issuer_v2.empty()) return "certificate has no OIDC issuer extension";
  if (policy.require_issuer_v1_and_v2 && (identity.issuer_v1.empty() || identity.issuer_v2.empty())) {
    return "certificate lacks the " + std::string(identity.issuer_v1.empty() ? "v1 (1.3.6.1.4.1.57264.1.1)"
                                                                             : "v2 (1.3.6.1.4.1.57264.1.8)") +
           " OIDC issuer extension that the policy requires";
  }
  if (!identity.issuer_v2.empty()) {
    if (auto failure = check_one("OIDC issuer", policy.issuers, identity.issuer_v2)) return failure;
  }
  if (!identity.issuer_v1.empty()) return check_one("OIDC issuer (v1)", policy.issuers, identity.issuer_v1);
  return std::nullopt;
}

}  // namespace

IdentityPolicy IdentityPolicy::kernels_community() {
  IdentityPolicy policy;
  policy.issuers = {kGithubIssuer};
  policy.source_repositories = {kKernelsCommunityRepo};
  const std::string workflows = std::string(kKernelsCommunityRepo) + "/.github/workflows/";
  for (const char* workflow : {"build.yaml", "build-mac.yaml", "build-windows.yaml", "sign-old-builds.yaml"}) {
    policy.build_signer_uris.push_back(workflows + workflow + "@refs/heads/main");
  }
  policy.require_issuer_v1_and_v2 = true;
  return policy;
}

IdentityPolicy IdentityPolicy::any_identity() {
  IdentityPolicy policy;
  policy.accept_any_identity = true;
  return policy;
}

bool IdentityPolicy::empty() const noexcept {
  return issuers.empty() && source_repositories.empty() && build_signer_uris.empty() &&
         subject_alternative_names.empty();
}

std::optional<std::string> check_identity(const IdentityPolicy& policy, const SignerIdentity& identity) {
  if (policy.empty()) {
    if (policy.accept_any_identity) return std::nullopt;
    return "the identity policy is empty: name an issuer, source repository or build signer "
           "(or accept any identity explicitly)";
  }
  if (auto failure = check_issuer(policy, identity)) return failure;
  if (auto failure = check_one("source repository", policy.source_repositories, identity.source_repository_uri)) {
    return failure;
  }
  if (auto failure = check_one("build signer URI", policy.build_signer_uris, identity.build_signer_uri)) return failure;
  return check_one("subject alternative name", policy.subject_alternative_names, identity.subject_alternative_name);
}

IdentityPolicy policy_for_rule(const SignerRule& rule) {
  IdentityPolicy policy;
  policy.issuers = {rule.issuer};
  policy.source_repositories = {rule.source_repository};
  policy.build_signer_uris = rule.build_signer_uris;
  return policy;
}

IdentityPolicy pinned_policy(const LockedSignature& signature) {
  IdentityPolicy policy;
  policy.issuers = {signature.issuer};
  policy.source_repositories = {signature.source_repository};
  policy.build_signer_uris = {signature.build_signer_uri};
  return policy;
}

KernelSignerPolicy signer_policy_for(std::string_view repo_id, const SigningRequirement& signing) {
  KernelSignerPolicy out;
  out.allow_unsigned = signing.allow_unsigned;
  if (!signing.signers.empty()) {
    for (const auto& rule : signing.signers) out.accepted.push_back(policy_for_rule(rule));
    out.origin = "kernels.yaml signers";
  } else if (repo_id.starts_with("kernels-community/")) {
    out.accepted.push_back(IdentityPolicy::kernels_community());
    out.origin = "the kernels-community default";
  } else {
    out.origin = "no signer policy";
  }
  out.signature_required = signing.require_signature || (!out.accepted.empty() && !signing.allow_unsigned);
  return out;
}

std::optional<std::string> check_identity_any(const std::vector<IdentityPolicy>& accepted,
                                              const SignerIdentity& identity) {
  if (accepted.empty()) return std::nullopt;
  std::string failures;
  for (const auto& policy : accepted) {
    auto failure = check_identity(policy, identity);
    if (!failure) return std::nullopt;
    if (!failures.empty()) failures += "; or ";
    failures += *failure;
  }
  return failures;
}

}  // namespace kernel_lock::trust
