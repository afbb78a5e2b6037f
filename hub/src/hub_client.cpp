// Hub client: URL building, the request scheduler (concurrency, retries with
// backoff), error mapping and the JSON readers. Downloads live in
// hub_client_download.cpp; the transport in http_curl.cpp.
#include "hub_client_impl.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/env.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/json.hpp"
#include "kernel_lock/core/url.hpp"

namespace kernel_lock {
namespace detail {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::optional<std::chrono::milliseconds> env_seconds(const char* name) {
  std::string v = env(name);
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  double seconds = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || !(seconds > 0))
    return std::nullopt;  // Python: 0 or unset means the default
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

// ---- scheduler -------------------------------------------------------------

void Scheduler::submit(std::shared_ptr<Call> call, Clock::time_point not_before) {
  if (not_before <= Clock::now())
    ready_.push_back(std::move(call));
  else
    delayed_.emplace(not_before, std::move(call));
}

void Scheduler::run() {
  while (!error_ && (!ready_.empty() || !delayed_.empty() || !running_.empty())) {
    const auto now = Clock::now();
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      ready_.push_back(std::move(delayed_.begin()->second));
      delayed_.erase(delayed_.begin());
    }
    while (!ready_.empty() && running_.size() < max_parallel_) {
      auto call = std::move(ready_.front());
      ready_.pop_front();
      HttpRequest request;
      try {
        request = call->build();
      } catch (...) {
        error_ = std::current_exception();
        break;
      }
      auto id = transport_.start(std::move(request));
      running_.emplace(id, std::move(call));
    }
    if (error_) break;
    auto wait = std::chrono::milliseconds(100);
    if (!delayed_.empty()) {
      auto until = std::chrono::duration_cast<std::chrono::milliseconds>(delayed_.begin()->first - Clock::now());
      wait = std::clamp(until + std::chrono::milliseconds(1), std::chrono::milliseconds(0), wait);
    }
    if (running_.empty()) {
      if (!ready_.empty()) continue;
      std::this_thread::sleep_for(wait);
      continue;
    }
    for (auto& [id, response] : transport_.poll(wait)) {
      auto it = running_.find(id);
      if (it == running_.end()) continue;
      auto call = std::move(it->second);
      running_.erase(it);
      // Once a call failed, the rest of this batch is only drained: breaking
      // out here would leave finished ids in running_ that the transport no
      // longer knows, and the drain below would spin on them forever.
      if (!error_) handle(std::move(call), std::move(response));
    }
  }
  if (error_) {
    // Drain what is still in flight (its sinks write into state the calls own).
    ready_.clear();
    delayed_.clear();
    while (!running_.empty() && transport_.in_flight() > 0)
      for (auto& [id, response] : transport_.poll(std::chrono::milliseconds(100))) running_.erase(id);
    running_.clear();
    auto e = std::exchange(error_, nullptr);
    std::rethrow_exception(e);
  }
}

void Scheduler::handle(std::shared_ptr<Call> call, HttpResponse&& response) {
  Outcome outcome;
  try {
    outcome = call->handle(response);
  } catch (...) {
    error_ = std::current_exception();
    return;
  }
  if (outcome.kind == Outcome::done) return;
  if (!outcome.counts_as_attempt) {
    submit(std::move(call), Clock::now());
    ++stats_.retries;
    return;
  }
  ++call->attempt;
  if (call->attempt >= config_.max_attempts) {
    error_ = std::make_exception_ptr(Error(ErrorCode::network,
        call->what + ": giving up after " + std::to_string(call->attempt) + " attempts: " + outcome.message,
        "the server or network kept failing; check connectivity and HF_ENDPOINT, or retry later"));
    return;
  }
  auto delay = outcome.server_delay ? *outcome.server_delay : backoff(call->attempt);
  ++stats_.retries;
  submit(std::move(call), Clock::now() + delay);
}

std::chrono::milliseconds Scheduler::backoff(int attempt) {
  return backoff_delay(config_.initial_backoff, config_.max_backoff, attempt, rng_);
}

// ---- response classification -----------------------------------------------

std::string error_message_of(const HttpResponse& response) {
  if (auto m = response.header("x-error-message")) return *m;
  if (!response.body.empty()) {
    nlohmann::json j;
    try {
      j = parse_json_bounded<nlohmann::json>(response.body, "error reply", 1u << 20, "");
    } catch (const Error&) {
      // not JSON (or hostile): the body text below is the message
    }
    if (j.is_object()) {
      if (j.contains("error")) {
        const auto& e = j["error"];
        std::string text = e.is_string() ? e.get<std::string>() : e.dump();
        if (j.contains("error_description") && j["error_description"].is_string())
          text += ": " + j["error_description"].get<std::string>();
        return text;
      }
      if (j.contains("errors") && j["errors"].is_array() && !j["errors"].empty() && j["errors"][0].contains("message"))
        return j["errors"][0]["message"].dump();
    }
    if (response.body.size() < 300 && response.body.find('<') == std::string::npos) return trim(response.body);
  }
  return {};
}

Error http_error(const HttpResponse& response, const std::string& what, const RepoRef* repo, std::string_view revision) {
  if (response.tls_rejected)
    return Error(ErrorCode::network, what + ": the server's TLS certificate was not accepted: " + response.error,
                 "set SSL_CERT_FILE (or SSL_CERT_DIR) to the CA bundle that signs the certificate of HF_ENDPOINT");
  const auto code = response.header("x-error-code").value_or("");
  std::string detail = error_message_of(response);
  auto with_detail = [&](std::string msg) {
    if (!detail.empty()) msg += " (server: " + detail + ")";
    if (auto id = response.header("x-request-id")) msg += " [request id " + *id + "]";
    return msg;
  };
  const std::string repo_desc =
      repo ? std::string(to_string(repo->type)) + " repository '" + repo->repo_id + "'" : std::string("repository");
  if (code == "RepoNotFound" || (response.status == 401 && code.empty())) {
    return Error(ErrorCode::not_found, with_detail(what + ": " + repo_desc + " not found, or it is private or gated"),
                 repo && repo->type == RepoType::kernel
                     ? "check the repo id; if it is a private repo set HF_TOKEN; older kernels are model repos (repo_type: model)"
                     : "check the repo id; if it is a private repo set HF_TOKEN (or HF_TOKEN_PATH)");
  }
  if (code == "GatedRepo")
    return Error(ErrorCode::not_found, with_detail(what + ": access to " + repo_desc + " is gated"),
                 "accept the conditions on the Hub page of the repo and set HF_TOKEN to a token of that account");
  if (code == "RevisionNotFound")
    return Error(ErrorCode::not_found,
                 with_detail(what + ": revision '" + std::string(revision) + "' not found in " + repo_desc),
                 "list the branches and tags of the repo and pick one that exists");
  if (code == "EntryNotFound")
    return Error(ErrorCode::not_found, with_detail(what + ": not found in " + repo_desc + " at revision '" +
                                                   std::string(revision) + "'"));
  if (response.header("x-error-message").value_or("") == "Access to this resource is disabled.")
    return Error(ErrorCode::not_found, with_detail(what + ": " + repo_desc + " is disabled"));
  if (response.status == 403)
    return Error(ErrorCode::network, with_detail(what + ": forbidden (HTTP 403)"),
                 "make sure HF_TOKEN has read access to " + (repo ? repo->repo_id : std::string("the repo")));
  if (response.status == 404)
    return Error(ErrorCode::not_found, with_detail(what + ": not found (HTTP 404)"));
  if (response.status == 400)
    return Error(ErrorCode::invalid_input, with_detail(what + ": bad request (HTTP 400)"));
  return Error(ErrorCode::network, with_detail(what + ": HTTP " + std::to_string(response.status)));
}

// Standard classification for idempotent API calls: transient failures are
// retried, other non-2xx statuses throw the mapped Error.
std::optional<Outcome> classify(const HttpResponse& response, const std::string& what, const RepoRef* repo,
                                std::string_view revision) {
  if (response.transient_transport_failure()) return Outcome::retry(response.error);
  if (response.tls_rejected) throw http_error(response, what, repo, revision);
  if (is_transient_status(response.status)) {
    auto o = Outcome::retry("HTTP " + std::to_string(response.status));
    o.server_delay = server_retry_delay(response);
    return o;
  }
  if (response.status < 200 || response.status >= 300) throw http_error(response, what, repo, revision);
  return std::nullopt;
}

// A Hub API reply: a page of a tree listing or a repo's info is at most a few MiB.
constexpr std::size_t kMaxApiReplyBytes = 64u << 20;

// Parses a JSON reply with the bounded core parser (size, depth, duplicate keys).
// Throws Error(invalid_input) naming `what`.
nlohmann::json parse_json(const HttpResponse& response, const std::string& what) {
  return parse_json_bounded<nlohmann::json>(response.body, what + ": JSON reply", kMaxApiReplyBytes,
                                            "is HF_ENDPOINT a Hugging Face Hub (or a compatible mirror)?");
}

// Rejects paths that could escape a directory (Python _validate_relative_filename).
std::optional<std::string> next_link(const HttpResponse& response) {
  auto link = response.header("link");
  if (!link) return std::nullopt;
  // <url>; rel="next", <url2>; rel="prev"
  std::size_t pos = 0;
  while (pos < link->size()) {
    auto open = link->find('<', pos);
    if (open == std::string::npos) break;
    auto close = link->find('>', open);
    if (close == std::string::npos) break;
    auto end = link->find('<', close);
    auto params = link->substr(close + 1, end == std::string::npos ? std::string::npos : end - close - 1);
    if (params.find("rel=\"next\"") != std::string::npos || params.find("rel=next") != std::string::npos)
      return link->substr(open + 1, close - open - 1);
    pos = close + 1;
  }
  return std::nullopt;
}

}  // namespace detail

