// Private: one registry conversation (base URL, credentials, bearer tokens per
// scope) and its request loop with retries and the auth challenge.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>

#include "kernel_lock/hub/http.hpp"
#include "kernel_lock/registry/registry.hpp"

namespace kernel_lock::registry_detail {

// The largest JSON document (index, manifest, config, tags list) read from a registry or a layout.
inline constexpr std::uint64_t kMaxJson = 16ull << 20;

class Session {
 public:
  // Throws Error(usage) for plain http to a non-loopback host without `insecure`.
  Session(HttpTransport& transport, OciReference ref, const RegistryOptions& options);

  // "<scheme>://<host>/v2/<repo>" (no trailing slash).
  const std::string& repo_url() const { return repo_url_; }
  const OciReference& ref() const { return ref_; }
  const RegistryOptions& options() const { return options_; }

  // One request with authentication (Basic, or the Bearer token flow for
  // `scope`): `build` makes each attempt's request. With `retry`, transport
  // errors and 408/429/5xx are retried with backoff (Retry-After honoured) up to
  // options.max_attempts (then Error(network)). Any other status is returned.
  // A 401 after credentials were tried is Error(not_found) naming what to do.
  HttpResponse send(const std::function<HttpRequest()>& build, const std::string& what, const std::string& scope,
                    bool retry = true);
  // Waits the backoff (or the server's delay) after failure number `attempt`.
  void wait_before_retry(int attempt, const HttpResponse& response);
  // Error for an unexpected status, naming registry, repo and reference.
  Error status_error(const HttpResponse& response, const std::string& what) const;

 private:
  HttpResponse once(HttpRequest request);
  void authorize(HttpRequest& request, const std::string& scope) const;
  // Handles a 401: true when the request should be sent again.
  bool on_unauthorized(const HttpResponse& response, const std::string& what, const std::string& scope, bool& retried);
  void fetch_token(const std::map<std::string, std::string>& challenge, const std::string& scope, const std::string& what);
  const std::optional<RegistryCredential>& credential();

  HttpTransport& transport_;
  OciReference ref_;
  const RegistryOptions& options_;
  std::string origin_, base_, repo_url_;
  bool credential_loaded_ = false;
  std::optional<RegistryCredential> credential_;
  bool use_basic_ = false;
  std::map<std::string, std::string> tokens_;  // scope -> bearer token
  std::mt19937_64 rng_{std::random_device{}()};
};

// Parses `WWW-Authenticate: Bearer realm="...",service="...",scope="..."`
// (or Basic); the scheme lower-cased under key "" . Bounded (4 KiB).
std::map<std::string, std::string> parse_challenge(std::string_view header);
std::string base64_encode_text(std::string_view text);
std::string base64_decode_text(std::string_view text, std::string_view what);

}  // namespace kernel_lock::registry_detail
