// registry/registry.hpp: push and pull against an in-process fake registry
// (the HttpTransport seam): HEAD skip, mount, monolithic and chunked uploads,
// retries, resume, auth (Basic, token flow), integrity, missing tags.
#include <doctest/doctest.h>

#include <deque>
#include <map>

#include <nlohmann/json.hpp>

#include "../bundle/test_bundle_support.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/hub/http.hpp"
#include "kernel_lock/registry/registry.hpp"
#include "kernel_lock/trust/base64.hpp"

using namespace kernel_lock;
using namespace kltest;
using nlohmann::json;

namespace {

// A distribution-spec registry in memory. Auth: none, "basic" (user:pass) or
// "bearer" (token realm at http://127.0.0.1:5000/token).
struct FakeRegistry final : HttpTransport {
  std::map<std::string, std::string> blobs;      // digest -> bytes
  std::map<std::string, std::string> manifests;  // "repo/reference" -> bytes
  std::map<std::string, std::string> uploads;    // session id -> bytes so far
  std::map<std::string, int> counts;             // "METHOD kind" -> requests
  std::string auth, user = "u", pass = "p";
  bool offer_mount = true;
  std::string hidden_repo;       // HEAD of a blob there always misses
  std::deque<long> fail_next;    // statuses to answer the next requests with (0: reset, -1: TLS refused)
  int fail_patch_after = -1;     // PATCHes accepted before one is "interrupted" (its bytes kept)
  bool drop_interrupted = false; // ...and the session is lost with it (GET status: 404)
  std::string retry_after;
  std::vector<std::pair<std::uint64_t, HttpResponse>> done;
  std::uint64_t next = 0;
  int sessions = 0;

