// HubClient against in-process Hubs (the product's HubServer over a
// MemoryStore, testing/scripted_hub.hpp) and scripted transports:
// pagination, error mapping, retries, resume, verification, credentials, offline.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/hub/http.hpp"
#include "kernel_lock/hub/hub_client.hpp"
#include "kernel_lock/testing/scripted_hub.hpp"

using namespace kernel_lock;

namespace {

const std::string kSha1 = std::string(39, 'a') + "1";
const std::string kSha2 = std::string(39, 'b') + "2";

std::filesystem::path temp_dir(const std::string& name) {
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() / ("kl-hub-test-" + name + "-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  return dir;
}

void add_kernel(ScriptedHub& hub, const std::string& id = "org/k") {
  hub.store().edit(id, [](MemoryRepo& r) {
    r.branches = {{"main", kSha2}, {"v1", kSha1}, {"v2", kSha2}};
    r.tags = {{"v0.1.0", kSha1}};
    r.commits[kSha1] = {{"build/torch-cpu/__init__.py", {"print(1)\n", false}}};
    r.commits[kSha2] = {{"build/torch-cpu/__init__.py", {"print(2)\n", false}},
                        {"build/torch-cpu/_ops.so", {std::string(5000, 'x'), true}},
                        {"build/torch211-cxx11-cu130-x86_64-linux/__init__.py", {"cuda\n", false}}};
  });
}

DownloadRequest request_for(ScriptedHub& hub, const std::string& path, const std::filesystem::path& dest,
                            const std::string& id = "org/k") {
  const MemoryFile f = hub.store().repo(id).commits.at(kSha2).at(path);
  DownloadRequest d;
  d.repo = RepoRef{id, RepoType::kernel};
  d.sha = kSha2;
  d.path = path;
  d.digest = memory_file_digest(f);
  d.size = f.content.size();
  d.destination = dest;
  return d;
}

// A transport whose responses are computed by a function (for cases an HTTP
// server library cannot produce on demand, e.g. ignoring Range).
class ScriptedTransport : public HttpTransport {
 public:
  std::function<HttpResponse(HttpRequest&, int nth)> respond;
  std::vector<HttpRequest> requests;
  std::uint64_t start(HttpRequest request) override {
    requests.push_back(request);
    auto resp = respond(requests.back(), static_cast<int>(requests.size()));
    done_.emplace_back(++id_, std::move(resp));
    return id_;
  }
  std::vector<std::pair<std::uint64_t, HttpResponse>> poll(std::chrono::milliseconds) override {
    return std::exchange(done_, {});
  }
  std::size_t in_flight() const noexcept override { return done_.size(); }
  std::uint64_t requests_started() const noexcept override { return id_; }

 private:
  std::uint64_t id_ = 0;
  std::vector<std::pair<std::uint64_t, HttpResponse>> done_;
};

HttpResponse body_response(HttpRequest& req, long status, const std::string& body) {
  HttpResponse r;
  r.status = status;
  if (req.on_body)
    req.on_body(status, body);
  else
    r.body = body;
  return r;
}

}  // namespace

TEST_CASE("url helpers resolve origins and redirects like the Python client") {
  CHECK(url_origin("HTTPS://Hub.Example.com/api/x") == "https://hub.example.com:443");
  CHECK(url_origin("http://127.0.0.1:8080/p") == "http://127.0.0.1:8080");
  CHECK(resolve_redirect("http://h:1/a/b/c?x=1", "/z") == "http://h:1/z");
  CHECK(resolve_redirect("http://h:1/a/b/c", "d") == "http://h:1/a/b/d");
  CHECK(resolve_redirect("http://h:1/a", "https://cdn/x") == "https://cdn/x");
}

TEST_CASE("url_origin and resolve_redirect follow libcurl's URL parser") {
  // Userinfo is not part of the origin, in either direction.
  CHECK(url_origin("https://user:pw@hub.example.com/x") == "https://hub.example.com:443");
  CHECK(url_origin("https://hub.example.com@evil.example/x") == "https://evil.example:443");
  // Default ports made explicit, explicit default ports equal to them.
  CHECK(url_origin("http://hub.example.com") == "http://hub.example.com:80");
  CHECK(url_origin("https://hub.example.com:443/") == url_origin("https://hub.example.com/"));
  CHECK(url_origin("http://hub.example.com:8443/") != url_origin("https://hub.example.com:8443/"));
  // Case of scheme and host does not matter.
  CHECK(url_origin("HTTP://HUB.Example.COM:80/p") == "http://hub.example.com:80");
  // IPv6 hosts keep their brackets; the port after them is the port.
  CHECK(url_origin("http://[::1]:8080/api") == "http://[::1]:8080");
  CHECK(url_origin("https://[2001:db8::1]/") == "https://[2001:db8::1]:443");
  CHECK(url_origin("http://[::1]:8080/") != url_origin("http://[::1]:8081/"));
  // Not an absolute http(s) URL: no origin, so no token is ever attached.
  CHECK(url_origin("hub.example.com/api") == "");
  CHECK(url_origin("/api/models") == "");
  CHECK(url_origin("file:///etc/passwd") == "");
  CHECK(url_origin("ftp://hub.example.com/") == "");

  CHECK(resolve_redirect("http://[::1]:8080/a/b", "c?x=1") == "http://[::1]:8080/a/c?x=1");
  CHECK(resolve_redirect("https://hub.example.com/a", "//cdn.example.com/x") == "https://cdn.example.com/x");
  CHECK(resolve_redirect("http://h:1/a/b/c", "../d") == "http://h:1/a/d");
  CHECK(url_origin(resolve_redirect("HTTPS://h/a", "HTTP://Other/x")) == "http://other:80");
  // A redirect to another scheme is not resolved (and so not followed).
  CHECK(resolve_redirect("https://h/a", "file:///etc/passwd") == "");
  CHECK(resolve_redirect("https://h/a", "ftp://h/x") == "");

  HubConfig c;
  c.endpoint = "http://mirror.local/hf/";
  HubClient client(c);
  RepoRef k{"org/k", RepoType::kernel}, m{"org/m", RepoType::model};
  CHECK(client.api_url(k) == "http://mirror.local/hf/api/kernels/org/k");
  CHECK(client.api_url(m) == "http://mirror.local/hf/api/models/org/m");
  CHECK(client.resolve_url(k, "v1", "build/a b/x.py") == "http://mirror.local/hf/kernels/org/k/resolve/v1/build/a%20b/x.py");
  CHECK(client.resolve_url(m, "refs/pr/1", "w.bin") == "http://mirror.local/hf/org/m/resolve/refs%2Fpr%2F1/w.bin");
}

TEST_CASE("refs, revisions and repo type detection") {
  ScriptedHub hub;
  add_kernel(hub);
  MemoryRepo model = hub.store().repo("org/k");
  model.type = RepoType::model;
  hub.store().edit("old/model-kernel", [&](MemoryRepo& r) { r = model; });
  HubClient client(fast_hub_config(hub.url()));

  auto refs = client.list_refs(RepoRef{"org/k", RepoType::kernel});
  REQUIRE(refs.branches.size() == 3);
  CHECK(refs.tags.at(0).name == "v0.1.0");
  CHECK(client.resolve_revision(RepoRef{"org/k", RepoType::kernel}, "v1") == kSha1);
  CHECK(client.detect_repo_type("org/k") == RepoType::kernel);
  CHECK(client.detect_repo_type("old/model-kernel") == RepoType::model);

  // Batch: both repos in one call, type detected per repo.
  auto both = client.list_refs(std::vector<RefsQuery>{{RepoRef{"org/k", RepoType::kernel}, true},
                                                      {RepoRef{"old/model-kernel", RepoType::kernel}, true}});
  CHECK(both[0].repo.type == RepoType::kernel);
  CHECK(both[1].repo.type == RepoType::model);
  CHECK(both[1].refs.branches.size() == 3);
}

TEST_CASE("X-Error-Code replies become actionable errors") {
  ScriptedHub hub;
  add_kernel(hub);
  HubClient client(fast_hub_config(hub.url()));
  try {
    client.resolve_revision(RepoRef{"org/k", RepoType::kernel}, "v9");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(std::string(e.what()).find("revision 'v9' not found") != std::string::npos);
    CHECK(std::string(e.what()).find("org/k") != std::string::npos);
  }
  try {
    client.list_refs(RepoRef{"org/missing", RepoType::kernel});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(std::string(e.what()).find("'org/missing' not found") != std::string::npos);
    CHECK(e.hint().find("HF_TOKEN") != std::string::npos);
  }
  try {
    client.list_tree(RepoRef{"org/k", RepoType::kernel}, kSha2, "nope", true);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
  }
  CHECK_THROWS_AS(client.list_refs(RepoRef{"bad--id/x", RepoType::kernel}), Error);
  CHECK(hub.count("bad--id") == 0);
}

TEST_CASE("tree listing follows Link pagination and keeps directories") {
  HubServerOptions options;
  options.page_size = 7;
  ScriptedHub hub(options);
  add_kernel(hub);
  hub.store().edit("org/k", [](MemoryRepo& r) {
    auto& files = r.commits[kSha2];
    for (int i = 0; i < 25; ++i) files["build/torch-cpu/layers/f" + std::to_string(100 + i) + ".py"] = {std::to_string(i), false};
  });
  HubClient client(fast_hub_config(hub.url()));
  auto entries = client.list_tree(RepoRef{"org/k", RepoType::kernel}, kSha2, "build", true);
  std::size_t n_files = 0, n_dirs = 0;
  for (const auto& e : entries) (e.is_directory ? n_dirs : n_files)++;
  CHECK(n_files == 28);
  CHECK(n_dirs == 3);  // build/torch-cpu, build/torch-cpu/layers, build/torch211-...
  CHECK(hub.count("/tree/") == (28 + 3 + 6) / 7);  // every page fetched once
  bool saw_lfs = false;
  for (const auto& e : entries)
    if (e.path == "build/torch-cpu/_ops.so") {
      saw_lfs = true;
      CHECK(e.digest_kind() == DigestKind::lfs_sha256);
      CHECK(e.digest() == sha256_hex(std::string(5000, 'x')));
      CHECK(e.size == 5000);
    }
  CHECK(saw_lfs);
}

// The message of the invalid_input error list_tree throws when every tree request is answered with `body`.
std::string tree_reply_error(const std::string& body) {
  ScriptedHub hub;
  add_kernel(hub);
  hub.script([body](const HubRequest& req, HubResponse& res, int) {
    if (req.target.find("/tree/") == std::string::npos) return InterceptDecision{};
    res = scripted_response(200, body);
    return InterceptDecision{};
  });
  HubClient client(fast_hub_config(hub.url()));
  try {
    client.list_tree(RepoRef{"org/k", RepoType::kernel}, kSha2, "build", true);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_input);
    return e.what();
  }
  FAIL("expected an error");
  return "";
}

