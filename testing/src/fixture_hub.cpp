#include "kernel_lock/testing/fixture_hub.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/rfc3339.hpp"
#include "kernel_lock/core/unique_fd.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFormat = "kernel-lock-fixture-hub";
constexpr int kFormatVersion = 1;

std::string dump(const json& j) { return j.dump(2) + "\n"; }

json read_json(const fs::path& path) {
  std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::invalid_input, "malformed JSON in " + path.string() + ": " + e.what());
  }
}

// Repo ids as the Hub accepts them (the one rule set, core/ids.hpp).
void validate_repo_id(const std::string& id) { check_repo_id(id, "fixture hub"); }

void validate_ref_name(const std::string& name) {
  if (name.empty() || name.starts_with("refs/") || name.starts_with("/") || name.ends_with("/") ||
      name.find("..") != std::string::npos || name.find("//") != std::string::npos ||
      name.find_first_of(" ~^:?*[\\\t\n") != std::string::npos)
    throw Error(ErrorCode::invalid_input, "invalid branch or tag name '" + name + "'");
}

fs::path repo_dir(const fs::path& root, const RepoRef& repo) {
  validate_repo_id(repo.repo_id);
  auto slash = repo.repo_id.find('/');
  return root / "repos" / std::string(to_string(repo.type)) / repo.repo_id.substr(0, slash) / repo.repo_id.substr(slash + 1);
}

// The Hub's form of a time: RFC 3339 with milliseconds ("2024-01-01T00:00:00.000Z").
std::string format_date(std::int64_t seconds) { return format_rfc3339(seconds).insert(19, ".000"); }

struct RefsFile {
  std::map<std::string, std::string> branches;
  std::map<std::string, std::string> tags;
};

RefsFile read_refs(const fs::path& dir) {
  RefsFile refs;
  fs::path path = dir / "refs.json";
  if (!fs::exists(path)) return refs;
  json j = read_json(path);
  try {
    for (const auto& [k, v] : j.at("branches").items()) refs.branches[k] = v.get<std::string>();
    for (const auto& [k, v] : j.at("tags").items()) refs.tags[k] = v.get<std::string>();
  } catch (const json::exception& e) {
    throw Error(ErrorCode::invalid_input, "malformed " + path.string() + ": " + e.what());
  }
  return refs;
}

void write_refs(const fs::path& dir, const RefsFile& refs) {
  json j = {{"branches", refs.branches}, {"tags", refs.tags}};
  write_file_if_changed(dir / "refs.json", dump(j));
}

RepoRefs to_repo_refs(const RefsFile& file) {
  RepoRefs refs;
  for (const auto& [name, sha] : file.branches) refs.branches.push_back({name, sha});
  for (const auto& [name, sha] : file.tags) refs.tags.push_back({name, sha});
  return refs;
}

std::vector<std::string> commit_shas(const fs::path& dir) {
  std::vector<std::string> shas;
  std::error_code ec;
  for (fs::directory_iterator it(dir / "commits", ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.size() == 45 && name.ends_with(".json") && is_commit_sha(name.substr(0, 40))) shas.push_back(name.substr(0, 40));
  }
  std::sort(shas.begin(), shas.end());
  return shas;
}

// Parses commits/<sha>.json into a StoreCommit and checks that the recorded
// tree id matches the files (so a hand-edited fixture cannot lie about oids).
std::shared_ptr<StoreCommit> load_commit(const fs::path& path) {
  json j = read_json(path);
  auto commit = std::make_shared<StoreCommit>();
  try {
    commit->sha = j.at("sha").get<std::string>();
    for (const auto& p : j.at("parents")) commit->parents.push_back(p.get<std::string>());
    commit->message = j.at("message").get<std::string>();
    commit->date = j.value("date", std::string());
    for (const auto& f : j.at("files")) {
      TreeEntry e;
      e.path = f.at("path").get<std::string>();
      e.size = f.at("size").get<std::uint64_t>();
      e.oid = f.at("oid").get<std::string>();
      if (f.contains("lfs")) e.lfs_sha256 = f.at("lfs").at("oid").get<std::string>();
      commit->entries.push_back(std::move(e));
    }
    store_detail::complete_tree(*commit);
    if (commit->tree_oid != j.at("tree").get<std::string>())
      throw Error(ErrorCode::integrity, "commit " + path.string() + ": recorded tree " + j.at("tree").get<std::string>() +
                                            " does not match its files (" + commit->tree_oid + ")");
  } catch (const json::exception& e) {
    throw Error(ErrorCode::invalid_input, "malformed commit " + path.string() + ": " + e.what());
  }
  return commit;
}

