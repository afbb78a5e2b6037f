// install_bundle: stream a bundle into the HF cache, verifying before exposing.
#include "kernel_lock/bundle/install.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "bundle_internal.hpp"
#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/parallel.hpp"
#include "kernel_lock/core/unique_fd.hpp"
#include "kernel_lock/trust/trusted_root.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
using bundle_detail::ContentHasher;
using bundle_detail::read_chunks;

namespace {

// One staged output file, written with plain syscalls; removed unless released.
class StagedFile {
 public:
  // `start_writeback`: the file will be fsynced; start writing its pages to
  // disk while it is still being written (sync_file_range), so that the final
  // fsync has little left to wait for.
  StagedFile(fs::path path, bool start_writeback) : path_(std::move(path)), start_writeback_(start_writeback) {
    fd_ = UniqueFd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd_.valid()) throw Error(ErrorCode::io, "cannot create " + path_.string() + ": " + std::strerror(errno));
  }
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;
  ~StagedFile() {
    fd_.reset();
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  void write(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        throw Error(ErrorCode::io, "cannot write " + path_.string() + ": " + std::strerror(errno));
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
      written_ += static_cast<std::uint64_t>(n);
    }
    if (start_writeback_ && written_ - writeback_from_ >= kWritebackStep) {
      // Advisory: a failure here changes nothing, the fsync reports errors.
      ::sync_file_range(fd_.get(), static_cast<off_t>(writeback_from_), static_cast<off_t>(written_ - writeback_from_),
                        SYNC_FILE_RANGE_WRITE);
      writeback_from_ = written_;
    }
  }
  // Closes the file (the verifier fsyncs it once its digest matched).
  void close() {
    const int rc = ::close(fd_.release());
    if (rc != 0) throw Error(ErrorCode::io, "cannot close " + path_.string() + ": " + std::strerror(errno));
  }
  const fs::path& path() const noexcept { return path_; }

 private:
  static constexpr std::uint64_t kWritebackStep = 8u << 20;
  fs::path path_;
  bool start_writeback_;
  UniqueFd fd_;
  std::uint64_t written_ = 0;
  std::uint64_t writeback_from_ = 0;
};

// A staged blob whose bytes are written and closed but not yet checked.
struct StagedBlob {
  std::unique_ptr<StagedFile> file;
  BundleBlob blob;  // what the bytes must hash to, and their (checked) size
};

// Runs `handle` on each submitted job on `threads` threads (with one thread,
// in submission order). The first exception a job throws stops the rest:
// submit() and finish() rethrow it. `cost` (optional) weighs each job; submit()
// waits while the jobs not yet handled weigh `max_cost` or more. A job is
// destroyed after `handle` returns (or throws), before it counts as done.
// Destroying the queue before finish() drops the jobs not started.
template <class Job>
class WorkQueue {
 public:
  using Handler = std::function<void(Job&)>;
  using Cost = std::function<std::size_t(const Job&)>;

  WorkQueue(unsigned threads, Handler handle, Cost cost = {}, std::size_t max_cost = 0)
      : handle_(std::move(handle)), cost_(std::move(cost)), max_cost_(max_cost) {
    for (unsigned i = 0; i < std::max(1u, threads); ++i) threads_.emplace_back([this] { run(); });
  }
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;
  ~WorkQueue() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void submit(Job job) {
    const std::size_t cost = cost_ ? cost_(job) : 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return error_ || max_cost_ == 0 || queued_cost_ < max_cost_; });
      if (error_) std::rethrow_exception(error_);
      queued_cost_ += cost;
      ++pending_;
      jobs_.push_back(Entry{std::move(job), cost});
    }
    changed_.notify_all();
  }

  // Waits until every submitted job is handled; rethrows the first error.
  void finish() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return error_ || pending_ == 0; });
    if (error_) std::rethrow_exception(error_);
  }

 private:
  struct Entry {
    Job job;
    std::size_t cost = 0;
  };

  void run() {
    for (;;) {
      std::size_t cost = 0;
      {
        std::optional<Entry> entry;
        {
          std::unique_lock<std::mutex> lock(mutex_);
          changed_.wait(lock, [&] { return stopping_ || error_ || !jobs_.empty(); });
          // Stopping before finish() means the caller failed: drop the rest.
          if (stopping_ || error_) return;
          entry.emplace(std::move(jobs_.front()));
          jobs_.pop_front();
        }
        cost = entry->cost;
        try {
          handle_(entry->job);
        } catch (...) {
          std::lock_guard<std::mutex> lock(mutex_);
          if (!error_) error_ = std::current_exception();
        }
      }  // the job is destroyed here
      {
        std::lock_guard<std::mutex> lock(mutex_);
        queued_cost_ -= cost;
        --pending_;
      }
      changed_.notify_all();
    }
  }

  const Handler handle_;
  const Cost cost_;
  const std::size_t max_cost_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Entry> jobs_;
  std::size_t queued_cost_ = 0;
  std::size_t pending_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;  // last: started after the members above exist
};

