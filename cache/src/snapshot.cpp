// The one snapshot reader (see snapshot.hpp): walks a directory of the HF cache
// and applies one strictness policy to every entry.
#include "kernel_lock/cache/snapshot.hpp"

#include <algorithm>
#include <optional>
#include <system_error>
#include <utility>

#include "kernel_lock/core/ids.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
namespace {

// The refusal for one entry: the relative path and where it is on disk, then why.
Error refusal(ErrorCode code, const std::string& rel, const fs::path& link, const std::string& why) {
  return Error(code, "snapshot entry " + rel + " (" + link.string() + ") " + why,
               code == ErrorCode::not_found ? "fetch or reinstall the kernel (`kernel-lock install`)"
                                            : "reinstall the kernel with `kernel-lock install`");
}

std::uint64_t size_of(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  return ec ? 0 : size;
}

// Strict: `link` must be a relative symlink to <blobs>/<40|64 hex>, a regular file.
SnapshotEntry strict_entry(const std::string& rel, const fs::path& link, fs::file_status status,
                           const fs::path& blobs) {
  if (!fs::is_symlink(status)) {
    const char* what = fs::is_regular_file(status) ? "is a regular file" : "is a special file";
    throw refusal(ErrorCode::integrity, rel, link, std::string(what) + ", not a symlink to the repository's blobs/");
  }
  std::error_code ec;
  const fs::path target = fs::read_symlink(link, ec);
  if (ec) throw Error(ErrorCode::io, "cannot read link " + link.string() + ": " + ec.message());
  const fs::path resolved = fs::absolute(link.parent_path() / target).lexically_normal();
  if (resolved.parent_path() != blobs)
    throw refusal(ErrorCode::integrity, rel, link,
                  "is a symlink to " + target.string() + ", outside the repository's blobs/ directory");
  if (target.is_absolute())
    throw refusal(ErrorCode::integrity, rel, link, "is an absolute symlink (" + target.string() + "); links must be relative");
  const std::string name = resolved.filename().string();
  if (!is_blob_digest(name))
    throw refusal(ErrorCode::integrity, rel, link, "points at blob '" + name + "', not a 40- or 64-hex digest");
  const auto blob_status = fs::symlink_status(resolved, ec);
  if (!fs::exists(blob_status))
    throw refusal(ErrorCode::not_found, rel, link, "is a dangling symlink (blob " + name + " is missing)");
  if (!fs::is_regular_file(blob_status))
    throw refusal(ErrorCode::integrity, rel, link, "points at blob " + name + ", which is not a regular file");
  return SnapshotEntry{rel, link, resolved, target.string(), name, digest_kind_from_hex(name), size_of(resolved)};
}

// Plain: a regular file, or a symlink (chains allowed) ending at one.
SnapshotEntry plain_entry(const std::string& rel, const fs::path& link, fs::file_status status) {
  if (fs::is_regular_file(status)) return SnapshotEntry{rel, link, link, "", "", DigestKind::git_sha1, size_of(link)};
  if (!fs::is_symlink(status))
    throw refusal(ErrorCode::invalid_input, rel, link, "is a special file (not a regular file)");
  std::error_code ec;
  const std::string target = fs::read_symlink(link, ec).string();
  const auto target_status = fs::status(link, ec);
  if (!fs::exists(target_status)) throw refusal(ErrorCode::not_found, rel, link, "is a dangling symlink");
  if (fs::is_directory(target_status))
    throw refusal(ErrorCode::invalid_input, rel, link, "is a symlink to a directory, not supported in a variant");
  if (!fs::is_regular_file(target_status))
    throw refusal(ErrorCode::invalid_input, rel, link, "is a symlink to a special file");
  const fs::path file = fs::canonical(link, ec);
  if (ec) throw refusal(ErrorCode::not_found, rel, link, "cannot be resolved: " + ec.message());
  return SnapshotEntry{rel, link, file, target, "", DigestKind::git_sha1, size_of(file)};
}

void check_root(const fs::path& dir, const SnapshotOptions& options) {
  if (options.policy == SnapshotPolicy::strict && options.blobs.empty())
    throw Error(ErrorCode::invalid_input, "strict snapshot read of " + dir.string() + " without a blobs/ directory");
  std::error_code ec;
  const auto status = fs::symlink_status(dir, ec);
  if (fs::is_symlink(status) && !options.follow_root_link)
    throw Error(ErrorCode::integrity, "directory " + dir.string() + " is a symlink; refusing to follow it");
  const auto followed = fs::status(dir, ec);
  if (!fs::exists(followed)) throw Error(ErrorCode::not_found, "directory " + dir.string() + " does not exist");
  if (!fs::is_directory(followed)) throw Error(ErrorCode::invalid_input, "not a directory: " + dir.string());
}

template <class T>
void sort_by_path(std::vector<T>& items) {
  std::sort(items.begin(), items.end(), [](const T& a, const T& b) { return a.path < b.path; });
}

}  // namespace

