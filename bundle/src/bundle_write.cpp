// plan_bundle: the locked files of every included variant, found (verified) in
// the cache; write_bundle: stream a plan into a deterministic tar.zst. No network.
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
#include "kernel_lock/bundle/signatures.hpp"
#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/cache/snapshot.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
namespace {

using bundle_detail::ArchiveEntry;
using bundle_detail::ArchiveWrite;
using bundle_detail::archive_message;
using bundle_detail::read_chunks;

// True when `path` holds exactly `size` bytes hashing to `digest`.
bool file_matches(const fs::path& path, std::string_view digest, std::uint64_t size) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec) || fs::file_size(path, ec) != size || ec) return false;
  auto actual = bundle_detail::digest_content(path, digest);
  return actual.size == size && actual.digest == digest;
}

// Files of a cached snapshot variant through the strict snapshot reader (its
// errors propagate), digests from the blob names.
std::vector<BundleFile> snapshot_files(const CacheRepoPaths& repo, const std::string& sha, const std::string& variant) {
  std::vector<BundleFile> files;
  for (const auto& e : read_snapshot(repo.snapshot(sha) / "build" / variant, SnapshotOptions{SnapshotPolicy::strict, repo.blobs()}))
    files.push_back(BundleFile{"build/" + variant + "/" + e.path, e.digest, e.kind, e.size});
  return files;
}

std::string hash_of(const std::vector<BundleFile>& files, const std::string& variant) {
  std::vector<VariantFileDigest> digests;
  const std::size_t prefix = std::string("build/").size() + variant.size() + 1;
  for (const auto& f : files) digests.push_back({f.path.substr(prefix), f.digest});
  return git_lfs_concat_hash(std::move(digests));
}

// Builds a BundlePlan kernel by kernel; what the cache lacks is collected in
// `missing` and reported once, at the end.
class Planner {
 public:
  Planner(const std::optional<fs::path>& cache_dir, const VariantFilter& filter) : cache_dir_(cache_dir), filter_(filter) {}

  CacheRepoPaths repo_of(const LockedKernel& kernel) const {
    const std::string repo_type = kernel.repo_type.value_or("kernel");
    const fs::path cache = cache_dir_ ? *cache_dir_ : (repo_type == "model" ? hf_hub_cache_dir() : kernels_cache_dir());
    return cache_repo_paths(cache, repo_type, kernel.repo_id);
  }

  // A kernel locked without variants (the Python 0.17.2 dependency shape pins
  // only the commit): every cached variant under build/ at that commit, with the
  // hash its snapshot has.
  void complete_commit_only(LockedKernel& kernel) {
    const auto repo = repo_of(kernel);
    const auto names = list_variant_dirs(repo.snapshot(kernel.sha) / "build");
    if (names.empty()) {
      missing_.push_back(kernel.repo_id + " at " + kernel.sha + ": no variant is in the cache at " + repo.root.string());
      return;
    }
    for (const auto& name : names) {
      if (!variant_name_matches_filter(name, filter_)) continue;
      try {
        kernel.variants[name].hash = hash_of(snapshot_files(repo, kernel.sha, name), name);
      } catch (const Error& e) {
        missing_.push_back(kernel.repo_id + " " + name + ": " + e.what());
      }
    }
  }

