// `kernel-lock outdated [--lock FILE] [--endpoint URL | --bundle FILE] [--all]`
// (docs/lock-commands.md): per locked kernel, the locked version and commit
// against the newest ref its requirement accepts now (Wanted) and the newest
// version overall (Latest), as a table like `uv pip list --outdated`. Refs come
// from the Hub API (HF_ENDPOINT, or --endpoint: the Hub, a `kernel-lock serve`
// mirror) in one batch, or offline from a bundle's manifest (--bundle: the refs it
// installs). Exit 3 bad lock / bundle, 4 network, 5 no lock or repo not found.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/tag_range.hpp"
#include "kernel_lock/hub/hub_client.hpp"
#include "kernel_lock/report/labels.hpp"
#include "kernel_lock/report/outdated.hpp"
#include "report_format.hpp"

namespace kernel_lock::cli {
namespace {

struct OutdatedArgs {
  std::string lock;
  std::string endpoint;
  std::string bundle;
  bool all = false;
};

// Refs per kernel (lock order) from the Hub API, one batch.
std::vector<RepoRefs> refs_from_hub(const Lockfile& lock, const std::string& endpoint) {
  auto config = HubConfig::from_environment();
  if (!endpoint.empty()) config.endpoint = endpoint;
  std::vector<RefsQuery> queries;
  for (const auto& kernel : lock.kernels)
    queries.push_back(RefsQuery{RepoRef{kernel.repo_id, parse_repo_type(kernel.repo_type.value_or("kernel"))}, false});
  HubClient client(config);
  std::vector<RepoRefs> out;
  try {
    for (auto& result : client.list_refs(queries)) out.push_back(std::move(result.refs));
  } catch (Error& e) {
    if (e.code() == ErrorCode::network)
      e.set_hint("check connectivity and --endpoint / HF_ENDPOINT (" + config.endpoint +
                 "), or run `kernel-lock outdated --bundle FILE` offline");
    throw e.add_context("listing refs at " + config.endpoint);
  }
  return out;
}

// Refs per kernel (lock order) from a bundle: the refs it would install, all at
// the bundled commit (v<N> as branches, v<semver> as tags).
std::vector<RepoRefs> refs_from_bundle(const Lockfile& lock, const std::string& bundle) {
  const BundleReader reader(bundle);
  std::vector<RepoRefs> out(lock.kernels.size());
  for (std::size_t i = 0; i < lock.kernels.size(); ++i)
    for (const auto& bundled : reader.manifest().kernels) {
      if (bundled.repo_id != lock.kernels[i].repo_id) continue;
      for (const auto& name : bundled.refs) {
        const auto version = parse_version_tag(name);
        (version && version->size() > 1 ? out[i].tags : out[i].branches).push_back(GitRef{name, bundled.sha});
      }
    }
  return out;
}

std::string ref_cell(const std::string& name, const std::string& commit) {
  return name.empty() ? "-" : name + " (" + report::short_sha(commit) + ")";
}

int run_outdated(const OutdatedArgs& args, const CliContext& ctx) {
  const auto path = lock_path(args.lock);
  const auto lock = load_lock(path);
  const auto refs = args.bundle.empty() ? refs_from_hub(lock, args.endpoint) : refs_from_bundle(lock, args.bundle);
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < lock.kernels.size(); ++i) {
    const auto row = report::outdated_row(lock.kernels[i], refs[i]);
    if (!args.all && !row.outdated()) continue;
    rows.push_back({row.repo_id, row.version, report::short_sha(row.commit), ref_cell(row.wanted, row.wanted_commit),
                    ref_cell(row.latest, row.latest_commit)});
  }
  if (rows.empty()) {
    if (!ctx.quiet) std::cerr << "all " << lock.kernels.size() << " kernels of " << path.string() << " are up to date\n";
    return 0;
  }
  std::cout << format_table({"Package", "Version", "Commit", "Wanted", "Latest"}, rows) << std::flush;
  return 0;
}

}  // namespace

void add_outdated_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<OutdatedArgs>();
  auto* cmd = app.add_subcommand("outdated", "List locked kernels with a newer commit or version on the Hub, a mirror or in a bundle");
  add_lock_option(cmd, args->lock);
  auto* endpoint = cmd->add_option("--endpoint", args->endpoint,
                                   "Hub or mirror URL (`kernel-lock serve`) to ask (default: HF_ENDPOINT, else huggingface.co)");
  cmd->add_option("--bundle", args->bundle, "Read the refs from this bundle instead (offline)")->excludes(endpoint);
  cmd->add_flag("--all", args->all, "List every locked kernel, not only the outdated ones");
  cmd->footer(
      "Version: what the lock holds. Wanted: the newest ref the requirement accepts now.\n"
      "Latest: the newest version (v<N> branch, or v<semver> tag for a tag range). Run\n"
      "`kernel-lock resolve --upgrade` to move to Wanted; edit the requirement for Latest.");
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_outdated(*args, ctx); }; });
}

}  // namespace kernel_lock::cli