using namespace detail;

// ---- config ------------------------------------------------------------------

HubConfig HubConfig::from_environment() {
  HubConfig c;
  if (auto e = env("HF_ENDPOINT"); !e.empty()) {
    while (!e.empty() && e.back() == '/') e.pop_back();
    c.endpoint = e;
  }
  c.offline = env_true("HF_HUB_OFFLINE") || env_true("TRANSFORMERS_OFFLINE");
  if (auto t = env_seconds("HF_HUB_ETAG_TIMEOUT")) c.metadata_timeout = *t;
  if (auto t = env_seconds("HF_HUB_DOWNLOAD_TIMEOUT")) c.download_timeout = *t;
  if (!env_true("HF_HUB_DISABLE_IMPLICIT_TOKEN")) {
    std::string token = env("HF_TOKEN");
    if (token.empty()) token = env("HUGGING_FACE_HUB_TOKEN");
    if (token.empty()) {
      std::filesystem::path path = env("HF_TOKEN_PATH");
      if (path.empty()) {
        std::filesystem::path home = env("HF_HOME");
        if (home.empty()) {
          auto xdg = env("XDG_CACHE_HOME");
          home = xdg.empty() ? std::filesystem::path(env("HOME")) / ".cache" / "huggingface"
                             : std::filesystem::path(xdg) / "huggingface";
        }
        path = home / "token";
      }
      std::ifstream in(path, std::ios::binary);
      if (in) {
        std::stringstream ss;
        ss << in.rdbuf();
        std::string text = ss.str();
        std::erase(text, '\r');
        std::erase(text, '\n');
        token = trim(text);
      }
    }
    token = trim(token);
    if (!token.empty()) c.token = token;
  }
  return c;
}