class FixtureHubStore final : public RepoStore {
 public:
  explicit FixtureHubStore(fs::path root) : root_(std::move(root)) {}

  std::vector<StoreRepo> list_repos() const override {
    std::vector<StoreRepo> repos;
    for (const char* type : {"kernel", "model"}) {
      fs::path base = root_ / "repos" / type;
      std::error_code ec;
      if (!fs::is_directory(base, ec)) continue;
      std::vector<std::string> ids;
      for (const auto& org : fs::directory_iterator(base))
        if (org.is_directory())
          for (const auto& name : fs::directory_iterator(org.path()))
            if (fs::exists(name.path() / "repo.json"))
              ids.push_back(org.path().filename().string() + "/" + name.path().filename().string());
      std::sort(ids.begin(), ids.end());
      for (const auto& id : ids)
        if (auto r = find_repo(RepoRef{id, parse_repo_type(type)})) repos.push_back(*r);
    }
    return repos;
  }

  std::optional<StoreRepo> find_repo(const RepoRef& repo) const override {
    fs::path dir;
    try {
      dir = repo_dir(root_, repo);
    } catch (const Error&) {
      return std::nullopt;  // an id the Hub could not hold names no repo
    }
    if (!fs::exists(dir / "repo.json")) return std::nullopt;
    json j = read_json(dir / "repo.json");
    StoreRepo r;
    r.ref = repo;
    r.gated = j.value("gated", false);
    return r;
  }

  RepoRefs refs(const RepoRef& repo) const override { return to_repo_refs(read_refs(existing_dir(repo))); }

  std::optional<std::string> resolve(const RepoRef& repo, std::string_view revision) const override {
    fs::path dir = existing_dir(repo);
    return store_detail::resolve_revision(to_repo_refs(read_refs(dir)), commit_shas(dir), revision);
  }

  std::shared_ptr<const StoreCommit> commit(const RepoRef& repo, std::string_view sha) const override {
    fs::path dir = existing_dir(repo);
    if (!is_commit_sha(sha)) throw Error(ErrorCode::not_found, "no commit '" + std::string(sha) + "' in " + repo.repo_id);
    std::string key = std::string(to_string(repo.type)) + ":" + repo.repo_id + "@" + std::string(sha);
    {
      std::lock_guard lock(mutex_);
      if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    }
    fs::path path = dir / "commits" / (std::string(sha) + ".json");
    if (!fs::exists(path)) throw Error(ErrorCode::not_found, "no commit " + std::string(sha) + " in " + repo.repo_id);
    std::shared_ptr<const StoreCommit> loaded = load_commit(path);
    std::lock_guard lock(mutex_);
    return cache_.emplace(key, loaded).first->second;
  }

  std::unique_ptr<BlobReader> open(const RepoRef& repo, std::string_view digest) const override {
    existing_dir(repo);
    if (!is_blob_digest(digest)) throw Error(ErrorCode::not_found, "invalid digest '" + std::string(digest) + "'");
    return store_detail::file_blob(root_ / "objects" / std::string(digest));
  }

 private:
  fs::path existing_dir(const RepoRef& repo) const {
    if (!find_repo(repo))
      throw Error(ErrorCode::not_found, std::string(to_string(repo.type)) + " repo '" + repo.repo_id + "' not found");
    return repo_dir(root_, repo);
  }

  fs::path root_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, std::shared_ptr<const StoreCommit>> cache_;
};

