#include "kernel_lock/mirror/repo_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <utility>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/unique_fd.hpp"

namespace kernel_lock {

const TreeEntry* StoreCommit::find(std::string_view path) const noexcept {
  auto it = std::lower_bound(entries.begin(), entries.end(), path,
                             [](const TreeEntry& e, std::string_view p) { return e.path < p; });
  return it != entries.end() && it->path == path ? &*it : nullptr;
}

std::vector<const TreeEntry*> StoreCommit::list(std::string_view dir, bool recursive) const {
  std::string prefix;
  if (!dir.empty()) {
    const TreeEntry* d = find(dir);
    if (!d || !d->is_directory) throw Error(ErrorCode::not_found, "no directory '" + std::string(dir) + "' at commit " + sha);
    prefix = std::string(dir) + "/";
  }
  std::vector<const TreeEntry*> out;
  // Entries are sorted by path, so a directory's subtree is one contiguous run
  // starting at prefix (every path in it starts with "dir/").
  auto it = std::lower_bound(entries.begin(), entries.end(), prefix,
                             [](const TreeEntry& e, const std::string& p) { return e.path < p; });
  for (; it != entries.end() && std::string_view(it->path).starts_with(prefix); ++it) {
    std::string_view rest = std::string_view(it->path).substr(prefix.size());
    if (recursive || rest.find('/') == std::string_view::npos) out.push_back(&*it);
  }
  return out;
}

std::uint64_t lfs_pointer_size(std::uint64_t size) noexcept {
  return lfs_pointer_text(std::string(64, '0'), size).size();
}

std::string lfs_pointer_text(std::string_view sha256_hex, std::uint64_t size) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + std::string(sha256_hex) + "\nsize " +
         std::to_string(size) + "\n";
}

namespace store_detail {

namespace {
class StringBlob final : public BlobReader {
 public:
  explicit StringBlob(std::string text) : text_(std::move(text)) {}
  std::uint64_t size() const noexcept override { return text_.size(); }
  std::size_t read_at(std::uint64_t offset, std::span<char> out) override {
    if (offset >= text_.size()) return 0;
    std::size_t n = std::min<std::size_t>(out.size(), static_cast<std::size_t>(text_.size() - offset));
    std::memcpy(out.data(), text_.data() + offset, n);
    return n;
  }

 private:
  std::string text_;
};
class FileBlobReader final : public BlobReader {
 public:
  // Throws Error(not_found) for a missing blob, Error(io) when it cannot be opened or its size read.
  explicit FileBlobReader(const std::filesystem::path& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (!fd_.valid()) {
      int err = errno;
      throw Error(err == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                  "cannot open " + path.string() + ": " + std::strerror(err));
    }
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0)
      throw Error(ErrorCode::io, "cannot stat " + path.string() + ": " + std::strerror(errno));
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  FileBlobReader(const FileBlobReader&) = delete;
  FileBlobReader& operator=(const FileBlobReader&) = delete;
  std::uint64_t size() const noexcept override { return size_; }
  std::size_t read_at(std::uint64_t offset, std::span<char> out) override {
    for (;;) {
      ssize_t n = ::pread(fd_.get(), out.data(), out.size(), static_cast<off_t>(offset));
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) throw Error(ErrorCode::io, "cannot read " + path_.string() + ": " + std::strerror(errno));
    }
  }

 private:
  std::filesystem::path path_;
  UniqueFd fd_;
  std::uint64_t size_ = 0;
};

}  // namespace

std::unique_ptr<BlobReader> string_blob(std::string text) { return std::make_unique<StringBlob>(std::move(text)); }

std::unique_ptr<BlobReader> file_blob(const std::filesystem::path& path) { return std::make_unique<FileBlobReader>(path); }

