// The trust flags --trusted-root, --issuer, --source-repository and
// --build-signer-uri, one definition for every command that verifies Sigstore
// bundles (verify-blob, verify-signature). The identity flags are repeatable;
// any one value of a flag matches, every given flag must hold.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "kernel_lock/trust/policy.hpp"

namespace kernel_lock::cli {

// Adds the flags to `cmd`, writing into `trusted_root` (required) and `policy`.
void add_trust_flags(CLI::App& cmd, std::string& trusted_root, trust::IdentityPolicy& policy);

}  // namespace kernel_lock::cli