  static std::string body_of(const HttpRequest& r) {
    if (r.body_file.empty()) return r.body;
    std::string all = slurp(r.body_file);
    return all.substr(r.body_offset, r.body_length);
  }
  HttpResponse reply(long status, std::string body = {}) {
    HttpResponse out;
    out.status = status;
    out.body = std::move(body);
    return out;
  }
  bool authorized(const HttpRequest& r, HttpResponse& out) {
    if (auth.empty()) return true;
    const std::string got = r.credential_header ? r.credential_header->second : "";
    if (auth == "basic" && got == "Basic " + trust::base64_encode_text(user + ":" + pass)) return true;
    if (auth == "bearer" && got == "Bearer tok-" + user) return true;
    out = reply(401);
    out.headers.emplace_back("www-authenticate", auth == "basic" ? "Basic realm=\"r\""
        : R"(Bearer realm="http://127.0.0.1:5000/token",service="fake",scope="repository:kernels/fleet:pull")");
    return false;
  }
  HttpResponse handle(const HttpRequest& r) {
    const std::string path = r.url.substr(r.url.find('/', 8));
    if (path.starts_with("/token")) {
      ++counts["GET token"];
      if (r.credential_header && r.credential_header->second == "Basic " + trust::base64_encode_text(user + ":" + pass))
        return reply(200, R"({"token":"tok-)" + user + "\"}");
      return reply(401);
    }
    if (!fail_next.empty()) {
      auto out = reply(fail_next.front());
      fail_next.pop_front();
      if (!retry_after.empty()) out.headers.emplace_back("retry-after", retry_after);
      if (out.status == 0) out.error = "connection reset";
      if (out.status == -1) {
        out.status = 0;
        out.error = "curl error 60: SSL certificate problem: unable to get local issuer certificate";
        out.tls_rejected = true;
      }
      return out;
    }
    HttpResponse out;
    if (!authorized(r, out)) return out;
    const std::string base = "/v2/kernels/fleet";
    REQUIRE(path.starts_with("/v2/"));
    const auto q = path.find('?');
    const std::string p = path.substr(0, q), query = q == std::string::npos ? "" : path.substr(q + 1);
    auto param = [&](const std::string& k) {
      auto at = query.find(k + "=");
      if (at == std::string::npos) return std::string();
      auto end = query.find('&', at);
      return query.substr(at + k.size() + 1, end == std::string::npos ? std::string::npos : end - at - k.size() - 1);
    };
    const std::string repo = p.substr(4, p.find("/blobs") != std::string::npos ? p.find("/blobs") - 4
                                         : p.find("/manifests") != std::string::npos ? p.find("/manifests") - 4
                                                                                     : p.find("/tags") - 4);
    if (p.find("/blobs/uploads/") != std::string::npos) {
      const std::string id = p.substr(p.find("/blobs/uploads/") + 15);
      ++counts[r.method + " upload"];
      if (r.method == "POST") {
        if (!param("mount").empty() && offer_mount && blobs.count(param("mount"))) return reply(201);
        const std::string sid = "s" + std::to_string(++sessions);
        uploads[sid];
        out = reply(202);
        out.headers.emplace_back("location", "/v2/" + repo + "/blobs/uploads/" + sid);
        return out;
      }
      if (!uploads.count(id)) return reply(404);
      if (r.method == "GET") {
        out = reply(204);
        out.headers.emplace_back("range", "0-" + std::to_string(static_cast<long>(uploads[id].size()) - 1));
        out.headers.emplace_back("location", "/v2/" + repo + "/blobs/uploads/" + id);
        return out;
      }
      const std::string body = body_of(r);
      if (r.method == "PATCH") {
        uploads[id] += body;
        if (fail_patch_after == 0) {
          fail_patch_after = -1;
          if (drop_interrupted) uploads.erase(id);
          out.error = "connection reset";  // the bytes arrived, the reply did not
          return out;
        }
        if (fail_patch_after > 0) --fail_patch_after;
        out = reply(202);
        out.headers.emplace_back("location", "/v2/" + repo + "/blobs/uploads/" + id);
        return out;
      }
      uploads[id] += body;  // PUT ?digest=
      const std::string digest = param("digest");
      if ("sha256:" + sha256_hex(uploads[id]) != digest) return reply(400, "DIGEST_INVALID");
      blobs[digest] = uploads[id];
      uploads.erase(id);
      return reply(201);
    }
    if (p.find("/blobs/") != std::string::npos) {
      const std::string digest = p.substr(p.find("/blobs/") + 7);
      ++counts[r.method + " blob"];
      if (!blobs.count(digest)) return reply(404);
      if (r.method == "HEAD") return reply(repo == hidden_repo ? 404 : 200);
      if (r.on_body) {
        r.on_body(200, blobs[digest]);
        return reply(200);
      }
      return reply(200, blobs[digest]);
    }
    if (p.find("/tags/list") != std::string::npos) {
      json tags = json::array();
      for (const auto& [k, v] : manifests)
        if (k.starts_with(repo + "/") && k.find("sha256:") == std::string::npos) tags.push_back(k.substr(repo.size() + 1));
      return reply(200, json{{"name", repo}, {"tags", tags}}.dump());
    }
    const std::string reference = p.substr(p.find("/manifests/") + 11);
    ++counts[r.method + " manifest"];
    if (r.method == "PUT") {
      manifests[repo + "/" + reference] = r.body;
      manifests[repo + "/sha256:" + sha256_hex(r.body)] = r.body;
      return reply(201);
    }
    if (!manifests.count(repo + "/" + reference)) return reply(404);
    return reply(200, manifests[repo + "/" + reference]);
  }
  std::uint64_t start(HttpRequest request) override {
    done.emplace_back(++next, handle(request));
    return next;
  }
  std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds) override { return std::exchange(done, {}); }
  std::size_t in_flight() const noexcept override { return done.size(); }
  std::uint64_t requests_started() const noexcept override { return next; }
};

RegistryOptions fast() {
  RegistryOptions o;
  o.max_attempts = 3;
  o.initial_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(2);
  return o;
}

struct Fixture {
  TempDir t;
  Lockfile lock = make_cache(t / "cache", sample_kernels());
  fs::path layout = t / "layout";
  OciReference ref = parse_oci_reference("oci://127.0.0.1:5000/kernels/fleet:v1");
  FakeRegistry reg;
  Fixture() { write_oci_layout(plan_bundle(lock, t / "cache"), layout, OciWriteOptions{"v1", {}}); }
  PushSummary push(const PushOptions& p = {}, const RegistryOptions& o = fast()) { return push_oci_layout(reg, layout, ref, o, p); }
};

ErrorCode code_of(const std::function<void()>& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (message) *message = e.what() + std::string(" | ") + e.hint();
    return e.code();
  }
  FAIL("no error");
  return ErrorCode::generic;
}

}  // namespace

TEST_CASE("registry: references parse, loopback allows plain http") {
  auto r = parse_oci_reference("oci://registry.example:5000/team/kernels:v2");
  CHECK(r.host == "registry.example:5000");
  CHECK(r.repository == "team/kernels");
  CHECK(r.tag == "v2");
  CHECK(parse_oci_reference("oci://h/r").tag == "latest");
  CHECK(parse_oci_reference("oci://h/r@sha256:" + std::string(64, 'a')).digest.size() == 71);
  CHECK(code_of([] { parse_oci_reference("oci://h/Upper:v1"); }) == ErrorCode::usage);
  CHECK(code_of([] { parse_oci_reference("docker://h/r"); }) == ErrorCode::usage);
  CHECK(is_loopback_host("127.0.0.1:5000"));
  CHECK(is_loopback_host("[::1]:5000"));
  CHECK(is_loopback_host("localhost"));
  CHECK_FALSE(is_loopback_host("127.evil.com"));
  CHECK_FALSE(is_loopback_host("registry.example:5000"));
}

