// install_bundle: stream a bundle into the HF cache, verifying before exposing.
#include "kernel_lock/install.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

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

// Writes the blobs of a bundle on its own thread, so that writing, fsync and
// the commit into the cache overlap with decompressing and hashing the next
// blob. The caller copies each chunk in (`write`), and calls `end_blob` once
// the reader has verified the blob's digest: only then is the staged file
// fsynced (when durable) and handed to `commit`. Memory in flight is bounded.
// An error on the thread is rethrown by the next write/end_blob/finish; the
// destructor stops the thread and removes a blob that was not committed.
class BackgroundBlobWriter {
 public:
  using Commit = std::function<void(const std::string& digest, const fs::path& staged)>;

  BackgroundBlobWriter(fs::path staging, bool durable, Commit commit)
      : staging_(std::move(staging)), durable_(durable), commit_(std::move(commit)), thread_([this] { run(); }) {}
  BackgroundBlobWriter(const BackgroundBlobWriter&) = delete;
  BackgroundBlobWriter& operator=(const BackgroundBlobWriter&) = delete;
  ~BackgroundBlobWriter() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  void write(std::string_view chunk) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return error_ || queued_bytes_ < kMaxQueuedBytes; });
    rethrow_locked();
    Item item;
    if (!spare_.empty()) {
      item.bytes = std::move(spare_.back());
      spare_.pop_back();
    }
    item.bytes.assign(chunk.data(), chunk.size());
    queued_bytes_ += chunk.size();
    queue_.push_back(std::move(item));
    lock.unlock();
    changed_.notify_all();
  }

  void end_blob(std::string digest) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      rethrow_locked();
      queue_.push_back(Item{std::string(), std::move(digest), true});
    }
    changed_.notify_all();
  }

  // Waits until every blob handed over is committed; rethrows a thread error.
  void finish() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return error_ || (queue_.empty() && !busy_); });
    rethrow_locked();
  }

 private:
  static constexpr std::size_t kMaxQueuedBytes = 64u << 20;

  struct Item {
    std::string bytes;
    std::string digest;
    bool end = false;
  };

  void rethrow_locked() {
    if (error_) std::rethrow_exception(error_);
  }

  void run() {
    std::unique_ptr<StagedFile> current;
    std::size_t staged_count = 0;
    for (;;) {
      Item item;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        // Stopping before finish() means the install failed: drop the rest;
        // `current` (not committed) is removed by its destructor.
        if (stopping_ || error_) return;
        item = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
      }
      try {
        if (!current) current = std::make_unique<StagedFile>(staging_ / ("incoming-" + std::to_string(staged_count++)));
        if (item.end) {
          current->finish(durable_);
          commit_(item.digest, current->path());
          current.reset();
        } else {
          current->write(item.bytes);
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        error_ = std::current_exception();
        busy_ = false;
        changed_.notify_all();
        return;
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        queued_bytes_ -= item.bytes.size();
        if (!item.end && spare_.size() < 16) spare_.push_back(std::move(item.bytes));
        busy_ = false;
      }
      changed_.notify_all();
    }
  }

  const fs::path staging_;
  const bool durable_;
  const Commit commit_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  std::vector<std::string> spare_;  // recycled chunk buffers
  std::size_t queued_bytes_ = 0;
  bool busy_ = false;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // last: starts after the members above exist
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
    // Reading (decompress + hash) runs here; writing, fsync and commit on the
    // background writer, which commits a blob only after its digest matched.
    {
      BackgroundBlobWriter blob_writer(staging, options.durable, [&](const std::string& digest, const fs::path& staged) {
        std::set<std::pair<CacheWriter*, std::string>> done;
        for (std::size_t i : blob_users.at(digest)) {
          const auto& t = kernel_targets[i];
          if (done.insert({t.writer, t.folder}).second) t.writer->commit_blob(t.folder, digest, staged);
        }
      });
      for (;;) {
        auto blob = reader.next_blob([&](std::string_view chunk) {
          blob_writer.write(chunk);
          summary.bytes += chunk.size();
          if (options.progress) options.progress(summary.bytes, total);
        });
        if (!blob) break;
        blob_writer.end_blob(blob->digest);
        ++summary.blobs;
      }
      blob_writer.finish();
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
