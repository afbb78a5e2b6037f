// Client for the Hugging Face Hub HTTP API subset kernel-lock needs
// (docs/hub-api.md). libcurl lives behind this header.
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

#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/repo.hpp"

namespace kernel_lock {

// Settings read from the environment: HF_ENDPOINT (trailing '/' stripped, may
// carry a path prefix), HF_TOKEN / HUGGING_FACE_HUB_TOKEN / HF_TOKEN_PATH
// (default $HF_HOME/token; HF_HUB_DISABLE_IMPLICIT_TOKEN drops it),
// HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, HF_HUB_ETAG_TIMEOUT,
// HF_HUB_DOWNLOAD_TIMEOUT. Proxies and SSL_CERT_FILE/SSL_CERT_DIR belong to the
// transport (http.hpp CurlTransportOptions::from_environment).
struct HubConfig {
  std::string endpoint = "https://huggingface.co";  // no trailing '/', may carry a path prefix
  std::optional<std::string> token;                  // sent only to the endpoint's origin
  bool offline = false;                              // HF_HUB_OFFLINE: every request throws
  std::chrono::milliseconds metadata_timeout{10000};
  std::chrono::milliseconds download_timeout{10000};
  int max_attempts = 5;               // per request, for 408/429/5xx and network errors
  std::chrono::milliseconds initial_backoff{200};   // doubled per attempt, plus up to 50% jitter
  std::chrono::milliseconds max_backoff{8000};      // cap for computed and server-given delays
  std::size_t max_parallel = 32;      // requests in flight at once
  static HubConfig from_environment();
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

class HttpTransport;  // kernel_lock/hub/http.hpp

// Counters for reports and benchmarks.
struct HubStats {
  std::uint64_t requests = 0;  // HTTP requests started (retries and pages included)
  std::uint64_t retries = 0;   // requests repeated after a transient failure
  std::uint64_t bytes_downloaded = 0;
};

// Batch query forms. Every batch runs all of its items at once on one transport
// (one CURLM: keep-alive, HTTP/2), so a batch of N repos costs about the round
// trips of its slowest item. Results come back in input order; the first
// failing item's Error is thrown (its context names the repo).
struct RevisionQuery {
  RepoRef repo;
  std::string revision;      // branch, tag, full or short sha
  bool detect_type = false;  // repo.type kernel not found -> retry as model
};
struct ResolvedRevision {
  RepoRef repo;  // type where it was found
  std::string sha;
};
struct RefsQuery {
  RepoRef repo;
  bool detect_type = false;
};
struct RefsResult {
  RepoRef repo;  // type where it was found
  RepoRefs refs;
};
struct TreeQuery {
  RepoRef repo;
  std::string sha;        // commit (or any revision the Hub accepts)
  std::string path;       // "" = repo root
  bool recursive = true;
};

// Thread-compatible: one HubClient per thread, or external locking.
class HubClient {
 public:
  explicit HubClient(HubConfig config);
  HubClient(HubConfig config, std::shared_ptr<HttpTransport> transport);
  ~HubClient();
  HubClient(HubClient&&) noexcept;
  HubClient& operator=(HubClient&&) noexcept;

  const HubConfig& config() const noexcept;
  HubStats stats() const noexcept;

  // Commit sha a revision (branch, tag, full or short sha) points to.
  // Throws Error(not_found) with X-Error-Code semantics (repo / revision).
  std::string resolve_revision(const RepoRef& repo, std::string_view revision);
  RepoRefs list_refs(const RepoRef& repo);
  // Follows Link rel="next" pagination. `path` empty = repo root. Paths are
  // validated (no "..", absolute or backslash paths: Error(invalid_input)).
  std::vector<TreeEntry> list_tree(const RepoRef& repo, std::string_view sha, std::string_view path, bool recursive);
  // Kernel type first, then model; throws Error(not_found) when neither exists.
  RepoType detect_repo_type(std::string_view repo_id);

  // Batch forms (see above).
  std::vector<ResolvedRevision> resolve_revisions(const std::vector<RevisionQuery>& queries);
  std::vector<RefsResult> list_refs(const std::vector<RefsQuery>& queries);
  std::vector<std::vector<TreeEntry>> list_trees(const std::vector<TreeQuery>& queries);

  // Downloads many files concurrently (up to config.max_parallel) from
  // {endpoint}/{kernels/}{repo}/resolve/{sha}/{path}, resuming with Range after
  // transient failures (restarting from zero when the server answers 200).
  // Every byte is checked against `size` and `digest` (sha256 for 64 hex, git
  // blob sha1 for 40 hex) while streaming into a temp file next to the
  // destination; only a verified file is fsynced and renamed into place, and
  // missing parent directories are created. On mismatch the destination is not
  // created and Error(integrity) names repo, path, expected and actual digest.
  // `progress` gets (bytes done, bytes total) of the whole batch.
  void download(const std::vector<DownloadRequest>& requests, const ProgressFn& progress = {});

  // URL builders (exposed for the bundler, mirror and tests).
  std::string api_url(const RepoRef& repo) const;                         // {E}/api/{T}/{repo}
  std::string resolve_url(const RepoRef& repo, std::string_view revision, std::string_view path) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kernel_lock