TEST_CASE("registry: monolithic push, then a second push skips every blob after HEAD") {
  Fixture f;
  auto s = f.push();
  CHECK(s.uploaded > 0);
  CHECK(s.skipped == 0);
  CHECK(f.reg.manifests.count("kernels/fleet/v1"));
  CHECK(f.reg.counts["PATCH upload"] == 0);
  CHECK(f.reg.counts["PUT upload"] == static_cast<int>(s.uploaded));
  auto again = f.push();
  CHECK(again.uploaded == 0);
  CHECK(again.skipped == s.uploaded);
  CHECK(again.bytes_uploaded == 0);
}

TEST_CASE("registry: chunked push sends PATCHes with Content-Range") {
  Fixture f;
  PushOptions p;
  p.chunk_size = 7;
  auto s = f.push(p);
  CHECK(f.reg.counts["PATCH upload"] > static_cast<int>(s.uploaded));
  CHECK(s.bytes_uploaded > 0);
  for (const auto& [digest, bytes] : f.reg.blobs) CHECK(digest == "sha256:" + sha256_hex(bytes));
}

TEST_CASE("registry: cross-repository mount, 201 mounted and 202 falls back to an upload") {
  Fixture f;
  const auto first = f.push();
  f.ref = parse_oci_reference("oci://127.0.0.1:5000/kernels/other:v1");
  f.reg.hidden_repo = "kernels/other";  // HEAD there misses: the blobs live in kernels/fleet only
  PushOptions p;
  p.mount_from = "kernels/fleet";
  f.reg.offer_mount = false;
  auto fallback = f.push(p);
  CHECK(fallback.mounted == 0);
  CHECK(fallback.uploaded == first.uploaded);
  f.reg.offer_mount = true;
  auto mounted = f.push(p);
  CHECK(mounted.mounted == first.uploaded);
  CHECK(mounted.uploaded == 0);
  CHECK(mounted.bytes_uploaded == 0);
}

TEST_CASE("registry: 429 with Retry-After, then success; 5xx until the budget is spent is a network error") {
  Fixture f;
  f.reg.fail_next = {429};
  f.reg.retry_after = "1";
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(f.push().uploaded > 0);
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(950));  // Retry-After, not the 1 ms backoff
  Fixture g;
  g.reg.fail_next = {503, 503, 503, 503};
  std::string msg;
  CHECK(code_of([&] { g.push(); }, &msg) == ErrorCode::network);
  CHECK(msg.find("giving up after 3 attempts") != std::string::npos);
  CHECK(msg.find("127.0.0.1:5000") != std::string::npos);
}

TEST_CASE("registry: a refused TLS certificate ends at once with the --ca-file hint") {
  Fixture f;
  f.reg.fail_next = {-1, -1, -1, -1};
  std::string msg;
  CHECK(code_of([&] { f.push(); }, &msg) == ErrorCode::network);
  CHECK(msg.find("TLS certificate was not accepted") != std::string::npos);
  CHECK(msg.find("--ca-file") != std::string::npos);
  CHECK(msg.find("giving up") == std::string::npos);
  CHECK(f.reg.fail_next.size() == 3);  // one request, not the retry budget
}

TEST_CASE("registry: an interrupted chunked upload resumes from the server's Range") {
  Fixture f;
  f.reg.fail_patch_after = 1;
  PushOptions p;
  p.chunk_size = 5;
  auto s = f.push(p);
  CHECK(s.resumed == 1);
  CHECK(f.reg.counts["GET upload"] == 1);
  for (const auto& [digest, bytes] : f.reg.blobs) CHECK(digest == "sha256:" + sha256_hex(bytes));
}

TEST_CASE("registry: an upload whose session is gone (404 on its status) starts over from byte 0") {
  Fixture f;
  f.reg.fail_patch_after = 1;
  f.reg.drop_interrupted = true;
  PushOptions p;
  p.chunk_size = 5;
  auto s = f.push(p);
  CHECK(s.resumed == 1);
  CHECK(f.reg.sessions == static_cast<int>(s.uploaded) + 1);  // one extra POST: the restart
  for (const auto& [digest, bytes] : f.reg.blobs) CHECK(digest == "sha256:" + sha256_hex(bytes));
}