// Checks staged blobs on worker threads, so that blobs are hashed in parallel
// while the reader decompresses the next ones: each worker re-reads a staged
// file, hashes it, compares with its digest, fsyncs it (when durable) and
// hands it to `commit` (called under one lock). A mismatch or any other
// error stops the rest: `submit` and `finish` rethrow it; staged files not
// committed are removed with their StagedFile.
class StagedBlobVerifier {
 public:
  using Commit = std::function<void(const std::string& digest, const fs::path& staged)>;

  StagedBlobVerifier(unsigned workers, fs::path bundle, bool durable, Commit commit)
      : bundle_(std::move(bundle)),
        durable_(durable),
        commit_(std::move(commit)),
        queue_(workers, [this](StagedBlob& staged) { check_and_commit(staged); }) {}

  void submit(StagedBlob staged) { queue_.submit(std::move(staged)); }
  // Waits until every submitted blob is committed; rethrows the first error.
  void finish() { queue_.finish(); }

 private:
  void check_and_commit(StagedBlob& staged) {
    const fs::path& path = staged.file->path();
    ContentHasher hasher(staged.blob.digest, staged.blob.size);
    const std::uint64_t size = read_chunks(path, [&](std::string_view c) { hasher.update(c); });
    const std::string actual = hasher.finish_hex();
    if (size != staged.blob.size || actual != staged.blob.digest)
      throw Error(ErrorCode::integrity,
                  "bundle " + bundle_.string() + ": blob " + staged.blob.digest + " content hashes to " + actual,
                  "the bundle was damaged or tampered with; re-create it with `kernel-lock bundle`");
    if (durable_) {
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid() || ::fsync(fd.get()) != 0)
        throw Error(ErrorCode::io, "cannot fsync " + path.string() + ": " + std::strerror(errno));
    }
    std::lock_guard<std::mutex> lock(commit_mutex_);
    commit_(staged.blob.digest, path);
  }

  const fs::path bundle_;
  const bool durable_;
  const Commit commit_;
  std::mutex commit_mutex_;
  WorkQueue<StagedBlob> queue_;  // last: its threads use the members above
};

// Writes the blobs of a bundle on its own thread, so that writing overlaps
// with decompressing the next blob. The caller copies each chunk in (`write`)
// and calls `end_blob` after a blob's last byte; the closed staged file then
// goes to `staged` (the verifier). Memory in flight is bounded. An error on
// the thread is rethrown by the next write/end_blob/finish; the destructor
// stops the thread and removes a blob not handed over.
class BackgroundBlobWriter {
 public:
  using Staged = std::function<void(StagedBlob)>;

  BackgroundBlobWriter(fs::path staging, bool durable, Staged staged)
      : staging_(std::move(staging)),
        durable_(durable),
        staged_(std::move(staged)),
        queue_(1, [this](Item& item) { handle(item); }, [](const Item& item) { return item.bytes.size(); },
               kMaxQueuedBytes) {}