bool glob_matches(const std::string& glob, const std::string& path) {
  if (glob.find('/') == std::string::npos) {
    auto slash = path.rfind('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    return ::fnmatch(glob.c_str(), name.c_str(), 0) == 0;
  }
  return ::fnmatch(glob.c_str(), path.c_str(), FNM_PATHNAME) == 0;
}

bool any_glob_matches(const std::vector<std::string>& globs, const std::string& path) {
  return std::any_of(globs.begin(), globs.end(), [&](const std::string& g) { return glob_matches(g, path); });
}

// True when some component of `path` (a directory on the way) is excluded.
bool excluded(const std::vector<std::string>& globs, const std::string& path) {
  std::size_t pos = 0;
  for (;;) {
    std::size_t slash = path.find('/', pos);
    std::string prefix = path.substr(0, slash);
    if (any_glob_matches(globs, prefix)) return true;
    if (slash == std::string::npos) return false;
    pos = slash + 1;
  }
}

// Copies `src` into objects/ under its Hub digest. The copy is hashed, not the
// source, so a file changing underneath cannot store bytes under a wrong name.
TreeEntry store_object(const fs::path& objects, const fs::path& src, const std::string& repo_path, bool lfs) {
  fs::path tmp = temp_path_for(objects / "incoming");
  try {
    fs::copy_file(src, tmp, fs::copy_options::overwrite_existing);
  } catch (const fs::filesystem_error& e) {
    throw Error(ErrorCode::io, "cannot copy " + src.string() + ": " + e.code().message());
  }
  FileDigests d;
  try {
    d = digest_file_both(tmp);
  } catch (...) {
    fs::remove(tmp);
    throw;
  }
  TreeEntry e;
  e.path = repo_path;
  e.size = d.size;
  std::string digest;
  if (lfs) {
    e.lfs_sha256 = d.sha256_hex;
    e.oid = git_blob_sha1_hex(lfs_pointer_text(d.sha256_hex, d.size));
    digest = d.sha256_hex;
  } else {
    e.oid = d.git_sha1_hex;
    digest = d.git_sha1_hex;
  }
  fs::path target = objects / digest;
  std::error_code ec;
  if (fs::exists(target)) {
    fs::remove(tmp, ec);
  } else {
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read, ec);
    fs::rename(tmp, target, ec);
    if (ec) {
      fs::remove(tmp);
      throw Error(ErrorCode::io, "cannot store object " + target.string() + ": " + ec.message());
    }
  }
  return e;
}

json commit_json(const StoreCommit& c) {
  json files = json::array();
  for (const auto& e : c.entries) {
    if (e.is_directory) continue;
    json f = {{"path", e.path}, {"size", e.size}, {"oid", e.oid}};
    if (e.lfs_sha256) f["lfs"] = {{"oid", *e.lfs_sha256}, {"size", e.size}, {"pointerSize", lfs_pointer_size(e.size)}};
    files.push_back(std::move(f));
  }
  return {{"sha", c.sha}, {"parents", c.parents}, {"tree", c.tree_oid}, {"message", c.message}, {"date", c.date}, {"files", files}};
}

void write_repo_json(const fs::path& dir, const RepoRef& repo, std::optional<bool> gated) {
  fs::path path = dir / "repo.json";
  bool current = false;
  if (fs::exists(path)) current = read_json(path).value("gated", false);
  json j = {{"id", repo.repo_id}, {"type", std::string(to_string(repo.type))}, {"gated", gated.value_or(current)}};
  write_file_if_changed(path, dump(j));
}

}  // namespace

std::string fixture_commit_sha(const std::string& tree, const std::vector<std::string>& parents, const std::string& message,
                               std::int64_t date) {
  std::string msg = message;
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  std::string body = "tree " + tree + "\n";
  for (const auto& p : parents) body += "parent " + p + "\n";
  std::string who = "kernel-lock <kernel-lock@localhost> " + std::to_string(date) + " +0000\n";
  body += "author " + who + "committer " + who + "\n" + msg + "\n";
  Hasher hasher(Hasher::Algorithm::sha1);
  hasher.update("commit " + std::to_string(body.size()) + std::string(1, '\0'));
  hasher.update(body);
  return hasher.finish_hex();
}

