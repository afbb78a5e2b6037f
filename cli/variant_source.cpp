// VariantSource (variant_source.hpp).
#include "variant_source.hpp"

#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/bundle/install.hpp"

namespace kernel_lock::cli {

void add_variant_source_flags(CLI::App* cmd, VariantSourceFlags& flags) {
  auto* cache = cmd->add_option("--cache", flags.cache, "Cache directory (default: KERNELS_CACHE / HF_HUB_CACHE)");
  auto* bundle = cmd->add_option("--bundle", flags.bundle, "Read the variants from this bundle (verified against the lock)");
  cache->excludes(bundle);
}

VariantSource::VariantSource(const VariantSourceFlags& flags, const Lockfile& lock) {
  if (flags.bundle.empty()) {
    cache_ = flags.cache.empty() ? kernels_cache_dir() : std::filesystem::path(flags.cache);
    return;
  }
  cache_ = temp_path_for(std::filesystem::temp_directory_path() / "kernel-lock-inspect");
  guard_ = std::make_unique<PathGuard>(cache_);
  InstallOptions options;
  options.cache_dir = cache_;
  options.lock = lock;  // the bundle must hold what the lock pins
  options.write_refs = false;
  options.durable = false;
  install_bundle(flags.bundle, options);
}

std::vector<SnapshotEntry> VariantSource::files(const LockedKernel& kernel, const std::string& variant) const {
  const auto repo = cache_repo_paths(cache_, kernel.repo_type.value_or("kernel"), kernel.repo_id);
  return with_context(kernel.repo_id + " build/" + variant, [&] {
    return read_snapshot(repo.snapshot(kernel.sha) / "build" / variant, SnapshotOptions{SnapshotPolicy::strict, repo.blobs()});
  });
}

}  // namespace kernel_lock::cli