  void write(std::string_view chunk) {
    Item item;
    {
      std::lock_guard<std::mutex> lock(spare_mutex_);
      if (!spare_.empty()) {
        item.bytes = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    item.bytes.assign(chunk.data(), chunk.size());
    queue_.submit(std::move(item));
  }

  void end_blob(BundleBlob blob) { queue_.submit(Item{std::string(), std::move(blob), true}); }

  // Waits until every blob is written and handed over; rethrows a thread error.
  void finish() { queue_.finish(); }

 private:
  static constexpr std::size_t kMaxQueuedBytes = 64u << 20;

  struct Item {
    std::string bytes;
    BundleBlob blob;
    bool end = false;
  };

  // On the queue's one thread, in order.
  void handle(Item& item) {
    if (!current_)
      current_ = std::make_unique<StagedFile>(staging_ / ("incoming-" + std::to_string(staged_count_++)), durable_);
    if (item.end) {
      current_->close();  // the verifier fsyncs after the digest matched
      staged_(StagedBlob{std::move(current_), std::move(item.blob)});
      return;
    }
    current_->write(item.bytes);
    std::lock_guard<std::mutex> lock(spare_mutex_);
    if (spare_.size() < 16) spare_.push_back(std::move(item.bytes));
  }

  const fs::path staging_;
  const bool durable_;
  const Staged staged_;
  std::unique_ptr<StagedFile> current_;  // the blob being written; removed unless handed over
  std::size_t staged_count_ = 0;
  std::mutex spare_mutex_;
  std::vector<std::string> spare_;  // recycled chunk buffers
  WorkQueue<Item> queue_;           // last: its thread uses the members above, and stops first
};

}  // namespace

namespace {

// The snapshot files of one variant of a manifest kernel.
std::vector<SnapshotFile> variant_files(const BundleKernel& k, const std::string& variant) {
  const std::string dir = "build/" + variant;
  std::vector<SnapshotFile> files;
  for (const auto& f : k.files)
    if (f.path.starts_with(dir + "/")) files.push_back(SnapshotFile{f.path, f.digest});
  return files;
}

// Where each kernel of a manifest goes: one CacheWriter per target cache, and
// for each blob digest the kernels (indexes into manifest.kernels) that use it.
struct InstallTargets {
  struct Target {
    CacheWriter* writer;
    std::string folder;
  };
  std::map<fs::path, std::unique_ptr<CacheWriter>> writers;
  std::vector<Target> kernels;
  std::map<std::string, std::vector<std::size_t>> blob_users;

  InstallTargets(const BundleManifest& m, const InstallOptions& options) {
    for (std::size_t i = 0; i < m.kernels.size(); ++i) {
      const auto& k = m.kernels[i];
      fs::path cache = options.cache_dir ? *options.cache_dir
                                         : (k.repo_type == "model" ? hf_hub_cache_dir() : kernels_cache_dir());
      auto& writer = writers[cache];
      if (!writer) writer = std::make_unique<CacheWriter>(cache);
      kernels.push_back(Target{writer.get(), cache_repo_folder(k.repo_type, k.repo_id)});
      for (const auto& f : k.files) {
        auto& users = blob_users[f.digest];
        if (users.empty() || users.back() != i) users.push_back(i);
      }
    }
  }

  // Commits a verified staged blob into every repo folder that uses it (once per cache).
  void commit(const std::string& digest, const fs::path& staged) const {
    std::set<std::pair<CacheWriter*, std::string>> done;
    for (std::size_t i : blob_users.at(digest)) {
      const auto& t = kernels[i];
      if (done.insert({t.writer, t.folder}).second) t.writer->commit_blob(t.folder, digest, staged);
    }
  }

