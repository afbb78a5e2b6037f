// Where `check --fleet`, `audit` and `export` read the locked variants from: an HF cache
// (--cache, default KERNELS_CACHE / HF_HUB_CACHE) or a bundle (--bundle),
// verified and unpacked into a private temp cache that is removed afterwards.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kernel_lock/cache/snapshot.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/lockfile.hpp"

namespace kernel_lock::cli {

struct VariantSourceFlags {
  std::string cache;
  std::string bundle;
};
// Registers --cache and --bundle (mutually exclusive) on `cmd`.
void add_variant_source_flags(CLI::App* cmd, VariantSourceFlags& flags);

class VariantSource {
 public:
  // Opens the cache, or installs the bundle (checked against `lock`) into a temp
  // cache. Throws what install_bundle throws (invalid_input, integrity, ...).
  VariantSource(const VariantSourceFlags& flags, const Lockfile& lock);
  // The files of build/<variant>/ of a locked kernel (strict snapshot policy).
  // Throws Error(not_found) naming the kernel and variant when not present.
  std::vector<SnapshotEntry> files(const LockedKernel& kernel, const std::string& variant) const;
  // The cache read: the one given, or the bundle's temp cache (removed with this object).
  const std::filesystem::path& cache() const noexcept { return cache_; }

 private:
  std::filesystem::path cache_;
  std::unique_ptr<PathGuard> guard_;
};

}  // namespace kernel_lock::cli
