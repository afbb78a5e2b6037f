// The resolver's sources: the Hub (HubClient batches) and an HF cache (offline).
#include "kernel_lock/resolve/source.hpp"

#include <algorithm>
#include <set>
#include <system_error>

#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/cache/snapshot.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/ids.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;

std::vector<ResolvedRevision> HubSource::resolve_revisions(const std::vector<RevisionQuery>& queries) {
  return client_.resolve_revisions(queries);
}
std::vector<RefsResult> HubSource::list_refs(const std::vector<RefsQuery>& queries) { return client_.list_refs(queries); }
std::vector<std::vector<TreeEntry>> HubSource::list_trees(const std::vector<TreeQuery>& queries) {
  return client_.list_trees(queries);
}
void HubSource::read_files(const std::vector<DownloadRequest>& requests) { client_.download(requests); }
HubStats HubSource::stats() const { return client_.stats(); }

namespace {

constexpr std::size_t kMaxTreeEntries = 100000;

// The cached repo of `repo` (its type, or model when detect_type and no kernel
// folder exists). Throws Error(not_found) naming the cache.
std::pair<RepoRef, CacheRepoPaths> find_cached_repo(const fs::path& cache, RepoRef repo, bool detect_type) {
  std::error_code ec;
  auto paths = cache_repo_paths(cache, to_string(repo.type), repo.repo_id);
  if (!fs::is_directory(paths.root, ec) && detect_type && repo.type == RepoType::kernel) {
    RepoRef model{repo.repo_id, RepoType::model};
    auto model_paths = cache_repo_paths(cache, to_string(model.type), model.repo_id);
    if (fs::is_directory(model_paths.root, ec)) return {model, model_paths};
  }
  if (!fs::is_directory(paths.root, ec))
    throw Error(ErrorCode::not_found, repo.repo_id + " is not in the cache at " + cache.string(),
                "download it into the cache first (or resolve without --from-cache)");
  return {repo, paths};
}

// Commit of `revision` in a cached repo: a snapshot sha, a ref, or a unique snapshot prefix.
std::string cached_commit(const CacheRepoPaths& repo, const std::string& repo_id, const std::string& revision) {
  std::error_code ec;
  if (is_commit_sha(revision) && fs::is_directory(repo.snapshot(revision), ec)) return revision;
  if (revision.find("..") == std::string::npos && !revision.starts_with('/'))
    if (auto sha = read_cache_ref(repo, revision)) return *sha;
  std::vector<std::string> matches;
  if (revision.size() >= 4 && revision.size() < 40)
    for (auto it = fs::directory_iterator(repo.snapshots(), ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      if (it->path().filename().string().starts_with(revision)) matches.push_back(it->path().filename().string());
  if (matches.size() == 1 && is_commit_sha(matches[0])) return matches[0];
  throw Error(ErrorCode::not_found, repo_id + ": revision " + revision + " is not in the cache at " + repo.root.string(),
              "the cache knows the refs under refs/ and the commits under snapshots/");
}

// One snapshot link as a tree entry: digest from the blob name, size of the blob.
// A tree listing of a cached snapshot, read through the cache's strict snapshot
// reader (only links to this repo's blobs/; bytecode left out). Directories are
// derived from the file paths. Throws Error(not_found) for a missing directory,
// Error(integrity / not_found) for an entry the reader refuses.
std::vector<TreeEntry> cached_tree(const CacheRepoPaths& repo, const TreeQuery& q) {
  const fs::path snapshot = repo.snapshot(q.sha);
  std::error_code ec;
  if ((!q.path.empty() && !is_safe_relative_path(q.path)) || !fs::is_directory(q.path.empty() ? snapshot : snapshot / q.path, ec))
    throw Error(ErrorCode::not_found, q.repo.repo_id + " at " + q.sha + ": no directory '" + q.path + "' in the cache");
  SnapshotOptions options;
  options.blobs = repo.blobs();
  const auto entries = read_snapshot(q.path.empty() ? snapshot : snapshot / q.path, options);
  if (entries.size() > kMaxTreeEntries)
    throw Error(ErrorCode::invalid_input, snapshot.string() + ": more than 100000 entries");
  const std::string prefix = q.path.empty() ? std::string() : q.path + "/";
  std::set<std::string> dirs;
  std::vector<TreeEntry> out;
  for (const auto& e : entries) {
    for (auto slash = e.path.find('/'); slash != std::string::npos; slash = e.path.find('/', slash + 1))
      if (q.recursive || slash == e.path.find('/')) dirs.insert(e.path.substr(0, slash));
    if (!q.recursive && e.path.find('/') != std::string::npos) continue;
    TreeEntry t;
    t.path = prefix + e.path;
    t.size = e.size;
    (e.kind == DigestKind::lfs_sha256 ? t.lfs_sha256.emplace() : t.oid) = e.digest;
    out.push_back(std::move(t));
  }
  for (const auto& d : dirs) {
    TreeEntry t;
    t.path = prefix + d;
    t.is_directory = true;
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(), [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  return out;
}

}  // namespace

std::vector<ResolvedRevision> CacheSource::resolve_revisions(const std::vector<RevisionQuery>& queries) {
  std::vector<ResolvedRevision> out;
  for (const auto& q : queries) {
    auto [repo, paths] = find_cached_repo(cache_dir_, q.repo, q.detect_type);
    out.push_back(ResolvedRevision{repo, cached_commit(paths, repo.repo_id, q.revision)});
  }
  return out;
}

std::vector<RefsResult> CacheSource::list_refs(const std::vector<RefsQuery>& queries) {
  std::vector<RefsResult> out;
  for (const auto& q : queries) {
    auto [repo, paths] = find_cached_repo(cache_dir_, q.repo, q.detect_type);
    out.push_back(RefsResult{repo, read_cache_refs(paths)});
  }
  return out;
}

std::vector<std::vector<TreeEntry>> CacheSource::list_trees(const std::vector<TreeQuery>& queries) {
  std::vector<std::vector<TreeEntry>> out;
  for (const auto& q : queries) out.push_back(cached_tree(find_cached_repo(cache_dir_, q.repo, false).second, q));
  return out;
}

void CacheSource::read_files(const std::vector<DownloadRequest>& requests) {
  for (const auto& r : requests) {
    const auto paths = find_cached_repo(cache_dir_, r.repo, false).second;
    const fs::path file = paths.snapshot(r.sha) / r.path;
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    if (ec) throw Error(ErrorCode::not_found, r.repo.repo_id + " " + r.path + " is not in the cache at " + file.string());
    const std::string digest = file_digest_hex(file, digest_kind_from_hex(r.digest));
    if (size != r.size || digest != r.digest)
      throw Error(ErrorCode::integrity, r.repo.repo_id + " " + r.path + ": the cached file has digest " + digest + " (" +
                                            std::to_string(size) + " bytes), expected " + r.digest + " (" +
                                            std::to_string(r.size) + " bytes)",
                  "the cache is corrupt: remove " + paths.root.string() + " and download again");
    fs::create_directories(r.destination.parent_path());
    const fs::path tmp = temp_path_for(r.destination);
    fs::copy_file(file, tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, r.destination);
  }
}

}  // namespace kernel_lock
