// The Hub-compatible server (hub_server.hpp) over a fixture Hub, exercised
// over real HTTP on a loopback port with cpp-httplib's client.
#include <doctest/doctest.h>
#include "../temp_dir.hpp"

#include <unistd.h>

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/testing/fixture_hub.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/mirror/hub_server.hpp"
#include "kernel_lock/testing/faults.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace kernel_lock;

namespace {

using kltest::TempDir;

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// Content of the LFS file: 10000 bytes, position-dependent.
std::string big_content() {
  std::string s;
  for (int i = 0; i < 10000; ++i) s.push_back(static_cast<char>('a' + (i * 7) % 26));
  return s;
}

const RepoRef kKernel{"kernels-test/demo", RepoType::kernel};
const RepoRef kModel{"kernels-test/model", RepoType::model};
const RepoRef kGated{"kernels-test/gated", RepoType::model};

struct Fixture {
  TempDir tmp;
  std::string main_sha, v2_sha, model_sha;
  std::shared_ptr<RepoStore> store;

  Fixture() {
    write(tmp.path() / "main/README.md", "# demo\n");
    write(tmp.path() / "v2/torch-cpu/__init__.py", "VERSION = 2\n");
    write(tmp.path() / "v2/torch-cpu/_ops.py", "ops = None\n");
    write(tmp.path() / "v2/torch-cpu/_demo.so", big_content());
    write(tmp.path() / "v2/torch-universal/__init__.py", "VERSION = 2\n");
    write(tmp.path() / "model/config.json", "{}\n");
    write(tmp.path() / "model/weights.bin", big_content());
    auto hub = FixtureHub::open_or_create(tmp.path() / "hub");
    PublishOptions o;
    o.repo = kKernel;
    main_sha = hub.publish(o, tmp.path() / "main").sha;
    o.branch = "v2";
    o.under = "build";
    o.tags = {"v2.0.0"};
    v2_sha = hub.publish(o, tmp.path() / "v2").sha;
    hub.set_branch(kKernel, "dev/x", "v2");
    PublishOptions m;
    m.repo = kModel;
    m.lfs_globs = {"*.bin"};
    model_sha = hub.publish(m, tmp.path() / "model").sha;
    PublishOptions g;
    g.repo = kGated;
    g.gated = true;
    hub.publish(g, tmp.path() / "model");
    store = hub.store();
  }
};

struct Running {
  explicit Running(std::shared_ptr<RepoStore> store, HubServerOptions options = {})
      : server(std::move(store), std::move(options)) {
    server.start();
    port = std::stoi(server.url().substr(server.url().rfind(':') + 1));
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_url_encode(false);
    c.set_read_timeout(10, 0);
    return c;
  }
  HubServer server;
  int port = 0;
};

json body_json(const httplib::Result& r) { return json::parse(r->body); }

}  // namespace

