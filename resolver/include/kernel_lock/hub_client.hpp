// Client for the Hugging Face Hub HTTP API subset kernel-lock needs
// (see ../shared/reference/hf-hub-api.md). libcurl lives behind this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/hash.hpp"

namespace kernel_lock {

enum class RepoType { kernel, model };
std::string_view to_string(RepoType type) noexcept;   // "kernel" / "model"
RepoType parse_repo_type(std::string_view text);      // throws Error(invalid_input)

struct RepoRef {
  std::string repo_id;  // "org/name"
  RepoType type = RepoType::kernel;
};

// Settings read from the environment (HF_ENDPOINT, HF_TOKEN, HF_TOKEN_PATH,
// HF_HOME, HF_HUB_OFFLINE, HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT, proxies
// and SSL_CERT_FILE/SSL_CERT_DIR are left to libcurl's own handling).
struct HubConfig {
  std::string endpoint = "https://huggingface.co";  // no trailing '/', may carry a path prefix
  std::optional<std::string> token;                  // sent only to the endpoint's host
  bool offline = false;                              // HF_HUB_OFFLINE: every request throws
  std::chrono::milliseconds metadata_timeout{10000};
  std::chrono::milliseconds download_timeout{10000};
  int max_attempts = 5;               // per request, for 408/429/5xx and network errors
  std::chrono::milliseconds initial_backoff{200};
  std::size_t max_parallel = 32;      // requests in flight at once
  static HubConfig from_environment();
};

struct TreeEntry {
  std::string path;                    // from the repo root
  bool is_directory = false;
  std::uint64_t size = 0;
  std::string oid;                     // git blob sha1 (of the pointer for LFS) / tree sha1
  std::optional<std::string> lfs_sha256;
  // Digest that names the file in caches: lfs sha256 when LFS, else the git blob sha1.
  const std::string& digest() const noexcept { return lfs_sha256 ? *lfs_sha256 : oid; }
  DigestKind digest_kind() const noexcept { return lfs_sha256 ? DigestKind::lfs_sha256 : DigestKind::git_sha1; }
};

struct GitRef {
  std::string name;
  std::string target_commit;
};
struct RepoRefs {
  std::vector<GitRef> branches;
  std::vector<GitRef> tags;
};

// One file to download, verified against digest and size before it appears at `destination`.
struct DownloadRequest {
  RepoRef repo;
  std::string sha;          // commit: downloads are always by commit, never by branch
  std::string path;         // in the repo
  std::string digest;       // expected digest hex (kind from its length)
  std::uint64_t size = 0;   // expected size
  std::filesystem::path destination;  // written atomically (temp + fsync + rename)
};

// Progress callback for long operations: bytes done / total (total 0 if unknown).
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;

class HttpTransport;  // resolver/include/kernel_lock/http.hpp

// Thread-compatible: one HubClient per thread, or external locking.
class HubClient {
 public:
  explicit HubClient(HubConfig config);
  HubClient(HubConfig config, std::shared_ptr<HttpTransport> transport);
  ~HubClient();
  HubClient(HubClient&&) noexcept;
  HubClient& operator=(HubClient&&) noexcept;

  const HubConfig& config() const noexcept;

  // Commit sha a revision (branch, tag, full or short sha) points to.
  // Throws Error(not_found) with X-Error-Code semantics (repo / revision).
  std::string resolve_revision(const RepoRef& repo, std::string_view revision);
  RepoRefs list_refs(const RepoRef& repo);
  // Follows Link rel="next" pagination. `path` empty = repo root.
  std::vector<TreeEntry> list_tree(const RepoRef& repo, std::string_view sha, std::string_view path, bool recursive);
  // Kernel type first, then model; throws Error(not_found) when neither exists.
  RepoType detect_repo_type(std::string_view repo_id);

  // Downloads many files concurrently (up to config.max_parallel), resuming with
  // Range after transient failures. Every byte is checked; on mismatch the file
  // is not created and Error(integrity) names repo, path, expected and actual digest.
  void download(const std::vector<DownloadRequest>& requests, const ProgressFn& progress = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kernel_lock
