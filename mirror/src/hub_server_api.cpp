// Request handling of the Hub-compatible server (hub_server.hpp), independent
// of the HTTP library: parses the raw target, answers from the RepoStore.
#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/json.hpp"
#include "kernel_lock/core/url.hpp"
#include "kernel_lock/mirror/hub_server.hpp"

namespace kernel_lock {
using nlohmann::json;

namespace {

using Query = std::multimap<std::string, std::string>;

Query parse_query(std::string_view text) {
  Query q;
  std::size_t pos = 0;
  while (pos <= text.size() && !text.empty()) {
    std::size_t amp = text.find('&', pos);
    std::string_view pair = text.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      std::string key = url_decode(pair.substr(0, eq), true);
      std::string value = eq == std::string_view::npos ? "" : url_decode(pair.substr(eq + 1), true);
      q.emplace(std::move(key), std::move(value));
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  return q;
}

std::optional<std::string> first(const Query& q, const std::string& key) {
  auto it = q.find(key);
  if (it == q.end()) return std::nullopt;
  return it->second;
}

bool flag(const Query& q, const std::string& key) {
  auto v = first(q, key);
  return v && (*v == "true" || *v == "1" || *v == "True");
}

std::vector<std::string> split_segments(std::string_view raw_path) {
  std::vector<std::string> segs;
  std::size_t pos = 0;
  while (pos < raw_path.size()) {
    std::size_t slash = raw_path.find('/', pos);
    if (slash == std::string_view::npos) slash = raw_path.size();
    if (slash > pos) segs.push_back(url_decode(raw_path.substr(pos, slash - pos), false));
    pos = slash + 1;
  }
  return segs;
}

std::string join(const std::vector<std::string>& segs, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to && i < segs.size(); ++i) {
    if (!out.empty()) out += '/';
    out += segs[i];
  }
  return out;
}

HubResponse json_response(int status, const json& body) {
  HubResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

HubResponse error_response(int status, const std::string& code, const std::string& message) {
  HubResponse r;
  r.status = status;
  r.error_code = code.empty() ? "HTTP" + std::to_string(status) : code;
  if (!code.empty()) r.headers.emplace_back("X-Error-Code", code);
  r.headers.emplace_back("X-Error-Message", message);
  r.body = json{{"error", message}}.dump();
  return r;
}

const char* api_plural(RepoType t) { return t == RepoType::kernel ? "kernels" : "models"; }
const char* display_type(RepoType t) { return t == RepoType::kernel ? "kernel" : "model"; }

json tree_entry_json(const TreeEntry& e) {
  if (e.is_directory) return {{"type", "directory"}, {"oid", e.oid}, {"size", 0}, {"path", e.path}};
  json j = {{"type", "file"}, {"oid", e.oid}, {"size", e.size}, {"path", e.path}};
  if (e.lfs_sha256) j["lfs"] = {{"oid", *e.lfs_sha256}, {"size", e.size}, {"pointerSize", lfs_pointer_size(e.size)}};
  return j;
}

class Handler {
 public:
  Handler(const RepoStore& store, const HubServerOptions& options, const HubRequest& request)
      : store_(store), options_(options), req_(request) {}

  HubResponse run() {
    std::string_view target = req_.target;
    auto qmark = target.find('?');
    std::string_view raw_path = target.substr(0, qmark);
    query_ = parse_query(qmark == std::string_view::npos ? std::string_view() : target.substr(qmark + 1));
    segs_ = split_segments(raw_path);

    if (auto denied = check_token()) return std::move(*denied);
    const auto& s = segs_;
    if (s.size() >= 2 && s[0] == "api") {
      if (s[1] == "organizations" && s.size() == 4 && s[3] == "overview") return organization(s[2]);
      if (s[1] == "whoami-v2" && s.size() == 2) return json_response(200, {{"type", "user"}, {"name", "kernel-lock"}, {"fullname", "kernel-lock mirror"}});
      if (s[1] == "kernels" || s[1] == "models" || s[1] == "datasets" || s[1] == "spaces") return api_repo();
      return error_response(404, "", "Not found: " + std::string(raw_path));
    }
    // /{kernels/}{org}/{name}/resolve/{rev}/{path}
    std::size_t base = 0;
    RepoType type = RepoType::model;
    if (!s.empty() && (s[0] == "kernels" || s[0] == "datasets" || s[0] == "spaces")) {
      base = 1;
      if (s[0] == "kernels") type = RepoType::kernel;
      else return error_response(404, "RepoNotFound", "Repository not found: this mirror serves kernel and model repos only");
    }
    if (s.size() >= base + 5 && s[base + 2] == "resolve") return resolve_file({s[base] + "/" + s[base + 1], type}, base + 3);
    return error_response(404, "", "Not found: " + std::string(raw_path));
  }

 private:
  std::optional<HubResponse> check_token() {
    if (!options_.token) return std::nullopt;
    auto it = req_.headers.find("authorization");
    if (it == req_.headers.end()) {
      auto r = error_response(401, "RepoNotFound",
                              "Authentication required: this mirror needs a token (set HF_TOKEN to the token given to 'kernel-lock serve --token')");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"kernel-lock\"");
      return r;
    }
    if (it->second != "Bearer " + *options_.token) {
      auto r = error_response(401, "", "Invalid credentials in Authorization header");
      r.error_code = "InvalidCredentials";
      return r;
    }
    authorized_ = true;
    return std::nullopt;
  }

  bool gated_denied(const StoreRepo& repo) const { return repo.gated && !authorized_; }

  HubResponse gated_response(const RepoRef& repo) const {
    bool has_auth = req_.headers.count("authorization") > 0;
    return error_response(has_auth ? 403 : 401, "GatedRepo",
                          "Access to " + std::string(display_type(repo.type)) + " " + repo.repo_id +
                              " is restricted. You must have access to it and be authenticated to access it. Please log in.");
  }

  HubResponse repo_not_found(const RepoRef& repo) const {
    return error_response(404, "RepoNotFound", "Repository not found: " + std::string(display_type(repo.type)) + " '" + repo.repo_id + "'");
  }

  HubResponse revision_not_found(const std::string& rev) const {
    return error_response(404, "RevisionNotFound", "Invalid rev id: " + rev);
  }

  HubResponse entry_not_found(const std::string& path, const std::string& sha) const {
    auto r = error_response(404, "EntryNotFound", "Entry not found: " + path);
    r.headers.emplace_back("X-Repo-Commit", sha);
    return r;
  }

  HubResponse organization(const std::string& org) {
    std::size_t count = 0;
    for (const auto& r : store_.list_repos())
      if (r.ref.repo_id.starts_with(org + "/")) ++count;
    if (count == 0) return error_response(404, "", "Organization not found: " + org);
    bool trusted = std::find(options_.untrusted_orgs.begin(), options_.untrusted_orgs.end(), org) == options_.untrusted_orgs.end();
    return json_response(200, {{"name", org},
                               {"fullname", org},
                               {"avatarUrl", ""},
                               {"isVerified", false},
                               {"numModels", count},
                               {"trustedKernelPublisher", trusted}});
  }

  // /api/{T}/{org}/{name}[/...]
  HubResponse api_repo() {
    const auto& s = segs_;
    if (s[1] == "datasets" || s[1] == "spaces" || s.size() < 4)
      return error_response(404, "RepoNotFound", "Repository not found: this mirror serves kernel and model repos only");
    RepoRef ref{s[2] + "/" + s[3], s[1] == "kernels" ? RepoType::kernel : RepoType::model};
    auto repo = store_.find_repo(ref);
    if (!repo) return repo_not_found(ref);
    std::string op = s.size() > 4 ? s[4] : "";
    bool post = req_.method == "POST";
    if (op == "paths-info") {
      if (!post) return error_response(405, "", "paths-info needs POST");
      return paths_info(*repo, join(s, 5, s.size()));
    }
    if (post) return error_response(405, "", "method not allowed");
    if (op.empty() && s.size() == 4) return info(*repo, "main");
    if (op == "revision" && s.size() >= 6) return info(*repo, join(s, 5, s.size()));
    if (op == "refs" && s.size() == 5) return refs(*repo);
    if (op == "tree" && s.size() >= 6) return tree(*repo);
    return error_response(404, "", "Not found: " + req_.target);
  }

  HubResponse info(const StoreRepo& repo, const std::string& rev) {
    auto sha = store_.resolve(repo.ref, rev);
    if (!sha) return revision_not_found(rev);
    auto commit = store_.commit(repo.ref, *sha);
    bool blobs = flag(query_, "blobs");
    json siblings = json::array();
    for (const auto& e : commit->entries) {
      if (e.is_directory) continue;
      json sib = {{"rfilename", e.path}};
      if (blobs) {
        sib["blobId"] = e.oid;
        sib["size"] = e.size;
        if (e.lfs_sha256) sib["lfs"] = {{"sha256", *e.lfs_sha256}, {"size", e.size}, {"pointerSize", lfs_pointer_size(e.size)}};
      }
      siblings.push_back(std::move(sib));
    }
    auto slash = repo.ref.repo_id.find('/');
    json j = {{"_id", repo.ref.repo_id},
              {"id", repo.ref.repo_id},
              {"author", repo.ref.repo_id.substr(0, slash)},
              {"sha", *sha},
              {"private", false},
              {"gated", repo.gated ? json("manual") : json(false)},
              {"disabled", false},
              {"downloads", 0},
              {"likes", 0},
              {"tags", json::array()},
              {"siblings", siblings}};
    if (!commit->date.empty()) {
      j["lastModified"] = commit->date;
      j["createdAt"] = commit->date;
    }
    // expand=<prop> (repeated) limits the answer to those properties.
    auto [lo, hi] = query_.equal_range("expand");
    if (lo != hi) {
      json filtered = {{"_id", j["_id"]}, {"id", j["id"]}};
      for (auto it = lo; it != hi; ++it)
        if (j.contains(it->second)) filtered[it->second] = j[it->second];
      j = std::move(filtered);
    }
    return json_response(200, j);
  }

  HubResponse refs(const StoreRepo& repo) {
    RepoRefs refs = store_.refs(repo.ref);
    json branches = json::array(), tags = json::array();
    for (const auto& b : refs.branches) branches.push_back({{"name", b.name}, {"ref", "refs/heads/" + b.name}, {"targetCommit", b.target_commit}});
    for (const auto& t : refs.tags) tags.push_back({{"name", t.name}, {"ref", "refs/tags/" + t.name}, {"targetCommit", t.target_commit}});
    json j = {{"branches", branches}, {"tags", tags}, {"converts", json::array()}};
    if (flag(query_, "include_prs")) j["pullRequests"] = json::array();
    return json_response(200, j);
  }

  // lastCommit of an entry: the oldest commit on the first-parent chain from
  // `head` over which the entry kept its oid.
  json last_commit(const RepoRef& repo, const std::shared_ptr<const StoreCommit>& head, const TreeEntry& entry) {
    auto current = head;
    for (int steps = 0; steps < 1000 && !current->parents.empty(); ++steps) {
      auto parent = store_.commit(repo, current->parents.front());
      const TreeEntry* before = parent->find(entry.path);
      if (!before || before->oid != entry.oid || before->is_directory != entry.is_directory) break;
      current = parent;
    }
    std::string title = current->message.substr(0, current->message.find('\n'));
    return {{"id", current->sha}, {"title", title}, {"date", current->date.empty() ? "1970-01-01T00:00:00.000Z" : current->date}};
  }

  // /api/{T}/{repo}/tree/{rev}[/{path}]: the revision may hold '/' unencoded,
  // so the first split of the remaining segments whose prefix resolves wins.
  HubResponse tree(const StoreRepo& repo) {
    const auto& s = segs_;
    std::optional<std::string> sha;
    std::string rev, path;
    auto cursor = first(query_, "cursor");
    std::size_t offset = 0;
    if (cursor) {
      // "<offset>-<sha>": later pages list the commit the first page resolved.
      auto dash = cursor->find('-');
      try {
        if (dash == std::string::npos) throw std::invalid_argument("no dash");
        offset = std::stoull(cursor->substr(0, dash));
        sha = cursor->substr(dash + 1);
      } catch (const std::exception&) {
        return error_response(400, "", "invalid cursor");
      }
    }
    for (std::size_t k = 6; k <= s.size(); ++k) {
      std::string candidate = join(s, 5, k);
      if (auto found = store_.resolve(repo.ref, candidate)) {
        rev = candidate;
        path = join(s, k, s.size());
        if (!sha) sha = found;
        break;
      }
    }
    if (rev.empty()) return revision_not_found(s[5]);
    std::shared_ptr<const StoreCommit> commit;
    try {
      commit = store_.commit(repo.ref, *sha);
    } catch (const Error&) {
      return error_response(400, "", "invalid cursor");
    }
    while (!path.empty() && path.back() == '/') path.pop_back();
    if (!path.empty()) {
      const TreeEntry* e = commit->find(path);
      if (!e) return entry_not_found(path, commit->sha);
      if (!e->is_directory) {
        // The Hub answers a file path with that single entry.
        json arr = json::array({tree_entry_json(*e)});
        return json_response(200, arr);
      }
    }
    bool recursive = flag(query_, "recursive");
    bool expand = flag(query_, "expand");
    auto entries = commit->list(path, recursive);
    std::size_t page = std::max<std::size_t>(1, expand ? std::min<std::size_t>(options_.page_size, 50) : options_.page_size);
    if (offset > entries.size()) return error_response(400, "", "invalid cursor");
    std::size_t end = std::min(entries.size(), offset + page);
    json arr = json::array();
    for (std::size_t i = offset; i < end; ++i) {
      json j = tree_entry_json(*entries[i]);
      if (expand) j["lastCommit"] = last_commit(repo.ref, commit, *entries[i]);
      arr.push_back(std::move(j));
    }
    HubResponse r = json_response(200, arr);
    if (end < entries.size()) {
      std::string next = req_.base_url + "/api/" + api_plural(repo.ref.type) + "/" + repo.ref.repo_id + "/tree/" +
                         url_encode(rev) + (path.empty() ? "" : "/" + url_encode(path)) +
                         "?recursive=" + (recursive ? "true" : "false") + "&expand=" + (expand ? "true" : "false") +
                         "&cursor=" + std::to_string(end) + "-" + commit->sha;
      r.headers.emplace_back("Link", "<" + next + ">; rel=\"next\"");
    }
    return r;
  }

  HubResponse paths_info(const StoreRepo& repo, const std::string& rev) {
    if (rev.empty()) return revision_not_found(rev);
    auto sha = store_.resolve(repo.ref, rev);
    if (!sha) return revision_not_found(rev);
    auto commit = store_.commit(repo.ref, *sha);
    std::vector<std::string> paths;
    bool expand = false;
    auto ct = req_.headers.find("content-type");
    if (ct != req_.headers.end() && ct->second.find("json") != std::string::npos) {
      try {
        // Bounded like every parser of outside input: the size (the server's payload limit) and the depth.
        json body = parse_json_bounded<json>(req_.body, "paths-info body", kMaxRequestBodyBytes, "");
        for (const auto& p : body.at("paths")) paths.push_back(p.get<std::string>());
        if (body.contains("expand")) expand = body["expand"].is_boolean() ? body["expand"].get<bool>() : false;
      } catch (const Error& e) {
        return error_response(400, "", std::string("invalid paths-info body: ") + e.what());
      } catch (const json::exception& e) {
        return error_response(400, "", std::string("invalid paths-info body: ") + e.what());
      }
    } else {
      Query form = parse_query(req_.body);
      auto [lo, hi] = form.equal_range("paths");
      for (auto it = lo; it != hi; ++it) paths.push_back(it->second);
      expand = flag(form, "expand");
    }
    json arr = json::array();
    std::set<std::string> seen;
    for (auto p : paths) {
      while (!p.empty() && p.back() == '/') p.pop_back();
      if (!seen.insert(p).second) continue;
      if (const TreeEntry* e = commit->find(p)) {
        json j = tree_entry_json(*e);
        if (expand) j["lastCommit"] = last_commit(repo.ref, commit, *e);
        arr.push_back(std::move(j));
      }
    }
    return json_response(200, arr);
  }

  HubResponse resolve_file(const RepoRef& ref, std::size_t rev_at) {
    const auto& s = segs_;
    auto repo = store_.find_repo(ref);
    if (!repo) return repo_not_found(ref);
    if (gated_denied(*repo)) return gated_response(ref);
    std::optional<std::string> sha;
    std::string path;
    for (std::size_t k = rev_at + 1; k < s.size(); ++k) {
      if ((sha = store_.resolve(ref, join(s, rev_at, k)))) {
        path = join(s, k, s.size());
        break;
      }
    }
    if (!sha) return revision_not_found(s[rev_at]);
    auto commit = store_.commit(ref, *sha);
    const TreeEntry* e = commit->find(path);
    if (!e || e->is_directory) return entry_not_found(path, *sha);

    HubResponse r;
    r.status = 200;
    r.content_type = "application/octet-stream";
    r.headers.emplace_back("X-Repo-Commit", *sha);
    r.headers.emplace_back("ETag", "\"" + e->digest() + "\"");
    if (e->lfs_sha256) r.headers.emplace_back("X-Linked-Etag", "\"" + e->digest() + "\"");
    r.headers.emplace_back("X-Linked-Size", std::to_string(e->size));
    r.headers.emplace_back("Accept-Ranges", "bytes");
    auto slash = path.rfind('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    r.headers.emplace_back("Content-Disposition", "inline; filename*=UTF-8''" + url_encode(name));
    r.blob = store_.open(ref, e->digest());
    if (r.blob->size() != e->size)
      throw Error(ErrorCode::integrity, "stored object " + e->digest() + " has " + std::to_string(r.blob->size()) +
                                            " bytes, the tree says " + std::to_string(e->size));
    return r;
  }

  const RepoStore& store_;
  const HubServerOptions& options_;
  const HubRequest& req_;
  Query query_;
  std::vector<std::string> segs_;
  bool authorized_ = false;
};

}  // namespace

HubResponse handle_hub_request(const RepoStore& store, const HubServerOptions& options, const HubRequest& request) {
  try {
    return Handler(store, options, request).run();
  } catch (const Error& e) {
    if (e.code() == ErrorCode::not_found) return error_response(404, "", e.what());
    return error_response(500, "", std::string("mirror error: ") + e.what());
  } catch (const std::exception& e) {
    return error_response(500, "", std::string("mirror error: ") + e.what());
  }
}

}  // namespace kernel_lock