TEST_CASE("info, revision and refs endpoints") {
  Fixture fx;
  Running srv(fx.store);
  auto c = srv.client();

  auto info = c.Get("/api/kernels/kernels-test/demo");
  REQUIRE(info);
  CHECK(info->status == 200);
  auto j = body_json(info);
  CHECK(j["id"] == "kernels-test/demo");
  CHECK(j["sha"] == fx.main_sha);
  CHECK(j["siblings"][0]["rfilename"] == "README.md");
  CHECK(j["lastModified"].get<std::string>().back() == 'Z');

  auto rev = c.Get("/api/kernels/kernels-test/demo/revision/v2.0.0?blobs=true");
  REQUIRE(rev);
  j = body_json(rev);
  CHECK(j["sha"] == fx.v2_sha);
  bool saw_lfs = false;
  for (const auto& s : j["siblings"])
    if (s["rfilename"] == "build/torch-cpu/_demo.so") {
      saw_lfs = true;
      CHECK(s["lfs"]["sha256"] == sha256_hex(big_content()));
      CHECK(s["size"] == 10000);
      CHECK(s["lfs"]["pointerSize"] == lfs_pointer_size(10000));
    }
  CHECK(saw_lfs);

  // Encoded and unencoded revisions with '/', short shas, expand filtering.
  CHECK(body_json(c.Get("/api/kernels/kernels-test/demo/revision/dev%2Fx"))["sha"] == fx.v2_sha);
  CHECK(body_json(c.Get("/api/kernels/kernels-test/demo/revision/dev/x"))["sha"] == fx.v2_sha);
  CHECK(body_json(c.Get("/api/kernels/kernels-test/demo/revision/refs%2Fheads%2Fmain"))["sha"] == fx.main_sha);
  CHECK(body_json(c.Get(("/api/kernels/kernels-test/demo/revision/" + fx.v2_sha.substr(0, 8)).c_str()))["sha"] == fx.v2_sha);
  auto only_sha = body_json(c.Get("/api/kernels/kernels-test/demo/revision/v2?expand=sha"));
  CHECK(only_sha["sha"] == fx.v2_sha);
  CHECK_FALSE(only_sha.contains("siblings"));

  auto missing_rev = c.Get("/api/kernels/kernels-test/demo/revision/v9");
  CHECK(missing_rev->status == 404);
  CHECK(missing_rev->get_header_value("X-Error-Code") == "RevisionNotFound");
  CHECK(body_json(missing_rev)["error"] == "Invalid rev id: v9");
  auto missing_repo = c.Get("/api/kernels/kernels-test/nope");
  CHECK(missing_repo->status == 404);
  CHECK(missing_repo->get_header_value("X-Error-Code") == "RepoNotFound");
  // Repo types are distinct namespaces.
  CHECK(c.Get("/api/models/kernels-test/demo")->get_header_value("X-Error-Code") == "RepoNotFound");
  CHECK(c.Get("/api/models/kernels-test/model")->status == 200);
  CHECK(c.Get("/api/datasets/kernels-test/model")->get_header_value("X-Error-Code") == "RepoNotFound");

  auto refs = body_json(c.Get("/api/kernels/kernels-test/demo/refs"));
  REQUIRE(refs["branches"].size() == 3);
  CHECK(refs["branches"][0] == json{{"name", "dev/x"}, {"ref", "refs/heads/dev/x"}, {"targetCommit", fx.v2_sha}});
  CHECK(refs["tags"][0]["name"] == "v2.0.0");
  CHECK(refs["converts"].is_array());
  CHECK_FALSE(refs.contains("pullRequests"));
  CHECK(body_json(c.Get("/api/kernels/kernels-test/demo/refs?include_prs=1"))["pullRequests"].is_array());

  auto org = body_json(c.Get("/api/organizations/kernels-test/overview"));
  CHECK(org["trustedKernelPublisher"] == true);
  CHECK(c.Get("/api/organizations/nobody/overview")->status == 404);
}

TEST_CASE("tree listing: encoded paths, directories with oids, absolute Link pagination") {
  Fixture fx;
  HubServerOptions options;
  options.page_size = 2;
  Running srv(fx.store, options);
  auto c = srv.client();

  auto build = c.Get("/api/kernels/kernels-test/demo/tree/v2/build?recursive=false&expand=false");
  REQUIRE(build);
  CHECK(build->status == 200);
  auto page = body_json(build);
  REQUIRE(page.size() == 2);
  CHECK(page[0] == json{{"type", "directory"}, {"oid", fx.store->commit(kKernel, fx.v2_sha)->find("build/torch-cpu")->oid},
                        {"size", 0}, {"path", "build/torch-cpu"}});
  CHECK(build->get_header_value("Link").empty());

  // %2F-encoded path (Python) and a recursive listing over several pages.
  std::string next = "/api/kernels/kernels-test/demo/tree/v2/build%2Ftorch-cpu?recursive=true&expand=false";
  std::set<std::string> paths;
  int pages = 0;
  std::string prefix = "http://127.0.0.1:" + std::to_string(srv.port);
  while (!next.empty()) {
    auto r = c.Get(next.c_str());
    REQUIRE(r);
    REQUIRE(r->status == 200);
    for (const auto& e : body_json(r)) {
      CHECK(e.contains("oid"));
      paths.insert(e["path"].get<std::string>());
      if (e["path"] == "build/torch-cpu/_demo.so") {
        CHECK(e["lfs"]["oid"] == sha256_hex(big_content()));
        CHECK(e["size"] == 10000);
      }
    }
    ++pages;
    std::string link = r->get_header_value("Link");
    next.clear();
    if (!link.empty()) {
      CHECK(link.ends_with(">; rel=\"next\""));
      std::string url = link.substr(1, link.find('>') - 1);
      REQUIRE(url.starts_with(prefix));
      CHECK(url.find("recursive=true") != std::string::npos);
      next = url.substr(prefix.size());
    }
  }
  CHECK(pages == 2);
  CHECK(paths == std::set<std::string>{"build/torch-cpu/__init__.py", "build/torch-cpu/_demo.so", "build/torch-cpu/_ops.py"});

  // Root, recursive: directories included.
  HubServerOptions big;
  Running all(fx.store, big);
  auto rc = all.client();
  auto root = body_json(rc.Get("/api/kernels/kernels-test/demo/tree/v2?recursive=true&expand=false"));
  std::set<std::string> types;
  for (const auto& e : root) types.insert(e["type"].get<std::string>());
  CHECK(root.size() == 8);  // README, build, 2 variant dirs, 4 files
  CHECK(types == std::set<std::string>{"directory", "file"});

  // expand=true adds lastCommit with a ...Z date.
  auto expanded = body_json(rc.Get("/api/kernels/kernels-test/demo/tree/v2?recursive=false&expand=true"));
  REQUIRE(expanded.size() == 2);
  CHECK(expanded[0]["path"] == "README.md");
  CHECK(expanded[0]["lastCommit"]["id"] == fx.main_sha);  // unchanged since main
  CHECK(expanded[1]["lastCommit"]["id"] == fx.v2_sha);

  auto missing = rc.Get("/api/kernels/kernels-test/demo/tree/v2/build%2Fnope?recursive=false&expand=false");
  CHECK(missing->status == 404);
  CHECK(missing->get_header_value("X-Error-Code") == "EntryNotFound");
  CHECK(rc.Get("/api/kernels/kernels-test/demo/tree/v9?recursive=false")->get_header_value("X-Error-Code") == "RevisionNotFound");
  // A branch name holding '/' works unencoded too.
  CHECK(body_json(rc.Get("/api/kernels/kernels-test/demo/tree/dev/x/build?recursive=false")).size() == 2);
}