// ---- client --------------------------------------------------------------------

HubClient::HubClient(HubConfig config) : HubClient(std::move(config), nullptr) {}

HubClient::HubClient(HubConfig config, std::shared_ptr<HttpTransport> transport)
    : impl_(std::make_unique<Impl>()) {
  while (!config.endpoint.empty() && config.endpoint.back() == '/') config.endpoint.pop_back();
  impl_->config = std::move(config);
  impl_->transport = std::move(transport);  // created lazily (offline clients never need one)
  if (impl_->transport) impl_->requests_base = impl_->transport->requests_started();
}

HubClient::~HubClient() = default;
HubClient::HubClient(HubClient&&) noexcept = default;
HubClient& HubClient::operator=(HubClient&&) noexcept = default;

const HubConfig& HubClient::config() const noexcept { return impl_->config; }

HubStats HubClient::stats() const noexcept {
  HubStats s = impl_->stats;
  s.requests = impl_->transport ? impl_->transport->requests_started() - impl_->requests_base : 0;
  return s;
}

std::string HubClient::api_url(const RepoRef& repo) const {
  return impl_->config.endpoint + "/api/" + (repo.type == RepoType::kernel ? "kernels/" : "models/") + repo.repo_id;
}

std::string HubClient::resolve_url(const RepoRef& repo, std::string_view revision, std::string_view path) const {
  return impl_->config.endpoint + "/" + (repo.type == RepoType::kernel ? "kernels/" : "") + repo.repo_id +
         "/resolve/" + url_encode(revision) + "/" + url_encode_path(path);
}

