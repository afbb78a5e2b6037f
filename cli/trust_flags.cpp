#include "trust_flags.hpp"

#include "kernel_lock/core/error.hpp"

namespace kernel_lock::cli {

std::int64_t TrustFlags::max_age_days() const { return max_age ? *max_age : trust::trust_max_age_days_from_env(); }

std::optional<trust::CapturedTrustRoot> TrustFlags::load_flag() const {
  if (trusted_root.empty()) return std::nullopt;
  return load_unchecked({});
}

std::optional<trust::CapturedTrustRoot> TrustFlags::load_unchecked(const std::filesystem::path& cache_dir) const {
  std::optional<trust::UnixTime> captured;
  if (!captured_at.empty())
    captured = with_context("--captured-at", [&] { return trust::parse_rfc3339(captured_at); }, ErrorCode::usage);
  const auto file = trusted_root.empty() ? std::nullopt : std::optional<std::filesystem::path>(trusted_root);
  return with_context(trusted_root.empty() ? std::string("trust store") : "--trusted-root " + trusted_root,
                      [&] { return trust::load_trust_root(file, captured, cache_dir); });
}

std::optional<trust::CapturedTrustRoot> TrustFlags::load(const std::filesystem::path& cache_dir) const {
  auto root = load_unchecked(cache_dir);
  if (root) trust::check_trust_fresh(*root, trust::system_now(), max_age_days());
  return root;
}

void add_identity_flags(CLI::App& cmd, std::string& trusted_root, trust::IdentityPolicy& policy) {
  cmd.add_option("--trusted-root", trusted_root, "Sigstore trusted_root.json (Fulcio CAs, Rekor and CT keys)")
      ->required();
  cmd.add_option("--issuer", policy.issuers, "Accepted OIDC issuer (repeatable; any one matches)");
  cmd.add_option("--source-repository", policy.source_repositories,
                 "Accepted source repository URI (repeatable; any one matches)");
  cmd.add_option("--build-signer-uri", policy.build_signer_uris,
                 "Accepted build signer URI, the workflow at a ref (repeatable; any one matches)");
}

void add_trust_flags(CLI::App* cmd, TrustFlags& flags) {
  auto* root = cmd->add_option("--trusted-root", flags.trusted_root,
                               "Sigstore trusted_root.json to verify signatures with (default: the one the cache "
                               "holds, from `kernel-lock trust import` or an installed bundle)");
  cmd->add_option("--captured-at", flags.captured_at,
                  "When --trusted-root FILE was fetched, RFC 3339 UTC (default: the file's modification time)")
      ->needs(root);
  cmd->add_option("--trust-max-age", flags.max_age,
                  "Refuse a trusted root captured more than DAYS ago (default: $KERNEL_LOCK_TRUST_MAX_AGE_DAYS, "
                  "else 180)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000}));
}

std::shared_ptr<const trust::Verifier> make_verifier(const std::optional<trust::CapturedTrustRoot>& root) {
  if (!root) return nullptr;
  return std::make_shared<const trust::Verifier>(trust::parse_trusted_root(root->json));
}

}  // namespace kernel_lock::cli