TEST_CASE("paths-info accepts form and JSON bodies") {
  Fixture fx;
  Running srv(fx.store);
  auto c = srv.client();
  auto form = c.Post("/api/kernels/kernels-test/demo/paths-info/v2", "paths=README.md&paths=build%2Ftorch-cpu&paths=nope&expand=false",
                     "application/x-www-form-urlencoded");
  REQUIRE(form);
  auto j = body_json(form);
  REQUIRE(j.size() == 2);
  CHECK(j[0]["path"] == "README.md");
  CHECK(j[1]["type"] == "directory");
  auto js = c.Post("/api/kernels/kernels-test/demo/paths-info/v2", R"({"paths": ["build/torch-cpu/_demo.so"]})", "application/json");
  REQUIRE(js);
  CHECK(body_json(js)[0]["lfs"]["oid"] == sha256_hex(big_content()));
  // A hostile JSON body (8 MiB of '[') is refused at the nesting limit with 400, not built in memory.
  auto deep = c.Post("/api/kernels/kernels-test/demo/paths-info/v2", std::string(8u << 20, '['), "application/json");
  REQUIRE(deep);
  CHECK(deep->status == 400);
  CHECK(deep->body.find("nested deeper than 64 levels") != std::string::npos);
}

TEST_CASE("resolve: HEAD metadata, GET bodies, ranges, errors") {
  Fixture fx;
  Running srv(fx.store);
  auto c = srv.client();

  auto head = c.Head("/kernels/kernels-test/demo/resolve/v2/build/torch-cpu/_demo.so");
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->get_header_value("X-Repo-Commit") == fx.v2_sha);
  CHECK(head->get_header_value("ETag") == "\"" + sha256_hex(big_content()) + "\"");
  CHECK(head->get_header_value("X-Linked-Size") == "10000");
  CHECK(head->get_header_value("Content-Length") == "10000");
  CHECK(head->get_header_value("Accept-Ranges") == "bytes");
  CHECK(head->body.empty());
  for (const auto& [name, value] : head->headers) CHECK_FALSE(std::string(name).starts_with("X-Xet"));

  auto get = c.Get("/kernels/kernels-test/demo/resolve/v2/build/torch-cpu/_demo.so");
  REQUIRE(get);
  CHECK(get->status == 200);
  CHECK(get->body == big_content());

  auto small = c.Head(("/kernels/kernels-test/demo/resolve/" + fx.main_sha + "/README.md").c_str());
  CHECK(small->get_header_value("ETag") == "\"" + git_blob_sha1_hex("# demo\n") + "\"");
  CHECK(small->get_header_value("Content-Length") == "7");

  auto range = c.Get("/kernels/kernels-test/demo/resolve/v2/build/torch-cpu/_demo.so", {{"Range", "bytes=9990-"}});
  REQUIRE(range);
  CHECK(range->status == 206);
  CHECK(range->get_header_value("Content-Range") == "bytes 9990-9999/10000");
  CHECK(range->body == big_content().substr(9990));
  auto bad_range = c.Get("/kernels/kernels-test/demo/resolve/v2/build/torch-cpu/_demo.so", {{"Range", "bytes=20000-"}});
  CHECK(bad_range->status == 416);
  CHECK(bad_range->get_header_value("Content-Range") == "bytes */10000");

  // Model repos have no type prefix; '/' in a branch name works.
  auto model = c.Get("/kernels-test/model/resolve/main/weights.bin");
  CHECK(model->status == 200);
  CHECK(model->get_header_value("X-Repo-Commit") == fx.model_sha);
  CHECK(model->body == big_content());
  CHECK(c.Head("/kernels/kernels-test/demo/resolve/dev/x/build/torch-universal/__init__.py")->status == 200);
  CHECK(c.Head("/kernels/kernels-test/demo/resolve/dev%2Fx/build/torch-universal/__init__.py")->status == 200);

  auto status = c.Head("/kernels/kernels-test/demo/resolve/v2/kernel-status.toml");
  CHECK(status->status == 404);
  CHECK(status->get_header_value("X-Error-Code") == "EntryNotFound");
  CHECK(status->get_header_value("X-Repo-Commit") == fx.v2_sha);
  auto dir = c.Get("/kernels/kernels-test/demo/resolve/v2/build");
  CHECK(dir->get_header_value("X-Error-Code") == "EntryNotFound");
  CHECK(c.Head("/kernels/kernels-test/demo/resolve/v9/README.md")->get_header_value("X-Error-Code") == "RevisionNotFound");
  CHECK(c.Head("/kernels/kernels-test/none/resolve/main/README.md")->get_header_value("X-Error-Code") == "RepoNotFound");
  CHECK(c.Head("/kernels-test/demo/resolve/main/README.md")->get_header_value("X-Error-Code") == "RepoNotFound");

  // Gated: refused without the server token (there is none here).
  auto gated = c.Get("/kernels-test/gated/resolve/main/config.json");
  CHECK(gated->status == 401);
  CHECK(gated->get_header_value("X-Error-Code") == "GatedRepo");
  CHECK(body_json(c.Get("/api/models/kernels-test/gated"))["gated"] == "manual");
}