FixtureHub FixtureHub::open_or_create(const fs::path& root) {
  std::error_code ec;
  bool empty_dir = fs::is_directory(root, ec) && fs::directory_iterator(root) == fs::directory_iterator();
  if (!fs::exists(root, ec) || empty_dir) {
    fs::create_directories(root / "objects");
    fs::create_directories(root / "repos");
    write_file_atomic(root / "hub.json", dump({{"format", kFormat}, {"format_version", kFormatVersion}}));
  }
  return open(root);
}

FixtureHub FixtureHub::open(const fs::path& root) {
  fs::path marker = root / "hub.json";
  if (!fs::exists(marker))
    throw Error(ErrorCode::not_found, "no fixture Hub at " + root.string() + " (missing hub.json)",
                "create one with 'kernel-lock-dev hub publish --hub " + root.string() + " ...'");
  json j = read_json(marker);
  if (j.value("format", std::string()) != kFormat)
    throw Error(ErrorCode::invalid_input, root.string() + " is not a kernel-lock fixture Hub");
  if (j.value("format_version", 0) != kFormatVersion)
    throw Error(ErrorCode::unsupported, "fixture Hub " + root.string() + " has format_version " +
                                            std::to_string(j.value("format_version", 0)) + "; this build reads version 1");
  fs::create_directories(root / "objects");
  return FixtureHub(fs::absolute(root));
}

std::shared_ptr<RepoStore> FixtureHub::store() const { return std::make_shared<FixtureHubStore>(root_); }

std::shared_ptr<RepoStore> open_fixture_hub_store(const fs::path& root) { return FixtureHub::open(root).store(); }

std::shared_ptr<RepoStore> open_test_store(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec) && fs::exists(path / "hub.json", ec)) return open_fixture_hub_store(path);
  return open_repo_store(path);
}

