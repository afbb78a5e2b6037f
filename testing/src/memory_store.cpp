// MemoryStore (memory_store.hpp): repos in maps, trees built by the mirror's
// store helpers (complete_tree, resolve_revision) like every other store.
#include "kernel_lock/testing/memory_store.hpp"

#include <algorithm>
#include <utility>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/ids.hpp"

namespace kernel_lock {
namespace {

RepoRefs to_refs(const MemoryRepo& r) {
  RepoRefs refs;
  for (const auto& [name, sha] : r.branches) refs.branches.push_back(GitRef{name, sha});
  for (const auto& [name, sha] : r.tags) refs.tags.push_back(GitRef{name, sha});
  return refs;
}

TreeEntry file_entry(const std::string& path, const MemoryFile& f) {
  if (!is_safe_relative_path(path)) throw Error(ErrorCode::invalid_input, "invalid repo path '" + path + "'");
  TreeEntry e;
  e.path = path;
  e.size = f.content.size();
  if (f.lfs) {
    e.lfs_sha256 = sha256_hex(f.content);
    e.oid = git_blob_sha1_hex(lfs_pointer_text(*e.lfs_sha256, e.size));
  } else {
    e.oid = git_blob_sha1_hex(f.content);
  }
  return e;
}

}  // namespace

std::string memory_file_digest(const MemoryFile& file) {
  return file.lfs ? sha256_hex(file.content) : git_blob_sha1_hex(file.content);
}

void MemoryStore::edit(const std::string& repo_id, const std::function<void(MemoryRepo&)>& fn) {
  std::lock_guard lock(mutex_);
  fn(repos_[repo_id]);
}

MemoryRepo MemoryStore::repo(const std::string& repo_id) const {
  std::lock_guard lock(mutex_);
  auto it = repos_.find(repo_id);
  if (it == repos_.end()) throw Error(ErrorCode::not_found, "no repo " + repo_id + " in the memory store");
  return it->second;
}

const MemoryRepo* MemoryStore::find_locked(const RepoRef& repo) const {
  auto it = repos_.find(repo.repo_id);
  return it == repos_.end() || it->second.type != repo.type ? nullptr : &it->second;
}

const MemoryRepo& MemoryStore::get_locked(const RepoRef& repo) const {
  const MemoryRepo* r = find_locked(repo);
  if (!r) throw Error(ErrorCode::not_found, "repository " + repo.repo_id + " not found");
  return *r;
}

std::vector<StoreRepo> MemoryStore::list_repos() const {
  std::lock_guard lock(mutex_);
  std::vector<StoreRepo> out;
  for (const auto& [id, r] : repos_) out.push_back(StoreRepo{RepoRef{id, r.type}, r.gated});
  std::sort(out.begin(), out.end(), [](const StoreRepo& a, const StoreRepo& b) {
    return std::pair(a.ref.type, a.ref.repo_id) < std::pair(b.ref.type, b.ref.repo_id);
  });
  return out;
}

std::optional<StoreRepo> MemoryStore::find_repo(const RepoRef& repo) const {
  std::lock_guard lock(mutex_);
  const MemoryRepo* r = find_locked(repo);
  if (!r) return std::nullopt;
  return StoreRepo{repo, r->gated};
}

RepoRefs MemoryStore::refs(const RepoRef& repo) const {
  std::lock_guard lock(mutex_);
  return to_refs(get_locked(repo));
}

std::optional<std::string> MemoryStore::resolve(const RepoRef& repo, std::string_view revision) const {
  std::lock_guard lock(mutex_);
  const MemoryRepo& r = get_locked(repo);
  std::vector<std::string> shas;
  for (const auto& [sha, files] : r.commits) shas.push_back(sha);
  return store_detail::resolve_revision(to_refs(r), shas, revision);
}

std::shared_ptr<const StoreCommit> MemoryStore::commit(const RepoRef& repo, std::string_view sha) const {
  auto c = std::make_shared<StoreCommit>();
  {
    std::lock_guard lock(mutex_);
    const MemoryRepo& r = get_locked(repo);
    auto it = r.commits.find(std::string(sha));
    if (it == r.commits.end()) throw Error(ErrorCode::not_found, "commit " + std::string(sha) + " not found in " + repo.repo_id);
    for (const auto& [path, file] : it->second) c->entries.push_back(file_entry(path, file));
  }
  c->sha = std::string(sha);
  c->message = "memory commit";
  store_detail::complete_tree(*c);
  return c;
}

std::unique_ptr<BlobReader> MemoryStore::open(const RepoRef& repo, std::string_view digest) const {
  std::lock_guard lock(mutex_);
  for (const auto& [sha, files] : get_locked(repo).commits)
    for (const auto& [path, file] : files)
      if (memory_file_digest(file) == digest) return store_detail::string_blob(file.content);
  throw Error(ErrorCode::not_found, "no object " + std::string(digest) + " in " + repo.repo_id);
}

}  // namespace kernel_lock