  void add_kernel(const LockedKernel& kernel) {
    const auto repo = repo_of(kernel);
    const std::string type = kernel.repo_type.value_or("kernel");
    BundleKernel bk{kernel.repo_id, type, kernel.sha, refs_for_requirement(kernel), {}, {}, {}, true};
    classify_refs(kernel, repo, bk);
    for (const auto& [name, locked] : kernel.variants) {
      if (!variant_name_matches_filter(name, filter_)) continue;
      auto files = variant_files(kernel, repo, name, locked);
      if (!files) continue;
      for (const auto& f : *files) add_blob(kernel, repo, f);
      bk.files.insert(bk.files.end(), files->begin(), files->end());
      bk.variants.push_back(name);
    }
    if (bk.variants.empty()) return;
    std::sort(bk.files.begin(), bk.files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    auto& kernels = plan_.manifest.kernels;
    auto same = std::find_if(kernels.begin(), kernels.end(),
                             [&](const BundleKernel& k) { return k.repo_id == bk.repo_id && k.sha == bk.sha; });
    if (same != kernels.end()) merge_kernel(*same, std::move(bk));  // two versions of a repo at one commit
    else kernels.push_back(std::move(bk));
  }

  // Adds the refs and the variants of `from` (the same repo at the same commit) to `into`.
  static void merge_kernel(BundleKernel& into, BundleKernel from) {
    into.refs.insert(into.refs.end(), from.refs.begin(), from.refs.end());
    std::sort(into.refs.begin(), into.refs.end());
    into.refs.erase(std::unique(into.refs.begin(), into.refs.end()), into.refs.end());
    into.ref_kinds_known = into.ref_kinds_known && from.ref_kinds_known;
    into.tags.insert(into.tags.end(), from.tags.begin(), from.tags.end());
    std::sort(into.tags.begin(), into.tags.end());
    into.tags.erase(std::unique(into.tags.begin(), into.tags.end()), into.tags.end());
    for (const auto& v : from.variants) {
      if (std::find(into.variants.begin(), into.variants.end(), v) != into.variants.end()) continue;
      into.variants.push_back(v);
      for (const auto& f : from.files)
        if (f.path.starts_with("build/" + v + "/")) into.files.push_back(f);
    }
    std::sort(into.variants.begin(), into.variants.end());
    std::sort(into.files.begin(), into.files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  }

  BundlePlan finish() {
    if (!missing_.empty()) {
      std::string list;
      for (const auto& m : missing_) list += "\n  " + m;
      throw Error(ErrorCode::not_found,
                  std::to_string(missing_.size()) + " locked variant(s)/file(s) are not in the cache:" + list,
                  "fetch them into the cache first (`kernel-lock bundle` without --offline, or `kernel-lock install` "
                  "a bundle holding them)");
    }
    if (plan_.manifest.kernels.empty())
      throw Error(ErrorCode::not_found, "no locked variant matches the filters", "check --torch/--cuda/--arch");
    for (const auto& [digest, size] : blob_sizes_) plan_.manifest.blobs.push_back(BundleBlob{digest, size});
    return std::move(plan_);
  }

  BundlePlan plan_;

 private:
  // The lock's per-file records, else the cached snapshot checked against the
  // locked variant hash; nullopt (and a `missing` line) when neither can be had.
  std::optional<std::vector<BundleFile>> variant_files(const LockedKernel& kernel, const CacheRepoPaths& repo,
                                                       const std::string& name, const LockedVariant& locked) {
    std::vector<BundleFile> files;
    if (!locked.files.empty()) {
      for (const auto& f : locked.files) files.push_back(BundleFile{"build/" + name + "/" + f.path, f.digest, f.kind, f.size});
    } else {
      const std::string what = kernel.repo_id + " " + name + " at " + kernel.sha + " (the lock has no per-file records)";
      try {
        files = snapshot_files(repo, kernel.sha, name);
      } catch (const Error& e) {
        missing_.push_back(what + ": " + e.what());
        return std::nullopt;
      }
      if (auto h = hash_of(files, name); h != locked.hash) {
        missing_.push_back(what + ": the cached snapshot hashes to " + h + ", the lock says " + locked.hash);
        return std::nullopt;
      }
    }
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    for (const auto& f : files) {
      check_relative_path(f.path, "locked file");
      check_blob_digest(f.digest, "locked file " + f.path);
    }
    return files;
  }

  // Records one file's blob once, with a cache copy whose bytes are right.
  void add_blob(const LockedKernel& kernel, const CacheRepoPaths& repo, const BundleFile& f) {
    auto [it, inserted] = blob_sizes_.emplace(f.digest, f.size);
    if (!inserted && it->second != f.size) throw Error(ErrorCode::integrity, "blob " + f.digest + " is locked with two sizes");
    if (!inserted) return;
    for (const fs::path& candidate : {repo.snapshot(kernel.sha) / f.path, repo.blob(f.digest)}) {
      if (file_matches(candidate, f.digest, f.size)) {
        plan_.sources[f.digest] = candidate;
        return;
      }
    }
    missing_.push_back(kernel.repo_id + ":" + f.path + " (" + f.digest + ", " + std::to_string(f.size) +
                       " bytes): no intact copy in " + repo.root.string());
  }

  const std::optional<fs::path>& cache_dir_;
  const VariantFilter& filter_;
  std::map<std::string, std::uint64_t> blob_sizes_;
  std::vector<std::string> missing_;
};

// Streams the manifest and every blob of `plan` into a tar.zst at `tmp`.
void write_archive(const BundlePlan& plan, const std::string& manifest_text, const fs::path& tmp,
                   const BundleOptions& opt) {
  ArchiveWrite a;
  auto check = [&](int rc, const std::string& what) {
    if (rc < ARCHIVE_WARN) throw Error(ErrorCode::io, "writing " + tmp.string() + ": " + what + ": " + archive_message(a.get()));
  };
  check(archive_write_set_format_pax_restricted(a.get()), "tar format");
  check(archive_write_add_filter_zstd(a.get()), "zstd filter");
  check(archive_write_set_filter_option(a.get(), "zstd", "compression-level", std::to_string(opt.compression_level).c_str()),
        "zstd level");
  unsigned threads = opt.threads > 0 ? static_cast<unsigned>(opt.threads) : std::max(1u, std::thread::hardware_concurrency());
  // Always multi-threaded mode (>= 1 worker): its output does not depend on the worker count.
  archive_write_set_filter_option(a.get(), "zstd", "threads", std::to_string(threads).c_str());
  check(archive_write_open_filename(a.get(), tmp.c_str()), "open");

  std::uint64_t done = 0;
  std::uint64_t total = manifest_text.size() + (plan.trust_root ? plan.trust_root->json.size() : 0);
  for (const auto& blob : plan.manifest.blobs) total += blob.size;
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
  if (plan.trust_root) {
    add_entry(std::string(kBundleTrustedRootName), plan.trust_root->json.size());
    write_data(plan.trust_root->json);
  }
  for (const auto& blob : plan.manifest.blobs) {
    auto src = plan.sources.find(blob.digest);
    if (src == plan.sources.end())
      throw Error(ErrorCode::invalid_input, "bundle plan has no source for blob " + blob.digest);
    add_entry("blobs/" + blob.digest, blob.size);
    std::uint64_t n = read_chunks(src->second, write_data);
    if (n != blob.size)
      throw Error(ErrorCode::integrity, src->second.string() + " changed while bundling (size " + std::to_string(n) +
                                            ", expected " + std::to_string(blob.size) + ")");
  }
  check(archive_write_close(a.get()), "close");
}

// fsyncs `tmp`, renames it to `output` and fsyncs the directory.
void commit_file(const fs::path& tmp, const fs::path& output) {
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    throw Error(ErrorCode::io, "cannot fsync " + tmp.string() + ": " + std::strerror(err));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), output.c_str()) != 0)
    throw Error(ErrorCode::io, "cannot rename " + tmp.string() + " to " + output.string() + ": " + std::strerror(errno));
}

}  // namespace

