// ScriptedHub: the product's HubServer (kernel_lock/mirror/hub_server.hpp)
// over a MemoryStore on a loopback port, for unit tests of Hub clients. Every
// request is recorded; a script (a RequestInterceptor) may rewrite responses
// to give the odd answers a test needs: statuses, redirects, delays, wrong
// bytes, truncated bodies.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/hub/hub_client.hpp"
#include "kernel_lock/mirror/hub_server.hpp"
#include "kernel_lock/testing/memory_store.hpp"

namespace kernel_lock {

struct SeenRequest {
  std::string method;
  std::string path;           // percent-decoded, without the query
  std::string range;          // the Range header, or ""
  std::string authorization;  // the Authorization header, or ""
};

// Called after the server built `response` for `request`; may rewrite it and
// ask for a body action. `nth` counts the requests of this path so far, from 1.
using HubScript = std::function<InterceptDecision(const HubRequest& request, HubResponse& response, int nth)>;

class ScriptedHub {
 public:
  // Starts serving on 127.0.0.1 (options.host, .port and .interceptor are set
  // here). Throws Error(network) when it cannot listen.
  explicit ScriptedHub(HubServerOptions options = {});
  ~ScriptedHub();
  ScriptedHub(const ScriptedHub&) = delete;
  ScriptedHub& operator=(const ScriptedHub&) = delete;

  std::string url() const;  // "http://127.0.0.1:<port>"
  MemoryStore& store() noexcept { return *store_; }
  // Replaces the script (empty: answer from the store). Safe while serving.
  void script(HubScript script);
  // Requests answered so far, in arrival order.
  std::vector<SeenRequest> seen() const;
  // How many of them had `path_part` in their path.
  std::size_t count(std::string_view path_part) const;

 private:
  class Recorder;
  std::shared_ptr<MemoryStore> store_;
  std::shared_ptr<Recorder> recorder_;
  std::unique_ptr<HubServer> server_;
};

// A response that replaces the store's: `status`, no headers, `body` as JSON.
HubResponse scripted_response(int status, std::string body = "");

// A HubConfig for `endpoint` with short backoffs and timeouts, for tests.
HubConfig fast_hub_config(const std::string& endpoint);

}  // namespace kernel_lock
