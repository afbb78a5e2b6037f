// `kernel-lock export [DIR] --format kernels-lock|requirements|cyclonedx|spdx [-o FILE]`
// (docs/export.md): the lock in another shape, on stdout or written atomically to
// FILE (only when its bytes change).
//   kernels-lock  the shape Python kernels 0.17 reads (core format_python_lockfile;
//                 `lock-fmt --python` is the older name of the same output);
//   requirements  the kernels.yaml that reproduces the lock (core format_kernels_yaml);
//   cyclonedx     CycloneDX 1.6 JSON, spdx: SPDX 2.3 JSON (sbom library), with the
//                 content sha256 of git-sha1 files and each variant's metadata.json
//                 (backend, archs, provenance) that the cache (or --bundle) holds unless --no-cache.
// Exit 3 for a bad lock, 5 when no lock is found, 6 for a cached blob that does
// not match the lock, 8 when FILE cannot be written.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "variant_source.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/requirements_writer.hpp"
#include "kernel_lock/sbom/sbom.hpp"

namespace kernel_lock::cli {
namespace {


struct ExportArgs {
  std::string dir = ".";
  std::string lockfile;
  std::string format_name;  // one of kFormats
  std::string output;
  VariantSourceFlags source;
  bool no_cache = false;
};

// The SBOM formats: the content sha256 of git-sha1 files and the variants'
// metadata.json (backend, archs, provenance) from the cache or the bundle, none
// with --no-cache.
std::string sbom_bytes(const Lockfile& lock, const ExportArgs& args) {
  sbom::ContentDigests digests;
  sbom::VariantMetadataMap metadata;
  if (!args.no_cache) {
    const VariantSource source(args.source, lock);
    digests = sbom::content_digests_from_cache(lock, source.cache());
    metadata = sbom::variant_metadata_from_cache(lock, source.cache());
  }
  return args.format_name == "cyclonedx" ? sbom::format_cyclonedx(lock, digests, metadata)
                                          : sbom::format_spdx(lock, digests, metadata);  // --format is checked by CLI11
}

std::string export_bytes(const Lockfile& lock, const ExportArgs& args) {
  if (args.format_name == "kernels-lock") return format_python_lockfile(lock);
  if (args.format_name == "requirements") return format_kernels_yaml(lock);
  return sbom_bytes(lock, args);
}

int run_export(const ExportArgs& args, const CliContext& ctx) {
  namespace fs = std::filesystem;
  const fs::path lock_path = args.lockfile.empty() ? find_lockfile(args.dir) : fs::path(args.lockfile);
  const auto bytes = export_bytes(read_lockfile(lock_path), args);
  if (args.output.empty()) {
    std::cout << bytes << std::flush;
    return 0;
  }
  const bool written = write_file_if_changed(args.output, bytes);
  if (!ctx.quiet) std::cerr << (written ? "wrote " : "unchanged ") << args.output << "\n";
  return 0;
}

}  // namespace

void add_export_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand("export", "Write the lock as a Python kernels.lock, a kernels.yaml, or a CycloneDX / SPDX SBOM");
  cmd->add_option("DIR", args->dir, "Project directory holding kernel.lock (default: .)");
  cmd->add_option("--lockfile", args->lockfile, "Lock file (default: DIR/kernel.lock, else DIR/kernels.lock)");
  cmd->add_option("--format", args->format_name,
                  "kernels-lock (the shape Python kernels 0.17 reads), requirements (kernels.yaml), "
                  "cyclonedx (CycloneDX 1.6 JSON) or spdx (SPDX 2.3 JSON)")
      ->required()
      ->check(CLI::IsMember({"kernels-lock", "requirements", "cyclonedx", "spdx"}));
  cmd->add_option("-o,--output", args->output, "Write to FILE atomically, only when its bytes change (default: stdout)");
  auto* cache = cmd->add_option("--cache", args->source.cache,
                                "Cache to read the sha256 of git-sha1 files and metadata.json from "
                                "(default: KERNELS_CACHE / HF_HUB_CACHE)");
  auto* bundle = cmd->add_option("--bundle", args->source.bundle,
                                 "Read them from this bundle instead (verified against the lock, unpacked to a "
                                 "temporary cache that is removed)");
  cache->excludes(bundle);
  cmd->add_flag("--no-cache", args->no_cache, "Read neither: git-sha1 files keep their git blob id only")
      ->excludes(cache)
      ->excludes(bundle);
  cmd->callback([args, &ctx] { ctx.action = [args, &ctx] { return run_export(*args, ctx); }; });
}

}  // namespace kernel_lock::cli