HttpTransport& HubClient::Impl::net(std::string_view what) {
  if (config.offline)
    throw Error(ErrorCode::network, std::string(what) + ": offline mode (HF_HUB_OFFLINE or --offline) forbids network access",
                "unset HF_HUB_OFFLINE, or work from the existing lock (`kernel-lock resolve --frozen`)");
  if (!transport) transport = make_curl_transport();
  return *transport;
}

HttpRequest HubClient::Impl::api_request(std::string url) const {
  HttpRequest r;
  r.url = std::move(url);
  r.timeout = config.metadata_timeout;
  r.headers.emplace_back("Accept", "application/json");
  add_credentials(r);
  return r;
}

void HubClient::Impl::add_credentials(HttpRequest& r) const {
  if (!config.token) return;
  r.credential_header = std::make_pair(std::string("Authorization"), "Bearer " + *config.token);
  r.credential_origin = url_origin(config.endpoint);
}

std::vector<ResolvedRevision> HubClient::resolve_revisions(const std::vector<RevisionQuery>& queries) {
  std::vector<ResolvedRevision> results(queries.size());
  if (queries.empty()) return results;
  auto& transport = impl_->net("resolving revisions");
  Scheduler sched(transport, impl_->config, impl_->stats);
  for (std::size_t i = 0; i < queries.size(); ++i) {
    check_repo_id(queries[i].repo.repo_id, "Hub request");
    struct State {
      RepoRef repo;
      std::string revision;
      bool detect;
    };
    auto st = std::make_shared<State>(State{queries[i].repo, queries[i].revision, queries[i].detect_type});
    auto call = std::make_shared<Call>();
    auto* self = this;
    call->what = "resolving revision '" + st->revision + "' of " + st->repo.repo_id;
    call->build = [self, st] {
      return self->impl_->api_request(self->api_url(st->repo) + "/revision/" + url_encode(st->revision));
    };
    call->handle = [self, st, &results, i, &sched, call_weak = std::weak_ptr<Call>(call)](HttpResponse& resp) -> Outcome {
      const auto what = "GET revision '" + st->revision + "' of " + st->repo.repo_id;
      if (st->detect && st->repo.type == RepoType::kernel && !resp.transport_failed() &&
          (resp.header("x-error-code").value_or("") == "RepoNotFound" ||
           (resp.status == 404 && !resp.header("x-error-code")))) {
        st->repo.type = RepoType::model;  // older kernels live in model repos
        if (auto c = call_weak.lock()) {
          c->attempt = 0;
          return Outcome::again();
        }
      }
      if (auto o = classify(resp, what, &st->repo, st->revision)) return *o;
      auto j = parse_json(resp, what);
      if (!j.is_object() || !j.contains("sha") || !j["sha"].is_string())
        throw Error(ErrorCode::invalid_input, what + ": reply has no 'sha'");
      results[i] = ResolvedRevision{st->repo, CommitSha::parse(j["sha"].get<std::string>(), what + ": 'sha'").str()};
      (void)sched;
      return Outcome::finished();
    };
    sched.submit(call);
  }
  sched.run();
  return results;
}

