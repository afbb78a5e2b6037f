// The trust-material flags shared by resolve, bundle, install and verify
// (docs/trust.md): where the Sigstore trusted root comes from and how old it may be.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "kernel_lock/trust/policy.hpp"
#include "kernel_lock/trust/trust_store.hpp"
#include "kernel_lock/trust/verify.hpp"

namespace kernel_lock::cli {

struct TrustFlags {
  std::string trusted_root;             // --trusted-root FILE
  std::string captured_at;              // --captured-at RFC 3339 (default: FILE's modification time)
  std::optional<std::int64_t> max_age;  // --trust-max-age DAYS (default: env, else 180)

  // --trusted-root FILE when given, else the trust store of `cache_dir`
  // (`kernel-lock trust import`); nullopt when neither exists. Throws
  // Error(stale_trust) when it is older than the limit, and what reading it throws.
  std::optional<trust::CapturedTrustRoot> load(const std::filesystem::path& cache_dir) const;
  // The root of --trusted-root FILE only (nullopt without the flag), freshness unchecked.
  std::optional<trust::CapturedTrustRoot> load_flag() const;
  // As load(), without the freshness check.
  std::optional<trust::CapturedTrustRoot> load_unchecked(const std::filesystem::path& cache_dir) const;
  std::int64_t max_age_days() const;
};

// verify-blob and verify-signature (plumbing): --trusted-root FILE (required),
// --issuer, --source-repository and --build-signer-uri. The identity flags are
// repeatable; any one value of a flag matches, every given flag must hold.
void add_identity_flags(CLI::App& cmd, std::string& trusted_root, trust::IdentityPolicy& policy);

// Registers --trusted-root, --captured-at and --trust-max-age on `cmd`.
void add_trust_flags(CLI::App* cmd, TrustFlags& flags);

// A verifier for `root`, or null when there is none.
std::shared_ptr<const trust::Verifier> make_verifier(const std::optional<trust::CapturedTrustRoot>& root);

}  // namespace kernel_lock::cli
