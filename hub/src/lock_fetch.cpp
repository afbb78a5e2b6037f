// complete_lock and fetch_locked_files (lock_fetch.hpp).
#include "kernel_lock/hub/lock_fetch.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/tree_variants.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
namespace {

RepoRef repo_of(const LockedKernel& k) { return RepoRef{k.repo_id, parse_repo_type(k.repo_type.value_or("kernel"))}; }

// The tree listing a kernel needs, or nullopt when its records are complete.
std::optional<TreeQuery> completion_query(const LockedKernel& k) {
  std::vector<std::string> missing;
  for (const auto& [name, v] : k.variants)
    if (v.files.empty()) missing.push_back(name);
  if (!k.variants.empty() && missing.empty()) return std::nullopt;
  const std::string path = missing.size() == 1 && k.variants.size() == 1 ? "build/" + missing[0] : "build";
  return TreeQuery{repo_of(k), k.sha, path, true};
}

// Takes the tree's records into `k` (see complete_lock).
void complete_kernel(LockedKernel& k, TreeVariants tree, const VariantFilter& filter) {
  if (k.variants.empty()) {
    for (auto& [name, v] : tree.variants)
      if (variant_name_matches_filter(name, filter)) k.variants.emplace(name, std::move(v));
    return;
  }
  for (auto& [name, locked] : k.variants) {
    if (!locked.files.empty()) continue;
    auto it = tree.variants.find(name);
    if (it == tree.variants.end())
      throw Error(ErrorCode::not_found, k.repo_id + "@" + k.sha + " has no files under build/" + name,
                  "check the lock: the variant is not in the Hub tree at the locked commit");
    if (!locked.hash.empty() && it->second.hash != locked.hash)
      throw Error(ErrorCode::integrity, "variant " + name + ": the Hub tree at " + k.sha + " hashes to " +
                                            it->second.hash + ", the lock says " + locked.hash);
    locked.files = std::move(it->second.files);
    if (locked.hash.empty()) locked.hash = it->second.hash;
  }
}

// Whether blobs/<digest> holds exactly the locked bytes.
bool blob_matches(const fs::path& blob, const LockedFile& f) {
  std::error_code ec;
  if (fs::file_size(blob, ec) != f.size || ec) return false;
  try {
    return file_digest_hex(blob, f.kind) == f.digest;
  } catch (const Error&) {
    return false;
  }
}

struct PlannedVariant {
  fs::path cache;
  std::string folder, sha, dir;
  std::vector<SnapshotFile> files;
};

}  // namespace

std::size_t complete_lock(Lockfile& lock, HubClient& client, const VariantFilter& filter) {
  std::vector<TreeQuery> queries;
  std::vector<LockedKernel*> owners;
  for (auto& k : lock.kernels)
    if (auto q = completion_query(k)) {
      queries.push_back(std::move(*q));
      owners.push_back(&k);
    }
  if (queries.empty()) return 0;
  auto trees = client.list_trees(queries);
  for (std::size_t i = 0; i < owners.size(); ++i)
    with_context("completing the lock of " + owners[i]->repo_id + " at " + owners[i]->sha,
                 [&] { complete_kernel(*owners[i], variants_from_tree(trees[i]), filter); });
  return owners.size();
}

FetchSummary fetch_locked_files(const Lockfile& lock, const fs::path& cache_dir, const VariantFilter& filter,
                                HubClient& client, const ProgressFn& progress) {
  FetchSummary summary;
  std::vector<PlannedVariant> variants;
  std::map<std::pair<fs::path, std::string>, DownloadRequest> downloads;  // (cache, blob path) -> one download
  std::set<std::pair<fs::path, std::string>> present;
  std::map<fs::path, CacheWriter> writers;
  for (const auto& k : lock.kernels) {
    const std::string type = k.repo_type.value_or("kernel");
    const fs::path cache = !cache_dir.empty() ? cache_dir : (type == "model" ? hf_hub_cache_dir() : kernels_cache_dir());
    const auto repo = cache_repo_paths(cache, type, k.repo_id);
    auto& writer = writers.try_emplace(cache, cache).first->second;
    for (const auto& [name, v] : k.variants) {
      if (!variant_name_matches_filter(name, filter)) continue;
      if (v.files.empty())
        throw Error(ErrorCode::invalid_input, k.repo_id + " variant " + name + " has no per-file records",
                    "complete the lock from the Hub first (complete_lock)");
      PlannedVariant pv{cache, cache_repo_folder(type, k.repo_id), k.sha, "build/" + name, {}};
      for (const auto& f : v.files) {
        if (!is_hashed_variant_path(f.path)) continue;
        pv.files.push_back({pv.dir + "/" + f.path, f.digest});
        const auto key = std::make_pair(cache, pv.folder + "/" + f.digest);
        if (present.count(key) || downloads.count(key)) continue;
        if (blob_matches(repo.blob(f.digest), f)) {
          present.insert(key);
          continue;
        }
        downloads.emplace(key, DownloadRequest{repo_of(k), k.sha, pv.files.back().path, f.digest, f.size,
                                               writer.staging_dir() / pv.folder / f.digest});
      }
      variants.push_back(std::move(pv));
    }
  }
  std::vector<DownloadRequest> batch;
  for (const auto& [key, d] : downloads) batch.push_back(d);
  if (!batch.empty()) client.download(batch, progress);
  for (const auto& [key, d] : downloads)
    writers.at(key.first).commit_blob(key.second.substr(0, key.second.rfind('/')), d.digest, d.destination);
  for (const auto& pv : variants) writers.at(pv.cache).install_snapshot_dir(pv.folder, pv.sha, pv.dir, pv.files);
  summary.variants = variants.size();
  summary.present = present.size();
  summary.downloaded = downloads.size();
  return summary;
}

}  // namespace kernel_lock
