// A read-only RepoStore over an installed HF cache directory (serve CACHE_DIR).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/unique_fd.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/cache/snapshot.hpp"
#include "kernel_lock/mirror/repo_store.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
namespace {

class CacheStore final : public RepoStore {
 public:
  explicit CacheStore(fs::path dir) : dir_(std::move(dir)) {}

  std::vector<StoreRepo> list_repos() const override {
    std::vector<StoreRepo> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir_, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      if (auto ref = parse_folder(it->path().filename().string())) out.push_back(StoreRepo{*ref, false});
    }
    std::sort(out.begin(), out.end(), [](const StoreRepo& a, const StoreRepo& b) {
      return std::pair(to_string(a.ref.type), a.ref.repo_id) < std::pair(to_string(b.ref.type), b.ref.repo_id);
    });
    return out;
  }

  std::optional<StoreRepo> find_repo(const RepoRef& repo) const override {
    std::error_code ec;
    if (!valid_id(repo.repo_id) || !fs::is_directory(root(repo), ec)) return std::nullopt;
    return StoreRepo{repo, false};
  }

  RepoRefs refs(const RepoRef& repo) const override {
    require(repo);
    return read_cache_refs(CacheRepoPaths{root(repo)});
  }

  std::optional<std::string> resolve(const RepoRef& repo, std::string_view revision) const override {
    require(repo);
    std::vector<std::string> shas;
    std::error_code ec;
    for (auto it = fs::directory_iterator(root(repo) / "snapshots", ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (is_commit_sha(name)) shas.push_back(name);
    }
    std::sort(shas.begin(), shas.end());
    return store_detail::resolve_revision(refs(repo), shas, revision);
  }

  std::shared_ptr<const StoreCommit> commit(const RepoRef& repo, std::string_view sha) const override {
    require(repo);
    const fs::path snap = root(repo) / "snapshots" / std::string(sha);
    std::error_code ec;
    if (!is_commit_sha(sha) || !fs::is_directory(snap, ec))
      throw Error(ErrorCode::not_found, repo.repo_id + " has no snapshot " + std::string(sha) + " in " + dir_.string());
    const std::string key = std::string(to_string(repo.type)) + ":" + repo.repo_id + "@" + std::string(sha);
    {
      std::lock_guard lock(mutex_);
      if (auto it = commits_.find(key); it != commits_.end()) return it->second;
    }
    auto c = std::make_shared<StoreCommit>();
    c->sha = std::string(sha);
    // The strict snapshot policy decides what is served: an entry it refuses
    // (a plain file, a dangling link, a link out of this repository's blobs/)
    // cannot be served by digest and is left out.
    SnapshotOptions options{SnapshotPolicy::strict, root(repo) / "blobs"};
    options.skip_unhashed = false;  // serve the snapshot as it is, bytecode included
    for (auto& entry : scan_snapshot(snap, options).entries) {
      if (!is_safe_relative_path(entry.path)) continue;
      TreeEntry e;
      e.path = std::move(entry.path);
      e.size = entry.size;
      if (entry.kind == DigestKind::lfs_sha256) {
        e.lfs_sha256 = entry.digest;
        e.oid = git_blob_sha1_hex(lfs_pointer_text(entry.digest, e.size));
      } else {
        e.oid = entry.digest;
      }
      c->entries.push_back(std::move(e));
    }
    store_detail::complete_tree(*c);
    std::lock_guard lock(mutex_);
    return commits_.emplace(key, std::move(c)).first->second;
  }

  std::unique_ptr<BlobReader> open(const RepoRef& repo, std::string_view digest) const override {
    require(repo);
    if (!is_blob_digest(digest))
      throw Error(ErrorCode::not_found, "no blob " + std::string(digest));
    return store_detail::file_blob(root(repo) / "blobs" / std::string(digest));
  }

 private:
  static bool valid_id(const std::string& id) {
    try {
      check_repo_id(id, "repo");
      return true;
    } catch (const Error&) {
      return false;
    }
  }
  static std::optional<RepoRef> parse_folder(const std::string& folder) {
    for (auto [prefix, type] : {std::pair{"kernels--", RepoType::kernel}, std::pair{"models--", RepoType::model}}) {
      std::string_view p(prefix);
      if (!std::string_view(folder).starts_with(p)) continue;
      std::string rest = folder.substr(p.size());
      auto sep = rest.find("--");
      if (sep == std::string::npos) return std::nullopt;
      std::string id = rest.substr(0, sep) + "/" + rest.substr(sep + 2);
      if (!valid_id(id)) return std::nullopt;
      return RepoRef{id, type};
    }
    return std::nullopt;
  }
  fs::path root(const RepoRef& repo) const {
    return dir_ / cache_repo_folder(to_string(repo.type), repo.repo_id);
  }
  void require(const RepoRef& repo) const {
    if (!find_repo(repo)) throw Error(ErrorCode::not_found, "repository " + repo.repo_id + " is not in " + dir_.string());
  }

  fs::path dir_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::shared_ptr<const StoreCommit>> commits_;
};

}  // namespace

std::shared_ptr<RepoStore> open_cache_store(const fs::path& cache_dir) {
  std::error_code ec;
  if (!fs::is_directory(cache_dir, ec)) throw Error(ErrorCode::not_found, cache_dir.string() + " is not a directory");
  return std::make_shared<CacheStore>(cache_dir);
}

}  // namespace kernel_lock