TEST_CASE("bearer token: 401 without it, wrong one rejected, right one served (also gated repos)") {
  Fixture fx;
  HubServerOptions options;
  options.token = "s3cret";
  options.untrusted_orgs = {"kernels-test"};
  Running srv(fx.store, options);
  auto c = srv.client();
  auto none = c.Get("/api/kernels/kernels-test/demo");
  CHECK(none->status == 401);
  CHECK(none->get_header_value("X-Error-Code") == "RepoNotFound");
  auto wrong = c.Get("/api/kernels/kernels-test/demo", {{"Authorization", "Bearer nope"}});
  CHECK(wrong->status == 401);
  CHECK(wrong->get_header_value("X-Error-Message") == "Invalid credentials in Authorization header");
  httplib::Headers auth{{"Authorization", "Bearer s3cret"}};
  CHECK(c.Get("/api/kernels/kernels-test/demo", auth)->status == 200);
  CHECK(c.Head("/kernels/kernels-test/demo/resolve/main/README.md")->status == 401);
  CHECK(c.Get("/kernels-test/gated/resolve/main/config.json", auth)->body == "{}\n");
  CHECK(body_json(c.Get("/api/organizations/kernels-test/overview", auth))["trustedKernelPublisher"] == false);
}

namespace {
// Server options whose interceptor injects the faults `f` (testing/faults.hpp).
HubServerOptions with_faults(const FaultOptions& f) {
  HubServerOptions o;
  o.interceptor = make_fault_interceptor(f);
  return o;
}
}  // namespace

