// FaultInterceptor: seeded, order-independent fault decisions (faults.hpp).
#include "kernel_lock/testing/faults.hpp"

#include <mutex>
#include <optional>
#include <regex>
#include <thread>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"

namespace kernel_lock {
namespace {

enum class Fault { none, too_many_requests, server_error, reset, truncate, corrupt };

const char* fault_name(Fault f) {
  switch (f) {
    case Fault::none: return "";
    case Fault::too_many_requests: return "429";
    case Fault::server_error: return "5xx";
    case Fault::reset: return "reset";
    case Fault::truncate: return "truncate";
    case Fault::corrupt: return "corrupt";
  }
  return "";
}

struct Draw {
  Fault fault = Fault::none;
  int server_status = 500;  // for Fault::server_error
  std::string key;
};

// Throws Error(usage) for rates outside [0, 1] or adding up to more than 1.
void check_rates(const FaultOptions& f) {
  for (double r : {f.rate_429, f.rate_5xx, f.rate_reset, f.rate_truncate, f.rate_corrupt})
    if (r < 0 || r > 1) throw Error(ErrorCode::usage, "fault rates must lie in [0, 1]");
  if (f.rate_429 + f.rate_5xx + f.rate_reset + f.rate_truncate + f.rate_corrupt > 1.0 + 1e-9)
    throw Error(ErrorCode::usage, "fault rates add up to more than 1");
}

class FaultInterceptor final : public RequestInterceptor {
 public:
  explicit FaultInterceptor(const FaultOptions& options) : opts_(options) {
    check_rates(opts_);
    if (!opts_.match.empty()) {
      try {
        match_.emplace(opts_.match, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        throw Error(ErrorCode::usage, "invalid --fault-match regex '" + opts_.match + "': " + e.what());
      }
    }
  }

  void before(const HubRequest& request) override {
    if (opts_.latency.count() > 0 && matches(request.method, request.target)) std::this_thread::sleep_for(opts_.latency);
  }

  InterceptDecision after(const HubRequest& request, HubResponse& response) override {
    Draw d = draw(request.method, request.target);
    bool has_body = request.method != "HEAD" && (response.blob ? response.blob->size() > 0 : !response.body.empty());
    Fault fault = d.fault;
    if ((fault == Fault::reset || fault == Fault::truncate) && !has_body) fault = Fault::none;
    if (fault == Fault::corrupt && !(has_body && response.blob && response.status == 200)) fault = Fault::none;
    if (fault == Fault::none) return {};
    applied(d.key);
    InterceptDecision decision;
    decision.label = fault_name(fault);
    if (fault == Fault::too_many_requests || fault == Fault::server_error) response = error_response(fault, d.server_status);
    if (fault == Fault::reset) decision.body = BodyAction::reset;
    if (fault == Fault::truncate) decision.body = BodyAction::truncate;
    if (fault == Fault::corrupt) decision.body = BodyAction::corrupt;
    return decision;
  }

 private:
  bool matches(const std::string& method, const std::string& target) const {
    return !match_ || std::regex_search(method + " " + target, *match_);
  }

  HubResponse error_response(Fault fault, int server_status) const {
    HubResponse f;
    bool limited = fault == Fault::too_many_requests;
    f.status = limited ? 429 : server_status;
    std::string message = "injected fault: " + std::string(limited ? "rate limited" : "server error");
    f.headers.emplace_back("X-Error-Message", message);
    if (limited) f.headers.emplace_back("Retry-After", std::to_string(opts_.retry_after_s));
    f.body = nlohmann::json{{"error", message}}.dump();
    return f;
  }

  Draw draw(const std::string& method, const std::string& target) {
    Draw d;
    d.key = method + " " + target;
    if (!matches(method, target)) return d;
    std::uint64_t n;
    {
      std::lock_guard lock(mutex_);
      n = seen_[d.key]++;
      if (opts_.times && injected_[d.key] >= opts_.times) return d;
    }
    Hasher h(Hasher::Algorithm::sha256);
    h.update(std::to_string(opts_.seed) + "\n" + d.key + "\n" + std::to_string(n));
    auto raw = h.finish();
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | raw[static_cast<std::size_t>(i)];
    double u = static_cast<double>(bits >> 11) / static_cast<double>(1ULL << 53);
    static const int statuses[] = {500, 502, 503, 504};
    d.server_status = statuses[raw[8] % 4];
    double edge = 0;
    const std::pair<double, Fault> kinds[] = {{opts_.rate_429, Fault::too_many_requests},
                                              {opts_.rate_5xx, Fault::server_error},
                                              {opts_.rate_reset, Fault::reset},
                                              {opts_.rate_truncate, Fault::truncate},
                                              {opts_.rate_corrupt, Fault::corrupt}};
    for (const auto& [rate, kind] : kinds) {
      edge += rate;
      if (rate > 0 && u < edge) {
        d.fault = kind;
        break;
      }
    }
    return d;
  }

  // Counts an injected fault against FaultOptions::times.
  void applied(const std::string& key) {
    std::lock_guard lock(mutex_);
    ++injected_[key];
  }

  FaultOptions opts_;
  std::optional<std::regex> match_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::uint64_t> seen_, injected_;
};

}  // namespace

std::shared_ptr<RequestInterceptor> make_fault_interceptor(const FaultOptions& options) {
  return std::make_shared<FaultInterceptor>(options);
}

}  // namespace kernel_lock
