// ScriptedHub (scripted_hub.hpp): a HubServer whose interceptor records every
// request and runs the test's script.
#include "kernel_lock/testing/scripted_hub.hpp"

#include "kernel_lock/core/url.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <utility>

namespace kernel_lock {

class ScriptedHub::Recorder final : public RequestInterceptor {
 public:
  InterceptDecision after(const HubRequest& request, HubResponse& response) override {
    SeenRequest s;
    s.method = request.method;
    s.path = url_decode(request.target.substr(0, request.target.find('?')), false);
    auto header = [&](const char* name) {
      auto it = request.headers.find(name);
      return it == request.headers.end() ? std::string() : it->second;
    };
    s.range = header("range");
    s.authorization = header("authorization");
    HubScript current;
    int nth = 0;
    {
      std::lock_guard lock(mutex_);
      nth = static_cast<int>(++per_path_[s.path]);
      seen_.push_back(std::move(s));
      current = script_;
    }
    return current ? current(request, response, nth) : InterceptDecision{};
  }

  void set(HubScript script) {
    std::lock_guard lock(mutex_);
    script_ = std::move(script);
  }

  std::vector<SeenRequest> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  mutable std::mutex mutex_;
  HubScript script_;
  std::vector<SeenRequest> seen_;
  std::map<std::string, std::size_t> per_path_;
};

ScriptedHub::ScriptedHub(HubServerOptions options)
    : store_(std::make_shared<MemoryStore>()), recorder_(std::make_shared<Recorder>()) {
  options.host = "127.0.0.1";
  options.port = 0;
  options.interceptor = recorder_;
  server_ = std::make_unique<HubServer>(store_, std::move(options));
  server_->start();
}

ScriptedHub::~ScriptedHub() { server_->stop(); }

std::string ScriptedHub::url() const { return server_->url(); }

void ScriptedHub::script(HubScript script) { recorder_->set(std::move(script)); }

std::vector<SeenRequest> ScriptedHub::seen() const { return recorder_->seen(); }

std::size_t ScriptedHub::count(std::string_view path_part) const {
  std::size_t n = 0;
  for (const auto& s : seen())
    if (s.path.find(path_part) != std::string::npos) ++n;
  return n;
}

HubResponse scripted_response(int status, std::string body) {
  HubResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HubConfig fast_hub_config(const std::string& endpoint) {
  HubConfig c;
  c.endpoint = endpoint;
  c.initial_backoff = std::chrono::milliseconds(5);
  c.max_backoff = std::chrono::milliseconds(20);
  c.metadata_timeout = std::chrono::milliseconds(5000);
  c.download_timeout = std::chrono::milliseconds(5000);
  return c;
}

}  // namespace kernel_lock
