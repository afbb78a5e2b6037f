#include "kernel_lock/hub/hub_fetcher.hpp"

#include <map>
#include <string>
#include <vector>

#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/error.hpp"

namespace kernel_lock {

void HubFetcher::fetch(const FetchRequest& request) {
  if (client_.config().offline)
    throw Error(ErrorCode::network, "HF_HUB_OFFLINE is set: not downloading " + request.repo_id,
                "run `kernel-lock install <bundle>` on this node");
  const RepoRef repo{request.repo_id, parse_repo_type(request.repo_type)};
  const std::string dir = "build/" + request.variant;
  std::vector<LockedFile> files;
  if (request.locked != nullptr) files = request.locked->files;
  if (files.empty()) {  // Python lock: take the file list and digests at the locked commit
    for (const auto& e : client_.list_tree(repo, request.sha, dir, true)) {
      if (e.is_directory || e.path.size() <= dir.size() + 1) continue;
      files.push_back({e.path.substr(dir.size() + 1), e.size, e.digest(), e.digest_kind()});
    }
  }
  if (files.empty())
    throw Error(ErrorCode::not_found, request.repo_id + "@" + request.sha + " has no files under " + dir);

  CacheWriter writer(request.cache_dir);
  const std::string folder = cache_repo_folder(request.repo_type, request.repo_id);
  std::map<std::string, DownloadRequest> by_digest;  // one download per distinct blob
  std::vector<SnapshotFile> snapshot;
  for (const auto& f : files) {
    if (!is_hashed_variant_path(f.path)) continue;
    snapshot.push_back({dir + "/" + f.path, f.digest});
    if (!by_digest.count(f.digest))
      by_digest.emplace(f.digest, DownloadRequest{repo, request.sha, dir + "/" + f.path, f.digest, f.size,
                                                  writer.staging_dir() / f.digest});
  }
  std::vector<DownloadRequest> downloads;
  for (auto& [digest, r] : by_digest) downloads.push_back(r);
  client_.download(downloads);
  for (const auto& r : downloads) writer.commit_blob(folder, r.digest, r.destination);
  writer.install_snapshot_dir(folder, request.sha, dir, snapshot);
}

}  // namespace kernel_lock
