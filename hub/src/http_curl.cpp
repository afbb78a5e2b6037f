// libcurl implementation of HttpTransport: one CURLM handle (keep-alive
// connection cache, HTTP/2 multiplexing where the server offers it), one easy
// handle per transfer, redirects followed here so that credentials are only
// ever attached for the configured origin.
#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <utility>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/unique_fd.hpp"
#include "kernel_lock/hub/http.hpp"
#include "kernel_lock/core/version.hpp"

namespace kernel_lock {
namespace {

// Certificate failures: the same server answers the same way on every attempt.
bool is_certificate_error(CURLcode code) {
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
      return true;
    default:
      return false;
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// Process-wide libcurl initialisation (curl_global_init is not thread-safe on old versions).
void ensure_global_init() {
  static const bool done = [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw Error(ErrorCode::network, "libcurl initialisation failed");
    return true;
  }();
  (void)done;
}

// Owns a CURL easy handle.
class CurlEasy {
 public:
  CurlEasy() : handle_(curl_easy_init()) {
    if (!handle_) throw Error(ErrorCode::network, "curl_easy_init failed (out of memory?)");
  }
  CurlEasy(CurlEasy&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
  CurlEasy& operator=(CurlEasy&& o) noexcept {
    CurlEasy tmp(std::move(o));
    std::swap(handle_, tmp.handle_);
    return *this;
  }
  CurlEasy(const CurlEasy&) = delete;
  CurlEasy& operator=(const CurlEasy&) = delete;
  ~CurlEasy() {
    if (handle_) curl_easy_cleanup(handle_);
  }
  CURL* get() const noexcept { return handle_; }

 private:
  CURL* handle_;
};

// Owns a curl_slist of request headers.
class CurlHeaders {
 public:
  CurlHeaders() = default;
  CurlHeaders(CurlHeaders&& o) noexcept : list_(std::exchange(o.list_, nullptr)) {}
  CurlHeaders& operator=(CurlHeaders&& o) noexcept {
    CurlHeaders tmp(std::move(o));
    std::swap(list_, tmp.list_);
    return *this;
  }
  CurlHeaders(const CurlHeaders&) = delete;
  CurlHeaders& operator=(const CurlHeaders&) = delete;
  ~CurlHeaders() {
    if (list_) curl_slist_free_all(list_);
  }
  void append(const std::string& line) {
    auto* next = curl_slist_append(list_, line.c_str());
    if (!next) throw Error(ErrorCode::network, "curl_slist_append failed (out of memory?)");
    list_ = next;
  }
  curl_slist* get() const noexcept { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

// Owns a CURLM multi handle. Transfers must be removed before it is destroyed.
class CurlMulti {
 public:
  CurlMulti() : handle_(curl_multi_init()) {
    if (!handle_) throw Error(ErrorCode::network, "curl_multi_init failed (out of memory?)");
  }
  CurlMulti(CurlMulti&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}
  CurlMulti& operator=(CurlMulti&& o) noexcept {
    CurlMulti tmp(std::move(o));
    std::swap(handle_, tmp.handle_);
    return *this;
  }
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;
  ~CurlMulti() {
    if (handle_) curl_multi_cleanup(handle_);
  }
  CURLM* get() const noexcept { return handle_; }

 private:
  CURLM* handle_;
};

struct Transfer {
  std::uint64_t id = 0;
  HttpRequest request;
  std::string url;  // current hop
  int hops = 0;
  CurlEasy easy;
  CurlHeaders header_list;
  std::unique_ptr<char[]> error_buffer = std::make_unique<char[]>(CURL_ERROR_SIZE);
  HttpResponse response;
  bool added = false;
  UniqueFd body_fd;             // HttpRequest::body_file, open while the transfer runs
  std::uint64_t body_sent = 0;  // bytes of the file range handed to libcurl on this hop

  long current_status() const {
    long status = 0;
    curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
    return status;
  }
  bool is_redirect_in_progress() const {
    long s = current_status();
    return s >= 300 && s < 400 && request.max_redirects > hops && response.header("location").has_value();
  }
};

extern "C" std::size_t write_cb(char* data, std::size_t size, std::size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * nmemb;
  if (t->is_redirect_in_progress()) return n;  // body of a redirect: discarded
  std::string_view chunk(data, n);
  if (t->request.on_body) {
    bool keep = false;
    try {
      keep = t->request.on_body(t->current_status(), chunk);
    } catch (...) {
      keep = false;  // the sink must not throw through C; treat as an abort
    }
    if (!keep) {
      t->response.aborted = true;
      return 0;  // CURLE_WRITE_ERROR
    }
  } else {
    t->response.body.append(chunk);
  }
  return n;
}

// Feeds the upload from HttpRequest::body_file (pread: the fd offset is never moved).
extern "C" std::size_t read_cb(char* buffer, std::size_t size, std::size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::uint64_t left = t->request.body_length - t->body_sent;
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, size * nitems));
  if (want == 0) return 0;
  const ssize_t got = ::pread(t->body_fd.get(), buffer, want, static_cast<off_t>(t->request.body_offset + t->body_sent));
  if (got <= 0) return CURL_READFUNC_ABORT;  // short file or read error: the transfer fails
  t->body_sent += static_cast<std::uint64_t>(got);
  return static_cast<std::size_t>(got);
}

extern "C" std::size_t header_cb(char* data, std::size_t size, std::size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * nmemb;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {  // a new response (1xx, redirect hop or final)
    t->response.headers.clear();
    return n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  t->response.headers.emplace_back(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
  return n;
}

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(CurlTransportOptions options) : options_(std::move(options)) {
    ensure_global_init();
    if (options_.user_agent.empty()) options_.user_agent = "kernel-lock/" + std::string(kVersion);
    curl_multi_setopt(multi_.get(), CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_MULTIPLEX));
    curl_multi_setopt(multi_.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(options_.max_connections));
  }
  ~CurlTransport() override {
    for (auto& [id, t] : transfers_)
      if (t->added) curl_multi_remove_handle(multi_.get(), t->easy.get());
  }
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  std::uint64_t start(HttpRequest request) override {
    auto t = std::make_unique<Transfer>();
    t->id = ++next_id_;
    t->url = request.url;
    t->request = std::move(request);
    ++started_;
    launch(*t);
    auto id = t->id;
    transfers_.emplace(id, std::move(t));
    return id;
  }

  std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds max_wait) override {
    std::vector<std::pair<std::uint64_t, HttpResponse>> done;
    if (transfers_.empty()) return done;
    int running = 0;
    curl_multi_perform(multi_.get(), &running);
    collect(done);
    if (done.empty()) {
      int numfds = 0;
      curl_multi_poll(multi_.get(), nullptr, 0, static_cast<int>(max_wait.count()), &numfds);
      curl_multi_perform(multi_.get(), &running);
      collect(done);
    }
    return done;
  }

  std::size_t in_flight() const noexcept override { return transfers_.size(); }
  std::uint64_t requests_started() const noexcept override { return started_; }

 private:
  void launch(Transfer& t) {
    CURL* h = t.easy.get();
    curl_easy_reset(h);
    t.header_list = CurlHeaders();
    t.response.headers.clear();
    t.error_buffer[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, t.url.c_str());
    curl_easy_setopt(h, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, t.error_buffer.get());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (!options_.ca_path.empty()) curl_easy_setopt(h, CURLOPT_CAPATH, options_.ca_path.c_str());
    if (!options_.http_proxy.empty() && t.url.starts_with("http://")) {
      curl_easy_setopt(h, CURLOPT_PROXY, options_.http_proxy.c_str());
      if (!options_.no_proxy.empty()) curl_easy_setopt(h, CURLOPT_NOPROXY, options_.no_proxy.c_str());
    }
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    // Wait for an HTTP/2 connection to multiplex on (TLS only: plain http is HTTP/1.1 here,
    // where waiting would serialise requests behind one connection).
    if (t.url.starts_with("https://")) curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
    const long timeout_ms = std::max<long>(1, static_cast<long>(t.request.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, std::max<long>(1, (timeout_ms + 999) / 1000));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    set_method_and_body(t);
    if (t.request.range_from) {
      const std::string range = std::to_string(*t.request.range_from) + "-";
      curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());  // copied by libcurl
    }
    for (const auto& [name, value] : t.request.headers) t.header_list.append(name + ": " + value);
    if (t.request.credential_header && !t.request.credential_origin.empty() &&
        url_origin(t.url) == t.request.credential_origin)
      t.header_list.append(t.request.credential_header->first + ": " + t.request.credential_header->second);
    if (t.request.method != "GET" && t.request.method != "HEAD") t.header_list.append("Expect:");  // no 100-continue wait
    if (t.header_list.get()) curl_easy_setopt(h, CURLOPT_HTTPHEADER, t.header_list.get());
    if (curl_multi_add_handle(multi_.get(), h) != CURLM_OK)
      throw Error(ErrorCode::network, "curl_multi_add_handle failed for " + t.url);
    t.added = true;
  }

  // GET, HEAD, or a method with a body: HttpRequest::body, or a file range
  // streamed by read_cb (opened here, so a redirect hop re-reads it from the start).
  static void set_method_and_body(Transfer& t) {
    CURL* h = t.easy.get();
    const std::string& m = t.request.method;
    if (m == "GET") return;
    if (m == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
      return;
    }
    if (!t.request.body_file.empty()) {
      if (!t.body_fd.valid()) {
        t.body_fd = UniqueFd(::open(t.request.body_file.c_str(), O_RDONLY | O_CLOEXEC));
        if (!t.body_fd.valid()) throw Error(ErrorCode::io, "cannot open " + t.request.body_file + " to upload it");
      }
      t.body_sent = 0;
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
      curl_easy_setopt(h, CURLOPT_READDATA, &t);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.request.body_length));
    } else {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.request.body.size()));
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, t.request.body.data());
    }
    if (m != "POST" || !t.request.body_file.empty()) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());
  }

  void collect(std::vector<std::pair<std::uint64_t, HttpResponse>>& done) {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      void* priv = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
      auto* t = static_cast<Transfer*>(priv);
      const CURLcode code = msg->data.result;
      curl_multi_remove_handle(multi_.get(), t->easy.get());
      t->added = false;
      finish(*t, code, done);
    }
  }

  void finish(Transfer& t, CURLcode code, std::vector<std::pair<std::uint64_t, HttpResponse>>& done) {
    long status = t.current_status();
    if (code == CURLE_OK && status >= 300 && status < 400 && t.hops < t.request.max_redirects) {
      auto location = t.response.header("location");
      // A Location that is not an http(s) URL is not followed: the 3xx is the response.
      if (std::string next = location ? resolve_redirect(t.url, *location) : std::string(); !next.empty()) {
        t.url = std::move(next);
        ++t.hops;
        if (status == 303 && t.request.method == "POST") t.request.method = "GET";
        launch(t);
        return;
      }
    }
    t.response.status = status;
    char* effective = nullptr;
    curl_easy_getinfo(t.easy.get(), CURLINFO_EFFECTIVE_URL, &effective);
    t.response.effective_url = effective ? effective : t.url;
    if (code != CURLE_OK) {
      std::string detail = t.error_buffer[0] ? std::string(t.error_buffer.get()) : curl_easy_strerror(code);
      t.response.error = "curl error " + std::to_string(static_cast<int>(code)) + ": " + detail;
      t.response.tls_rejected = is_certificate_error(code);
    }
    auto id = t.id;
    auto node = transfers_.extract(id);
    done.emplace_back(id, std::move(node.mapped()->response));
  }

  CurlTransportOptions options_;
  CurlMulti multi_;
  std::map<std::uint64_t, std::unique_ptr<Transfer>> transfers_;
  std::uint64_t next_id_ = 0;
  std::uint64_t started_ = 0;
};

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  const auto key = lower(name);
  for (const auto& [k, v] : headers)
    if (k == key) return v;
  return std::nullopt;
}

