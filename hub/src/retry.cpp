// The shared retry rules (retry.hpp): transient statuses, the server's
// requested wait, exponential backoff with jitter.
#include "kernel_lock/hub/retry.hpp"

#include <algorithm>
#include <cmath>
#include <regex>
#include <string>

#include "kernel_lock/hub/http.hpp"

namespace kernel_lock {

bool is_transient_status(long status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::optional<std::chrono::milliseconds> server_retry_delay(const HttpResponse& response) {
  using namespace std::chrono;
  // RateLimit: "api";r=0;t=42 -> wait t+1 seconds when the quota is exhausted (Python does the same).
  if (auto rl = response.header("ratelimit")) {
    static const std::regex r_re(R"(r=(\d+))"), t_re(R"(t=(\d+))");
    std::smatch r, t;
    if (std::regex_search(*rl, t, t_re) && (!std::regex_search(*rl, r, r_re) || r[1] == "0"))
      return std::min<milliseconds>(seconds(std::stoll(t[1]) + 1), kMaxServerRetryDelay);
  }
  if (auto ra = response.header("retry-after")) {
    const auto b = ra->find_first_not_of(" \t"), e = ra->find_last_not_of(" \t");
    const std::string v = b == std::string::npos ? std::string() : ra->substr(b, e - b + 1);
    if (!v.empty() && v.size() < 10 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::min<milliseconds>(seconds(std::stoll(v)), kMaxServerRetryDelay);
  }
  return std::nullopt;
}

std::chrono::milliseconds backoff_delay(std::chrono::milliseconds initial, std::chrono::milliseconds max, int attempt,
                                        std::mt19937_64& rng) {
  double base = static_cast<double>(initial.count()) * std::pow(2.0, std::max(attempt, 1) - 1);
  base = std::min(base, static_cast<double>(max.count()));
  std::uniform_real_distribution<double> jitter(0.0, 0.5);
  return std::chrono::milliseconds(static_cast<long long>(base * (1.0 + jitter(rng))));
}

}  // namespace kernel_lock
