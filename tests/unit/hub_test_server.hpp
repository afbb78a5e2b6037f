// In-process Hub for the Hub client and resolver unit tests: an httplib
// server on 127.0.0.1 serving refs, revision, tree (paginated) and resolve for
// in-memory kernel repos, with hooks to inject faults per request.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/hub/hub_client.hpp"

namespace kl_test {

struct FakeFile {
  std::string content;
  bool lfs = false;
};

struct FakeRepo {
  std::string type = "kernels";  // "kernels" or "models" (API path segment)
  std::map<std::string, std::string> branches;  // name -> sha
  std::map<std::string, std::string> tags;
  std::map<std::string, std::map<std::string, FakeFile>> commits;  // sha -> path -> file
};

struct SeenRequest {
  std::string method, path, range, authorization;
};

class TestHub {
 public:
  // A hook may answer a request itself (return true) to inject a fault.
  using Hook = std::function<bool(const httplib::Request&, httplib::Response&, int nth)>;

  TestHub() {
    server_.Get(".*", [this](const httplib::Request& req, httplib::Response& res) { dispatch(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~TestHub() {
    server_.stop();
    thread_.join();
  }
  TestHub(const TestHub&) = delete;
  TestHub& operator=(const TestHub&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::map<std::string, FakeRepo> repos;  // "org/name" -> repo (set up before requests)
  std::size_t page_size = 1000;
  Hook hook;

  std::vector<SeenRequest> seen() {
    std::lock_guard<std::mutex> lock(mutex_);
    return seen_;
  }
  std::size_t count(const std::string& path_part) {
    std::size_t n = 0;
    for (const auto& s : seen())
      if (s.path.find(path_part) != std::string::npos) ++n;
    return n;
  }

  static std::string digest(const FakeFile& f) {
    return f.lfs ? kernel_lock::sha256_hex(f.content) : kernel_lock::git_blob_sha1_hex(f.content);
  }

 private:
  static void error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
    res.status = status;
    res.set_header("X-Error-Code", code);
    res.set_header("X-Error-Message", message);
    res.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
  }

  static std::string decode(const std::string& s) { return httplib::detail::decode_url(s, false); }

  void dispatch(const httplib::Request& req, httplib::Response& res) {
    int nth = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seen_.push_back({req.method, req.path, req.get_header_value("Range"), req.get_header_value("Authorization")});
      nth = static_cast<int>(++per_path_[req.path]);
    }
    if (hook && hook(req, res, nth)) return;
    std::string path = req.path;
    // /api/{kernels|models}/org/name/...
    if (path.starts_with("/api/")) {
      auto rest = path.substr(5);
      auto type = rest.substr(0, rest.find('/'));
      rest = rest.substr(type.size() + 1);
      auto slash = rest.find('/');
      slash = rest.find('/', slash + 1);
      std::string id = rest.substr(0, slash);
      std::string tail = slash == std::string::npos ? "" : rest.substr(slash + 1);
      auto it = repos.find(id);
      if (it == repos.end() || it->second.type != type) return error(res, 404, "RepoNotFound", "Repository not found");
      auto& repo = it->second;
      if (tail == "refs") {
        nlohmann::json j{{"branches", nlohmann::json::array()}, {"tags", nlohmann::json::array()},
                         {"converts", nlohmann::json::array()}};
        for (auto& [n, s] : repo.branches) j["branches"].push_back({{"name", n}, {"ref", "refs/heads/" + n}, {"targetCommit", s}});
        for (auto& [n, s] : repo.tags) j["tags"].push_back({{"name", n}, {"ref", "refs/tags/" + n}, {"targetCommit", s}});
        res.set_content(j.dump(), "application/json");
        return;
      }
      if (tail.starts_with("revision/")) {
        auto rev = decode(tail.substr(9));
        auto sha = resolve(repo, rev);
        if (sha.empty()) return error(res, 404, "RevisionNotFound", "Invalid rev id: " + rev);
        res.set_content(nlohmann::json{{"id", id}, {"sha", sha}}.dump(), "application/json");
        return;
      }
      if (tail.starts_with("tree/")) {
        auto t = tail.substr(5);
        auto s = t.find('/');
        auto rev = decode(t.substr(0, s));
        std::string sub = s == std::string::npos ? "" : decode(t.substr(s + 1));
        auto sha = resolve(repo, rev);
        if (sha.empty()) return error(res, 404, "RevisionNotFound", "Invalid rev id: " + rev);
        auto entries = tree(repo.commits[sha], sub);
        if (!sub.empty() && entries.empty()) return error(res, 404, "EntryNotFound", sub + " does not exist");
        std::size_t offset = req.has_param("cursor") ? std::stoul(req.get_param_value("cursor")) : 0;
        nlohmann::json page = nlohmann::json::array();
        for (std::size_t i = offset; i < entries.size() && i < offset + page_size; ++i) page.push_back(entries[i]);
        if (offset + page_size < entries.size())
          res.set_header("Link", "<" + url() + req.path + "?recursive=true&expand=false&cursor=" +
                                     std::to_string(offset + page_size) + ">; rel=\"next\"");
        res.set_content(page.dump(), "application/json");
        return;
      }
      return error(res, 404, "EntryNotFound", "no route");
    }
    // /{kernels/}org/name/resolve/{rev}/{path}
    std::string rest = path.substr(1);
    std::string type = "models";
    if (rest.starts_with("kernels/")) {
      type = "kernels";
      rest = rest.substr(8);
    }
    auto r = rest.find("/resolve/");
    if (r == std::string::npos) return error(res, 404, "EntryNotFound", "no route");
    std::string id = rest.substr(0, r);
    auto it = repos.find(id);
    if (it == repos.end() || it->second.type != type) return error(res, 404, "RepoNotFound", "Repository not found");
    auto t = rest.substr(r + 9);
    auto s = t.find('/');
    auto sha = resolve(it->second, decode(t.substr(0, s)));
    auto file_path = decode(t.substr(s + 1));
    auto& files = it->second.commits[sha];
    auto f = files.find(file_path);
    if (f == files.end()) return error(res, 404, "EntryNotFound", file_path + " does not exist");
    res.set_header("X-Repo-Commit", sha);
    res.set_header("ETag", "\"" + digest(f->second) + "\"");
    res.set_content(f->second.content, "application/octet-stream");
  }

  static std::string resolve(FakeRepo& repo, const std::string& rev) {
    if (repo.branches.count(rev)) return repo.branches[rev];
    if (repo.tags.count(rev)) return repo.tags[rev];
    if (repo.commits.count(rev)) return rev;
    return {};
  }

  static std::vector<nlohmann::json> tree(const std::map<std::string, FakeFile>& files, const std::string& sub) {
    std::map<std::string, nlohmann::json> out;
    const std::string prefix = sub.empty() ? "" : sub + "/";
    for (const auto& [p, f] : files) {
      if (!p.starts_with(prefix)) continue;
      // directories between prefix and the file
      for (auto pos = p.find('/', prefix.size()); pos != std::string::npos; pos = p.find('/', pos + 1))
        out[p.substr(0, pos)] = {{"type", "directory"}, {"path", p.substr(0, pos)}, {"oid", std::string(40, 'd')}, {"size", 0}};
      nlohmann::json e{{"type", "file"}, {"path", p}, {"size", f.content.size()}};
      if (f.lfs) {
        e["oid"] = kernel_lock::git_blob_sha1_hex("pointer " + p);
        e["lfs"] = {{"oid", kernel_lock::sha256_hex(f.content)}, {"size", f.content.size()}, {"pointerSize", 134}};
      } else {
        e["oid"] = kernel_lock::git_blob_sha1_hex(f.content);
      }
      out[p] = e;
    }
    std::vector<nlohmann::json> v;
    for (auto& [k, e] : out) v.push_back(e);
    return v;
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<SeenRequest> seen_;
  std::map<std::string, std::size_t> per_path_;
};

inline kernel_lock::HubConfig fast_config(const std::string& endpoint) {
  kernel_lock::HubConfig c;
  c.endpoint = endpoint;
  c.initial_backoff = std::chrono::milliseconds(5);
  c.max_backoff = std::chrono::milliseconds(20);
  c.metadata_timeout = std::chrono::milliseconds(5000);
  c.download_timeout = std::chrono::milliseconds(5000);
  return c;
}

}  // namespace kl_test