TEST_CASE("unsafe paths in a tree reply are rejected") {
  const auto message = tree_reply_error(R"([{"type":"file","path":"build/../../etc/passwd","oid":")" +
                                        std::string(40, 'a') + R"(","size":1}])");
  CHECK(message.find("unsafe path") != std::string::npos);
}

TEST_CASE("a hostile JSON reply (8 MiB of '[') is refused at the nesting limit, not built in memory") {
  const auto message = tree_reply_error(std::string(8u << 20, '['));
  CHECK(message.find("JSON reply: JSON nested deeper than 64 levels") != std::string::npos);
}

TEST_CASE("repo ids follow the one core rule set: the lock's drift examples are refused before any request") {
  // Before, "-org/x" passed the Hub client but failed the lock, and "org/name.git"
  // passed the lock but failed the client; both now fail everywhere (test_ids.cpp).
  ScriptedHub hub;
  add_kernel(hub);
  HubClient client(fast_hub_config(hub.url()));
  for (const char* id : {"-org/x", "org/name.git", "org", "a/b/c"}) {
    CAPTURE(id);
    try {
      client.list_refs({RefsQuery{RepoRef{id, RepoType::kernel}}});
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_input);
      CHECK(std::string(e.what()).find("invalid repo id '" + std::string(id) + "'") != std::string::npos);
    }
    CHECK_THROWS_AS(client.resolve_revisions({RevisionQuery{RepoRef{id, RepoType::kernel}, "main"}}), Error);
  }
  CHECK(hub.count("/api/") == 0);
  CHECK(client.list_refs({RefsQuery{RepoRef{"org/k", RepoType::kernel}}}).size() == 1);
}

