// `kernel-lock verify-signature VARIANT_DIR --trusted-root ROOT`: plumbing over
// the trust library. Checks one kernel variant as the Python `kernels
// verify-signature` does, offline: the Sigstore signature over metadata.json
// first, then the digest in it against the files (docs/trust.md). Exit 0
// verified, 6 rejected, with the outcome's category named.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "trust_flags.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/trust/kernel_digest.hpp"
#include "kernel_lock/trust/trusted_root.hpp"
#include "kernel_lock/trust/verify.hpp"

namespace kernel_lock::cli {
namespace {

struct VerifySignatureArgs {
  std::string variant_dir;
  std::string trusted_root;
  trust::IdentityPolicy policy;
};

// The detail after the category: the failed step, the bad files, the parse error.
std::string rejection_detail(const trust::VariantCheck& check) {
  using trust::VariantStatus;
  switch (check.status) {
    case VariantStatus::bundle_missing: return "no metadata.json.sigstore (the variant is not signed)";
    case VariantStatus::bundle_invalid: return check.signature.message;
    case VariantStatus::metadata_missing: return "no metadata.json";
    case VariantStatus::signature_failed: return check.signature.describe();
    case VariantStatus::metadata_invalid: return check.message;
    case VariantStatus::digest_missing: return "the signed metadata.json has no `digest`";
    case VariantStatus::digest_violation: return check.digest->describe();
    case VariantStatus::verified: break;
  }
  return {};
}

// One line per file that breaks the digest, as `kernels verify-signature` prints them.
void print_violations(const trust::DigestComparison& digest) {
  for (const auto& path : digest.altered) std::cout << "altered: " << path << "\n";
  for (const auto& path : digest.missing) std::cout << "missing: " << path << "\n";
  for (const auto& path : digest.unknown) std::cout << "unknown: " << path << "\n";
}

int run_verify_signature(const VerifySignatureArgs& args, const CliContext& ctx) {
  const trust::IdentityPolicy policy = args.policy.empty() ? trust::IdentityPolicy::kernels_community() : args.policy;
  const trust::Verifier verifier(trust::load_trusted_root(args.trusted_root));
  const auto check = trust::check_kernel_variant(args.variant_dir, verifier, policy);
  if (!check.verified()) {
    if (check.digest && !ctx.quiet) print_violations(*check.digest);
    throw Error(ErrorCode::integrity,
                args.variant_dir + ": " + std::string(trust::to_string(check.status)) + ": " + rejection_detail(check),
                "this variant is not proven to come from the accepted signer; do not load it");
  }
  if (!ctx.quiet) {
    std::cout << args.variant_dir << ": verified: signed by " << check.signature.identity.subject_alternative_name
              << " (issuer " << check.signature.identity.issuer << ", source repository "
              << check.signature.identity.source_repository_uri << "), log index " << check.signature.log_index
              << ", signed at " << check.signature.signing_time << "; the digest matches the files\n";
  }
  return 0;
}

}  // namespace

void add_verify_signature_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<VerifySignatureArgs>();
  auto* cmd = app.add_subcommand(
      "verify-signature", "Verify a kernel variant's signature and digest, offline, as `kernels verify-signature` (plumbing)");
  cmd->add_option("VARIANT_DIR", args->variant_dir,
                  "The variant directory (build/<variant>/ holding metadata.json and metadata.json.sigstore)")
      ->required();
  add_identity_flags(*cmd, args->trusted_root, args->policy);
  cmd->footer(
      "With no --issuer, --source-repository or --build-signer-uri, the policy is the Python `kernels` default:\n"
      "kernels-community's GitHub Actions workflows (build, build-mac, build-windows, sign-old-builds).\n"
      "Checks, in order: metadata.json.sigstore present and parseable, metadata.json present, the signature\n"
      "over metadata.json (the failed step is named), then the `digest` in metadata.json against the files\n"
      "(each missing, unknown or altered file is named; metadata.json, metadata.json.sigstore and __pycache__\n"
      "are excluded). Outcomes: verified, signature bundle missing, signature bundle invalid, metadata missing,\n"
      "signature verification failed, metadata invalid, digest missing, digest violation.\n"
      "Exit codes: 0 verified, 6 rejected (the outcome is named), 3 unreadable input.");
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_verify_signature(*args, ctx); }; });
}

}  // namespace kernel_lock::cli
