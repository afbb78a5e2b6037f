// HubServer: cpp-httplib wiring of handle_hub_request, the interceptor seam
// (body actions applied at the transport level) and the JSON-lines request log.
#include "kernel_lock/mirror/hub_server.hpp"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"

namespace kernel_lock {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const noexcept {
    if (f) std::fclose(f);
  }
};

// Append-only JSON-lines log, one flushed line per request.
class RequestLog {
 public:
  explicit RequestLog(const std::filesystem::path& path) {
    if (path.empty()) return;
    file_.reset(std::fopen(path.c_str(), "a"));
    if (!file_) throw Error(ErrorCode::io, "cannot open request log " + path.string() + ": " + std::strerror(errno));
  }
  void write(const nlohmann::json& line) {
    if (!file_) return;
    std::string text = line.dump() + "\n";
    std::lock_guard lock(mutex_);
    std::fwrite(text.data(), 1, text.size(), file_.get());
    std::fflush(file_.get());
  }

 private:
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::mutex mutex_;
};

// Streams [offset, offset+length) of a blob into the sink, applying a body action.
class BlobStreamer {
 public:
  BlobStreamer(std::unique_ptr<BlobReader> blob, BodyAction action) : blob_(std::move(blob)), action_(action) {}

  bool operator()(std::size_t offset, std::size_t length, httplib::DataSink& sink) {
    if (action_ == BodyAction::reset) return false;
    if (action_ == BodyAction::truncate) {
      if (!limit_) limit_ = offset + length / 2;
      if (offset >= *limit_) return false;
      length = std::min(length, *limit_ - offset);
    }
    std::size_t n = std::min<std::size_t>(length, buffer_.size());
    std::size_t got = blob_->read_at(offset, std::span<char>(buffer_.data(), n));
    if (got == 0) return false;  // the stored object shrank underneath us
    if (action_ == BodyAction::corrupt) {
      std::uint64_t pos = blob_->size() / 2;
      if (pos >= offset && pos < offset + got) buffer_[pos - offset] = static_cast<char>(buffer_[pos - offset] ^ 0xFF);
    }
    return sink.write(buffer_.data(), got);
  }

 private:
  std::unique_ptr<BlobReader> blob_;
  BodyAction action_;
  std::optional<std::size_t> limit_;
  std::vector<char> buffer_ = std::vector<char>(64 * 1024);
};

std::string format_host(const std::string& host) { return host.find(':') != std::string::npos ? "[" + host + "]" : host; }

}  // namespace

struct HubServer::Impl {
  Impl(std::shared_ptr<const RepoStore> s, HubServerOptions o)
      : store(std::move(s)), options(std::move(o)), log(options.log_path) {}

  void handle(const httplib::Request& req, httplib::Response& res) {
    std::uint64_t seq = ++count;
    HubRequest hr;
    hr.method = req.method;
    hr.target = req.target;
    for (const auto& [name, value] : req.headers) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      hr.headers.emplace(std::move(lower), value);
    }
    hr.body = req.body;
    if (!options.public_url.empty()) {
      hr.base_url = options.public_url;
      while (!hr.base_url.empty() && hr.base_url.back() == '/') hr.base_url.pop_back();
    } else {
      std::string host = req.get_header_value("Host");
      hr.base_url = "http://" + (host.empty() ? format_host(options.host) + ":" + std::to_string(port) : host);
    }

    if (options.interceptor) options.interceptor->before(hr);
    HubResponse r = handle_hub_request(*store, options, hr);
    InterceptDecision decision;
    if (options.interceptor) decision = options.interceptor->after(hr, r);
    BodyAction action = decision.body;

