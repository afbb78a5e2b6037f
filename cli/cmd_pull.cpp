// `kernel-lock pull oci://HOST[:PORT]/REPO:TAG`: fetch the chosen variants from a
// registry and install them into the HF cache (the install path of bundles).
#include <filesystem>
#include <memory>
#include <string>

#include "commands.hpp"
#include "registry_flags.hpp"
#include "trust_flags.hpp"
#include "kernel_lock/core/lockfile.hpp"

namespace kernel_lock::cli {
namespace {

struct PullArgs {
  std::string ref;
  std::string cache;
  std::string lockfile;
  bool require_signature = false;
  bool no_refs = false;
  VariantChoice variants;
  RegistryFlags registry;
  TrustFlags trust;
};

int run_pull(const PullArgs& args, const CliContext& ctx) {
  InstallOptions options;
  if (!args.cache.empty()) options.cache_dir = std::filesystem::path(args.cache);
  if (!args.lockfile.empty()) options.lock = read_lockfile(args.lockfile);
  options.write_refs = !args.no_refs;
  options.signatures.trusted_root = args.trust.load_flag();
  options.signatures.now = trust::system_now();
  options.signatures.max_age_days = args.trust.max_age_days();
  options.signatures.require_signature = args.require_signature;
  return pull_and_install(args.ref, args.registry, args.variants, options, ctx.quiet);
}

}  // namespace

void add_pull_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<PullArgs>();
  auto* cmd = app.add_subcommand("pull", "Fetch kernels from an OCI registry and install them into the HF cache, verified");
  cmd->add_option("REF", args->ref, "oci://HOST[:PORT]/REPO[:TAG|@sha256:...]")->required();
  cmd->add_option("--cache", args->cache, "Cache directory (default: KERNELS_CACHE, else HF_HUB_CACHE ...)");
  cmd->add_option("--variant", args->variants.names,
                  "auto (default: per torch/CUDA version offered, the variant the loader would pick on this machine), or variant names (repeatable)");
  cmd->add_flag("--all", args->variants.all, "Every variant");
  cmd->add_option("--lockfile", args->lockfile, "Refuse the artifact unless it matches this lock");
  cmd->add_flag("--no-refs", args->no_refs, "Do not write refs/<branch>");
  cmd->add_flag("--require-signature", args->require_signature, "Refuse a variant the lock pins no signature for");
  add_registry_flags(cmd, args->registry);
  add_trust_flags(cmd, args->trust);
  cmd->footer("Every blob is hashed while it streams; then the install checks of `kernel-lock install` (lock hashes,\n"
              "signatures, staging, atomic publish) run. Nothing is installed when any check fails (docs/oci.md).");
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_pull(*args, ctx); }; });
}

}  // namespace kernel_lock::cli