BundlePlan plan_bundle(const Lockfile& lock, const std::optional<fs::path>& cache_dir, const VariantFilter& filter) {
  Planner planner(cache_dir, filter);
  Lockfile completed = lock;
  std::sort(completed.kernels.begin(), completed.kernels.end(), lock_order);
  for (auto& kernel : completed.kernels) {
    if (kernel.variants.empty())
      with_context("listing the cached variants of " + kernel.repo_id + " at " + kernel.sha,
                   [&] { planner.complete_commit_only(kernel); });
  }
  planner.plan_.manifest.lock = completed;
  for (const auto& kernel : completed.kernels)
    with_context("planning the bundle of " + kernel.repo_id, [&] { planner.add_kernel(kernel); });
  return planner.finish();
}

void carry_trust_root(BundlePlan& plan, std::optional<trust::CapturedTrustRoot> root) {
  if (!root && manifest_pins_signatures(plan.manifest)) throw_no_trust_root("bundling");
  plan.manifest.trust.reset();
  plan.manifest.format_version = kBundleFormatVersion;
  if (root) {
    plan.manifest.trust = BundleTrust{root->sha256_hex(), root->captured_at};
    plan.manifest.format_version = kBundleFormatVersionTrust;
  }
  plan.trust_root = std::move(root);
}

BundleSummary write_bundle(const BundlePlan& plan, const fs::path& output, const BundleOptions& options) {
  BundleSummary summary;
  summary.kernels = plan.manifest.kernels.size();
  for (const auto& k : plan.manifest.kernels) {
    summary.variants += k.variants.size();
    summary.files += k.files.size();
  }
  summary.blobs = plan.manifest.blobs.size();
  for (const auto& blob : plan.manifest.blobs) summary.content_bytes += blob.size;
  summary.from_cache = plan.sources.size();

  const std::string manifest_text = format_bundle_manifest(plan.manifest);
  const fs::path tmp = temp_path_for(output);
  PathGuard tmp_guard(tmp);
  write_archive(plan, manifest_text, tmp, options);
  commit_file(tmp, output);
  tmp_guard.release();
  fsync_directory(output.parent_path());
  std::error_code ec;
  summary.archive_bytes = fs::file_size(output, ec);
  return summary;
}

}  // namespace kernel_lock
