// `kernel-lock trust import FILE` / `kernel-lock trust show`: the Sigstore
// trusted root kept with the cache for offline verification (docs/trust.md).
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/trust/trust_store.hpp"
#include "trust_flags.hpp"

namespace kernel_lock::cli {
namespace {

struct TrustArgs {
  std::string file;
  std::string captured_at;
  std::string cache;
  bool force = false;
  bool json = false;
};

std::filesystem::path cache_for(const TrustArgs& args) {
  return args.cache.empty() ? kernels_cache_dir() : std::filesystem::path(args.cache);
}

int run_import(const TrustArgs& args, const CliContext& ctx) {
  TrustFlags flags;
  flags.trusted_root = args.file;
  flags.captured_at = args.captured_at;
  const auto root = *flags.load_flag();
  const auto cache = cache_for(args);
  const auto result = trust::write_trust_store(cache, root, args.force);
  if (result == trust::TrustStoreWrite::kept_newer)
    throw Error(ErrorCode::usage,
                trust::trust_store_dir(cache).string() + " holds a trusted root captured later than " + args.file +
                    " (" + trust::format_rfc3339(root.captured_at) + ")",
                "pass --force to replace it with the older one");
  if (!ctx.quiet)
    std::cerr << (result == trust::TrustStoreWrite::written ? "imported " : "unchanged ") << args.file << " into "
              << trust::trust_store_dir(cache).string() << " (captured " << trust::format_rfc3339(root.captured_at)
              << ")\n";
  return 0;
}

int run_show(const TrustArgs& args) {
  const auto cache = cache_for(args);
  const auto root = trust::read_trust_store(cache);
  if (!root)
    throw Error(ErrorCode::not_found, trust::trust_store_dir(cache).string() + ": no trusted root in this cache",
                "`kernel-lock trust import trusted_root.json`, or install a bundle that carries one");
  const auto parsed = trust::parse_trusted_root(root->json);
  const auto age_days = (trust::system_now() - root->captured_at) / 86400;
  if (args.json) {
    nlohmann::ordered_json out;
    out["path"] = root->origin.string();
    out["sha256"] = root->sha256_hex();
    out["captured_at"] = trust::format_rfc3339(root->captured_at);
    out["age_days"] = age_days;
    out["certificate_authorities"] = parsed.certificate_authorities.size();
    out["tlogs"] = parsed.tlogs.size();
    out["ctlogs"] = parsed.ctlogs.size();
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << root->origin.string() << "\n  sha256 " << root->sha256_hex() << "\n  captured "
            << trust::format_rfc3339(root->captured_at) << " (" << age_days << " days ago)\n  "
            << parsed.certificate_authorities.size() << " Fulcio CA(s), " << parsed.tlogs.size() << " Rekor key(s), "
            << parsed.ctlogs.size() << " CT log key(s)\n";
  return 0;
}

}  // namespace

void add_trust_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<TrustArgs>();
  auto* cmd = app.add_subcommand("trust", "Manage the Sigstore trusted root kept with the cache (offline verification)");
  cmd->require_subcommand(1);
  auto* import = cmd->add_subcommand("import", "Store a trusted_root.json in the cache, with the time it was captured");
  import->add_option("FILE", args->file, "Sigstore trusted_root.json")->required()->check(CLI::ExistingFile);
  import->add_option("--captured-at", args->captured_at,
                     "When FILE was fetched, RFC 3339 UTC (default: its modification time)");
  import->add_option("--cache", args->cache, "Cache directory (default: KERNELS_CACHE / HF_HUB_CACHE)");
  import->add_flag("--force", args->force, "Replace a stored root that was captured later");
  import->footer("The freshness limit (--trust-max-age, default 180 days) counts from the capture time.");
  import->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_import(*args, ctx); }; });
  auto* show = cmd->add_subcommand("show", "Print the cache's trusted root: digest, capture time, age, keys");
  show->add_option("--cache", args->cache, "Cache directory (default: KERNELS_CACHE / HF_HUB_CACHE)");
  show->add_flag("--json", args->json, "Print JSON");
  show->callback([args, &ctx] { ctx.action = [args] { return run_show(*args); }; });
}

}  // namespace kernel_lock::cli
