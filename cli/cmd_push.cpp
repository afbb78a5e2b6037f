// `kernel-lock push SOURCE oci://HOST[:PORT]/REPO:TAG`: an OCI layout (directory
// or .tar), a bundle file, or a lock plus the cache, pushed to a registry (docs/oci.md).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "registry_flags.hpp"
#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/lockfile.hpp"

namespace kernel_lock::cli {
namespace {
namespace fs = std::filesystem;

struct PushArgs {
  std::string source;
  std::string target;
  std::string cache;
  std::string tag;  // the layout's tag (default: the only one)
  std::uint64_t chunk_size = 0;
  std::string mount_from;
  RegistryFlags registry;
};

RegistryProgressFn push_progress(bool quiet) {
  if (quiet) return {};
  return [](const RegistryEvent& e) {
    using K = RegistryEvent::Kind;
    const char* what = e.kind == K::blob_skipped   ? "exists "
                       : e.kind == K::blob_mounted ? "mounted"
                       : e.kind == K::blob_done    ? "pushed "
                       : e.kind == K::blob_bytes   ? "sending"
                       : e.kind == K::manifest_put ? "manifest"
                                                   : "tagged ";
    std::fprintf(stderr, "%s %s (%llu/%llu bytes)\n", what, e.digest.c_str(), static_cast<unsigned long long>(e.done),
                 static_cast<unsigned long long>(e.total));
  };
}

// A bundle archive as a plan: every blob extracted (size- and digest-checked
// by the bundle reader) into files under `dir`, the manifest and trusted root as carried.
BundlePlan plan_from_bundle(const fs::path& bundle, const fs::path& dir) {
  BundleReader reader(bundle);
  BundlePlan plan{reader.manifest(), {}, reader.trust_root()};
  fs::create_directories(dir);
  std::size_t n = 0;
  std::ofstream out;
  while (auto blob = reader.next_blob_to([&](const BundleBlob&) {
    out = std::ofstream(dir / std::to_string(n), std::ios::binary | std::ios::trunc);
    if (!out) throw Error(ErrorCode::io, "cannot write " + (dir / std::to_string(n)).string());
    return [&out](std::string_view chunk) { out.write(chunk.data(), static_cast<std::streamsize>(chunk.size())); };
  })) {
    out.close();
    if (!out) throw Error(ErrorCode::io, "cannot write " + (dir / std::to_string(n)).string());
    plan.sources[blob->digest] = dir / std::to_string(n++);
  }
  return plan;
}

int run_push(const PushArgs& args, const CliContext& ctx) {
  const OciReference target = parse_oci_reference(args.target);
  const RegistryOptions options = args.registry.options();
  PushOptions push;
  push.chunk_size = args.chunk_size;
  push.mount_from = args.mount_from;
  push.layout_tag = args.tag;
  push.progress = push_progress(ctx.quiet);
  const fs::path source(args.source);
  fs::path layout = source;
  std::optional<PathGuard> guard;
  if (!is_oci_layout_dir(source)) {
    // A tar layout, a bundle or a lock: an OCI layout in a temp dir first (the oci writer).
    const fs::path cache = args.cache.empty() ? kernels_cache_dir() : fs::path(args.cache);
    fs::create_directories(cache);
    layout = temp_path_for(cache / ".kernel-lock-oci-push");
    guard.emplace(layout);
    if (is_oci_layout_tar(source)) {
      extract_oci_layout_tar(source, layout);
    } else if (is_bundle_file(source)) {
      OciWriteOptions w;
      w.tag = target.tag;
      push.layout_tag = target.tag;
      const fs::path blobs = temp_path_for(cache / ".kernel-lock-bundle-blobs");
      PathGuard blobs_guard(blobs);
      write_oci_layout(plan_from_bundle(source, blobs), layout, w);
    } else {
      const Lockfile lock = read_lockfile(source);
      const std::optional<fs::path> cache_dir = args.cache.empty() ? std::nullopt : std::optional<fs::path>(args.cache);
      OciWriteOptions w;
      w.tag = target.tag;
      push.layout_tag = target.tag;
      write_oci_layout(plan_bundle(lock, cache_dir, VariantFilter{}), layout, w);
    }
  }
  auto transport = args.registry.transport();
  const PushSummary s = push_oci_layout(*transport, layout, target, options, push);
  if (!ctx.quiet)
    std::cout << "pushed " << args.source << " to " << target.to_string() << ": " << s.uploaded << " blob(s) uploaded, "
              << s.skipped << " skipped (already there), " << s.mounted << " mounted; " << s.bytes_uploaded
              << " bytes uploaded; " << s.manifests << " manifest(s)" << (s.resumed ? "; uploads resumed " + std::to_string(s.resumed) + " time(s)" : "")
              << "\n";
  return 0;
}

}  // namespace

void add_push_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<PushArgs>();
  auto* cmd = app.add_subcommand("push", "Push an OCI layout (or a lock and its cached files) to an OCI registry");
  cmd->add_option("SOURCE", args->source, "Bundle file (`kernel-lock bundle`), OCI layout (directory or .tar, `bundle --format oci`), or a kernel.lock")->required();
  cmd->add_option("TARGET", args->target, "oci://HOST[:PORT]/REPO:TAG")->required();
  cmd->add_option("--cache", args->cache, "kernel.lock source: the cache holding its files (default: HF_HUB_CACHE ...)");
  cmd->add_option("--tag", args->tag, "OCI layout source: its tag to push (default: the only one)");
  cmd->add_option("--chunk-size", args->chunk_size, "Upload in PATCH chunks of this many bytes (default: monolithic)");
  cmd->add_option("--mount-from", args->mount_from, "Mount blobs from this repository of the same registry when possible");
  add_registry_flags(cmd, args->registry);
  cmd->footer("Blobs first (HEAD: existing ones are skipped), then the manifests, then the tag. Retries 429/5xx with\n"
              "backoff (KERNEL_LOCK_OCI_RETRIES, KERNEL_LOCK_OCI_BACKOFF_MS); interrupted uploads resume (docs/oci.md).");
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_push(*args, ctx); }; });
}

}  // namespace kernel_lock::cli
