// HTTP transport seam of the Hub client. The libcurl implementation
// (make_curl_transport) runs many requests at once on one CURLM handle; unit
// tests substitute their own transport to inject faults. No curl types here.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kernel_lock {

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, POST, PUT, PATCH or DELETE
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // sent on every hop
  // Sent only while the current URL has this origin ("scheme://host:port");
  // the transport re-checks it on every redirect hop, so credentials never
  // leave the endpoint even when a mirror redirects to a CDN.
  std::optional<std::pair<std::string, std::string>> credential_header;
  std::string credential_origin;
  std::string body;                         // POST/PUT/PATCH body (when body_file is empty)
  // Or a body streamed from bytes [body_offset, body_offset + body_length) of
  // this file (uploads of large blobs without holding them in memory); re-read
  // from body_offset on every redirect hop. A short file fails the transfer.
  std::string body_file;
  std::uint64_t body_offset = 0;
  std::uint64_t body_length = 0;
  std::optional<std::uint64_t> range_from;  // sends "Range: bytes=N-"
  std::chrono::milliseconds timeout{10000}; // connect timeout and stall limit (no bytes for this long)
  int max_redirects = 10;                   // followed by the transport itself; 0 = none
  // Streaming body sink, called with the status of the response that carries the
  // bytes (never for redirect bodies). Returning false aborts the transfer
  // (HttpResponse::aborted). Unset: the body is collected into HttpResponse::body.
  std::function<bool(long status, std::string_view chunk)> on_body;
};

struct HttpResponse {
  long status = 0;  // of the final hop; 0 when no HTTP response arrived
  std::vector<std::pair<std::string, std::string>> headers;  // final hop, names lower-cased
  std::string body;           // when HttpRequest::on_body was unset
  std::string effective_url;  // URL of the final hop
  std::string error;          // transport failure (DNS, connect, reset, timeout, truncation); empty if none
  bool aborted = false;       // the body sink returned false
  bool tls_rejected = false;  // the peer's TLS certificate was not accepted (with `error`): not transient

  bool transport_failed() const noexcept { return !error.empty() && !aborted; }
  // A transport failure that another attempt may not repeat (every one but tls_rejected).
  bool transient_transport_failure() const noexcept { return transport_failed() && !tls_rejected; }
  // First header with this (case-insensitive) name.
  std::optional<std::string> header(std::string_view name) const;
};

// Event-loop style transport: start() queues a request, poll() drives all of
// them and hands back those that finished. Single-threaded; callbacks run
// inside poll() on the calling thread.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual std::uint64_t start(HttpRequest request) = 0;
  // Waits at most `max_wait` for progress; returns the finished requests (id, response).
  virtual std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds max_wait) = 0;
  virtual std::size_t in_flight() const noexcept = 0;
  // Requests started over the transport's lifetime (hops counted once per start()).
  virtual std::uint64_t requests_started() const noexcept = 0;
};

struct CurlTransportOptions {
  std::size_t max_connections = 32;  // total; HTTP/2 multiplexes on top of this
  std::string user_agent;            // default "kernel-lock/<version>"
  // CA bundle / directory (SSL_CERT_FILE / SSL_CERT_DIR); empty = libcurl default.
  // Peer and host verification are always on.
  std::string ca_file;
  std::string ca_path;
  // Explicit proxy for http:// URLs (upper-case HTTP_PROXY, which libcurl ignores by
  // design) and the matching no-proxy list. Lower-case and HTTPS/ALL proxies are
  // read by libcurl itself.
  std::string http_proxy;
  std::string no_proxy;
  static CurlTransportOptions from_environment();
};

std::shared_ptr<HttpTransport> make_curl_transport(CurlTransportOptions options = CurlTransportOptions::from_environment());

// "scheme://host:port" of an absolute http(s) URL, parsed by libcurl's URL parser
// (the parser the transfer itself uses): userinfo dropped, default port made
// explicit, scheme and host lower-cased, IPv6 hosts in brackets. Empty when `url`
// is not an absolute http/https URL. Decides where the Hub token may be sent.
std::string url_origin(std::string_view url);
// Resolves a Location header against the URL it came from (libcurl's URL parser,
// RFC 3986 reference resolution). Empty when the result does not parse or is not
// http/https: such a redirect is not followed.
std::string resolve_redirect(std::string_view base_url, std::string_view location);

}  // namespace kernel_lock