TEST_CASE("transient failures are retried; Retry-After is honoured; persistent ones fail") {
  ScriptedHub hub;
  add_kernel(hub);
  SUBCASE("503 then success") {
    hub.script([](const HubRequest&, HubResponse& res, int nth) {
      if (nth <= 2) res = scripted_response(503);
      return InterceptDecision{};
    });
    HubClient client(fast_hub_config(hub.url()));
    CHECK(client.list_refs(RepoRef{"org/k", RepoType::kernel}).branches.size() == 3);
    CHECK(hub.count("/refs") == 3);
    CHECK(client.stats().retries == 2);
  }
  SUBCASE("429 with Retry-After waits at least that long") {
    hub.script([](const HubRequest&, HubResponse& res, int nth) {
      if (nth > 1) return InterceptDecision{};
      res = scripted_response(429);
      res.headers.emplace_back("Retry-After", "1");
      return InterceptDecision{};
    });
    HubClient client(fast_hub_config(hub.url()));
    auto t0 = std::chrono::steady_clock::now();
    CHECK(client.list_refs(RepoRef{"org/k", RepoType::kernel}).branches.size() == 3);
    CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(950));
    CHECK(hub.count("/refs") == 2);
  }
  SUBCASE("RateLimit t= is honoured when the quota is exhausted") {
    hub.script([](const HubRequest&, HubResponse& res, int nth) {
      if (nth > 1) return InterceptDecision{};
      res = scripted_response(429);
      res.headers.emplace_back("RateLimit", "\"api\";r=0;t=0");
      return InterceptDecision{};
    });
    HubClient client(fast_hub_config(hub.url()));
    auto t0 = std::chrono::steady_clock::now();
    CHECK(client.list_refs(RepoRef{"org/k", RepoType::kernel}).branches.size() == 3);
    CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(950));  // t+1 seconds
  }
  SUBCASE("always 500: network error after max_attempts") {
    hub.script([](const HubRequest&, HubResponse& res, int) {
      res = scripted_response(500);
      return InterceptDecision{};
    });
    auto config = fast_hub_config(hub.url());
    config.max_attempts = 3;
    HubClient client(config);
    try {
      client.list_refs(RepoRef{"org/k", RepoType::kernel});
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::network);
      CHECK(std::string(e.what()).find("giving up after 3 attempts") != std::string::npos);
    }
    CHECK(hub.count("/refs") == 3);
  }
  SUBCASE("connection refused is a network error") {
    auto config = fast_hub_config("http://127.0.0.1:1");
    config.max_attempts = 2;
    HubClient client(config);
    try {
      client.list_refs(RepoRef{"org/k", RepoType::kernel});
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::network);
    }
  }
}

