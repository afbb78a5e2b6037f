// The interface that fills an HF cache with one locked variant: torch-free and
// network-free, so that the loader can take one without linking a transport.
#pragma once

#include <filesystem>
#include <string>

#include "kernel_lock/core/lockfile.hpp"

namespace kernel_lock {

// Fetches a locked variant's files into the HF cache (blobs + snapshot
// symlinks + nothing else). The hub library implements it over the Hub
// client (kernel_lock/hub/hub_fetcher.hpp); tests inject their own. Must leave the cache untouched on failure.
struct FetchRequest {
  std::string repo_id;
  std::string repo_type;   // "kernel" or "model"
  std::string sha;         // locked commit
  std::string variant;     // build/<variant>
  const LockedVariant* locked = nullptr;  // hash and, when known, per-file records
  std::filesystem::path cache_dir;
};
class Fetcher {
 public:
  virtual ~Fetcher() = default;
  virtual void fetch(const FetchRequest& request) = 0;
};

}  // namespace kernel_lock
