// Private pieces of the Hub client shared by hub_client*.cpp: the request
// scheduler and the response classification helpers. Not installed.
#pragma once

#include <chrono>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/hub/http.hpp"
#include "kernel_lock/hub/hub_client.hpp"
#include "kernel_lock/hub/retry.hpp"

namespace kernel_lock {

namespace detail {

using Clock = std::chrono::steady_clock;

// What a call's handler decided about one response.
struct Outcome {
  enum Kind { done, again_later } kind = done;
  bool counts_as_attempt = true;  // false: resubmit at once (type fallback, progress made)
  std::string message;            // why it is retried (for the final error)
  std::optional<std::chrono::milliseconds> server_delay;

  static Outcome finished() { return {}; }
  static Outcome retry(std::string why) { return Outcome{Kind::again_later, true, std::move(why), std::nullopt}; }
  static Outcome again(std::string why = {}) { return Outcome{Kind::again_later, false, std::move(why), std::nullopt}; }
};

// One logical request: `build` makes the HttpRequest of each attempt, `handle`
// judges the response (throwing an Error ends the whole batch).
struct Call {
  std::string what;  // "listing refs of org/name", for errors
  std::function<HttpRequest()> build;
  std::function<Outcome(HttpResponse&)> handle;
  int attempt = 0;  // attempts that failed so far
};

// Runs calls on one transport, at most `max_parallel` at a time, delaying
// retries by exponential backoff with jitter or the server's Retry-After /
// RateLimit. run() returns when every call (and every call submitted by a
// handler) is done, or rethrows the first error after draining what is in flight.
class Scheduler {
 public:
  Scheduler(HttpTransport& transport, const HubConfig& config, HubStats& stats)
      : transport_(transport), config_(config), stats_(stats),
        max_parallel_(config.max_parallel ? config.max_parallel : 1), rng_(std::random_device{}()) {}
  void submit(std::shared_ptr<Call> call, Clock::time_point not_before = Clock::now());
  void run();

 private:
  void handle(std::shared_ptr<Call> call, HttpResponse&& response);
  std::chrono::milliseconds backoff(int attempt);

  HttpTransport& transport_;
  const HubConfig& config_;
  HubStats& stats_;
  std::size_t max_parallel_;
  std::mt19937_64 rng_;
  std::deque<std::shared_ptr<Call>> ready_;
  std::multimap<Clock::time_point, std::shared_ptr<Call>> delayed_;
  std::map<std::uint64_t, std::shared_ptr<Call>> running_;
  std::exception_ptr error_;
};

std::string error_message_of(const HttpResponse& response);
// Maps a non-2xx reply to an Error by X-Error-Code (RepoNotFound, GatedRepo,
// RevisionNotFound, EntryNotFound), then by status; a refused TLS certificate to a
// network error with the CA hint.
Error http_error(const HttpResponse& response, const std::string& what, const RepoRef* repo, std::string_view revision);
// nullopt for a 2xx; a retry Outcome for transient failures; throws otherwise.
std::optional<Outcome> classify(const HttpResponse& response, const std::string& what, const RepoRef* repo,
                                std::string_view revision);
std::optional<std::string> next_link(const HttpResponse& response);

}  // namespace detail

struct HubClient::Impl {
  HubConfig config;
  std::shared_ptr<HttpTransport> transport;
  HubStats stats;
  std::uint64_t requests_base = 0;

  // The transport, created on first use; throws Error(network) when offline.
  HttpTransport& net(std::string_view what);
  HttpRequest api_request(std::string url) const;
  void add_credentials(HttpRequest& request) const;
};

}  // namespace kernel_lock
