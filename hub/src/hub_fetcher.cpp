#include "kernel_lock/hub/hub_fetcher.hpp"

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/hub/lock_fetch.hpp"

namespace kernel_lock {

void HubFetcher::fetch(const FetchRequest& request) {
  if (client_.config().offline)
    throw Error(ErrorCode::network, "HF_HUB_OFFLINE is set: not downloading " + request.repo_id,
                "run `kernel-lock install <bundle>` on this node");
  // A one-variant lock: completed from the Hub tree at the locked commit when
  // it has no per-file records (Python lock), then fetched into the cache.
  Lockfile lock;
  LockedKernel& kernel = lock.kernels.emplace_back();
  kernel.repo_id = request.repo_id;
  kernel.repo_type = request.repo_type;
  kernel.sha = request.sha;
  kernel.variants.emplace(request.variant, request.locked != nullptr ? *request.locked : LockedVariant{});
  complete_lock(lock, client_, {});
  fetch_locked_files(lock, request.cache_dir, {}, client_);
}

}  // namespace kernel_lock
