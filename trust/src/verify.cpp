#include "kernel_lock/trust/verify.hpp"

#include "kernel_lock/trust/trust_store.hpp"  // format_rfc3339

#include <algorithm>

#include "codec.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/hash.hpp"
#include "steps.hpp"

namespace kernel_lock::trust {
namespace {

using detail::fail;

constexpr std::size_t kMaxBodyJson = 256 * 1024;

// Step 7: the bundle's digest (when given) is the artifact's, and the signature
// verifies with the certificate's key.
void verify_artifact_signature(std::span<const std::uint8_t> artifact, std::span<const std::uint8_t> artifact_sha256,
                               const Bundle& bundle, X509* leaf) {
  if (!bundle.message_digest.empty()) {
    if (bundle.message_digest_algorithm != "SHA2_256") {
      fail(VerifyStep::artifact_signature, "unsupported message digest algorithm " + bundle.message_digest_algorithm);
    }
    if (!std::equal(bundle.message_digest.begin(), bundle.message_digest.end(), artifact_sha256.begin(),
                    artifact_sha256.end())) {
      fail(VerifyStep::artifact_signature, "the bundle's message digest is not the artifact's sha256");
    }
  }
  EVP_PKEY* key = X509_get0_pubkey(leaf);
  if (!key) fail(VerifyStep::artifact_signature, "certificate public key is unreadable");
  const int id = EVP_PKEY_get_base_id(key);
  bool ok = false;
  if (id == EVP_PKEY_EC || id == EVP_PKEY_RSA) ok = detail::verify_prehashed_sha256(key, artifact_sha256, bundle.signature);
  else if (id == EVP_PKEY_ED25519) ok = detail::verify_message(key, artifact, bundle.signature);
  else fail(VerifyStep::artifact_signature, "unsupported certificate key type");
  if (!ok) fail(VerifyStep::artifact_signature, "signature does not match the artifact and the certificate's key");
}

// Step 8 (CVE-2022-36056): the logged hashedrekord body names this signature,
// this certificate and this artifact's sha256.
void verify_log_entry_consistency(std::span<const std::uint8_t> artifact_sha256, const Bundle& bundle) {
  constexpr auto step = VerifyStep::log_entry_consistency;
  const auto& raw = bundle.tlog_entry.canonicalized_body;
  try {
    const auto body = detail::parse_json({reinterpret_cast<const char*>(raw.data()), raw.size()}, "log entry body",
                                         kMaxBodyJson);
    if (detail::string_field(body, "kind", "body") != "hashedrekord" ||
        detail::string_field(body, "apiVersion", "body") != "0.0.1") {
      fail(step, "log entry body is not hashedrekord 0.0.1");
    }
    const auto& spec = detail::field(body, "spec", "body");
    const auto& sig = detail::field(spec, "signature", "body spec");
    const auto logged_signature = detail::base64_decode(detail::string_field(sig, "content", "body signature"),
                                                        "body signature", 16 * 1024);
    if (logged_signature != bundle.signature) fail(step, "the log entry records a different signature");
    const auto pem = detail::base64_decode(
        detail::string_field(detail::field(sig, "publicKey", "body signature"), "content", "body public key"),
        "body public key", 128 * 1024);
    if (detail::pem_certificate_der({reinterpret_cast<const char*>(pem.data()), pem.size()}) !=
        bundle.certificate_der) {
      fail(step, "the log entry records a different certificate");
    }
    const auto& hash = detail::field(detail::field(spec, "data", "body spec"), "hash", "body data");
    if (detail::string_field(hash, "algorithm", "body hash") != "sha256" ||
        detail::string_field(hash, "value", "body hash") != to_hex(artifact_sha256)) {
      fail(step, "the log entry records a different artifact digest");
    }
  } catch (const Error& e) {
    fail(step, "log entry body: " + e.message());
  }
}

// Steps 1-8 in order; throws StepFailure at the first that fails. `step` names the
// step in progress, so that an Error escaping a step (malformed trust material
// built by hand, say) is still reported at the right step.
void run_steps(std::span<const std::uint8_t> artifact, const Bundle& bundle, const detail::RootMaterial& root,
               const IdentityPolicy& policy, Verdict& verdict, VerifyStep& step) {
  step = VerifyStep::bundle_format;
  const auto leaf = detail::parse_certificate_der(bundle.certificate_der);
  verdict.log_index = bundle.tlog_entry.log_index;
  step = VerifyStep::signing_time;
  const UnixTime signed_at = detail::verify_signed_entry_timestamp(bundle.tlog_entry, root);
  verdict.signing_time = signed_at;
  step = VerifyStep::certificate_chain;
  const auto chain = detail::verify_certificate_chain(leaf.get(), root, signed_at);
  step = VerifyStep::sct;
  detail::verify_embedded_sct(leaf.get(), chain.get(), root);
  step = VerifyStep::certificate_profile;
  detail::verify_certificate_profile(leaf.get());
  step = VerifyStep::identity_policy;
  verdict.identity = detail::read_signer_identity(leaf.get());
  if (auto failure = check_identity(policy, verdict.identity)) fail(VerifyStep::identity_policy, *failure);
  step = VerifyStep::inclusion_proof;
  detail::verify_inclusion_proof(bundle.tlog_entry);
  step = VerifyStep::checkpoint;
  detail::verify_checkpoint(bundle.tlog_entry, root);
  step = VerifyStep::validity_period;
  detail::verify_validity_period(leaf.get(), signed_at);
  step = VerifyStep::artifact_signature;
  const auto digest = detail::sha256(artifact);
  verify_artifact_signature(artifact, digest, bundle, leaf.get());
  step = VerifyStep::log_entry_consistency;
  verify_log_entry_consistency(digest, bundle);
}

}  // namespace

std::string_view to_string(VerifyStep step) noexcept {
  switch (step) {
    case VerifyStep::none: return "none";
    case VerifyStep::bundle_format: return "bundle format";
    case VerifyStep::unsupported: return "unsupported bundle";
    case VerifyStep::signing_time: return "signing time (signed entry timestamp)";
    case VerifyStep::certificate_chain: return "certificate chain";
    case VerifyStep::sct: return "signed certificate timestamp";
    case VerifyStep::certificate_profile: return "certificate profile";
    case VerifyStep::identity_policy: return "identity policy";
    case VerifyStep::inclusion_proof: return "inclusion proof";
    case VerifyStep::checkpoint: return "signed checkpoint";
    case VerifyStep::validity_period: return "certificate validity period";
    case VerifyStep::artifact_signature: return "artifact signature";
    case VerifyStep::log_entry_consistency: return "log entry consistency";
  }
  return "unknown";
}

std::string Verdict::describe() const {
  if (!verified) return "rejected at " + std::string(to_string(failed_step)) + ": " + message;
  std::string text = "verified: signed by " + identity.subject_alternative_name;
  if (!identity.issuer.empty()) text += " (issuer " + identity.issuer + ")";
  return text + ", log index " + std::to_string(log_index) + ", signed at " + std::to_string(signing_time);
}

struct Verifier::Impl {
  detail::RootMaterial material;
};

Verifier::Verifier(TrustedRoot root) : impl_(std::make_unique<Impl>(Impl{detail::RootMaterial(std::move(root))})) {}
Verifier::~Verifier() = default;
Verifier::Verifier(Verifier&&) noexcept = default;
Verifier& Verifier::operator=(Verifier&&) noexcept = default;

const TrustedRoot& Verifier::trusted_root() const noexcept { return impl_->material.root(); }

Verdict Verifier::verify(std::span<const std::uint8_t> artifact, const Bundle& bundle,
                         const IdentityPolicy& policy) const {
  Verdict verdict;
  VerifyStep step = VerifyStep::none;
  try {
    run_steps(artifact, bundle, impl_->material, policy, verdict, step);
    verdict.verified = true;
  } catch (detail::StepFailure& failure) {
    verdict.failed_step = failure.step;
    verdict.message = std::move(failure.message);
  } catch (const Error& e) {
    verdict.failed_step = step;
    verdict.message = e.what();
  }
  return verdict;
}

Verdict Verifier::verify_blob(std::span<const std::uint8_t> artifact, std::string_view bundle_json,
                              const IdentityPolicy& policy) const {
  Bundle bundle;
  try {
    bundle = parse_bundle(bundle_json);
  } catch (const Error& e) {
    Verdict verdict;
    verdict.failed_step = e.code() == ErrorCode::unsupported ? VerifyStep::unsupported : VerifyStep::bundle_format;
    verdict.message = e.what();
    return verdict;
  }
  return verify(artifact, bundle, policy);
}

Verdict verify_blob_for_any(const Verifier& verifier, std::span<const std::uint8_t> artifact,
                            std::string_view bundle_json, const std::vector<IdentityPolicy>& accepted) {
  auto verdict = verifier.verify_blob(artifact, bundle_json, IdentityPolicy::any_identity());
  if (!verdict.verified) return verdict;
  if (auto failure = check_identity_any(accepted, verdict.identity)) {
    verdict.verified = false;
    verdict.failed_step = VerifyStep::identity_policy;
    verdict.message = *failure;
  }
  return verdict;
}

LockedSignature locked_signature(const Verdict& verdict) {
  if (!verdict.verified) throw Error(ErrorCode::invalid_input, "signature not verified: " + verdict.describe());
  const auto& identity = verdict.identity;
  if (identity.issuer.empty() || identity.source_repository_uri.empty() || identity.build_signer_uri.empty())
    throw Error(ErrorCode::invalid_input,
                "the signing certificate lacks an OIDC issuer, source repository or build signer URI extension: "
                "only CI (workload) identities can be pinned in a lock",
                "sign in CI (cosign keyless with GitHub Actions), or set `allow-unsigned: true` for this kernel");
  LockedSignature out;
  out.issuer = identity.issuer;
  out.source_repository = identity.source_repository_uri;
  out.build_signer_uri = identity.build_signer_uri;
  out.log_index = verdict.log_index;
  out.signing_time = format_rfc3339(verdict.signing_time);
  return out;
}

Verdict verify_artifact(std::span<const std::uint8_t> artifact, const Bundle& bundle, const TrustedRoot& root,
                        const IdentityPolicy& policy) {
  return Verifier(root).verify(artifact, bundle, policy);
}

Verdict verify_artifact(std::string_view artifact, const Bundle& bundle, const TrustedRoot& root,
                        const IdentityPolicy& policy) {
  return verify_artifact(detail::as_bytes(artifact), bundle, root, policy);
}

Verdict verify_artifact_file(const std::filesystem::path& artifact, const Bundle& bundle, const TrustedRoot& root,
                             const IdentityPolicy& policy, std::uintmax_t max_bytes) {
  const auto bytes = read_file_at_most(artifact, max_bytes);
  return verify_artifact(std::string_view(bytes), bundle, root, policy);
}

Verdict verify_blob(std::span<const std::uint8_t> artifact, std::string_view bundle_json, const TrustedRoot& root,
                    const IdentityPolicy& policy) {
  return Verifier(root).verify_blob(artifact, bundle_json, policy);
}

}  // namespace kernel_lock::trust