TEST_CASE("download verifies and writes atomically") {
  ScriptedHub hub;
  add_kernel(hub);
  auto dir = temp_dir("dl");
  HubClient client(fast_hub_config(hub.url()));
  std::vector<DownloadRequest> reqs{request_for(hub, "build/torch-cpu/__init__.py", dir / "a" / "init.py"),
                                    request_for(hub, "build/torch-cpu/_ops.so", dir / "b" / "ops.so")};
  std::uint64_t last_done = 0, last_total = 0;
  client.download(reqs, [&](std::uint64_t d, std::uint64_t t) {
    last_done = d;
    last_total = t;
  });
  CHECK(read_file(dir / "a" / "init.py") == "print(2)\n");
  CHECK(read_file(dir / "b" / "ops.so") == std::string(5000, 'x'));
  CHECK(last_done == 5009);
  CHECK(last_total == 5009);
  CHECK(client.stats().bytes_downloaded == 5009);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a corrupted body is rejected and nothing is written") {
  ScriptedHub hub;
  add_kernel(hub);
  hub.script([](const HubRequest& req, HubResponse& res, int) {
    if (req.target.find("/resolve/") == std::string::npos) return InterceptDecision{};
    res.blob.reset();  // right size, wrong bytes
    res.body = std::string(5000, 'y');
    res.content_type = "application/octet-stream";
    return InterceptDecision{};
  });
  auto dir = temp_dir("corrupt");
  HubClient client(fast_hub_config(hub.url()));
  try {
    client.download({request_for(hub, "build/torch-cpu/_ops.so", dir / "ops.so")});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::integrity);
    CHECK(std::string(e.what()).find(sha256_hex(std::string(5000, 'x'))) != std::string::npos);
    CHECK(std::string(e.what()).find(sha256_hex(std::string(5000, 'y'))) != std::string::npos);
    CHECK(std::string(e.what()).find("in " + std::to_string(client.config().max_attempts) + " downloads") !=
          std::string::npos);
  }
  CHECK(hub.count("/resolve/") == static_cast<std::size_t>(client.config().max_attempts));
  CHECK(std::filesystem::is_empty(dir));  // no destination, no temp file left
  std::filesystem::remove_all(dir);
}