std::vector<RefsResult> HubClient::list_refs(const std::vector<RefsQuery>& queries) {
  std::vector<RefsResult> results(queries.size());
  if (queries.empty()) return results;
  auto& transport = impl_->net("listing refs");
  Scheduler sched(transport, impl_->config, impl_->stats);
  for (std::size_t i = 0; i < queries.size(); ++i) {
    check_repo_id(queries[i].repo.repo_id, "Hub request");
    struct State {
      RepoRef repo;
      bool detect;
    };
    auto st = std::make_shared<State>(State{queries[i].repo, queries[i].detect_type});
    auto call = std::make_shared<Call>();
    auto* self = this;
    call->what = "listing refs of " + st->repo.repo_id;
    call->build = [self, st] { return self->impl_->api_request(self->api_url(st->repo) + "/refs"); };
    call->handle = [st, &results, i, call_weak = std::weak_ptr<Call>(call)](HttpResponse& resp) -> Outcome {
      const auto what = "GET refs of " + st->repo.repo_id;
      if (st->detect && st->repo.type == RepoType::kernel && !resp.transport_failed() &&
          (resp.header("x-error-code").value_or("") == "RepoNotFound" ||
           (resp.status == 404 && !resp.header("x-error-code")))) {
        st->repo.type = RepoType::model;
        if (auto c = call_weak.lock()) {
          c->attempt = 0;
          return Outcome::again();
        }
      }
      if (auto o = classify(resp, what, &st->repo, "")) return *o;
      auto j = parse_json(resp, what);
      RepoRefs refs;
      auto read = [&](const char* key, std::vector<GitRef>& out) {
        if (!j.is_object() || !j.contains(key) || !j[key].is_array())
          throw Error(ErrorCode::invalid_input, what + ": reply has no '" + key + "' array");
        for (const auto& r : j[key]) {
          if (!r.is_object() || !r.contains("name") || !r.contains("targetCommit") || !r["name"].is_string() ||
              !r["targetCommit"].is_string())
            throw Error(ErrorCode::invalid_input, what + ": malformed entry in '" + key + "': " + r.dump());
          out.push_back(GitRef{r["name"].get<std::string>(), r["targetCommit"].get<std::string>()});
        }
      };
      read("branches", refs.branches);
      read("tags", refs.tags);
      results[i] = RefsResult{st->repo, std::move(refs)};
      return Outcome::finished();
    };
    sched.submit(call);
  }
  sched.run();
  return results;
}

namespace {

// One entry of a /tree reply: a relative path, a file's size and 40-hex git oid, an
// LFS file's 64-hex sha256. Throws Error(invalid_input) naming `what`.
TreeEntry parse_tree_entry(const nlohmann::json& e, const std::string& what) {
  if (!e.is_object() || !e.contains("path") || !e["path"].is_string() || !e.contains("type"))
    throw Error(ErrorCode::invalid_input, what + ": malformed entry " + e.dump());
  TreeEntry t;
  t.path = e["path"].get<std::string>();
  check_relative_path(t.path, what + ": tree entry");
  t.is_directory = e["type"] != "file";
  if (e.contains("oid") && e["oid"].is_string()) t.oid = e["oid"].get<std::string>();
  if (t.is_directory) return t;
  if (!e.contains("size") || !e["size"].is_number_unsigned() || t.oid.size() != 40 || !is_lower_hex(t.oid))
    throw Error(ErrorCode::invalid_input, what + ": file entry without size or 40-hex oid: " + e.dump());
  t.size = e["size"].get<std::uint64_t>();
  if (e.contains("lfs") && e["lfs"].is_object()) {
    const auto& lfs = e["lfs"];
    if (!lfs.contains("oid") || !lfs["oid"].is_string() || lfs["oid"].get<std::string>().size() != 64 ||
        !is_lower_hex(lfs["oid"].get<std::string>()))
      throw Error(ErrorCode::invalid_input, what + ": LFS entry without a 64-hex oid: " + e.dump());
    t.lfs_sha256 = lfs["oid"].get<std::string>();
  }
  return t;
}

}  // namespace