SnapshotListing scan_snapshot(const fs::path& dir, const SnapshotOptions& options) {
  check_root(dir, options);
  const fs::path blobs = options.blobs.empty() ? fs::path() : fs::absolute(options.blobs).lexically_normal();
  SnapshotListing out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec);
  if (ec) throw Error(ErrorCode::io, "cannot list " + dir.string() + ": " + ec.message());
  for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) break;
    const fs::path& link = it->path();
    const std::string rel = link.lexically_relative(dir).generic_string();
    const auto status = it->symlink_status(ec);
    if (ec) throw Error(ErrorCode::io, "cannot stat " + link.string() + ": " + ec.message());
    const bool skipped = options.skip_unhashed && !is_hashed_variant_path(rel);
    if (fs::is_directory(status)) {
      if (skipped) it.disable_recursion_pending();  // a __pycache__ tree is never read
      continue;
    }
    if (skipped) continue;
    try {
      out.entries.push_back(options.policy == SnapshotPolicy::strict ? strict_entry(rel, link, status, blobs)
                                                                     : plain_entry(rel, link, status));
    } catch (Error& e) {
      out.problems.push_back(SnapshotProblem{rel, std::move(e)});
    }
  }
  if (ec) throw Error(ErrorCode::io, "cannot list " + dir.string() + ": " + ec.message());
  sort_by_path(out.entries);
  sort_by_path(out.problems);
  return out;
}

std::vector<SnapshotEntry> read_snapshot(const fs::path& dir, const SnapshotOptions& options) {
  auto listing = scan_snapshot(dir, options);
  if (!listing.problems.empty()) throw std::move(listing.problems.front().error);
  return std::move(listing.entries);
}

fs::path snapshot_repo_root(const fs::path& dir) {
  const fs::path normal = fs::absolute(dir).lexically_normal();
  for (fs::path p = normal; p.has_relative_path() && p != p.parent_path(); p = p.parent_path()) {
    if (p.parent_path().filename() == "snapshots") return p.parent_path().parent_path();
  }
  throw Error(ErrorCode::invalid_input, dir.string() + " is not inside an HF cache snapshot (<repo>/snapshots/<sha>/...)");
}

VariantDirectoryDigest hash_variant_directory(const fs::path& dir, const SnapshotOptions& options,
                                              const DigestKindChooser& choose, unsigned threads) {
  const auto entries = read_snapshot(dir, options);
  std::vector<VariantFileSource> files;
  files.reserve(entries.size());
  for (const auto& e : entries) {
    if (options.policy == SnapshotPolicy::strict)
      files.push_back(VariantFileSource{e.path, e.file, e.kind, e.digest});
    else
      files.push_back(VariantFileSource{e.path, e.file, choose(e.path, e.link), ""});
  }
  return hash_variant_files(std::move(files), threads);
}

std::vector<std::string> list_variant_dirs(const fs::path& build_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_directory(build_dir, ec)) return names;
  for (fs::directory_iterator it(build_dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace kernel_lock
