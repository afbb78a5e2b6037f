// install_bundle: stream a bundle into the HF cache, verifying before exposing.
#include "kernel_lock/install.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "kernel_lock/cache_writer.hpp"
#include "kernel_lock/error.hpp"
#include "kernel_lock/fs.hpp"
#include "kernel_lock/hf_cache.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;

namespace {

// One staged output file, written with plain syscalls; removed unless released.
class StagedFile {
 public:
  explicit StagedFile(fs::path path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(ErrorCode::io, "cannot create " + path_.string() + ": " + std::strerror(errno));
  }
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;
  ~StagedFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  void write(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(ErrorCode::io, "cannot write " + path_.string() + ": " + std::strerror(errno));
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void finish(bool durable) {
    if (durable && ::fsync(fd_) != 0)
      throw Error(ErrorCode::io, "cannot fsync " + path_.string() + ": " + std::strerror(errno));
    if (::close(fd_) != 0) {
      fd_ = -1;
      throw Error(ErrorCode::io, "cannot close " + path_.string() + ": " + std::strerror(errno));
    }
    fd_ = -1;
  }
  const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
  int fd_ = -1;
};

}  // namespace

InstallSummary install_bundle(const fs::path& bundle, const InstallOptions& options) {
  return with_context("installing " + bundle.string(), [&] {
    BundleReader reader(bundle, options.limits);
    const BundleManifest& m = reader.manifest();
    if (options.lock) check_manifest_against_lock(m, *options.lock);

    // Where each repo goes.
    std::map<fs::path, std::unique_ptr<CacheWriter>> writers;
    struct Target {
      CacheWriter* writer;
      std::string folder;
    };
    std::vector<Target> kernel_targets;
    std::map<std::string, std::vector<std::size_t>> blob_users;  // digest -> kernel indexes
    for (std::size_t i = 0; i < m.kernels.size(); ++i) {
      const auto& k = m.kernels[i];
      fs::path cache = options.cache_dir ? *options.cache_dir
                                         : (k.repo_type == "model" ? hf_hub_cache_dir() : kernels_cache_dir());
      auto& writer = writers[cache];
      if (!writer) writer = std::make_unique<CacheWriter>(cache);
      kernel_targets.push_back(Target{writer.get(), cache_repo_folder(k.repo_type, k.repo_id)});
      for (const auto& f : k.files) {
        auto& users = blob_users[f.digest];
        if (users.empty() || users.back() != i) users.push_back(i);
      }
    }
    if (writers.empty()) {
      InstallSummary empty;
      return empty;
    }
    CacheWriter& stager = *writers.begin()->second;
    const fs::path staging = stager.staging_dir();

    InstallSummary summary;
    std::uint64_t total = 0;
    for (const auto& b : m.blobs) total += b.size;

    // 1. Blobs: stage, verify (BundleReader checks size and digest), commit.
    for (std::size_t n = 0;; ++n) {
      auto staged = std::make_unique<StagedFile>(staging / ("incoming-" + std::to_string(n)));
      auto blob = reader.next_blob([&](std::string_view chunk) {
        staged->write(chunk);
        summary.bytes += chunk.size();
        if (options.progress) options.progress(summary.bytes, total);
      });
      if (!blob) break;
      staged->finish(options.durable);
      std::set<std::pair<CacheWriter*, std::string>> done;
      for (std::size_t i : blob_users.at(blob->digest)) {
        const auto& t = kernel_targets[i];
        if (done.insert({t.writer, t.folder}).second) t.writer->commit_blob(t.folder, blob->digest, staged->path());
      }
      ++summary.blobs;
    }
    for (const auto& [cache, writer] : writers) {
      for (const auto& t : kernel_targets)
        if (t.writer == writer.get()) {
          std::error_code ec;
          if (fs::is_directory(cache / t.folder / "blobs", ec)) fsync_directory(cache / t.folder / "blobs");
        }
    }

    // 2. Snapshot variant directories (each appears in one rename), then refs.
    for (std::size_t i = 0; i < m.kernels.size(); ++i) {
      const auto& k = m.kernels[i];
      const auto& t = kernel_targets[i];
      for (const auto& v : k.variants) {
        const std::string dir = "build/" + v;
        std::vector<SnapshotFile> files;
        for (const auto& f : k.files)
          if (f.path.starts_with(dir + "/")) files.push_back(SnapshotFile{f.path, f.digest});
        if (t.writer->install_snapshot_dir(t.folder, k.sha, dir, files)) ++summary.variants_changed;
        ++summary.variants;
      }
      if (options.write_refs) {
        for (const auto& ref : k.refs) {
          t.writer->write_ref(t.folder, ref, k.sha);
          summary.refs.push_back(t.folder + "/refs/" + ref);
        }
      }
      ++summary.kernels;
    }
    return summary;
  }, ErrorCode::io);
}

}  // namespace kernel_lock
