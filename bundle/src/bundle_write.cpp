// write_bundle: plan the locked files, take them from the cache (verified) or
// download them (verified), then stream them into a deterministic tar.zst.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

#include "bundle_internal.hpp"
#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/cache/hf_cache.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
namespace {

using bundle_detail::ArchiveEntry;
using bundle_detail::ArchiveWrite;
using bundle_detail::archive_message;
using bundle_detail::read_chunks;

// Removes a path (file or tree) on scope exit unless released.
class PathGuard {
 public:
  explicit PathGuard(fs::path p) : path_(std::move(p)) {}
  PathGuard(const PathGuard&) = delete;
  PathGuard& operator=(const PathGuard&) = delete;
  ~PathGuard() {
    if (!path_.empty()) {
      std::error_code ec;
      remove_tree(path_, ec);
    }
  }
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

// True when `path` holds exactly `size` bytes hashing to `digest`.
bool file_matches(const fs::path& path, std::string_view digest, std::uint64_t size) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec) || fs::file_size(path, ec) != size || ec) return false;
  auto actual = bundle_detail::digest_content(path, digest);
  return actual.size == size && actual.digest == digest;
}

fs::path cache_for(const BundleOptions& opt, const std::string& repo_type) {
  if (opt.cache_dir) return *opt.cache_dir;
  return repo_type == "model" ? hf_hub_cache_dir() : kernels_cache_dir();
}

// Files of a cached snapshot variant, digests from the blob names the
// symlinks point to; nullopt when the directory is missing or not all symlinks.
std::optional<std::vector<BundleFile>> cached_variant_files(const CacheRepoPaths& repo, const std::string& sha,
                                                            const std::string& variant) {
  const fs::path dir = repo.snapshot(sha) / "build" / variant;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return std::nullopt;
  std::vector<BundleFile> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::error_code sec;
    if (it->is_directory(sec) && !it->is_symlink(sec)) continue;
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (!is_hashed_variant_path(rel)) continue;
    if (!it->is_symlink(sec)) return std::nullopt;
    std::string digest = fs::read_symlink(it->path(), sec).filename().string();
    if (digest.size() != 40 && digest.size() != 64) return std::nullopt;
    auto size = fs::file_size(it->path(), sec);
    if (sec) return std::nullopt;
    files.push_back(BundleFile{"build/" + variant + "/" + rel, digest, digest_kind_from_hex(digest), size});
  }
  if (ec) return std::nullopt;
  return files;
}

std::string hash_of(const std::vector<BundleFile>& files, const std::string& variant) {
  std::vector<VariantFileDigest> digests;
  const std::size_t prefix = std::string("build/").size() + variant.size() + 1;
  for (const auto& f : files) digests.push_back({f.path.substr(prefix), f.digest});
  return git_lfs_concat_hash(std::move(digests));
}

}  // namespace

