// `kernel-lock install BUNDLE`: unpack a bundle into the HF cache, verifying
// every byte first (install.hpp).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "install_summary.hpp"
#include "registry_flags.hpp"
#include "trust_flags.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/bundle/install.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/oci/layout.hpp"

namespace kernel_lock::cli {
namespace {

struct InstallArgs {
  std::string bundle;
  std::string cache;
  std::string lockfile;
  bool no_refs = false;
  bool no_fsync = false;
  bool repair = false;
  bool require_signature = false;
  TrustFlags trust;
  std::string tag;  // OCI layout: the tag to install (default: the only one)
  VariantChoice variants;   // oci:// only
  RegistryFlags registry;   // oci:// only
};

int run_install(const InstallArgs& args, const CliContext& ctx) {
  namespace fs = std::filesystem;
  InstallOptions options;
  if (!args.cache.empty()) options.cache_dir = fs::path(args.cache);
  if (!args.lockfile.empty()) options.lock = read_lockfile(args.lockfile);
  options.write_refs = !args.no_refs;
  options.durable = !args.no_fsync;
  options.repair = args.repair;
  options.signatures.trusted_root = args.trust.load_flag();
  options.signatures.now = trust::system_now();
  options.signatures.max_age_days = args.trust.max_age_days();
  options.signatures.require_signature = args.require_signature;
  if (!ctx.quiet && ::isatty(2)) {
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    options.progress = [last](std::uint64_t done, std::uint64_t total) {
      auto now = std::chrono::steady_clock::now();
      if (done < total && now - *last < std::chrono::milliseconds(100)) return;
      *last = now;
      std::fprintf(stderr, "\rinstalling: %.1f / %.1f MiB%s", static_cast<double>(done) / 1048576.0,
                   static_cast<double>(total) / 1048576.0, done >= total ? "\n" : "");
    };
  }
  // A registry reference: the pull path (same install guarantees).
  if (is_oci_reference(args.bundle)) return pull_and_install(args.bundle, args.registry, args.variants, options, ctx.quiet);
  // An OCI layout, directory or tar (`bundle --format oci`, docs/oci-layout.md), installs with the same guarantees.
  const auto s = is_oci_layout_dir(args.bundle) || is_oci_layout_tar(args.bundle) ? install_oci_layout(args.bundle, args.tag, options)
                                                : install_bundle(args.bundle, options);
  if (!ctx.quiet) print_install_summary(args.bundle, s);
  return 0;
}

}  // namespace

void add_install_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<InstallArgs>();
  auto* cmd = app.add_subcommand("install", "Unpack a bundle into the Hugging Face cache, verifying every byte");
  cmd->add_option("BUNDLE", args->bundle,
                  "Bundle file made by `kernel-lock bundle`, an OCI layout (directory or .tar) made by `bundle --format oci`, "
                  "or a registry reference oci://HOST[:PORT]/REPO:TAG (as `kernel-lock pull`)")
      ->required();
  cmd->add_option("--tag", args->tag, "OCI layout: the tag to install (default: the only one in index.json)");
  cmd->add_option("--cache", args->cache,
                  "Cache directory (default: KERNELS_CACHE, else HF_HUB_CACHE / HF_HOME/hub / ~/.cache/huggingface/hub)");
  cmd->add_option("--lockfile", args->lockfile, "Refuse the bundle unless it matches this lock");
  cmd->add_flag("--no-refs", args->no_refs, "Do not write refs/<branch> (e.g. refs/v1)");
  cmd->add_flag("--no-fsync", args->no_fsync, "Skip fsync of each blob (faster, not crash-durable)");
  cmd->add_flag("--repair", args->repair,
                "Replace an installed snapshot of the same commit that holds other files (needs --lockfile)");
  cmd->add_flag("--require-signature", args->require_signature,
                "Refuse a variant the lock pins no signature for");
  add_trust_flags(cmd, args->trust);
  cmd->add_option("--variant", args->variants.names, "oci:// only: auto (default), or variant names (repeatable)");
  cmd->add_flag("--all", args->variants.all, "oci:// only: every variant");
  add_registry_flags(cmd, args->registry);
  cmd->footer(
      "Every byte is verified against the bundle's manifest before it becomes visible, and an installed commit is\n"
      "never replaced by other content. Without --lockfile, install proves only that the bundle is self-consistent\n"
      "(its files hash to the lock embedded in it), not that this is the lock you reviewed: pass --lockfile.\n"
      "Each variant the lock pins a signature for is checked (signature over metadata.json by the pinned signer,\n"
      "then the kernel digest) with --trusted-root (else the bundle's root, else the cache's) before it\n"
      "is published; the bundle's root is stored in the cache's trust store (docs/trust.md).");
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_install(*args, ctx); }; });
}

}  // namespace kernel_lock::cli