namespace {

struct TreeNode {
  // name -> (is_directory, raw 20-byte oid); filled bottom-up.
  std::map<std::string, std::pair<bool, std::vector<std::uint8_t>>> children;
};

// git sorts tree entries by name, comparing directory names as if they ended in '/'.
bool git_tree_less(const std::pair<std::string, bool>& a, const std::pair<std::string, bool>& b) {
  std::string ka = a.second ? a.first + "/" : a.first;
  std::string kb = b.second ? b.first + "/" : b.first;
  return ka < kb;
}

std::string git_tree_sha1_hex(const TreeNode& node) {
  std::vector<std::pair<std::string, bool>> names;
  names.reserve(node.children.size());
  for (const auto& [name, value] : node.children) names.emplace_back(name, value.first);
  std::sort(names.begin(), names.end(), git_tree_less);
  std::string body;
  for (const auto& [name, is_dir] : names) {
    const auto& oid = node.children.at(name).second;
    body += is_dir ? "40000 " : "100644 ";
    body += name;
    body.push_back('\0');
    body.append(oid.begin(), oid.end());
  }
  Hasher hasher(Hasher::Algorithm::sha1);
  hasher.update("tree " + std::to_string(body.size()) + std::string(1, '\0'));
  hasher.update(body);
  return hasher.finish_hex();
}

}  // namespace

void complete_tree(StoreCommit& commit) {
  std::vector<TreeEntry> files;
  for (auto& e : commit.entries)
    if (!e.is_directory) files.push_back(std::move(e));
  std::sort(files.begin(), files.end(), [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });

  // Directory paths, deepest first, so children are hashed before parents.
  std::map<std::string, TreeNode> dirs;  // "" = root
  dirs[""];
  for (const auto& f : files) {
    if (!is_safe_relative_path(f.path)) throw Error(ErrorCode::invalid_input, "invalid path in repo tree: '" + f.path + "'");
    std::size_t pos = 0;
    while ((pos = f.path.find('/', pos)) != std::string::npos) dirs[f.path.substr(0, pos++)];
  }
  for (const auto& f : files) {
    auto slash = f.path.rfind('/');
    std::string parent = slash == std::string::npos ? "" : f.path.substr(0, slash);
    std::string name = slash == std::string::npos ? f.path : f.path.substr(slash + 1);
    if (dirs.count(f.path)) throw Error(ErrorCode::invalid_input, "path is both a file and a directory: '" + f.path + "'");
    dirs[parent].children[name] = {false, from_hex(f.oid)};
  }
  std::vector<std::string> order;
  for (const auto& [path, node] : dirs) order.push_back(path);
  std::sort(order.begin(), order.end(), [](const std::string& a, const std::string& b) {
    auto depth = [](const std::string& p) { return p.empty() ? 0 : 1 + std::count(p.begin(), p.end(), '/'); };
    return depth(a) != depth(b) ? depth(a) > depth(b) : a < b;
  });
  std::vector<TreeEntry> directories;
  for (const auto& path : order) {
    std::string oid = git_tree_sha1_hex(dirs.at(path));
    if (path.empty()) {
      commit.tree_oid = oid;
      continue;
    }
    auto slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    dirs.at(parent).children[name] = {true, from_hex(oid)};
    TreeEntry dir;
    dir.path = path;
    dir.is_directory = true;
    dir.oid = oid;
    directories.push_back(std::move(dir));
  }
  commit.entries = std::move(files);
  commit.entries.insert(commit.entries.end(), std::make_move_iterator(directories.begin()),
                        std::make_move_iterator(directories.end()));
  std::sort(commit.entries.begin(), commit.entries.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
}

std::optional<std::string> resolve_revision(const RepoRefs& refs, const std::vector<std::string>& commit_shas,
                                            std::string_view revision) {
  auto find_ref = [](const std::vector<GitRef>& list, std::string_view name) -> std::optional<std::string> {
    for (const auto& r : list)
      if (r.name == name) return r.target_commit;
    return std::nullopt;
  };
  if (revision.starts_with("refs/heads/")) return find_ref(refs.branches, revision.substr(11));
  if (revision.starts_with("refs/tags/")) return find_ref(refs.tags, revision.substr(10));
  if (auto b = find_ref(refs.branches, revision)) return b;
  if (auto t = find_ref(refs.tags, revision)) return t;
  bool hex = revision.size() >= 7 && revision.size() <= 40 && is_lower_hex(revision);
  if (!hex) return std::nullopt;
  std::optional<std::string> found;
  for (const auto& sha : commit_shas) {
    if (std::string_view(sha).starts_with(revision)) {
      if (found && *found != sha) return std::nullopt;  // ambiguous prefix
      found = sha;
    }
  }
  return found;
}

}  // namespace store_detail
}  // namespace kernel_lock
