// The registry request loop: retries with the shared backoff rules
// (hub/retry.hpp), Basic credentials, and the Bearer token flow.
#include "session.hpp"

#include <cctype>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/json.hpp"
#include "kernel_lock/hub/retry.hpp"
#include "kernel_lock/trust/base64.hpp"

namespace kernel_lock::registry_detail {
namespace {

constexpr std::size_t kMaxTokenReply = 1u << 20;
constexpr std::size_t kMaxChallenge = 4096;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "k=v" pairs of a query string, values percent-encoded.
std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string base64_encode_text(std::string_view text) { return trust::base64_encode_text(text); }
std::string base64_decode_text(std::string_view text, std::string_view what) {
  return trust::base64_decode_text(text, what, 64 * 1024);
}

std::map<std::string, std::string> parse_challenge(std::string_view header) {
  std::map<std::string, std::string> out;
  if (header.size() > kMaxChallenge) return out;
  std::size_t i = header.find(' ');
  out[""] = lower(std::string(header.substr(0, i)));
  while (i != std::string_view::npos && i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ',')) ++i;
    const auto eq = header.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string key = lower(std::string(header.substr(i, eq - i)));
    std::string value;
    i = eq + 1;
    if (i < header.size() && header[i] == '"') {
      const auto close = header.find('"', i + 1);
      if (close == std::string_view::npos) break;
      value = std::string(header.substr(i + 1, close - i - 1));
      i = close + 1;
    } else {
      const auto comma = header.find(',', i);
      value = std::string(header.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i));
      i = comma;
    }
    out[key] = value;
  }
  return out;
}

Session::Session(HttpTransport& transport, OciReference ref, const RegistryOptions& options)
    : transport_(transport), ref_(std::move(ref)), options_(options) {
  // Loopback and --insecure speak plain http (a local registry has no TLS by
  // default), unless TLS is asked for (--ca-file); every other host https.
  const bool plain = !options_.force_https && (options_.insecure || is_loopback_host(ref_.host));
  const std::string scheme = plain ? "http" : "https";
  base_ = scheme + "://" + ref_.host;
  origin_ = url_origin(base_ + "/");
  if (origin_.empty()) throw Error(ErrorCode::usage, "bad registry host '" + ref_.host + "'");
  repo_url_ = base_ + "/v2/" + ref_.repository;
}

const std::optional<RegistryCredential>& Session::credential() {
  if (!credential_loaded_) {
    credential_loaded_ = true;
    credential_ = options_.credential ? options_.credential : docker_config_credential(ref_.host, options_.docker_config);
  }
  return credential_;
}

HttpResponse Session::once(HttpRequest request) {
  if (request.timeout == std::chrono::milliseconds(10000)) request.timeout = options_.timeout;
  const auto id = transport_.start(std::move(request));
  for (;;)
    for (auto& [done, response] : transport_.poll(std::chrono::milliseconds(100)))
      if (done == id) return std::move(response);
}

void Session::authorize(HttpRequest& request, const std::string& scope) const {
  if (auto t = tokens_.find(scope); t != tokens_.end()) {
    request.credential_header = {"Authorization", "Bearer " + t->second};
  } else if (use_basic_ && credential_) {
    request.credential_header = {"Authorization",
                                 "Basic " + base64_encode_text(credential_->username + ":" + credential_->password)};
  }
  request.credential_origin = origin_;
}

void Session::wait_before_retry(int attempt, const HttpResponse& response) {
  auto delay = response.transport_failed() ? std::nullopt : server_retry_delay(response);
  std::this_thread::sleep_for(delay ? std::min(*delay, kMaxServerRetryDelay)
                                    : backoff_delay(options_.initial_backoff, options_.max_backoff, attempt, rng_));
}

HttpResponse Session::send(const std::function<HttpRequest()>& build, const std::string& what, const std::string& scope,
                           bool retry) {
  bool retried = false;
  int failures = 0, auth_rounds = 0;
  for (;;) {
    HttpRequest request = build();
    authorize(request, scope);
    HttpResponse response = once(std::move(request));
    if (response.status == 401 && ++auth_rounds <= 3) {
      if (on_unauthorized(response, what, scope, retried)) continue;
    }
    const bool transient = response.transient_transport_failure() || is_transient_status(response.status);
    if (!retry || !transient) return response;
    if (++failures >= options_.max_attempts)
      throw Error(ErrorCode::network,
                  what + ": giving up after " + std::to_string(failures) + " attempts: " +
                      (response.transport_failed() ? response.error : "HTTP " + std::to_string(response.status)),
                  "the registry " + ref_.host + " or the network kept failing; check that it is up (and any proxy: "
                  "HTTPS_PROXY/NO_PROXY), or retry later");
    wait_before_retry(failures, response);
  }
}