TEST_CASE("registry: token flow, Basic from a docker config, wrong password") {
  Fixture f;
  f.reg.auth = "bearer";
  RegistryOptions o = fast();
  o.credential = RegistryCredential{"u", "p"};
  CHECK(f.push({}, o).uploaded > 0);
  CHECK(f.reg.counts["GET token"] >= 1);

  Fixture g;
  g.reg.auth = "basic";
  spit(g.t / "docker" / "config.json",
       json{{"auths", {{"127.0.0.1:5000", {{"auth", trust::base64_encode_text("u:p")}}}}}}.dump());
  RegistryOptions c = fast();
  c.docker_config = g.t / "docker";
  CHECK(g.push({}, c).uploaded > 0);
  auto cred = docker_config_credential("127.0.0.1:5000", g.t / "docker" / "config.json");
  REQUIRE(cred);
  CHECK(cred->username == "u");
  CHECK_FALSE(docker_config_credential("other:5000", g.t / "docker"));

  Fixture h;
  h.reg.auth = "bearer";
  RegistryOptions bad = fast();
  bad.credential = RegistryCredential{"u", "wrong"};
  std::string msg;
  CHECK(code_of([&] { h.push({}, bad); }, &msg) == ErrorCode::not_found);
  CHECK(msg.find("docker login 127.0.0.1:5000") != std::string::npos);
}

TEST_CASE("registry: pull installs the kept variants; a missing tag names the tags there are") {
  Fixture f;
  f.push();
  InstallOptions install;
  install.cache_dir = f.t / "fresh";
  PullOptions all;
  auto s = install_from_registry(f.reg, f.ref, fast(), all, install);
  CHECK(s.kernels == 2);
  CHECK(s.variants > 0);

  std::string msg;
  CHECK(code_of([&] { install_from_registry(f.reg, parse_oci_reference("oci://127.0.0.1:5000/kernels/fleet:nope"), fast(), all, install); },
                &msg) == ErrorCode::not_found);
  CHECK(msg.find("tag 'nope'") != std::string::npos);
  CHECK(msg.find("tags there: v1") != std::string::npos);
}

TEST_CASE("registry: a manifest whose layer digest lies ends in an integrity error, nothing installed") {
  Fixture f;
  f.push();
  // Serve other bytes under one layer's digest (what a lying manifest looks like to the puller).
  for (auto& [digest, bytes] : f.reg.blobs)
    if (bytes.size() > 10 && bytes.front() != '{') {
      bytes[0] = static_cast<char>(bytes[0] ^ 1);
      break;
    }
  InstallOptions install;
  install.cache_dir = f.t / "fresh";
  CHECK(code_of([&] { install_from_registry(f.reg, f.ref, fast(), PullOptions{}, install); }) == ErrorCode::integrity);
  bool any = false;
  if (fs::exists(f.t / "fresh"))
    for (const auto& e : fs::recursive_directory_iterator(f.t / "fresh")) any = any || e.is_regular_file();
  CHECK_FALSE(any);
}

TEST_CASE("registry: pull fetches only the kept variants' layers and installs only those") {
  Fixture f;
  f.push();
  InstallOptions install;
  install.cache_dir = f.t / "fresh";
  PullOptions one;
  one.keep = [](std::string_view, const std::vector<std::string>&) {
    return std::vector<std::string>{"torch211-cxx11-cpu-x86_64-linux"};
  };
  const int blob_gets_before = f.reg.counts["GET blob"];
  PullSummary pulled;
  auto s = install_from_registry(f.reg, f.ref, fast(), one, install, &pulled);
  CHECK(pulled.layers_skipped > 0);
  CHECK(s.kernels == 2);
  CHECK(s.variants == 2);  // one per kernel
  PullSummary all_pulled;
  InstallOptions other = install;
  other.cache_dir = f.t / "fresh-all";
  auto all = install_from_registry(f.reg, f.ref, fast(), PullOptions{}, other, &all_pulled);
  CHECK(all.variants > s.variants);
  CHECK(all_pulled.layers_skipped == 0);
  CHECK(f.reg.counts["GET blob"] - blob_gets_before == static_cast<int>(pulled.blobs + all_pulled.blobs) -
                                                          f.reg.counts["GET manifest"]);
  // A filter that keeps nothing of a kernel is a clear not_found, nothing installed.
  PullOptions none;
  none.keep = [](std::string_view, const std::vector<std::string>&) { return std::vector<std::string>{}; };
  InstallOptions third = install;
  third.cache_dir = f.t / "fresh-none";
  CHECK(code_of([&] { install_from_registry(f.reg, f.ref, fast(), none, third); }) == ErrorCode::not_found);
}
