// `kernel-lock verify-blob FILE --bundle FILE.sigstore --trusted-root ROOT`:
// plumbing over the trust library. Verifies one Sigstore bundle offline and
// names the step that failed (docs/trust.md). Exit 0 verified, 6 rejected.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "trust_flags.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/trust/trusted_root.hpp"
#include "kernel_lock/trust/verify.hpp"

namespace kernel_lock::cli {
namespace {

struct VerifyBlobArgs {
  std::string file;
  std::string bundle;
  std::string trusted_root;
  trust::IdentityPolicy policy;
  bool any_identity = false;
};

int run_verify_blob(const VerifyBlobArgs& args, const CliContext& ctx) {
  trust::IdentityPolicy policy = args.policy;
  policy.accept_any_identity = args.any_identity;
  if (policy.empty() && !policy.accept_any_identity)
    throw Error(ErrorCode::usage, "verify-blob needs an identity policy",
                "give --issuer, --source-repository or --build-signer-uri (or --any-identity for plumbing tests)");
  const auto root = trust::load_trusted_root(args.trusted_root);
  const std::string artifact = read_file(args.file);
  const std::string bundle = read_file(args.bundle);
  const auto verdict = trust::verify_blob(
      {reinterpret_cast<const std::uint8_t*>(artifact.data()), artifact.size()}, bundle, root, policy);
  if (!verdict.verified)
    throw Error(ErrorCode::integrity, args.file + ": " + verdict.describe(),
                "the signature, the certificate or the log entry of " + args.bundle +
                    " does not hold for this file, root and policy; do not use the file");
  if (!ctx.quiet) std::cout << args.file << ": " << verdict.describe() << "\n";
  return 0;
}

}  // namespace

void add_verify_blob_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<VerifyBlobArgs>();
  auto* cmd = app.add_subcommand("verify-blob", "Verify one file against a Sigstore bundle, offline (plumbing)");
  cmd->add_option("FILE", args->file, "The signed file (e.g. build/<variant>/metadata.json)")->required();
  cmd->add_option("--bundle", args->bundle, "Its Sigstore bundle (e.g. metadata.json.sigstore)")->required();
  add_identity_flags(*cmd, args->trusted_root, args->policy);
  cmd->add_flag("--any-identity", args->any_identity, "Accept any signer (tests and plumbing only)");
  cmd->footer("Exit codes: 0 verified, 6 rejected (the failed step is named), 3 unreadable input.");
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_verify_blob(*args, ctx); }; });
}

}  // namespace kernel_lock::cli
