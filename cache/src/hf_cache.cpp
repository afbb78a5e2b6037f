#include "kernel_lock/cache/hf_cache.hpp"

#include <algorithm>
#include <cstdlib>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/json.hpp"

#include <nlohmann/json.hpp>

namespace kernel_lock {

namespace {
constexpr std::size_t kMaxRefKindsBytes = 1u << 20;  // thousands of ref names
constexpr const char* kRefKindsFormat = "kernel-lock-refs";
}  // namespace
namespace {

std::optional<std::filesystem::path> env_path(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::filesystem::path(value);
}

}  // namespace

std::filesystem::path hf_hub_cache_dir() {
  if (auto p = env_path("HF_HUB_CACHE")) return *p;
  if (auto p = env_path("HUGGINGFACE_HUB_CACHE")) return *p;
  if (auto p = env_path("HF_HOME")) return *p / "hub";
  if (auto p = env_path("XDG_CACHE_HOME")) return *p / "huggingface" / "hub";
  auto home = env_path("HOME").value_or(std::filesystem::path("/"));
  return home / ".cache" / "huggingface" / "hub";
}

std::filesystem::path kernels_cache_dir() {
  if (auto p = env_path("KERNELS_CACHE")) return *p;
  return hf_hub_cache_dir();
}

std::string cache_repo_folder(std::string_view repo_type, std::string_view repo_id) {
  std::string folder(repo_type);
  folder += "s";
  for (char c : repo_id) {
    if (c == '/') {
      folder += "--";
    } else {
      folder += c;
    }
  }
  // `org/name` -> `kernels--org--name`: the type prefix is joined with "--" too.
  return folder.substr(0, repo_type.size() + 1) + "--" + folder.substr(repo_type.size() + 1);
}

CacheRepoPaths cache_repo_paths(const std::filesystem::path& cache_dir, std::string_view repo_type,
                                std::string_view repo_id) {
  return CacheRepoPaths{cache_dir / cache_repo_folder(repo_type, repo_id)};
}

std::optional<std::string> read_cache_ref(const CacheRepoPaths& repo, std::string_view ref_name) {
  auto path = repo.refs() / std::string(ref_name);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  auto text = read_file_at_most(path, 4096);  // a ref is a 40-hex sha and a newline
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!is_commit_sha(text))
    throw Error(ErrorCode::invalid_input, "cache ref " + path.string() + " does not hold a 40-hex commit sha");
  return text;
}

RefKinds read_ref_kinds(const CacheRepoPaths& repo) noexcept {
  RefKinds kinds;
  try {
    const auto path = repo.root / std::string(kRefKindsFileName);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return kinds;
    const auto root = parse_json_bounded<nlohmann::json>(read_file_at_most(path, kMaxRefKindsBytes), path.string(),
                                                         kMaxRefKindsBytes, "");
    if (!root.is_object() || root.value("format", "") != kRefKindsFormat) return kinds;
    auto names = [&](const char* key, std::vector<std::string>& into) {
      auto it = root.find(key);
      if (it == root.end() || !it->is_array()) return;
      for (const auto& n : *it)
        if (n.is_string() && is_safe_relative_path(n.get<std::string>())) into.push_back(n.get<std::string>());
      std::sort(into.begin(), into.end());
      into.erase(std::unique(into.begin(), into.end()), into.end());
    };
    names("branches", kinds.branches);
    names("tags", kinds.tags);
  } catch (...) {
    return RefKinds{};  // unreadable or malformed: as if absent (the heuristic applies)
  }
  return kinds;
}

void record_ref_kinds(const CacheRepoPaths& repo, const RefKinds& kinds) {
  RefKinds merged = read_ref_kinds(repo);
  auto add = [](std::vector<std::string>& into, const std::vector<std::string>& from) {
    into.insert(into.end(), from.begin(), from.end());
    std::sort(into.begin(), into.end());
    into.erase(std::unique(into.begin(), into.end()), into.end());
  };
  add(merged.branches, kinds.branches);
  add(merged.tags, kinds.tags);
  nlohmann::ordered_json out = {{"format", kRefKindsFormat}, {"format_version", 1},
                                {"branches", merged.branches}, {"tags", merged.tags}};
  write_file_if_changed(repo.root / std::string(kRefKindsFileName), out.dump(2) + "\n");
}

RepoRefs read_cache_refs(const CacheRepoPaths& repo) {
  RepoRefs out;
  const RefKinds kinds = read_ref_kinds(repo);
  const auto dir = repo.refs();
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code sec;
    if (!it->is_regular_file(sec)) continue;
    const std::string name = it->path().lexically_relative(dir).generic_string();
    std::optional<std::string> sha;
    try {
      sha = read_cache_ref(repo, name);
    } catch (const Error&) {
      continue;  // not a commit ref
    }
    if (!sha) continue;
    const bool branch = std::binary_search(kinds.branches.begin(), kinds.branches.end(), name);
    const bool tag = std::binary_search(kinds.tags.begin(), kinds.tags.end(), name);
    if (branch || tag) {
      if (branch) out.branches.push_back(GitRef{name, *sha});
      if (tag) out.tags.push_back(GitRef{name, *sha});
      continue;
    }
    out.branches.push_back(GitRef{name, *sha});  // not recorded: the name heuristic
    if (name.find('.') != std::string::npos) out.tags.push_back(GitRef{name, *sha});
  }
  auto by_name = [](const GitRef& a, const GitRef& b) { return a.name < b.name; };
  std::sort(out.branches.begin(), out.branches.end(), by_name);
  std::sort(out.tags.begin(), out.tags.end(), by_name);
  return out;
}

}  // namespace kernel_lock