namespace {

// The files under src_dir to publish, as (repo path = prefix + relative path, file),
// sorted; excluded globs skipped. Throws Error(invalid_input) for a symlinked
// directory or a file that is not regular.
std::vector<std::pair<std::string, fs::path>> publish_sources(const fs::path& src_dir,
                                                              const std::vector<std::string>& exclude_globs,
                                                              const std::string& prefix) {
  std::vector<std::pair<std::string, fs::path>> sources;
  for (auto it = fs::recursive_directory_iterator(src_dir); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = fs::relative(it->path(), src_dir).generic_string();
    if (excluded(exclude_globs, rel)) {
      if (it->is_directory() && !it->is_symlink()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink() && fs::is_directory(it->path()))
      throw Error(ErrorCode::invalid_input, "symlinked directory " + it->path().string() + " (copy it instead)");
    if (it->is_directory()) continue;
    if (!fs::is_regular_file(it->path()))
      throw Error(ErrorCode::invalid_input, it->path().string() + " is not a regular file");
    sources.emplace_back(prefix + rel, it->path());
  }
  std::sort(sources.begin(), sources.end());
  return sources;
}

}  // namespace

PublishResult FixtureHub::publish(const PublishOptions& opts, const fs::path& src_dir) {
  return with_context("publishing " + src_dir.string() + " to " + opts.repo.repo_id + "@" + opts.branch, [&] {
    validate_ref_name(opts.branch);
    for (const auto& t : opts.tags) validate_ref_name(t);
    std::string under = opts.under;
    while (!under.empty() && under.back() == '/') under.pop_back();
    if (!under.empty() && !is_safe_relative_path(under))
      throw Error(ErrorCode::invalid_input, "invalid --under path '" + opts.under + "'");
    if (!fs::is_directory(src_dir)) throw Error(ErrorCode::not_found, "source directory " + src_dir.string() + " does not exist");

    fs::path dir = repo_dir(root_, opts.repo);
    fs::create_directories(dir / "commits");
    write_repo_json(dir, opts.repo, opts.gated);
    auto st = store();
    RefsFile refs = read_refs(dir);

    // Parent commit.
    std::optional<std::string> parent;
    if (auto it = refs.branches.find(opts.branch); it != refs.branches.end()) {
      parent = it->second;
    } else if (opts.from) {
      parent = st->resolve(opts.repo, *opts.from);
      if (!parent) throw Error(ErrorCode::not_found, "--from revision '" + *opts.from + "' not found in " + opts.repo.repo_id);
    } else if (auto m = refs.branches.find("main"); m != refs.branches.end()) {
      parent = m->second;
    }

    StoreCommit next;
    std::string prefix = under.empty() ? "" : under + "/";
    if (parent) {
      auto pc = st->commit(opts.repo, *parent);
      for (const auto& e : pc->entries)
        if (!e.is_directory && !under.empty() && !e.path.starts_with(prefix) && e.path != under) next.entries.push_back(e);
    }

    PublishResult result;
    for (const auto& [path, src] : publish_sources(src_dir, opts.exclude_globs, prefix)) {
      if (!is_safe_relative_path(path)) throw Error(ErrorCode::invalid_input, "invalid repo path '" + path + "'");
      bool lfs = any_glob_matches(opts.lfs_globs, path);
      next.entries.push_back(store_object(root_ / "objects", src, path, lfs));
    }

    store_detail::complete_tree(next);
    next.message = opts.message.empty() ? "Publish " + src_dir.filename().string() : opts.message;
    if (parent) next.parents.push_back(*parent);
    next.date = format_date(opts.date);
    next.sha = fixture_commit_sha(next.tree_oid, next.parents, next.message, opts.date);
    fs::path commit_path = dir / "commits" / (next.sha + ".json");
    write_file_if_changed(commit_path, dump(commit_json(next)));

    for (const auto& t : opts.tags) {
      auto it = refs.tags.find(t);
      if (it != refs.tags.end() && it->second != next.sha && !opts.force_tags)
        throw Error(ErrorCode::invalid_input, "tag '" + t + "' already points to " + it->second, "pass --force to move it");
    }
    refs.branches[opts.branch] = next.sha;
    for (const auto& t : opts.tags) refs.tags[t] = next.sha;
    write_refs(dir, refs);

    result.sha = next.sha;
    result.tree = next.tree_oid;
    for (const auto& e : next.entries)
      if (!e.is_directory) {
        ++result.files;
        if (e.lfs_sha256) ++result.lfs_files;
      }
    return result;
  });
}

std::string FixtureHub::tag(const RepoRef& repo, const std::string& name, const std::string& revision, bool force) {
  validate_ref_name(name);
  fs::path dir = repo_dir(root_, repo);
  auto sha = store()->resolve(repo, revision);
  if (!sha) throw Error(ErrorCode::not_found, "revision '" + revision + "' not found in " + repo.repo_id);
  RefsFile refs = read_refs(dir);
  if (auto it = refs.tags.find(name); it != refs.tags.end() && it->second != *sha && !force)
    throw Error(ErrorCode::invalid_input, "tag '" + name + "' already points to " + it->second, "pass --force to move it");
  refs.tags[name] = *sha;
  write_refs(dir, refs);
  return *sha;
}

std::string FixtureHub::set_branch(const RepoRef& repo, const std::string& name, const std::string& revision) {
  validate_ref_name(name);
  fs::path dir = repo_dir(root_, repo);
  auto sha = store()->resolve(repo, revision);
  if (!sha) throw Error(ErrorCode::not_found, "revision '" + revision + "' not found in " + repo.repo_id);
  RefsFile refs = read_refs(dir);
  refs.branches[name] = *sha;
  write_refs(dir, refs);
  return *sha;
}

void FixtureHub::delete_ref(const RepoRef& repo, const std::string& name, bool is_tag) {
  fs::path dir = repo_dir(root_, repo);
  store()->refs(repo);  // throws for an unknown repo
  RefsFile refs = read_refs(dir);
  auto& map = is_tag ? refs.tags : refs.branches;
  if (!map.erase(name)) throw Error(ErrorCode::not_found, std::string(is_tag ? "tag" : "branch") + " '" + name + "' not found in " + repo.repo_id);
  write_refs(dir, refs);
}

}  // namespace kernel_lock