TEST_CASE("digest mismatches get the full retry budget, each download from byte zero") {
  ScriptedHub hub;
  add_kernel(hub);
  const std::string content(5000, 'x');
  hub.script([](const HubRequest& req, HubResponse& res, int nth) {
    if (req.target.find("/resolve/") == std::string::npos || nth > 3) return InterceptDecision{};
    res.blob.reset();  // one bad node behind a load balancer: right size, wrong bytes, three times
    res.body = std::string(5000, 'y');
    res.content_type = "application/octet-stream";
    return InterceptDecision{};
  });
  auto dir = temp_dir("mismatch-retry");
  HubClient client(fast_hub_config(hub.url()));
  REQUIRE(client.config().max_attempts > 3);
  client.download({request_for(hub, "build/torch-cpu/_ops.so", dir / "ops.so")});
  CHECK(read_file(dir / "ops.so") == content);
  auto seen = hub.seen();
  REQUIRE(seen.size() == 4);
  for (const auto& s : seen) CHECK(s.range.empty());  // never resumed onto bad bytes
  std::filesystem::remove_all(dir);
}

TEST_CASE("a truncated transfer resumes with Range") {
  ScriptedHub hub;
  add_kernel(hub);
  const std::string content(5000, 'x');
  hub.script([](const HubRequest& req, HubResponse&, int nth) {
    if (req.target.find("/resolve/") == std::string::npos || nth > 1) return InterceptDecision{};
    // Promise 5000 bytes, send half of them (2500), then drop the connection.
    return InterceptDecision{BodyAction::truncate, "truncate"};
  });
  auto dir = temp_dir("resume");
  HubClient client(fast_hub_config(hub.url()));
  client.download({request_for(hub, "build/torch-cpu/_ops.so", dir / "ops.so")});
  CHECK(read_file(dir / "ops.so") == content);
  auto seen = hub.seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].range.empty());
  CHECK(seen[1].range == "bytes=2500-");
  std::filesystem::remove_all(dir);
}

