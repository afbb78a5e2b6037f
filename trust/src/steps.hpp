// Private: the verification steps. Each step returns normally when it holds and
// throws StepFailure naming itself otherwise; verify.cpp turns that into a Verdict.
#pragma once

#include <string>

#include "kernel_lock/trust/bundle.hpp"
#include "kernel_lock/trust/policy.hpp"
#include "kernel_lock/trust/trusted_root.hpp"
#include "kernel_lock/trust/verify.hpp"
#include "openssl.hpp"

namespace kernel_lock::trust::detail {

struct StepFailure {
  VerifyStep step;
  std::string message;
};
[[noreturn]] inline void fail(VerifyStep step, std::string message) { throw StepFailure{step, std::move(message)}; }

// A trusted root with every key and certificate decoded once (decoding costs more
// than verifying). Material that does not decode is kept as an error message and
// fails the step that needs it. Immutable after construction; safe to share.
class RootMaterial {
 public:
  explicit RootMaterial(TrustedRoot root);
  const TrustedRoot& root() const noexcept { return root_; }
  // The decoded key of `log` (an element of root().tlogs / ctlogs); fails at `step`
  // when it did not decode.
  EVP_PKEY* key_of(const LogKey& log, VerifyStep step) const;
  // The decoded certificates of CA `index`; fails at certificate_chain when one did not decode.
  const std::vector<X509Ptr>& certificates_of(std::size_t index) const;
  // True when every certificate of CA `index` is issued and signed by the next one
  // (checked once, here): a chain verification may then stop at its issuing
  // certificate instead of re-verifying the static CA signatures on every call.
  bool chain_preverified(std::size_t index) const noexcept { return ca_preverified_.at(index); }

 private:
  struct Decoded {
    PKeyPtr key;
    std::string error;
  };
  TrustedRoot root_;
  std::vector<Decoded> tlog_keys_;
  std::vector<Decoded> ctlog_keys_;
  std::vector<std::vector<X509Ptr>> ca_certificates_;
  std::vector<std::string> ca_errors_;
  std::vector<bool> ca_preverified_;
};

// ---- transparency log (transparency.cpp) ----------------------------------
// The SET verifies with the Rekor key named by the entry's log ID, valid at
// integratedTime; returns integratedTime. Fails at signing_time.
UnixTime verify_signed_entry_timestamp(const TransparencyLogEntry& entry, const RootMaterial& root);
// RFC 6962 audit path from the leaf hash of the body to rootHash. Fails at inclusion_proof.
void verify_inclusion_proof(const TransparencyLogEntry& entry);
// The checkpoint is a note signed by the entry's log, for the proof's root and size.
// Fails at checkpoint.
void verify_checkpoint(const TransparencyLogEntry& entry, const RootMaterial& root);

// ---- certificates (certificate.cpp) ----------------------------------------
// Leaf chains to a Fulcio CA of the root (CA window and every certificate valid at
// `at`). Returns the verified chain, leaf first. Fails at certificate_chain.
X509StackPtr verify_certificate_chain(X509* leaf, const RootMaterial& root, UnixTime at);
// Exactly one embedded precertificate SCT, verified with a CT log key of the root.
// Fails at sct.
void verify_embedded_sct(X509* leaf, STACK_OF(X509) * chain, const RootMaterial& root);
// digitalSignature key usage and codeSigning extended key usage. Fails at certificate_profile.
void verify_certificate_profile(X509* leaf);
// notBefore <= at <= notAfter. Fails at validity_period.
void verify_validity_period(X509* leaf, UnixTime at);
// Reads SAN and Fulcio extensions; malformed extensions fail at identity_policy.
SignerIdentity read_signer_identity(X509* leaf);

}  // namespace kernel_lock::trust::detail
