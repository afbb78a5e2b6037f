// Deterministic fault injection for the mirror (HubServer), for tests: a
// RequestInterceptor (kernel_lock/mirror/hub_server.hpp) that answers 429 /
// 5xx, resets or truncates bodies, flips a byte of a file body, or delays
// requests. `kernel-lock-dev serve --fault-*` runs a server with one.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "kernel_lock/mirror/hub_server.hpp"

namespace kernel_lock {

// Faults injected per request. Decisions are deterministic: a request's fault
// depends only on the seed, "METHOD target" and how many times that same
// "METHOD target" was seen before (so concurrency does not change which
// request of a given URL fails, and a retry draws again).
struct FaultOptions {
  std::uint64_t seed = 0;
  std::chrono::milliseconds latency{0};  // added before answering every matching request
  double rate_429 = 0;       // 429 Too Many Requests with Retry-After
  double rate_5xx = 0;       // 500/502/503/504, chosen by the same draw
  double rate_reset = 0;     // headers sent, then the connection is closed before any body byte
  double rate_truncate = 0;  // half of the body sent, then the connection is closed
  double rate_corrupt = 0;   // one byte of a file body flipped (resolve GET only)
  int retry_after_s = 1;
  std::string match;         // ECMAScript regex searched in "METHOD target"; empty = every request
  std::uint64_t times = 0;   // at most this many faults per distinct "METHOD target"; 0 = no limit

  bool any() const noexcept {
    return latency.count() > 0 || rate_429 > 0 || rate_5xx > 0 || rate_reset > 0 || rate_truncate > 0 || rate_corrupt > 0;
  }
};

// The interceptor that injects `options`' faults. Throws Error(usage) when a
// rate lies outside [0, 1], the rates add up to more than 1, or `match` is not
// a valid regex.
std::shared_ptr<RequestInterceptor> make_fault_interceptor(const FaultOptions& options);

}  // namespace kernel_lock
