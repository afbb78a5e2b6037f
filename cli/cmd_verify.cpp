// `kernel-lock verify [DIR]`: check the cache (or a bundle) against the lock.
// Exit 0 only when every locked (selected) variant and file holds.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "filter_flags.hpp"
#include "trust_flags.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/bundle/verify.hpp"

namespace kernel_lock::cli {
namespace {

struct VerifyArgs {
  std::string dir = ".";
  std::string lockfile;
  std::string cache;
  std::string bundle;
  FilterFlags filters;
  TrustFlags trust;
  bool require_signature = false;
  bool json = false;
};

int run_verify(const VerifyArgs& args, const CliContext& ctx) {
  namespace fs = std::filesystem;
  const fs::path lock_path = args.lockfile.empty() ? find_lockfile(args.dir) : fs::path(args.lockfile);
  const Lockfile lock = read_lockfile(lock_path);
  VerifyOptions options;
  options.filter = args.filters.filter();
  options.signatures.trusted_root = args.trust.load_flag();
  options.signatures.now = trust::system_now();
  options.signatures.max_age_days = args.trust.max_age_days();
  options.signatures.require_signature = args.require_signature;
  VerifyReport report;
  if (!args.bundle.empty()) {
    report = verify_bundle(lock, args.bundle, options);
  } else {
    std::optional<fs::path> cache;
    if (!args.cache.empty()) cache = fs::path(args.cache);
    report = verify_cache(lock, cache, options);
  }
  if (args.json) {
    std::cout << report.to_json().dump(2) << "\n";
  } else {
    for (const auto& p : report.problems) std::cout << p.message() << "\n";
    if (!ctx.quiet)
      for (const auto& p : report.provenance)
        std::cout << p.repo_id << " " << p.variant << ": " << p.describe() << "\n";
    if (report.ok()) {
      if (!ctx.quiet)
        std::cout << "ok: " << report.kernels << " kernel(s), " << report.variants << " variant(s), " << report.files
                  << " file(s) match " << lock_path.string() << "\n";
    } else {
      std::cerr << "kernel-lock: integrity: " << report.problems.size() << " problem(s) against "
                << lock_path.string() << "\n";
    }
  }
  return report.ok() ? 0 : exit_code_for(ErrorCode::integrity);
}

}  // namespace

void add_verify_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<VerifyArgs>();
  auto* cmd = app.add_subcommand("verify", "Check the cache (or a bundle) against the lock; exit 0 only if all holds");
  cmd->add_option("DIR", args->dir, "Project directory holding kernel.lock (default: .)");
  cmd->add_option("--lockfile", args->lockfile, "Lock file (default: DIR/kernel.lock, else DIR/kernels.lock)");
  auto* cache = cmd->add_option("--cache", args->cache, "Cache directory (default: KERNELS_CACHE / HF_HUB_CACHE)");
  cmd->add_option("--bundle", args->bundle, "Verify this bundle file instead of the cache")->excludes(cache);
  add_filter_flags(cmd, args->filters);
  add_trust_flags(cmd, args->trust);
  cmd->add_flag("--require-signature", args->require_signature, "Fail for a variant the lock pins no signature for");
  cmd->add_flag("--json", args->json, "Print the report as JSON");
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_verify(*args, ctx); }; });
}

}  // namespace kernel_lock::cli