CurlTransportOptions CurlTransportOptions::from_environment() {
  CurlTransportOptions o;
  o.ca_file = env("SSL_CERT_FILE");
  o.ca_path = env("SSL_CERT_DIR");
  if (env("http_proxy").empty()) o.http_proxy = env("HTTP_PROXY");
  o.no_proxy = env("NO_PROXY");
  if (o.no_proxy.empty()) o.no_proxy = env("no_proxy");
  return o;
}

std::shared_ptr<HttpTransport> make_curl_transport(CurlTransportOptions options) {
  return std::make_shared<CurlTransport>(std::move(options));
}

namespace {

// One parsed URL (libcurl's CURLU parser), move-only.
using CurlUrl = std::unique_ptr<CURLU, decltype(&curl_url_cleanup)>;

// The part of `url`, or empty when it has none; `flags` as curl_url_get takes them.
std::string url_part(CURLU* url, CURLUPart part, unsigned flags = 0) {
  char* text = nullptr;
  if (curl_url_get(url, part, &text, flags) != CURLUE_OK || text == nullptr) return {};
  std::string out(text);
  curl_free(text);
  return out;
}

// Parses an absolute http(s) URL, or `reference` resolved against `base` when
// base is given. Null when it does not parse or is not http/https.
CurlUrl parse_http_url(std::string_view base, std::string_view reference) {
  CurlUrl url(curl_url(), &curl_url_cleanup);
  if (!url) return url;
  if (!base.empty() && curl_url_set(url.get(), CURLUPART_URL, std::string(base).c_str(), 0) != CURLUE_OK)
    return CurlUrl(nullptr, &curl_url_cleanup);
  if (curl_url_set(url.get(), CURLUPART_URL, std::string(reference).c_str(), 0) != CURLUE_OK)
    return CurlUrl(nullptr, &curl_url_cleanup);
  const std::string scheme = lower(url_part(url.get(), CURLUPART_SCHEME));
  if (scheme != "http" && scheme != "https") return CurlUrl(nullptr, &curl_url_cleanup);
  return url;
}

}  // namespace

std::string url_origin(std::string_view url) {
  CurlUrl parsed = parse_http_url({}, url);
  if (!parsed) return {};
  const std::string host = lower(url_part(parsed.get(), CURLUPART_HOST));
  const std::string port = url_part(parsed.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (host.empty() || port.empty()) return {};
  return lower(url_part(parsed.get(), CURLUPART_SCHEME)) + "://" + host + ":" + port;
}

std::string resolve_redirect(std::string_view base_url, std::string_view location) {
  CurlUrl parsed = parse_http_url(base_url, location);
  return parsed ? url_part(parsed.get(), CURLUPART_URL) : std::string();
}

}  // namespace kernel_lock
