// A Hub-compatible HTTP server over a RepoStore: what `kernel-lock serve`
// runs. Stock huggingface_hub / kernels clients work against it with
// HF_ENDPOINT=<url> (docs/hub-api.md).
//
// Endpoints ({T} = kernels | models; {repo} = org/name):
//   GET      /api/{T}/{repo}[/revision/{rev}]           info: id, sha, siblings (blobs=true adds blobId/size/lfs), dates ...Z
//   GET      /api/{T}/{repo}/refs[?include_prs=1]       branches, tags, converts (+ pullRequests)
//   GET      /api/{T}/{repo}/tree/{rev}[/{path}]        ?recursive=&expand=&cursor=; paginated with an absolute
//                                                       Link: <...>; rel="next" (path may be %2F-encoded or not)
//   POST     /api/{T}/{repo}/paths-info/{rev}           form (paths=..&expand=..) or JSON {"paths": [...]}
//   HEAD/GET /{kernels/}{repo}/resolve/{rev}/{path}     X-Repo-Commit, ETag "<digest>", X-Linked-Size,
//                                                       Content-Length, Accept-Ranges; Range -> 206
//   GET      /api/organizations/{org}/overview          trustedKernelPublisher (false for untrusted_orgs)
//   GET      /api/whoami-v2                             a fixed user (needs the token when one is set)
// Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound with
// X-Repo-Commit, GatedRepo), X-Error-Message and a JSON {"error": ...} body.
// Xet is never advertised.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kernel_lock/mirror/repo_store.hpp"

namespace kernel_lock {

class RequestInterceptor;

// The largest request body the server accepts (HTTP 413 above it); a JSON body
// is also parsed with the core nesting limit (kMaxJsonDepth).
inline constexpr std::size_t kMaxRequestBodyBytes = 16u << 20;

struct HubServerOptions {
  std::string host = "127.0.0.1";  // loopback by default
  int port = 0;                    // 0 = any free port
  std::optional<std::string> token;  // when set, every request needs "Authorization: Bearer <token>"
  std::size_t page_size = 1000;    // tree entries per page (expand=true: at most 50)
  std::size_t threads = 32;
  std::vector<std::string> untrusted_orgs;  // overview says trustedKernelPublisher: false
  // Base of absolute URLs (Link headers), e.g. "http://mirror:8080/prefix".
  // Empty: "http://" + the request's Host header.
  std::string public_url;
  std::filesystem::path log_path;  // JSON lines, one per request; empty = no log
  // Sees every request before and after it is answered (may be null); tests
  // use it to inject faults (kernel_lock/testing/faults.hpp).
  std::shared_ptr<RequestInterceptor> interceptor;
};

// ---- Transport-independent request handling (used by HubServer, testable alone).

struct HubRequest {
  std::string method;  // GET, HEAD, POST
  std::string target;  // raw request target: percent-encoded path and query
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;
  std::string base_url;  // scheme://host[:port][/prefix], no trailing '/'
};

struct HubResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                   // JSON or error text when `blob` is unset
  std::string content_type = "application/json";
  std::unique_ptr<BlobReader> blob;   // a file body (size = blob->size()), streamed
  std::string error_code;             // X-Error-Code, for logs; empty on success
};

// What the server does to a response body at the transport level.
enum class BodyAction {
  none,
  reset,     // headers sent, then the connection is closed before any body byte
  truncate,  // half of the body sent, then the connection is closed
  corrupt,   // the byte at size/2 of a file body flipped
};

struct InterceptDecision {
  BodyAction body = BodyAction::none;
  std::string label;  // logged as the request's "fault"; empty = none
};

// A seam around request handling. Implementations must be thread-safe: the
// server calls them from its worker threads.
class RequestInterceptor {
 public:
  virtual ~RequestInterceptor() = default;
  // Called before the request is answered; may block (added latency).
  virtual void before(const HubRequest& request) { (void)request; }
  // Called with the response built for `request`. May rewrite it (status,
  // headers, body; a replaced body should clear `blob`) and may ask for a
  // body action, which the server applies when the response has a body.
  virtual InterceptDecision after(const HubRequest& request, HubResponse& response) = 0;
};

// Answers one request from the store. Never throws for client errors (they
// become 4xx responses); store failures become 500.
HubResponse handle_hub_request(const RepoStore& store, const HubServerOptions& options, const HubRequest& request);

// ---- The server.

class HubServer {
 public:
  HubServer(std::shared_ptr<const RepoStore> store, HubServerOptions options);
  ~HubServer();  // stops and joins
  HubServer(const HubServer&) = delete;
  HubServer& operator=(const HubServer&) = delete;

  // Binds the listening socket; returns the port. Throws Error(network).
  int bind();
  // "http://host:port" (IPv6 hosts in brackets). Valid after bind().
  std::string url() const;
  // Serves until stop(); binds first when needed. Throws Error(network).
  void run();
  // run() on a background thread; returns once bound.
  void start();
  // Stops accepting and returns promptly; safe from any thread (not from a signal handler).
  void stop();
  // Requests answered so far.
  std::uint64_t requests() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kernel_lock