TEST_CASE("faults: deterministic 429/5xx/reset/truncate/corrupt with a request log") {
  Fixture fx;
  const std::string file = "/kernels/kernels-test/demo/resolve/v2/build/torch-cpu/_demo.so";

  SUBCASE("429 once per target, then success") {
    FaultOptions f;
    f.rate_429 = 1.0;
    f.times = 1;
    f.retry_after_s = 3;
    HubServerOptions o = with_faults(f);
    o.log_path = fx.tmp.path() / "log.jsonl";
    Running srv(fx.store, o);
    auto c = srv.client();
    auto first = c.Get(file.c_str());
    CHECK(first->status == 429);
    CHECK(first->get_header_value("Retry-After") == "3");
    CHECK(c.Get(file.c_str())->body == big_content());
    CHECK(c.Head(file.c_str())->status == 429);  // HEAD is another target
    CHECK(c.Head(file.c_str())->status == 200);
    srv.server.stop();
    std::ifstream log(o.log_path);
    std::vector<json> lines;
    for (std::string line; std::getline(log, line);) lines.push_back(json::parse(line));
    REQUIRE(lines.size() == 4);
    CHECK(lines[0]["fault"] == "429");
    CHECK(lines[0]["status"] == 429);
    CHECK(lines[1]["fault"] == "");
    CHECK(lines[1]["bytes"] == 10000);
    CHECK(lines[2]["method"] == "HEAD");
    CHECK(lines[0]["path"] == file);
  }

  SUBCASE("5xx only where --fault-match matches") {
    FaultOptions f;
    f.rate_5xx = 1.0;
    f.match = "^GET /api/";
    HubServerOptions o = with_faults(f);
    Running srv(fx.store, o);
    auto c = srv.client();
    auto api = c.Get("/api/kernels/kernels-test/demo/refs");
    CHECK(api->status >= 500);
    CHECK(api->status <= 504);
    CHECK(c.Head(file.c_str())->status == 200);
  }

  SUBCASE("reset and truncate cut the body; corrupt flips one byte") {
    FaultOptions reset_faults;
    reset_faults.rate_reset = 1.0;
    HubServerOptions reset = with_faults(reset_faults);
    Running r1(fx.store, reset);
    auto c1 = r1.client();
    auto cut = c1.Get(file.c_str());
    CHECK_FALSE(cut);  // connection closed before the promised body
    CHECK(c1.Head(file.c_str())->status == 200);  // HEAD has no body to cut

    FaultOptions trunc_faults;
    trunc_faults.rate_truncate = 1.0;
    HubServerOptions trunc = with_faults(trunc_faults);
    Running r2(fx.store, trunc);
    std::string received;
    auto c2 = r2.client();
    auto partial = c2.Get(file.c_str(), [&](const char* data, std::size_t n) {
      received.append(data, n);
      return true;
    });
    CHECK_FALSE(partial);
    CHECK(received.size() == 5000);
    CHECK(received == big_content().substr(0, 5000));

    FaultOptions corrupt_faults;
    corrupt_faults.rate_corrupt = 1.0;
    HubServerOptions corrupt = with_faults(corrupt_faults);
    Running r3(fx.store, corrupt);
    auto c3 = r3.client();
    auto bad = c3.Get(file.c_str());
    REQUIRE(bad);
    CHECK(bad->status == 200);
    std::string good = big_content();
    REQUIRE(bad->body.size() == good.size());
    int diffs = 0;
    for (std::size_t i = 0; i < good.size(); ++i) diffs += bad->body[i] != good[i];
    CHECK(diffs == 1);
    CHECK(sha256_hex(bad->body) != sha256_hex(good));
    // Not applied to JSON.
    CHECK(c3.Get("/api/kernels/kernels-test/demo/refs")->status == 200);
  }

  SUBCASE("the same seed gives the same decisions, another seed others") {
    auto pattern = [&](std::uint64_t seed) {
      FaultOptions f;
      f.seed = seed;
      f.rate_429 = 0.5;
      HubServerOptions o = with_faults(f);
      Running srv(fx.store, o);
      auto c = srv.client();
      std::string out;
      for (int i = 0; i < 24; ++i) out += c.Get("/api/kernels/kernels-test/demo/refs")->status == 429 ? 'x' : '.';
      return out;
    };
    auto a = pattern(7);
    CHECK(a == pattern(7));
    CHECK(a != pattern(8));
    CHECK(a.find('x') != std::string::npos);
    CHECK(a.find('.') != std::string::npos);
  }
}

TEST_CASE("handle_hub_request works without a socket") {
  Fixture fx;
  HubServerOptions o;
  HubRequest req;
  req.method = "GET";
  req.target = "/api/kernels/kernels-test/demo/tree/main?recursive=true";
  req.base_url = "http://mirror.example";
  auto r = handle_hub_request(*fx.store, o, req);
  CHECK(r.status == 200);
  CHECK(json::parse(r.body).size() == 1);
  req.target = "/totally/unknown";
  CHECK(handle_hub_request(*fx.store, o, req).status == 404);
}
