// MemoryStore: a RepoStore (kernel_lock/mirror/repo_store.hpp) held in memory,
// for unit tests that need a Hub: repos of files, branches and tags that a test
// sets up (and may change between requests), served by the product's HubServer
// (see scripted_hub.hpp).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/core/repo.hpp"
#include "kernel_lock/mirror/repo_store.hpp"

namespace kernel_lock {

struct MemoryFile {
  std::string content;
  bool lfs = false;  // served as an LFS file: digest = sha256 of the content
};

struct MemoryRepo {
  RepoType type = RepoType::kernel;
  bool gated = false;
  std::map<std::string, std::string> branches;  // name -> commit sha (40 hex)
  std::map<std::string, std::string> tags;      // name -> commit sha
  // sha (40 hex) -> repo path -> file. Commit shas are whatever the test picks.
  std::map<std::string, std::map<std::string, MemoryFile>> commits;
};

// The digest that names `file` (TreeEntry::digest()): sha256 for LFS, else the git blob sha1.
std::string memory_file_digest(const MemoryFile& file);

// Thread-safe: a test may edit repos while a server reads them.
class MemoryStore final : public RepoStore {
 public:
  // Runs `fn` on repo `repo_id` (created empty when missing) under the store's lock.
  void edit(const std::string& repo_id, const std::function<void(MemoryRepo&)>& fn);
  // A copy of repo `repo_id`. Throws Error(not_found) when absent.
  MemoryRepo repo(const std::string& repo_id) const;

  std::vector<StoreRepo> list_repos() const override;
  std::optional<StoreRepo> find_repo(const RepoRef& repo) const override;
  RepoRefs refs(const RepoRef& repo) const override;
  std::optional<std::string> resolve(const RepoRef& repo, std::string_view revision) const override;
  // Builds the commit's tree from its files on every call. Throws Error(not_found)
  // for an unknown commit, Error(invalid_input) for an invalid repo path.
  std::shared_ptr<const StoreCommit> commit(const RepoRef& repo, std::string_view sha) const override;
  std::unique_ptr<BlobReader> open(const RepoRef& repo, std::string_view digest) const override;

 private:
  // The repo of that id and type, or nullptr; the caller holds mutex_.
  const MemoryRepo* find_locked(const RepoRef& repo) const;
  // Like find_locked, but throws Error(not_found).
  const MemoryRepo& get_locked(const RepoRef& repo) const;

  mutable std::mutex mutex_;
  std::map<std::string, MemoryRepo> repos_;
};

}  // namespace kernel_lock