TEST_CASE("a 200 reply to a Range request restarts from zero") {
  auto transport = std::make_shared<ScriptedTransport>();
  const std::string content = "0123456789";
  transport->respond = [&](HttpRequest& req, int nth) {
    if (nth == 1) {  // half, then a reset
      auto r = body_response(req, 200, content.substr(0, 4));
      r.error = "curl error 56: connection reset";
      return r;
    }
    CHECK(req.range_from == std::optional<std::uint64_t>(4));
    return body_response(req, 200, content);  // ignores the Range
  };
  auto dir = temp_dir("restart");
  HubClient client(fast_hub_config("http://hub.test"), transport);
  DownloadRequest d{RepoRef{"org/k", RepoType::kernel}, kSha2, "f.txt", git_blob_sha1_hex(content), content.size(),
                    dir / "f.txt"};
  client.download({d});
  CHECK(read_file(dir / "f.txt") == content);
  CHECK(transport->requests.size() == 2);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a 200 body that arrives in many chunks is written whole") {
  // libcurl hands a body over in pieces of at most 16 KiB; only the first
  // chunk of a 200 may restart a resumed file, later ones append.
  auto transport = std::make_shared<ScriptedTransport>();
  std::string content;
  for (int i = 0; i < 100000; ++i) content.push_back(static_cast<char>('a' + (i * 7) % 26));
  transport->respond = [&](HttpRequest& req, int) {
    HttpResponse r;
    r.status = 200;
    for (std::size_t at = 0; at < content.size(); at += 16384)
      REQUIRE(req.on_body(200, std::string_view(content).substr(at, 16384)));
    return r;
  };
  auto dir = temp_dir("chunks");
  HubClient client(fast_hub_config("http://hub.test"), transport);
  DownloadRequest d{RepoRef{"org/k", RepoType::kernel}, kSha2, "f.bin", sha256_hex(content), content.size(),
                    dir / "f.bin"};
  client.download({d});
  CHECK(read_file(dir / "f.bin") == content);
  CHECK(transport->requests.size() == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a failure does not hang when other transfers finish in the same poll") {
  auto transport = std::make_shared<ScriptedTransport>();
  transport->respond = [&](HttpRequest& req, int nth) {
    return nth == 1 ? body_response(req, 404, "{\"error\":\"Entry not found\"}") : body_response(req, 200, "x");
  };
  auto dir = temp_dir("fail-batch");
  HubClient client(fast_hub_config("http://hub.test"), transport);
  std::vector<DownloadRequest> reqs;
  for (int i = 0; i < 3; ++i)
    reqs.push_back(DownloadRequest{RepoRef{"org/k", RepoType::kernel}, kSha2, "f" + std::to_string(i), git_blob_sha1_hex("x"),
                                   1, dir / ("f" + std::to_string(i))});
  CHECK_THROWS_AS(client.download(reqs), Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("more bytes than listed is an integrity error") {
  auto transport = std::make_shared<ScriptedTransport>();
  transport->respond = [&](HttpRequest& req, int) {
    HttpResponse r;
    r.status = 200;
    if (!req.on_body(200, "0123456789-and-more")) {
      r.aborted = true;
      r.error = "curl error 23: write error";
    }
    return r;
  };
  auto dir = temp_dir("overflow");
  HubClient client(fast_hub_config("http://hub.test"), transport);
  DownloadRequest d{RepoRef{"org/k", RepoType::kernel}, kSha2, "f.txt", git_blob_sha1_hex("0123456789"), 10,
                    dir / "f.txt"};
  try {
    client.download({d});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::integrity);
  }
  CHECK_FALSE(std::filesystem::exists(dir / "f.txt"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("the token goes to the endpoint origin only, also across redirects") {
  ScriptedHub cdn;
  add_kernel(cdn);
  ScriptedHub hub;
  add_kernel(hub);
  const std::string cdn_url = cdn.url();
  // A redirect to another origin, which the product server never sends.
  hub.script([cdn_url](const HubRequest& req, HubResponse& res, int) {
    if (req.target.find("/resolve/") == std::string::npos) return InterceptDecision{};
    res = scripted_response(302);
    res.headers.emplace_back("Location", cdn_url + req.target.substr(0, req.target.find('?')));
    return InterceptDecision{};
  });
  auto config = fast_hub_config(hub.url());
  config.token = "hf_secret";
  HubClient client(config);
  client.list_refs(RepoRef{"org/k", RepoType::kernel});
  auto dir = temp_dir("token");
  client.download({request_for(hub, "build/torch-cpu/__init__.py", dir / "x.py")});
  CHECK(read_file(dir / "x.py") == "print(2)\n");
  for (const auto& s : hub.seen()) CHECK(s.authorization == "Bearer hf_secret");
  REQUIRE(cdn.seen().size() == 1);
  CHECK(cdn.seen()[0].authorization.empty());
  std::filesystem::remove_all(dir);
}

TEST_CASE("offline mode makes no requests") {
  ScriptedHub hub;
  add_kernel(hub);
  auto config = fast_hub_config(hub.url());
  config.offline = true;
  HubClient client(config);
  try {
    client.list_refs(RepoRef{"org/k", RepoType::kernel});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::network);
    CHECK(std::string(e.what()).find("offline") != std::string::npos);
  }
  CHECK(hub.seen().empty());
}

TEST_CASE("HubConfig reads the environment") {
  auto dir = temp_dir("env");
  write_file_atomic(dir / "token", "  hf_from_file\r\n");
  ::setenv("HF_ENDPOINT", "http://mirror.test/prefix//", 1);
  ::unsetenv("HF_TOKEN");
  ::unsetenv("HUGGING_FACE_HUB_TOKEN");
  ::unsetenv("HF_HUB_DISABLE_IMPLICIT_TOKEN");
  ::setenv("HF_TOKEN_PATH", (dir / "token").c_str(), 1);
  ::setenv("HF_HUB_OFFLINE", "yes", 1);
  ::setenv("HF_HUB_ETAG_TIMEOUT", "2.5", 1);
  ::setenv("HF_HUB_DOWNLOAD_TIMEOUT", "0", 1);
  auto c = HubConfig::from_environment();
  CHECK(c.endpoint == "http://mirror.test/prefix");
  CHECK(c.token == std::optional<std::string>("hf_from_file"));
  CHECK(c.offline);
  CHECK(c.metadata_timeout == std::chrono::milliseconds(2500));
  CHECK(c.download_timeout == std::chrono::milliseconds(10000));
  ::setenv("HF_TOKEN", "hf_env", 1);
  CHECK(HubConfig::from_environment().token == std::optional<std::string>("hf_env"));
  ::setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1", 1);
  CHECK_FALSE(HubConfig::from_environment().token.has_value());
  for (const char* v : {"HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "HF_HUB_ETAG_TIMEOUT",
                        "HF_HUB_DOWNLOAD_TIMEOUT", "HF_HUB_DISABLE_IMPLICIT_TOKEN"})
    ::unsetenv(v);
  std::filesystem::remove_all(dir);
}

TEST_CASE("batches run concurrently: many repos cost about one round trip") {
  ScriptedHub hub;
  std::vector<RefsQuery> queries;
  for (int i = 0; i < 20; ++i) {
    add_kernel(hub, "org/k" + std::to_string(i));
    queries.push_back(RefsQuery{RepoRef{"org/k" + std::to_string(i), RepoType::kernel}, false});
  }
  std::atomic<int> concurrent{0}, peak{0};
  hub.script([&](const HubRequest&, HubResponse&, int) {
    int now = ++concurrent;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {}
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    --concurrent;
    return InterceptDecision{};
  });
  HubClient client(fast_hub_config(hub.url()));
  auto results = client.list_refs(queries);
  CHECK(results.size() == 20);
  CHECK(results[7].repo.repo_id == "org/k7");
  CHECK(peak.load() > 1);  // requests overlapped on the server
}

TEST_CASE("a refused TLS certificate is not retried: one request, the CA hint") {
  auto transport = std::make_shared<ScriptedTransport>();
  transport->respond = [&](HttpRequest&, int) {
    HttpResponse r;
    r.error = "curl error 60: SSL certificate problem: self-signed certificate";
    r.tls_rejected = true;
    return r;
  };
  HubClient client(fast_hub_config("https://hub.test"), transport);
  try {
    client.resolve_revision(RepoRef{"org/k", RepoType::kernel}, "v1");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::network);
    CHECK(std::string(e.what()).find("TLS certificate was not accepted") != std::string::npos);
    CHECK(e.hint().find("SSL_CERT_FILE") != std::string::npos);
  }
  CHECK(transport->requests.size() == 1);

  auto dir = temp_dir("tls");
  transport->requests.clear();
  DownloadRequest d{RepoRef{"org/k", RepoType::kernel}, kSha2, "f.txt", git_blob_sha1_hex("x"), 1, dir / "f.txt"};
  CHECK_THROWS_AS(client.download({d}), Error);
  CHECK(transport->requests.size() == 1);
  CHECK_FALSE(std::filesystem::exists(dir / "f.txt"));
  std::filesystem::remove_all(dir);
}