  // fsyncs every blobs/ directory that received blobs.
  void sync_blob_dirs() const {
    for (const auto& [cache, writer] : writers)
      for (const auto& t : kernels)
        if (t.writer == writer.get()) {
          std::error_code ec;
          if (fs::is_directory(cache / t.folder / "blobs", ec)) fsync_directory(cache / t.folder / "blobs");
        }
  }
};

// Step 1, blobs: stage, verify, commit. This thread decompresses (the reader
// checks names, sizes and the manifest), the writer thread writes staged
// files, and the verifier's workers hash each staged file, compare it with its
// digest, fsync it and commit it: a blob enters the cache only after its bytes
// on disk hashed to its name.
// `next` streams the next blob's bytes to its sink (unverified) and returns
// its record, nullopt at the end: a bundle reader, or the files of a plan.
using NextBlob = std::function<std::optional<BundleBlob>(const BundleReader::ChunkFn& sink)>;

void install_blobs(const NextBlob& next, const BundleManifest& m, const fs::path& bundle, const InstallTargets& targets,
                   const InstallOptions& options, InstallSummary& summary) {
  std::uint64_t total = 0;
  for (const auto& b : m.blobs) total += b.size;
  const fs::path staging = targets.writers.begin()->second->staging_dir();
  const unsigned cores = std::max(2u, std::thread::hardware_concurrency());
  StagedBlobVerifier verifier(std::min(cores - 1, 8u), bundle, options.durable,
                              [&](const std::string& digest, const fs::path& staged) { targets.commit(digest, staged); });
  BackgroundBlobWriter blob_writer(staging, options.durable,
                                   [&](StagedBlob staged) { verifier.submit(std::move(staged)); });
  for (;;) {
    auto blob = next([&](std::string_view chunk) {
      blob_writer.write(chunk);
      summary.bytes += chunk.size();
      if (options.progress) options.progress(summary.bytes, total);
    });
    if (!blob) break;
    blob_writer.end_blob(*blob);
    ++summary.blobs;
  }
  blob_writer.finish();
  verifier.finish();
  targets.sync_blob_dirs();
}

// Step 2: snapshot variant directories (each appears in one rename), then refs.
void install_snapshots(const BundleManifest& m, const InstallTargets& targets, const InstallOptions& options,
                       InstallSummary& summary) {
  for (std::size_t i = 0; i < m.kernels.size(); ++i) {
    const auto& k = m.kernels[i];
    const auto& t = targets.kernels[i];
    for (const auto& v : k.variants) {
      if (t.writer->install_snapshot_dir(t.folder, k.sha, "build/" + v, variant_files(k, v))) ++summary.variants_changed;
      ++summary.variants;
    }
    if (options.write_refs) {
      RefKinds kinds;  // what the bundle says of each ref, kept next to the refs (docs/hf-cache.md "Ref kinds")
      for (const auto& ref : k.refs) {
        t.writer->write_ref(t.folder, ref, k.sha);
        summary.refs.push_back(t.folder + "/refs/" + ref);
        const bool tag = std::binary_search(k.tags.begin(), k.tags.end(), ref);
        (tag ? kinds.tags : kinds.branches).push_back(ref);
      }
      // A bundle from before kinds were recorded says nothing: its refs stay of
      // unknown kind, reported by the name heuristic.
      if (k.ref_kinds_known && !k.refs.empty())
        record_ref_kinds(CacheRepoPaths{t.writer->cache_dir() / t.folder}, kinds);
    }
    ++summary.kernels;
  }
}

// Refuses, before anything is written, a bundle that would replace an installed
// snapshot variant directory of the same commit with other content (a forged or
// mismatched bundle), unless the user repairs against a lock of their own.
void refuse_replacing_snapshots(const fs::path& bundle, const BundleManifest& m, const InstallTargets& targets,
                                const InstallOptions& options) {
  if (options.repair && !options.lock)
    throw Error(ErrorCode::usage, "--repair needs --lockfile",
                "repair replaces installed files only with files that match a lock you give");
  if (options.repair) return;
  std::vector<std::string> differing;
  for (std::size_t i = 0; i < m.kernels.size(); ++i) {
    const auto& k = m.kernels[i];
    const auto& t = targets.kernels[i];
    for (const auto& v : k.variants)
      if (t.writer->snapshot_dir_state(t.folder, k.sha, "build/" + v, variant_files(k, v)) ==
          CacheWriter::SnapshotDirState::different)
        differing.push_back((t.writer->cache_dir() / t.folder / "snapshots" / k.sha / "build" / v).string());
  }
  if (differing.empty()) return;
  std::string list;
  for (const auto& d : differing) list += "\n  " + d;
  throw Error(ErrorCode::integrity,
              bundle.string() + " holds other files for a commit that is already installed (a commit names one "
                                "content); nothing was changed. Installed snapshot(s) that differ:" + list,
              "check the installed copy with `kernel-lock verify`; if it is the damaged one, run `kernel-lock install " +
                  bundle.string() + " --lockfile kernel.lock --repair`");
}

// The signature checks of one install: the root to verify with (when a variant
// needs it) and the pinned signer of each variant, from the user's lock when
// given (it is the one reviewed), else from the bundle's embedded lock.
struct SignaturePlan {
  std::optional<trust::CapturedTrustRoot> root;
  std::vector<VariantProvenance> variants;  // manifest order
};

// Before anything is written: the carried root is fresh, a root exists when a
// variant pins a signature, and --require-signature holds.
SignaturePlan plan_signatures(const BundleManifest& m, const std::optional<trust::CapturedTrustRoot>& carried,
                              InstallTargets& targets, const InstallOptions& options) {
  const Lockfile& pins = options.lock ? *options.lock : m.lock;
  SignaturePlan plan;
  std::vector<std::string> unsigned_variants;
  bool any_signed = false;
  for (const auto& k : m.kernels)
    for (const auto& v : k.variants) {
      const LockedSignature* sig = find_pinned_signature(pins, k.repo_id, k.sha, v);
      if (!sig) sig = find_pinned_signature(m.lock, k.repo_id, k.sha, v);
      plan.variants.push_back(VariantProvenance{k.repo_id, v, sig ? std::optional(*sig) : std::nullopt});
      any_signed = any_signed || sig;
      if (!sig) unsigned_variants.push_back(k.repo_id + " " + v);
    }
  if (options.signatures.require_signature && !unsigned_variants.empty()) {
    std::string list;
    for (const auto& u : unsigned_variants) list += "\n  " + u;
    throw Error(ErrorCode::integrity,
                "--require-signature: the lock pins no signature for " + std::to_string(unsigned_variants.size()) +
                    " variant(s); nothing was installed:" + list,
                "lock signed builds (`kernel-lock resolve --trusted-root FILE`), or install without --require-signature");
  }
  const fs::path store_cache = targets.writers.begin()->first;
  if (any_signed || carried) plan.root = choose_trust_root(options.signatures, carried, store_cache);
  if (any_signed && !plan.root) throw_no_trust_root("installing");
  return plan;
}

// After the blobs, before any snapshot: each signed variant, built as links to
// its verified blobs in staging, must hold its pinned signature and kernel digest.
// The files of `variant` in `kernel` as lock records, paths relative to the variant directory.
std::vector<LockedFile> variant_lock_files(const BundleKernel& kernel, const std::string& variant) {
  const std::string prefix = "build/" + variant + "/";
  std::vector<LockedFile> out;
  for (const auto& f : kernel.files)
    if (f.path.starts_with(prefix)) out.push_back(LockedFile{f.path.substr(prefix.size()), f.size, f.digest, f.kind});
  return out;
}

void check_signatures(const BundleManifest& m, InstallTargets& targets, SignaturePlan& plan) {
  struct Job {
    const BundleKernel* kernel;
    std::size_t target;
    const VariantProvenance* variant;
    std::optional<std::string> failure;
  };
  std::vector<Job> jobs;
  std::size_t next = 0;
  for (std::size_t i = 0; i < m.kernels.size(); ++i)
    for (std::size_t j = 0; j < m.kernels[i].variants.size(); ++j, ++next)
      if (plan.variants[next].signer) jobs.push_back(Job{&m.kernels[i], i, &plan.variants[next], {}});
  if (jobs.empty()) return;
  const trust::Verifier verifier(trust::parse_trusted_root(plan.root->json));
  for (auto& [cache, writer] : targets.writers) (void)writer->staging_dir();  // created here, once
  parallel_for(jobs.size(), 0, [&](std::size_t i) {
    Job& job = jobs[i];
    const auto& t = targets.kernels[job.target];
    const fs::path dir = t.writer->staging_dir() / ("signed-" + std::to_string(i));
    std::error_code ec;
    remove_tree(dir, ec);
    try {
      link_variant_files(dir, *job.kernel, job.variant->variant, t.writer->cache_dir() / t.folder / "blobs");
      // Every blob was verified against its digest; an LFS digest is the content's sha256.
      const auto known = lfs_kernel_digests(variant_lock_files(*job.kernel, job.variant->variant));
      job.failure = check_signed_variant(dir, verifier, *job.variant->signer, &known);
    } catch (...) {
      remove_tree(dir, ec);
      throw;
    }
    remove_tree(dir, ec);
  });
  std::string failures;
  for (const auto& job : jobs)
    if (job.failure) failures += "\n  " + job.variant->repo_id + " " + job.variant->variant + ": " + *job.failure;
  if (!failures.empty())
    throw Error(ErrorCode::integrity, "signature check failed; no snapshot was installed:" + failures,
                "the bundle's files are not the ones the pinned signer signed: do not use it; re-lock and re-bundle "
                "from a trusted source");
}

// The steps of an install from any blob source, in order; `carried` is the
// trusted root the source carries (a bundle's), if any.
InstallSummary install_from(const BundleManifest& m, const NextBlob& next, const fs::path& source,
                            const std::optional<trust::CapturedTrustRoot>& carried, const InstallOptions& options) {
  if (options.lock) check_manifest_against_lock(m, *options.lock);
  InstallTargets targets(m, options);
  InstallSummary summary;
  if (targets.writers.empty()) return summary;
  SignaturePlan signatures = plan_signatures(m, carried, targets, options);
  refuse_replacing_snapshots(source, m, targets, options);
  install_blobs(next, m, source, targets, options, summary);
  check_signatures(m, targets, signatures);
  if (carried)
    for (const auto& [cache, writer] : targets.writers) summary.trust_store = trust::write_trust_store(cache, *carried);
  install_snapshots(m, targets, options, summary);
  summary.provenance = std::move(signatures.variants);
  return summary;
}

}  // namespace

InstallSummary install_bundle(const fs::path& bundle, const InstallOptions& options) {
  return with_context("installing " + bundle.string(), [&] {
    BundleReader reader(bundle, options.limits);
    return install_from(reader.manifest(), [&](const BundleReader::ChunkFn& sink) { return reader.next_blob_unchecked(sink); },
                        bundle, reader.trust_root(), options);
  });
}

InstallSummary install_plan(const BundlePlan& plan, const fs::path& source, const InstallOptions& options) {
  return with_context("installing " + source.string(), [&] {
    std::size_t i = 0;
    const auto next = [&](const BundleReader::ChunkFn& sink) -> std::optional<BundleBlob> {
      if (i == plan.manifest.blobs.size()) return std::nullopt;
      const BundleBlob& blob = plan.manifest.blobs[i++];
      auto src = plan.sources.find(blob.digest);
      if (src == plan.sources.end()) throw Error(ErrorCode::invalid_input, "no source for blob " + blob.digest);
      // One byte over the declared size is enough to fail verification; a file
      // grown since it was read is not staged beyond that.
      std::uint64_t left = blob.size + 1;
      read_chunks(src->second, [&](std::string_view chunk) {
        chunk = chunk.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), left)));
        left -= chunk.size();
        if (!chunk.empty()) sink(chunk);
      });
      return blob;
    };
    return install_from(plan.manifest, next, source, plan.trust_root, options);
  });
}

}  // namespace kernel_lock
