// `kernel-lock bundle [DIR] -o FILE`: pack exactly the locked bytes into one
// reproducible archive (docs/bundle-format.md describes the format).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "filter_flags.hpp"
#include "trust_flags.hpp"
#include "kernel_lock/bundle/signatures.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/hub/hub_client.hpp"
#include "kernel_lock/hub/lock_fetch.hpp"
#include "kernel_lock/oci/layout.hpp"

namespace kernel_lock::cli {
namespace {

struct BundleArgs {
  std::string dir = ".";
  std::string output;
  std::string lockfile;
  std::string cache;
  FilterFlags filters;
  TrustFlags trust;
  bool offline = false;
  int level = 3;
  int threads = 0;
  std::string format = "bundle";  // --format: bundle | oci
  std::string tag = std::string(kOciDefaultTag);
};

// A progress line on stderr, only when it is a terminal; redrawn at most 10x/s.
ProgressFn terminal_progress(bool quiet, const char* what) {
  if (quiet || !::isatty(2)) return {};
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [last, what](std::uint64_t done, std::uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    if (done < total && now - *last < std::chrono::milliseconds(100)) return;
    *last = now;
    std::fprintf(stderr, "\r%s: %.1f / %.1f MiB (%3.0f%%)%s", what, static_cast<double>(done) / 1048576.0,
                 static_cast<double>(total) / 1048576.0, total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0,
                 done >= total ? "\n" : "");
  };
}

// The bundle pipeline's network half: unless offline, complete a Python-shaped
// lock from the Hub (one batched tree request) and fetch the locked files the
// cache lacks (hub/lock_fetch.hpp). The bundler then plans from the lock as read
// (its embedded copy stays as written) and the cache alone. Returns the number
// of blobs downloaded.
std::size_t fetch_missing(const Lockfile& lock, const VariantFilter& filter, const std::optional<std::filesystem::path>& cache,
                          HubConfig hub, const ProgressFn& progress) {
  HubClient client(std::move(hub));
  Lockfile completed = lock;
  complete_lock(completed, client, filter);
  return fetch_locked_files(completed, cache.value_or(std::filesystem::path()), filter, client, progress).downloaded;
}

// Online: the kind (branch or tag) of each ref the cache could not tell (the
// ref of a `revision` lock entry, classify_refs), from the Hub's refs: one
// batched refs request, only when some kernel needs it (docs/hf-cache.md "Ref kinds").
// Best effort: a Hub that cannot answer leaves those kinds unknown.
void ref_kinds_from_hub(BundlePlan& plan, HubConfig hub) {
  std::vector<RefsQuery> queries;
  std::vector<BundleKernel*> owners;
  for (auto& bk : plan.manifest.kernels) {
    if (bk.ref_kinds_known) continue;
    queries.push_back(RefsQuery{RepoRef{bk.repo_id, parse_repo_type(bk.repo_type)}, false});
    owners.push_back(&bk);
  }
  if (queries.empty()) return;
  std::vector<RefsResult> results;
  try {
    HubClient client(std::move(hub));
    results = client.list_refs(queries);
  } catch (const Error&) {
    return;  // best effort: the bundle is complete without it; those refs stay of unknown kind
  }
  for (std::size_t i = 0; i < owners.size() && i < results.size(); ++i) {
    BundleKernel& bk = *owners[i];
    bk.tags.clear();
    for (const auto& t : results[i].refs.tags)
      if (std::find(bk.refs.begin(), bk.refs.end(), t.name) != bk.refs.end()) bk.tags.push_back(t.name);
    std::sort(bk.tags.begin(), bk.tags.end());
    bk.tags.erase(std::unique(bk.tags.begin(), bk.tags.end()), bk.tags.end());
    bk.ref_kinds_known = true;
  }
}

// --format oci: the plan as an OCI image layout (directory, or FILE.tar), docs/oci-layout.md.
int write_oci(const BundlePlan& plan, const BundleArgs& args, const CliContext& ctx, std::size_t downloaded) {
  OciWriteOptions options;
  options.tag = args.tag;
  options.progress = terminal_progress(ctx.quiet, "writing the OCI layout");
  const auto s = write_oci_layout(plan, args.output, options);
  if (!ctx.quiet)
    std::cout << (s.changed ? "wrote " : "unchanged ") << args.output << " (OCI layout, tag " << args.tag << "): " << s.kernels
              << " kernel manifest(s), " << s.files << " file layer(s), " << s.blobs << " blob(s); " << s.content_bytes
              << " content bytes (" << downloaded << " blob(s) downloaded into the cache first)\n";
  return 0;
}

int run_bundle(const BundleArgs& args, const CliContext& ctx) {
  namespace fs = std::filesystem;
  const fs::path lock_path = args.lockfile.empty() ? find_lockfile(args.dir) : fs::path(args.lockfile);
  const Lockfile lock = read_lockfile(lock_path);
  const VariantFilter filter = args.filters.filter();
  std::optional<fs::path> cache;
  if (!args.cache.empty()) cache = fs::path(args.cache);
  HubConfig hub = HubConfig::from_environment();
  const bool online = !args.offline && !hub.offline;
  const std::size_t downloaded =
      online ? fetch_missing(lock, filter, cache, hub, terminal_progress(ctx.quiet, "fetching")) : 0;
  BundlePlan plan = plan_bundle(lock, cache, filter);
  if (online) ref_kinds_from_hub(plan, std::move(hub));
  // The trusted root travels with a lock that pins signatures (or when named).
  if (manifest_pins_signatures(plan.manifest) || !args.trust.trusted_root.empty())
    carry_trust_root(plan, args.trust.load(cache.value_or(kernels_cache_dir())));
  if (args.format == "oci") return write_oci(plan, args, ctx, downloaded);
  BundleOptions options;
  options.compression_level = args.level;
  options.threads = args.threads;
  options.progress = terminal_progress(ctx.quiet, "bundling");
  const auto s = write_bundle(plan, args.output, options);
  if (!ctx.quiet)
    std::cout << "wrote " << args.output << ": " << s.kernels << " kernel(s), " << s.variants << " variant(s), "
              << s.files << " file(s), " << s.blobs << " blob(s); " << s.content_bytes << " content bytes -> "
              << s.archive_bytes << " archive bytes (" << downloaded << " blob(s) downloaded into the cache first)\n";
  if (!ctx.quiet && plan.trust_root)
    std::cout << "  trusted root " << plan.trust_root->origin.string() << " (captured "
              << trust::format_rfc3339(plan.trust_root->captured_at) << ", sha256 " << plan.trust_root->sha256_hex()
              << ")\n";
  return 0;
}

}  // namespace

void add_bundle_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<BundleArgs>();
  auto* cmd = app.add_subcommand("bundle", "Pack exactly the locked files (verified) into one reproducible tar.zst (or an OCI image layout: --format oci)");
  cmd->add_option("DIR", args->dir, "Project directory holding kernel.lock (default: .)");
  cmd->add_option("-o,--output", args->output, "Bundle file to write (atomically); --format oci: a directory, or FILE.tar")->required();
  cmd->add_option("--lockfile", args->lockfile, "Lock file (default: DIR/kernel.lock, else DIR/kernels.lock)");
  cmd->add_option("--cache", args->cache, "HF cache to take files from (default: KERNELS_CACHE / HF_HUB_CACHE)");
  add_filter_flags(cmd, args->filters);
  add_trust_flags(cmd, args->trust);
  cmd->add_flag("--offline", args->offline, "Never download: every file must be in the cache");
  cmd->add_option("--level", args->level, "zstd compression level (default 3)");
  cmd->add_option("--threads", args->threads, "zstd worker threads (default: CPUs; output is the same)");
  cmd->add_option("--format", args->format,
                  "bundle (default): one tar.zst; oci: an OCI image layout directory, or an uncompressed tar of it when "
                  "-o ends in .tar (readable by skopeo and ORAS; docs/oci-layout.md)")
      ->check(CLI::IsMember({"bundle", "oci"}));
  cmd->add_option("--tag", args->tag, "--format oci: the tag of the lock's index in index.json (default: latest)");
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_bundle(*args, ctx); }; });
}

}  // namespace kernel_lock::cli
