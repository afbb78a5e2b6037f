#include "trust_flags.hpp"

namespace kernel_lock::cli {

void add_trust_flags(CLI::App& cmd, std::string& trusted_root, trust::IdentityPolicy& policy) {
  cmd.add_option("--trusted-root", trusted_root, "Sigstore trusted_root.json (Fulcio CAs, Rekor and CT keys)")
      ->required();
  cmd.add_option("--issuer", policy.issuers, "Accepted OIDC issuer (repeatable; any one matches)");
  cmd.add_option("--source-repository", policy.source_repositories,
                 "Accepted source repository URI (repeatable; any one matches)");
  cmd.add_option("--build-signer-uri", policy.build_signer_uris,
                 "Accepted build signer URI, the workflow at a ref (repeatable; any one matches)");
}

}  // namespace kernel_lock::cli