    res.status = r.status;
    for (auto& [name, value] : r.headers) res.set_header(name, value);
    std::uint64_t planned = 0;
    if (r.blob) {
      std::uint64_t size = r.blob->size();
      bool ranged = !req.ranges.empty();
      if (ranged && r.status == 200) {
        // Only a single satisfiable range is honoured as a range; httplib
        // slices the provider's output and writes Content-Range.
        const auto& first = req.ranges.front();
        bool satisfiable = first.first < 0 ? first.second > 0 : static_cast<std::uint64_t>(first.first) < size;
        if (!satisfiable) {
          res.status = 416;
          res.set_header("Content-Range", "bytes */" + std::to_string(size));
          r.blob.reset();
        } else {
          res.status = 206;
        }
      }
      if (r.blob && size > 0) {
        planned = size;
        auto streamer = std::make_shared<BlobStreamer>(std::move(r.blob), action);
        res.set_content_provider(static_cast<std::size_t>(size), r.content_type,
                                 [streamer](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                                   return (*streamer)(offset, length, sink);
                                 });
      } else if (r.blob) {
        res.set_content("", r.content_type);
      }
    } else if (!req.ranges.empty() && r.status >= 300) {
      // httplib would slice an error body by the request's Range; send headers only.
    } else if ((action == BodyAction::reset || action == BodyAction::truncate) && !r.body.empty()) {
      planned = r.body.size();
      auto streamer = std::make_shared<BlobStreamer>(store_detail::string_blob(std::move(r.body)), action);
      res.set_content_provider(static_cast<std::size_t>(planned), r.content_type,
                               [streamer](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                                 return (*streamer)(offset, length, sink);
                               });
    } else {
      planned = r.body.size();
      res.set_content(r.body, r.content_type);
    }

    auto qmark = req.target.find('?');
    nlohmann::json line = {{"seq", seq},
                           {"method", req.method},
                           {"path", req.target.substr(0, qmark)},
                           {"query", qmark == std::string::npos ? "" : req.target.substr(qmark + 1)},
                           {"status", res.status},
                           {"fault", decision.label},
                           {"error_code", r.error_code},
                           {"range", req.get_header_value("Range")},
                           {"bytes", req.method == "HEAD" ? 0 : planned},
                           {"authorized", req.has_header("Authorization")}};
    log.write(line);
  }

  std::shared_ptr<const RepoStore> store;
  HubServerOptions options;
  RequestLog log;
  httplib::Server server;
  int port = -1;
  std::thread thread;
  std::atomic<std::uint64_t> count{0};
  std::mutex lifecycle;
};

HubServer::HubServer(std::shared_ptr<const RepoStore> store, HubServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(store), std::move(options))) {
  auto& svr = impl_->server;
  std::size_t threads = std::max<std::size_t>(2, impl_->options.threads);
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(kMaxRequestBodyBytes);
  svr.set_keep_alive_timeout(2);
  svr.set_keep_alive_max_count(100);
  auto handler = [impl = impl_.get()](const httplib::Request& req, httplib::Response& res) { impl->handle(req, res); };
  svr.Get(R"([\s\S]*)", handler);
  svr.Post(R"([\s\S]*)", handler);
}

HubServer::~HubServer() { stop(); }

int HubServer::bind() {
  std::lock_guard lock(impl_->lifecycle);
  if (impl_->port >= 0) return impl_->port;
  int port = impl_->options.port == 0 ? impl_->server.bind_to_any_port(impl_->options.host)
                                       : (impl_->server.bind_to_port(impl_->options.host, impl_->options.port) ? impl_->options.port : -1);
  if (port < 0)
    throw Error(ErrorCode::network, "cannot listen on " + format_host(impl_->options.host) + ":" + std::to_string(impl_->options.port),
                "is the port in use? pass --port 0 for any free port");
  impl_->port = port;
  return port;
}

std::string HubServer::url() const { return "http://" + format_host(impl_->options.host) + ":" + std::to_string(impl_->port); }

void HubServer::run() {
  bind();
  if (!impl_->server.listen_after_bind() && impl_->server.is_running())
    throw Error(ErrorCode::network, "the server stopped accepting connections");
}

void HubServer::start() {
  bind();
  {
    std::lock_guard lock(impl_->lifecycle);
    if (impl_->thread.joinable()) return;
    impl_->thread = std::thread([impl = impl_.get()] { impl->server.listen_after_bind(); });
  }
  for (int i = 0; i < 5000 && !impl_->server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void HubServer::stop() {
  std::lock_guard lock(impl_->lifecycle);
  if (impl_->thread.joinable()) {
    // stop() is a no-op until the accept loop runs; wait for it.
    for (int i = 0; i < 5000 && !impl_->server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    impl_->server.stop();
    impl_->thread.join();
  } else {
    impl_->server.stop();
  }
}

std::uint64_t HubServer::requests() const noexcept { return impl_->count.load(); }

}  // namespace kernel_lock
