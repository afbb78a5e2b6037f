// `kernel-lock resolve [DIR]`: requirements (kernels.yaml / pyproject.toml) ->
// kernel.lock. Thin layer over kernel_lock::Resolver (resolve.hpp).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "filter_flags.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "trust_flags.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/hub/hub_client.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/requirements.hpp"
#include "kernel_lock/resolve/resolve.hpp"

namespace kernel_lock::cli {
namespace {

struct ResolveArgs {
  std::string dir = ".";
  std::string requirements;
  std::string lockfile;
  bool locked = false;
  bool frozen = false;
  bool offline = false;
  std::string from_cache;  // resolve against this HF cache instead of the Hub
  FilterFlags filters;
  bool upgrade = false;
  std::vector<std::string> upgrade_packages;
  bool verify_content = false;
  bool json = false;
  bool allow_signer_change = false;
  TrustFlags trust;
};

// kernel.lock in DIR, else an existing kernels.lock there, unless --lockfile names one.
std::filesystem::path lock_path_for(const ResolveArgs& args) {
  namespace fs = std::filesystem;
  const fs::path dir = args.dir;
  if (!args.lockfile.empty()) return args.lockfile;
  if (fs::exists(dir / kDefaultLockfileName) || !fs::exists(dir / kPythonLockfileName)) return dir / kDefaultLockfileName;
  return dir / kPythonLockfileName;
}

// --frozen: the lock must cover the requirements; no network, nothing written.
int run_frozen(const Requirements& requirements, const std::optional<Lockfile>& previous,
               const std::filesystem::path& lock_path, const VariantFilter& filter, bool json, bool quiet) {
  if (!previous)
    throw Error(ErrorCode::not_found, "--frozen: no lock at " + lock_path.string(),
                "run `kernel-lock resolve` once (online) to create it");
  check_lock_covers(requirements, *previous, filter);
  if (json) {
    nlohmann::ordered_json out;
    out["lockfile"] = lock_path.string();
    out["changed"] = false;
    out["frozen"] = true;
    out["kernels"] = previous->kernels.size();
    std::cout << out.dump(2) << "\n";
  } else if (!quiet) {
    std::cerr << "kernel.lock covers " << requirements.kernels.size() << " kernel(s) (frozen, no network)\n";
  }
  return 0;
}

// What resolve did: JSON on stdout (--json), else one line per kernel on stderr.
void print_resolve_report(const ResolveReport& report, const std::filesystem::path& lock_path, bool wrote, bool json,
                          bool quiet) {
  if (json) {
    nlohmann::ordered_json out;
    out["lockfile"] = lock_path.string();
    out["changed"] = wrote;
    auto kernels = nlohmann::ordered_json::array();
    for (const auto& k : report.kernels) {
      nlohmann::ordered_json j;
      j["repo_id"] = k.repo_id;
      j["repo_type"] = k.repo_type;
      j["sha"] = k.sha;
      j["resolved_from"] = k.resolved_from;
      j["variants"] = k.variants;
      j["files"] = k.files;
      j["from_lock"] = k.from_lock;
      if (!k.required_by.empty()) j["required_by"] = k.required_by;
      j["signed_variants"] = k.signed_variants;
      if (!k.signer.empty()) j["signer"] = k.signer;
      kernels.push_back(std::move(j));
    }
    out["kernels"] = std::move(kernels);
    out["requests"] = report.stats.requests;
    out["retries"] = report.stats.retries;
    out["warnings"] = report.warnings;
    std::cout << out.dump(2) << "\n";
  } else if (!quiet) {
    for (const auto& k : report.kernels)
      std::cerr << "  " << k.repo_id << " " << k.sha.substr(0, 7) << " (" << k.resolved_from << ", " << k.variants
                << " variants" << (k.required_by.empty() ? std::string() : ", required by " + k.required_by)
                << (k.signer.empty() ? std::string() : ", signed by " + k.signer) << ")\n";
    std::cerr << (wrote ? "wrote " : "unchanged ") << lock_path.string() << "\n";
  }
}

int run_resolve(const ResolveArgs& args, const CliContext& ctx) {
  namespace fs = std::filesystem;
  if (args.locked && args.frozen)
    throw Error(ErrorCode::usage, "--locked and --frozen exclude each other",
                "--locked re-resolves and fails on change; --frozen trusts the lock without network access");
  const fs::path dir = args.dir;
  const Requirements requirements = read_requirements(args.requirements.empty() ? dir : fs::path(args.requirements));
  const fs::path lock_path = lock_path_for(args);
  std::optional<Lockfile> previous;
  if (fs::exists(lock_path)) previous = read_lockfile(lock_path);
  const VariantFilter cli_filter = args.filters.filter();
  if (args.frozen) return run_frozen(requirements, previous, lock_path, cli_filter, args.json, ctx.quiet);

  HubConfig config = HubConfig::from_environment();
  if (args.offline) config.offline = true;
  HubClient client(config);
  HubSource hub_source(client);
  CacheSource cache_source{fs::path(args.from_cache)};
  ResolveSource& source = args.from_cache.empty() ? static_cast<ResolveSource&>(hub_source) : cache_source;
  ResolveOptions options;
  options.filter = cli_filter;
  options.upgrade = args.upgrade;
  options.upgrade_packages = args.upgrade_packages;
  options.verify_content = args.verify_content;
  options.verifier = make_verifier(args.trust.load(kernels_cache_dir()));
  options.allow_signer_change = args.allow_signer_change;
  if (!ctx.quiet && !args.json && ::isatty(STDERR_FILENO))
    options.on_progress = [](std::string_view line) { std::cerr << "  " << line << "...\n"; };

  Resolver resolver(source, options);
  auto result = with_context("resolving " + requirements.source.string(),
                             [&] { return resolver.resolve(requirements, previous ? &*previous : nullptr); });

  const std::string new_bytes = format_lockfile(result.lock);
  const std::string old_bytes = fs::exists(lock_path) ? read_file(lock_path) : std::string();
  const bool changed = new_bytes != old_bytes;
  if (args.locked && changed) {
    std::string diff = previous ? describe_lock_changes(*previous, result.lock) : std::string();
    if (diff.empty()) diff = previous ? "~ the file's bytes differ from the canonical form" : "+ " + lock_path.string() + " does not exist yet";
    throw Error(ErrorCode::lock_changed, lock_path.string() + " would change (--locked):\n" + diff,
                "run `kernel-lock resolve` without --locked to update the lock, and commit it");
  }
  const bool wrote = changed && write_lockfile(lock_path, result.lock);
  for (const auto& w : result.report.warnings)
    if (!ctx.quiet) std::cerr << "warning: " << w << "\n";
  print_resolve_report(result.report, lock_path, wrote, args.json, ctx.quiet);
  return 0;
}

}  // namespace

void add_resolve_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<ResolveArgs>();
  auto* cmd = app.add_subcommand("resolve", "Resolve kernels.yaml / pyproject.toml into a hash-pinned kernel.lock");
  cmd->add_option("DIR", args->dir, "Project directory (default: .)");
  cmd->add_option("--requirements", args->requirements, "Requirements file (kernels.yaml or pyproject.toml)");
  cmd->add_option("-o,--lockfile", args->lockfile, "Lock file to write (default: DIR/kernel.lock)");
  cmd->add_flag("--locked", args->locked, "Fail (exit 7) if the lock would change");
  cmd->add_flag("--frozen", args->frozen, "Never touch the network: check that the lock covers the requirements");
  cmd->add_flag("--offline", args->offline, "No network access (like HF_HUB_OFFLINE=1); locked entries are kept");
  cmd->add_option("--from-cache", args->from_cache,
                  "Resolve against this HF cache (refs/ and snapshots/) instead of the Hub; no network");
  add_filter_flags(cmd, args->filters);
  cmd->add_flag("--upgrade", args->upgrade, "Re-resolve every kernel, ignoring the existing lock");
  cmd->add_option("--upgrade-package", args->upgrade_packages, "Re-resolve this kernel (repeatable)");
  cmd->add_flag("--verify-content", args->verify_content, "Download every locked file and check it against the listing");
  cmd->add_flag("--allow-signer-change", args->allow_signer_change,
                "Accept a kernel whose signer differs from the one the lock pinned (docs/trust.md)");
  add_trust_flags(cmd, args->trust);
  cmd->add_flag("--json", args->json, "Print a JSON summary on stdout");
  cmd->add_flag("-q,--quiet", ctx.quiet, "Print only errors");
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_resolve(*args, ctx); }; });
}

}  // namespace kernel_lock::cli
