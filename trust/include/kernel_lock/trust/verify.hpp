// Offline verification of one artifact against a Sigstore bundle, in the order of
// the reference verifier (docs/trust.md). Verification failures are a Verdict,
// not an exception: the caller learns which step failed and why.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/trust/bundle.hpp"
#include "kernel_lock/trust/policy.hpp"
#include "kernel_lock/trust/trusted_root.hpp"

namespace kernel_lock::trust {

// The steps, in the order they run. `none` on a verified verdict.
enum class VerifyStep {
  none,
  bundle_format,          // the bundle is malformed for its declared version
  unsupported,            // the bundle needs something this verifier does not check
  signing_time,           // 1. the SET (inclusion promise) verifies -> integratedTime
  certificate_chain,      // 2. leaf chains to a Fulcio CA of the root, at the signing time
  sct,                    // 3. embedded SCT verifies with a CT log key
  certificate_profile,    // 4a. digitalSignature key usage, codeSigning EKU
  identity_policy,        // 4b. Fulcio extensions satisfy the policy
  inclusion_proof,        // 5a. RFC 6962 audit path from the body to rootHash
  checkpoint,             // 5b. signed checkpoint verifies and commits to rootHash
  validity_period,        // 6. signing time inside the certificate's notBefore..notAfter
  artifact_signature,     // 7. signature over the artifact with the certificate key
  log_entry_consistency,  // 8. hashedrekord body == signature, certificate, digest
};

// "signing time (signed entry timestamp)", ... (stable, for messages and tests).
std::string_view to_string(VerifyStep step) noexcept;

struct Verdict {
  bool verified = false;
  VerifyStep failed_step = VerifyStep::none;
  std::string message;      // why it failed; empty when verified
  SignerIdentity identity;  // filled once the certificate was read
  std::int64_t log_index = -1;
  UnixTime signing_time = 0;  // integratedTime, once the SET verified

  explicit operator bool() const noexcept { return verified; }
  // "verified: signed by <SAN> (issuer ...)" or "rejected at <step>: <message>".
  std::string describe() const;
};

// Verifies artifacts against one trusted root. Decodes the root's keys and
// certificates once (decoding costs more than verifying), so a caller that checks
// many bundles (install, verify, the loader) should keep one Verifier. Immutable:
// verify() may run on several threads at once.
class Verifier {
 public:
  // Never throws for bad trust material: a key or certificate that does not decode
  // fails, at its step, every verification that needs it. Throws std::bad_alloc only.
  explicit Verifier(TrustedRoot root);
  ~Verifier();
  Verifier(Verifier&&) noexcept;
  Verifier& operator=(Verifier&&) noexcept;
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  const TrustedRoot& trusted_root() const noexcept;

  // As verify_artifact / verify_blob below.
  Verdict verify(std::span<const std::uint8_t> artifact, const Bundle& bundle, const IdentityPolicy& policy) const;
  Verdict verify_blob(std::span<const std::uint8_t> artifact, std::string_view bundle_json,
                      const IdentityPolicy& policy) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Verifies with any identity, then requires one of `accepted` (empty: any): a
// rejection for identity names every policy tried. As Verifier::verify_blob.
Verdict verify_blob_for_any(const Verifier& verifier, std::span<const std::uint8_t> artifact,
                            std::string_view bundle_json, const std::vector<IdentityPolicy>& accepted);

// The lock record of a verified verdict (issuer, source repository, build signer
// URI, log index, signing time). Throws Error(invalid_input) for a verdict that
// did not verify or a certificate without issuer / source repository / build signer URI.
LockedSignature locked_signature(const Verdict& verdict);

// One-shot forms (they build a Verifier for the call).
// Verifies `artifact` (the exact signed bytes). Never throws for a bad bundle,
// signature, certificate or trust material: those are a rejected Verdict naming
// the step. Throws only std::bad_alloc.
Verdict verify_artifact(std::span<const std::uint8_t> artifact, const Bundle& bundle, const TrustedRoot& root,
                        const IdentityPolicy& policy);
Verdict verify_artifact(std::string_view artifact, const Bundle& bundle, const TrustedRoot& root,
                        const IdentityPolicy& policy);

// Reads the artifact (at most `max_bytes`) then verifies it. Throws Error(not_found /
// io) when the file cannot be read, Error(invalid_input) when it is larger than max_bytes.
Verdict verify_artifact_file(const std::filesystem::path& artifact, const Bundle& bundle, const TrustedRoot& root,
                             const IdentityPolicy& policy, std::uintmax_t max_bytes = std::uintmax_t{1} << 32);

// Parses `bundle_json` then verifies: a bundle that does not parse is a Verdict at
// `bundle_format` (malformed) or `unsupported` (cannot be fully verified). For the CLI.
Verdict verify_blob(std::span<const std::uint8_t> artifact, std::string_view bundle_json, const TrustedRoot& root,
                    const IdentityPolicy& policy);

}  // namespace kernel_lock::trust
