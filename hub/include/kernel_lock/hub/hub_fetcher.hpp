// HubFetcher: the Fetcher get_locked_kernel uses to download a locked variant
// that is missing from the cache, over the resolver's Hub client (HF_ENDPOINT,
// HF_TOKEN, ...). It lives in the hub library so that kernel_lock::loader itself
// does not depend on libcurl: include it and link kernel_lock::hub as well.
//
//   kernel_lock::LoadOptions o;
//   o.fetcher = std::make_shared<kernel_lock::HubFetcher>();
//   auto k = kernel_lock::get_locked_kernel("kernels-community/activation", o);
//
// Contract: every downloaded byte is checked by HubClient::download against the
// lock's per-file digest and size (or, for Python locks, the digests the Hub
// tree listing reports at the locked commit); blobs are committed and the
// snapshot directory swapped in by CacheWriter. The loader then verifies the
// whole variant against the lock again before loading it.
#pragma once

#include <utility>

#include "kernel_lock/cache/fetcher.hpp"
#include "kernel_lock/hub/hub_client.hpp"

namespace kernel_lock {

class HubFetcher final : public Fetcher {
 public:
  explicit HubFetcher(HubConfig config = HubConfig::from_environment()) : client_(std::move(config)) {}

  // Downloads the variant into request.cache_dir (see the contract above).
  // Throws Error(network) when offline, Error(not_found) when the commit has
  // no files under build/<variant>, Error(integrity) for bytes that do not match.
  void fetch(const FetchRequest& request) override;

 private:
  HubClient client_;
};

}  // namespace kernel_lock
