// The retry rules of every HTTP client in kernel-lock (the Hub client, the OCI
// registry client): which statuses are transient, the server's requested wait
// (Retry-After, RateLimit), and exponential backoff with jitter.
#pragma once

#include <chrono>
#include <optional>
#include <random>

namespace kernel_lock {

struct HttpResponse;  // kernel_lock/hub/http.hpp

// Server-requested waits (Retry-After, RateLimit t=) are honoured up to this.
inline constexpr std::chrono::milliseconds kMaxServerRetryDelay{120000};

// 408, 429, 500, 502, 503, 504.
bool is_transient_status(long status);
// The wait a 429/503 reply asks for: RateLimit "r=0;t=N" (N+1 s) or Retry-After
// in seconds, capped at kMaxServerRetryDelay; nullopt when it names none.
std::optional<std::chrono::milliseconds> server_retry_delay(const HttpResponse& response);
// initial * 2^(attempt-1), capped at `max`, plus up to 50% jitter (attempt >= 1).
std::chrono::milliseconds backoff_delay(std::chrono::milliseconds initial, std::chrono::milliseconds max, int attempt,
                                        std::mt19937_64& rng);

}  // namespace kernel_lock