BundleSummary write_bundle(const Lockfile& lock, const fs::path& output, const BundleOptions& opt) {
  BundleSummary summary;
  BundleManifest manifest;
  std::optional<HubClient> client;
  auto hub = [&]() -> HubClient& {
    if (!client) client.emplace(*opt.hub);
    return *client;
  };

  // 1. Plan: which files, from where.
  std::map<std::string, std::uint64_t> blob_sizes;
  std::map<std::string, fs::path> sources;  // digest -> verified file to pack
  std::vector<DownloadRequest> downloads;
  const fs::path parts = output.parent_path() / (output.filename().string() + ".parts");
  // Kernels locked without variants (the Python 0.17.2 dependency shape pins
  // only the commit): every variant under build/ at that commit is taken, and
  // the manifest's embedded lock records the hashes they have there.
  Lockfile completed = lock;
  std::sort(completed.kernels.begin(), completed.kernels.end(),
            [](const auto& a, const auto& b) { return a.repo_id < b.repo_id; });
  for (auto& kernel : completed.kernels) {
    if (!kernel.variants.empty()) continue;
    with_context("listing the variants of " + kernel.repo_id + " at " + kernel.sha, [&] {
      const std::string repo_type = kernel.repo_type.value_or("kernel");
      const RepoRef ref{kernel.repo_id, parse_repo_type(repo_type)};
      const auto repo = cache_repo_paths(cache_for(opt, repo_type), repo_type, kernel.repo_id);
      std::vector<std::string> names;
      if (opt.hub) {
        for (const auto& e : hub().list_tree(ref, kernel.sha, "build", false))
          if (e.is_directory) names.push_back(e.path.substr(e.path.rfind('/') + 1));
      } else {
        std::error_code ec;
        for (auto it = fs::directory_iterator(repo.snapshot(kernel.sha) / "build", ec); !ec && it != fs::directory_iterator();
             it.increment(ec))
          if (it->is_directory()) names.push_back(it->path().filename().string());
      }
      for (const auto& name : names) {
        if (!opt.filter.empty()) {
          auto parsed = try_parse_variant(name);
          if (!parsed || !matches_filter(*parsed, opt.filter)) continue;
        }
        std::vector<BundleFile> files;
        if (auto cached = cached_variant_files(repo, kernel.sha, name); cached && !opt.hub) {
          files = std::move(*cached);
        } else {
          for (const auto& e : hub().list_tree(ref, kernel.sha, "build/" + name, true)) {
            if (e.is_directory) continue;
            if (!is_hashed_variant_path(e.path.substr(std::min(e.path.size(), name.size() + 7)))) continue;
            files.push_back(BundleFile{e.path, e.digest(), e.digest_kind(), e.size});
          }
        }
        LockedVariant v;
        v.hash = hash_of(files, name);
        kernel.variants[name] = std::move(v);
      }
    });
  }
  manifest.lock = completed;
  for (const auto& kernel : completed.kernels) {
    with_context("bundling " + kernel.repo_id, [&] {
      const std::string repo_type = kernel.repo_type.value_or("kernel");
      const RepoRef ref{kernel.repo_id, parse_repo_type(repo_type)};
      const auto repo = cache_repo_paths(cache_for(opt, repo_type), repo_type, kernel.repo_id);
      BundleKernel bk{kernel.repo_id, repo_type, kernel.sha, refs_for_requirement(kernel), {}, {}};
      for (const auto& [name, locked] : kernel.variants) {
        if (!opt.filter.empty()) {
          auto parsed = try_parse_variant(name);
          if (!parsed || !matches_filter(*parsed, opt.filter)) continue;
        }
        std::vector<BundleFile> files;
        if (!locked.files.empty()) {
          for (const auto& f : locked.files)
            files.push_back(BundleFile{"build/" + name + "/" + f.path, f.digest, f.kind, f.size});
        } else if (auto cached = cached_variant_files(repo, kernel.sha, name);
                   cached && hash_of(*cached, name) == locked.hash) {
          files = std::move(*cached);
        } else if (opt.hub) {
          for (const auto& e : hub().list_tree(ref, kernel.sha, "build/" + name, true)) {
            if (e.is_directory) continue;
            if (!is_hashed_variant_path(e.path.substr(std::min(e.path.size(), name.size() + 7)))) continue;
            files.push_back(BundleFile{e.path, e.digest(), e.digest_kind(), e.size});
          }
          if (auto h = hash_of(files, name); h != locked.hash)
            throw Error(ErrorCode::integrity, "variant " + name + ": the Hub tree at " + kernel.sha + " hashes to " + h +
                                                  ", the lock says " + locked.hash);
        } else {
          throw Error(ErrorCode::not_found,
                      "variant " + name + " is not in the cache at " + repo.root.string() +
                          " and the lock has no per-file records",
                      "run without --offline, or install the kernel into the cache first");
        }
        std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
        for (const auto& f : files) {
          check_relative_path(f.path, "locked file");
          check_blob_digest(f.digest, "locked file " + f.path);
          auto [it, inserted] = blob_sizes.emplace(f.digest, f.size);
          if (!inserted && it->second != f.size)
            throw Error(ErrorCode::integrity, "blob " + f.digest + " is locked with two sizes");
          if (!inserted) continue;
          // Prefer the cached copy when its bytes are right.
          for (const fs::path& candidate : {repo.snapshot(kernel.sha) / f.path, repo.blob(f.digest)}) {
            if (file_matches(candidate, f.digest, f.size)) {
              sources[f.digest] = candidate;
              ++summary.from_cache;
              break;
            }
          }
          if (!sources.count(f.digest))
            downloads.push_back(DownloadRequest{ref, kernel.sha, f.path, f.digest, f.size, parts / f.digest});
        }
        bk.files.insert(bk.files.end(), files.begin(), files.end());
        bk.variants.push_back(name);
        ++summary.variants;
      }
      if (bk.variants.empty()) return;
      std::sort(bk.files.begin(), bk.files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
      summary.files += bk.files.size();
      manifest.kernels.push_back(std::move(bk));
    });
  }
  if (manifest.kernels.empty())
    throw Error(ErrorCode::not_found, "no locked variant matches the filters", "check --torch/--cuda/--arch");
  summary.kernels = manifest.kernels.size();
  for (const auto& [digest, size] : blob_sizes) {
    manifest.blobs.push_back(BundleBlob{digest, size});
    summary.content_bytes += size;
  }
  summary.blobs = manifest.blobs.size();

  // 2. Fetch what the cache lacks (HubClient verifies digest and size).
  PathGuard parts_guard(parts);
  if (!downloads.empty()) {
    if (!opt.hub)
      throw Error(ErrorCode::not_found,
                  std::to_string(downloads.size()) + " locked file(s) are not in the cache, e.g. " +
                      downloads.front().repo.repo_id + ":" + downloads.front().path,
                  "run without --offline to download them");
    std::error_code ec;
    fs::create_directories(parts, ec);
    if (ec) throw Error(ErrorCode::io, "cannot create " + parts.string() + ": " + ec.message());
    hub().download(downloads);
    for (const auto& d : downloads) sources[d.digest] = d.destination;
    summary.downloaded = downloads.size();
  }

  // 3. Write the archive to a temp file, then rename.
  const std::string manifest_text = format_bundle_manifest(manifest);
  const fs::path tmp = temp_path_for(output);
  PathGuard tmp_guard(tmp);
  {
    ArchiveWrite a;
    auto check = [&](int rc, const std::string& what) {
      if (rc < ARCHIVE_WARN) throw Error(ErrorCode::io, "writing " + tmp.string() + ": " + what + ": " + archive_message(a.get()));
    };
    check(archive_write_set_format_pax_restricted(a.get()), "tar format");
    check(archive_write_add_filter_zstd(a.get()), "zstd filter");
    check(archive_write_set_filter_option(a.get(), "zstd", "compression-level",
                                          std::to_string(opt.compression_level).c_str()),
          "zstd level");
    unsigned threads = opt.threads > 0 ? static_cast<unsigned>(opt.threads) : std::max(1u, std::thread::hardware_concurrency());
    // Always multi-threaded mode (>= 1 worker): its output does not depend on the worker count.
    archive_write_set_filter_option(a.get(), "zstd", "threads", std::to_string(threads).c_str());
    check(archive_write_open_filename(a.get(), tmp.c_str()), "open");

    std::uint64_t done = 0;
    const std::uint64_t total = summary.content_bytes + manifest_text.size();
    auto add_entry = [&](const std::string& name, std::uint64_t size) {
      ArchiveEntry entry;
      archive_entry_set_pathname(entry.get(), name.c_str());
      archive_entry_set_size(entry.get(), static_cast<la_int64_t>(size));
      archive_entry_set_filetype(entry.get(), AE_IFREG);
      archive_entry_set_perm(entry.get(), 0644);
      archive_entry_set_mtime(entry.get(), 0, 0);
      archive_entry_set_uid(entry.get(), 0);
      archive_entry_set_gid(entry.get(), 0);
      check(archive_write_header(a.get(), entry.get()), "entry " + name);
    };
    auto write_data = [&](std::string_view bytes) {
      while (!bytes.empty()) {
        la_ssize_t n = archive_write_data(a.get(), bytes.data(), bytes.size());
        if (n < 0) throw Error(ErrorCode::io, "writing " + tmp.string() + ": " + archive_message(a.get()));
        bytes.remove_prefix(static_cast<std::size_t>(n));
        done += static_cast<std::uint64_t>(n);
      }
      if (opt.progress) opt.progress(done, total);
    };
    add_entry(std::string(kBundleManifestName), manifest_text.size());
    write_data(manifest_text);
    for (const auto& blob : manifest.blobs) {
      const fs::path& src = sources.at(blob.digest);
      add_entry("blobs/" + blob.digest, blob.size);
      std::uint64_t n = read_chunks(src, write_data);
      if (n != blob.size)
        throw Error(ErrorCode::integrity, src.string() + " changed while bundling (size " + std::to_string(n) +
                                              ", expected " + std::to_string(blob.size) + ")");
    }
    check(archive_write_close(a.get()), "close");
  }
  {
    int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      int err = errno;
      if (fd >= 0) ::close(fd);
      throw Error(ErrorCode::io, "cannot fsync " + tmp.string() + ": " + std::strerror(err));
    }
    ::close(fd);
  }
  if (::rename(tmp.c_str(), output.c_str()) != 0)
    throw Error(ErrorCode::io, "cannot rename " + tmp.string() + " to " + output.string() + ": " + std::strerror(errno));
  tmp_guard.release();
  fsync_directory(output.parent_path());
  std::error_code ec;
  summary.archive_bytes = fs::file_size(output, ec);
  return summary;
}

}  // namespace kernel_lock
