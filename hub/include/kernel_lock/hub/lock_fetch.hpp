// The two network steps before bundling (the bundle library itself never
// downloads): complete a Python-shaped lock from the Hub, then fetch the
// locked files the cache lacks. `kernel-lock bundle` composes them (unless
// --offline) before planning and writing; HubFetcher uses fetch_locked_files.
#pragma once

#include <cstddef>
#include <filesystem>

#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/repo.hpp"
#include "kernel_lock/core/variant.hpp"
#include "kernel_lock/hub/hub_client.hpp"

namespace kernel_lock {

// Fills in the per-file records the lock lacks, from the Hub tree of build/ at
// each locked sha, in ONE batched tree request for all kernels that need it
// (one listing per kernel: build/<variant> when it needs only that variant,
// else build). Variants with records are left alone. A variant with a hash but
// no records gets the tree's records, which must hash to the locked hash
// (Error(integrity) otherwise; a variant with an empty hash takes the tree's).
// A kernel locked without variants (the Python 0.17.2 dependency shape) gets
// every variant at its commit that `filter` selects (an empty filter: all).
// Returns the number of kernels completed. Throws Error(not_found) when a
// locked variant is not in the tree, Error(network) and the client's errors.
std::size_t complete_lock(Lockfile& lock, HubClient& client, const VariantFilter& filter);

struct FetchSummary {
  std::size_t variants = 0;    // selected variants, now complete in the cache
  std::size_t present = 0;     // distinct blobs already in the cache (verified)
  std::size_t downloaded = 0;  // distinct blobs downloaded
};

// Makes every variant of `lock` that `filter` selects complete in the HF cache
// at `cache_dir` (empty: kernels_cache_dir() for kernel repos, hf_hub_cache_dir()
// for models): blobs the cache lacks, or holds with other bytes, are downloaded
// in one batch (HubClient::download checks digest and size), committed through
// CacheWriter, and each variant's snapshot directory is installed. A blob
// already present is checked (size + digest) and kept. Every selected variant
// must have per-file records (Error(invalid_input): run complete_lock first).
// Throws Error(integrity) on bytes that do not match, Error(io), and the client's errors.
FetchSummary fetch_locked_files(const Lockfile& lock, const std::filesystem::path& cache_dir, const VariantFilter& filter,
                                HubClient& client, const ProgressFn& progress = {});

}  // namespace kernel_lock