std::vector<std::vector<TreeEntry>> HubClient::list_trees(const std::vector<TreeQuery>& queries) {
  std::vector<std::vector<TreeEntry>> results(queries.size());
  if (queries.empty()) return results;
  auto& transport = impl_->net("listing files");
  Scheduler sched(transport, impl_->config, impl_->stats);
  for (std::size_t i = 0; i < queries.size(); ++i) {
    check_repo_id(queries[i].repo.repo_id, "Hub request");
    const auto& q = queries[i];
    std::string url = api_url(q.repo) + "/tree/" + url_encode(q.sha);
    if (!q.path.empty()) url += "/" + url_encode(q.path);
    url += std::string("?recursive=") + (q.recursive ? "true" : "false") + "&expand=false";
    // One call per page; each page's handler submits the next one.
    struct Page : std::enable_shared_from_this<Page> {
      HubClient* self;
      const TreeQuery* query;
      std::vector<TreeEntry>* out;
      Scheduler* sched;
      std::string url;
      int page = 0;
      void submit() {
        auto call = std::make_shared<Call>();
        auto me = shared_from_this();
        call->what = "listing files of " + query->repo.repo_id + " at " + query->sha +
                     (query->path.empty() ? "" : " under " + query->path);
        call->build = [me] { return me->self->impl_->api_request(me->url); };
        call->handle = [me](HttpResponse& resp) -> Outcome { return me->handle(resp); };
        sched->submit(call);
      }
      Outcome handle(HttpResponse& resp) {
        const auto what = "GET tree of " + query->repo.repo_id + " at " + query->sha +
                          (query->path.empty() ? "" : "/" + query->path) + " (page " + std::to_string(page + 1) + ")";
        if (auto o = classify(resp, what, &query->repo, query->sha)) return *o;
        auto j = parse_json(resp, what);
        if (!j.is_array()) throw Error(ErrorCode::invalid_input, what + ": reply is not a JSON array");
        for (const auto& e : j) out->push_back(parse_tree_entry(e, what));
        if (auto next = next_link(resp)) {
          auto n = std::make_shared<Page>(*this);
          n->url = resolve_redirect(resp.effective_url.empty() ? url : resp.effective_url, *next);
          if (n->url.empty())
            throw Error(ErrorCode::invalid_input, what + ": Link rel=\"next\" is not an http(s) URL: " + *next);
          n->page = page + 1;
          if (n->page > 100000) throw Error(ErrorCode::invalid_input, what + ": pagination does not end");
          n->submit();
        }
        return Outcome::finished();
      }
    };
    auto p = std::make_shared<Page>();
    p->self = this;
    p->query = &q;
    p->out = &results[i];
    p->sched = &sched;
    p->url = url;
    p->submit();
  }
  sched.run();
  for (auto& r : results)
    std::sort(r.begin(), r.end(), [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  return results;
}

std::string HubClient::resolve_revision(const RepoRef& repo, std::string_view revision) {
  return resolve_revisions({RevisionQuery{repo, std::string(revision), false}}).front().sha;
}

RepoRefs HubClient::list_refs(const RepoRef& repo) {
  return list_refs(std::vector<RefsQuery>{RefsQuery{repo, false}}).front().refs;
}

std::vector<TreeEntry> HubClient::list_tree(const RepoRef& repo, std::string_view sha, std::string_view path,
                                            bool recursive) {
  return list_trees({TreeQuery{repo, std::string(sha), std::string(path), recursive}}).front();
}

RepoType HubClient::detect_repo_type(std::string_view repo_id) {
  return list_refs(std::vector<RefsQuery>{RefsQuery{RepoRef{std::string(repo_id), RepoType::kernel}, true}})
      .front()
      .repo.type;
}

}  // namespace kernel_lock