bool Session::on_unauthorized(const HttpResponse& response, const std::string& what, const std::string& scope,
                              bool& retried) {
  const auto challenge = parse_challenge(response.header("www-authenticate").value_or(""));
  const std::string scheme = challenge.count("") ? challenge.at("") : "";
  // `retried`: this request was already sent again with fresh credentials.
  if (scheme == "bearer" && challenge.count("realm") && !retried) {
    // A new or wider scope (or an expired token): ask the realm again.
    retried = true;
    tokens_.erase(scope);
    fetch_token(challenge, scope, what);
    return true;
  }
  if (scheme == "basic" && !retried && credential()) {
    retried = true;
    use_basic_ = true;
    return true;
  }
  throw Error(ErrorCode::not_found,
              what + ": the registry " + ref_.host + " refused " + (credential() ? "the credentials" : "anonymous access") +
                  " for " + ref_.repository + " (HTTP 401)",
              "run `docker login " + ref_.host + "` or pass --username/--password-stdin with an account that may " +
                  (scope.find("push") != std::string::npos ? "push to " : "pull from ") + ref_.repository);
}

void Session::fetch_token(const std::map<std::string, std::string>& challenge, const std::string& scope,
                          const std::string& what) {
  std::string url = challenge.at("realm");
  const std::string realm_origin = url_origin(url);
  if (realm_origin.empty()) throw Error(ErrorCode::invalid_input, what + ": the token realm '" + url + "' is not an http(s) URL");
  url += url.find('?') == std::string::npos ? "?" : "&";
  if (challenge.count("service")) url += "service=" + url_encode(challenge.at("service")) + "&";
  // Ask for what this request needs (and what the registry named, when it differs).
  std::set<std::string> scopes;
  for (std::size_t b = 0; b < scope.size();) {
    const auto e = std::min(scope.find(' ', b), scope.size());
    if (e > b) scopes.insert(scope.substr(b, e - b));
    b = e + 1;
  }
  if (challenge.count("scope")) scopes.insert(challenge.at("scope"));
  for (const auto& one : scopes) url += "scope=" + url_encode(one) + "&";
  url.pop_back();
  HttpResponse reply;
  for (int attempt = 1;; ++attempt) {
    HttpRequest request;
    request.url = url;
    request.timeout = options_.timeout;
    // Credentials go to the realm's origin only (re-checked on redirects by the transport).
    if (credential()) {
      request.credential_header = {"Authorization",
                                   "Basic " + base64_encode_text(credential_->username + ":" + credential_->password)};
      request.credential_origin = realm_origin;
    }
    reply = once(std::move(request));
    if (!(reply.transient_transport_failure() || is_transient_status(reply.status)) || attempt >= options_.max_attempts)
      break;
    wait_before_retry(attempt, reply);
  }
  if (reply.status == 401 || reply.status == 403)
    throw Error(ErrorCode::not_found,
                what + ": the token service of " + ref_.host + " refused " + (credential() ? "the credentials" : "anonymous access") +
                    " (HTTP " + std::to_string(reply.status) + ")",
                "run `docker login " + ref_.host + "` or pass --username/--password-stdin");
  if (reply.status != 200) throw status_error(reply, what + ": token request to " + realm_origin);
  const auto doc = parse_json_bounded<nlohmann::json>(reply.body, what + ": token reply", kMaxTokenReply, "");
  std::string token;
  if (doc.is_object() && doc.contains("token") && doc["token"].is_string()) token = doc["token"].get<std::string>();
  else if (doc.is_object() && doc.contains("access_token") && doc["access_token"].is_string())
    token = doc["access_token"].get<std::string>();
  if (token.empty()) throw Error(ErrorCode::invalid_input, what + ": the token reply of " + realm_origin + " holds no token");
  tokens_[scope] = token;
}

Error Session::status_error(const HttpResponse& response, const std::string& what) const {
  const std::string where = " (registry " + ref_.host + ", repository " + ref_.repository + ")";
  if (response.tls_rejected)
    return Error(ErrorCode::network, what + where + ": its TLS certificate was not accepted: " + response.error,
                 "pass the CA that signs the registry's certificate: --ca-file FILE (or SSL_CERT_FILE)");
  if (response.transport_failed())
    return Error(ErrorCode::network, what + where + ": " + response.error,
                 "check that the registry is reachable (and any proxy: HTTPS_PROXY/NO_PROXY)");
  std::string detail;
  if (!response.body.empty() && response.body.size() < 2048) detail = ": " + response.body;
  if (response.status == 403)
    return Error(ErrorCode::not_found, what + where + ": forbidden (HTTP 403)" + detail,
                 "use an account with access to " + ref_.repository + " (`docker login " + ref_.host +
                     "` or --username/--password-stdin)");
  if (response.status == 404) return Error(ErrorCode::not_found, what + where + ": not found (HTTP 404)" + detail);
  // Go's net/http (the reference registry) answers plain http on a TLS port this way.
  if (response.status == 400 && response.body.find("HTTP request to an HTTPS server") != std::string::npos)
    return Error(ErrorCode::network, what + where + ": HTTP 400" + detail,
                 "the registry speaks https, and kernel-lock speaks plain http to loopback and --insecure hosts "
                 "unless --ca-file FILE names the CA of the registry's certificate");
  return Error(ErrorCode::network, what + where + ": HTTP " + std::to_string(response.status) + detail);
}

}  // namespace kernel_lock::registry_detail
