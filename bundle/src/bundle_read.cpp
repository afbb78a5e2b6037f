// BundleReader: streaming, hostile-input-safe reading of a bundle archive.
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "bundle_internal.hpp"
#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/trust/trusted_root.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
using bundle_detail::ArchiveRead;
using bundle_detail::archive_message;
using bundle_detail::ContentHasher;

namespace {

[[noreturn]] void refuse(const fs::path& bundle, const std::string& why) {
  throw Error(ErrorCode::invalid_input, "bundle " + bundle.string() + ": " + why,
              "the file is not a kernel-lock bundle, or it was damaged or tampered with");
}

// What is wrong with an entry's type, or "" when it is a plain regular file.
std::string entry_type_problem(struct archive_entry* e) {
  if (archive_entry_hardlink(e) != nullptr)
    return std::string("hard link to '") + archive_entry_hardlink(e) + "'";
  switch (archive_entry_filetype(e)) {
    case AE_IFREG:
      break;
    case AE_IFLNK:
      return std::string("symbolic link to '") + (archive_entry_symlink(e) ? archive_entry_symlink(e) : "") + "'";
    case AE_IFDIR:
      return "directory";
    case AE_IFCHR:
      return "character device";
    case AE_IFBLK:
      return "block device";
    case AE_IFIFO:
      return "FIFO";
    case AE_IFSOCK:
      return "socket";
    default:
      return "entry of unknown type";
  }
  if (archive_entry_sparse_count(e) > 0) return "sparse file";
  return "";
}

// Two-stage pipeline for large blobs: the reading thread decompresses while
// one worker hashes and hands the bytes to the sink, so decompression and
// hashing + writing overlap. Chunks are copied into 1 MiB buffers (at most
// kDepth in flight); errors on the worker are rethrown on the reader.
class HashPipeline {
 public:
  static constexpr std::size_t kBuffer = 1 << 20;
  static constexpr std::size_t kDepth = 8;

  HashPipeline() : worker_([this] { run(); }) {}
  HashPipeline(const HashPipeline&) = delete;
  HashPipeline& operator=(const HashPipeline&) = delete;
  ~HashPipeline() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  // Starts a blob: `fn` runs on the worker for each buffer, in order.
  void begin(std::function<void(std::string_view)> fn) {
    fn_ = std::move(fn);
    current_.clear();
  }
  void feed(std::string_view bytes) {
    while (!bytes.empty()) {
      if (current_.capacity() < kBuffer) current_.reserve(kBuffer);
      std::size_t n = std::min(bytes.size(), kBuffer - current_.size());
      current_.insert(current_.end(), bytes.data(), bytes.data() + n);
      bytes.remove_prefix(n);
      if (current_.size() == kBuffer) push(false);
    }
  }
  // Flushes and waits until the worker has consumed the blob; rethrows its error.
  void end() {
    if (!current_.empty()) {
      try {
        push(false);
      } catch (...) {
        current_.clear();  // the worker failed: the rest is not needed
      }
    }
    push(true);
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return done_; });
    done_ = false;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  // Queues the current buffer (or the end-of-blob marker). A data push throws
  // the worker's error, if any, so the reader stops early; the marker is always
  // queued, and the worker always drains, so end() cannot hang.
  void push(bool marker) {
    std::unique_lock lock(m_);
    if (!marker && error_) {
      auto e = error_;
      lock.unlock();
      std::rethrow_exception(e);
    }
    cv_.wait(lock, [&] { return queue_.size() < kDepth; });
    queue_.push_back(Item{marker, marker ? std::vector<char>() : std::move(current_)});
    if (!marker) {
      current_ = std::vector<char>();
      if (!spare_.empty()) {
        current_ = std::move(spare_.back());
        spare_.pop_back();
        current_.clear();
      }
    }
    cv_.notify_all();
  }
  void run() {
    std::unique_lock lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop requested
      Item item = std::move(queue_.front());
      queue_.pop_front();
      cv_.notify_all();
      if (item.marker) {
        done_ = true;
        skip_ = false;
        cv_.notify_all();
        continue;
      }
      lock.unlock();
      std::exception_ptr error;
      if (!skip_) {
        try {
          fn_(std::string_view(item.bytes.data(), item.bytes.size()));
        } catch (...) {
          error = std::current_exception();
        }
      }
      lock.lock();
      if (error) {
        error_ = error;
        skip_ = true;
      }
      if (spare_.size() < kDepth) spare_.push_back(std::move(item.bytes));
    }
  }

  struct Item {
    bool marker = false;
    std::vector<char> bytes;
  };
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  std::vector<std::vector<char>> spare_;
  std::vector<char> current_;
  std::function<void(std::string_view)> fn_;
  std::exception_ptr error_;
  bool done_ = false;
  bool stop_ = false;
  bool skip_ = false;  // after an error, drain the rest of the blob unprocessed
  std::thread worker_;
};

}  // namespace

struct BundleReader::Impl {
  std::unique_ptr<HashPipeline> pipeline;  // created for the first large blob
  fs::path path;
  BundleLimits limits;
  ArchiveRead archive;
  BundleManifest manifest;
  std::optional<trust::CapturedTrustRoot> trust_root;
  std::map<std::string, std::uint64_t> expected;  // digest -> size
  std::set<std::string> seen;
  std::uint64_t out_bytes = 0;
  bool finished = false;

  // Next header; false at the end. Throws on corruption / truncation.
  bool next_header(struct archive_entry** entry) {
    int rc = archive_read_next_header(archive.get(), entry);
    if (rc == ARCHIVE_EOF) return false;
    if (rc != ARCHIVE_OK) refuse(path, "corrupt or truncated archive: " + archive_message(archive.get()));
    return true;
  }

  // Streams the current entry's data to `fn`; returns the byte count.
  // Reads the next entry's header: validates its name, type and declared size
  // against the manifest (the data is left to read_data); nullopt at the end,
  // after checking that every listed blob was seen.
  std::optional<BundleBlob> next_entry();
  // Reads the trust entry that follows a version 2 manifest.
  void read_trust_root();

  template <class Fn>
  std::uint64_t read_data(std::uint64_t declared, const std::string& name, Fn&& fn) {
    std::uint64_t count = 0;
    for (;;) {
      const void* buffer = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      int rc = archive_read_data_block(archive.get(), &buffer, &size, &offset);
      if (rc == ARCHIVE_EOF) break;
      if (rc != ARCHIVE_OK)
        refuse(path, "corrupt or truncated archive in entry " + name + ": " + archive_message(archive.get()));
      if (offset < 0 || static_cast<std::uint64_t>(offset) != count) refuse(path, "entry " + name + " has holes");
      count += size;
      if (count > declared) refuse(path, "entry " + name + " holds more data than its declared size");
      out_bytes += size;
      const auto in_bytes = static_cast<std::uint64_t>(std::max<la_int64_t>(1, archive_filter_bytes(archive.get(), -1)));
      if (out_bytes > limits.ratio_grace_bytes && out_bytes / in_bytes > limits.max_expansion_ratio)
        refuse(path, "expands more than " + std::to_string(limits.max_expansion_ratio) +
                         "x (decompression bomb?)");
      if (size > 0) fn(std::string_view(static_cast<const char*>(buffer), size));
    }
    if (count != declared)
      refuse(path, "truncated entry " + name + ": " + std::to_string(count) + " of " + std::to_string(declared) +
                       " bytes");
    return count;
  }
};

BundleReader::BundleReader(const fs::path& bundle, BundleLimits limits) : impl_(std::make_unique<Impl>()) {
  impl_->path = bundle;
  impl_->limits = limits;
  auto* a = impl_->archive.get();
  archive_read_support_filter_zstd(a);
  archive_read_support_filter_none(a);
  archive_read_support_format_tar(a);
  // Read past zero blocks, so that whatever follows the end-of-archive marker is seen (next_entry).
  if (archive_read_set_format_option(a, "tar", "read_concatenated_archives", "1") != ARCHIVE_OK)
    throw Error(ErrorCode::generic, "libarchive: cannot read concatenated tar archives: " + archive_message(a));
  std::error_code ec;
  if (!fs::is_regular_file(bundle, ec))
    throw Error(ErrorCode::not_found, "bundle " + bundle.string() + " does not exist or is not a file");
  if (archive_read_open_filename(a, bundle.c_str(), 1 << 20) != ARCHIVE_OK)
    refuse(bundle, "cannot open: " + archive_message(a));

  struct archive_entry* entry = nullptr;
  if (!impl_->next_header(&entry)) refuse(bundle, "empty archive");
  const std::string name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
  if (name != kBundleManifestName)
    refuse(bundle, "the first entry is '" + name + "', expected the manifest " + std::string(kBundleManifestName));
  if (auto problem = entry_type_problem(entry); !problem.empty()) refuse(bundle, "manifest entry is a " + problem);
  if (!archive_entry_size_is_set(entry) || archive_entry_size(entry) < 0 ||
      static_cast<std::uint64_t>(archive_entry_size(entry)) > limits.max_manifest_bytes)
    refuse(bundle, "manifest size missing or over the limit: " + std::string(kBundleManifestName) + " declares " +
                       (archive_entry_size_is_set(entry) ? std::to_string(archive_entry_size(entry)) : "no") +
                       " bytes, the limit is " + std::to_string(limits.max_manifest_bytes));
  const auto declared = static_cast<std::uint64_t>(archive_entry_size(entry));
  std::string text;
  text.reserve(declared);
  impl_->read_data(declared, name, [&](std::string_view c) { text.append(c); });
  impl_->manifest = with_context("bundle " + bundle.string(), [&] { return parse_bundle_manifest(text); });
  if (impl_->manifest.trust) impl_->read_trust_root();

  std::uint64_t total = 0;
  if (impl_->manifest.blobs.size() > limits.max_blobs) refuse(bundle, "too many blobs");
  for (const auto& b : impl_->manifest.blobs) {
    total += b.size;
    if (total > limits.max_total_bytes || b.size > limits.max_total_bytes)
      refuse(bundle, "declared content exceeds the limit of " + std::to_string(limits.max_total_bytes) + " bytes");
    impl_->expected.emplace(b.digest, b.size);
  }
}

BundleReader::~BundleReader() = default;
BundleReader::BundleReader(BundleReader&&) noexcept = default;
BundleReader& BundleReader::operator=(BundleReader&&) noexcept = default;

const BundleManifest& BundleReader::manifest() const noexcept { return impl_->manifest; }
const std::optional<trust::CapturedTrustRoot>& BundleReader::trust_root() const noexcept { return impl_->trust_root; }

void BundleReader::Impl::read_trust_root() {
  const std::string expected_name(kBundleTrustedRootName);
  struct archive_entry* entry = nullptr;
  if (!next_header(&entry)) refuse(path, "the trusted root entry " + expected_name + " is missing");
  const std::string name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
  if (name != expected_name)
    refuse(path, "the entry after the manifest is '" + name + "', expected " + expected_name);
  if (auto problem = entry_type_problem(entry); !problem.empty()) refuse(path, name + " is a " + problem);
  if (!archive_entry_size_is_set(entry) || archive_entry_size(entry) < 0 ||
      static_cast<std::uint64_t>(archive_entry_size(entry)) > trust::kMaxTrustedRootBytes)
    refuse(path, name + ": size missing or over the limit of " + std::to_string(trust::kMaxTrustedRootBytes) + " bytes");
  trust::CapturedTrustRoot root;
  const auto declared = static_cast<std::uint64_t>(archive_entry_size(entry));
  read_data(declared, name, [&](std::string_view c) { root.json.append(c); });
  root.captured_at = manifest.trust->captured_at;
  root.origin = path.string() + ":" + name;
  if (root.sha256_hex() != manifest.trust->sha256)
    throw Error(ErrorCode::integrity,
                "bundle " + path.string() + ": " + name + " hashes to " + root.sha256_hex() +
                    ", the manifest says " + manifest.trust->sha256,
                "the bundle was damaged or tampered with; re-create it with `kernel-lock bundle`");
  with_context("bundle " + path.string() + ": " + name, [&] { (void)trust::parse_trusted_root(root.json); });
  trust_root = std::move(root);
}

std::optional<BundleBlob> BundleReader::Impl::next_entry() {
  if (finished) return std::nullopt;
  // After the last listed blob only zero blocks may follow. The tar reader runs in
  // concatenated mode (it skips zero blocks and reads on), so garbage, a partial
  // block or a second archive after the end-of-archive marker surface here.
  const std::string after = seen.size() == expected.size()
                                ? "data after the last blob, where only zero padding may follow (the tar "
                                  "end-of-archive marker): "
                                : "";
  auto fail = [&](const std::string& why) { refuse(path, after + why); };
  struct archive_entry* entry = nullptr;
  const int rc = archive_read_next_header(archive.get(), &entry);
  if (rc == ARCHIVE_EOF) {
    finished = true;
    for (const auto& [digest, size] : expected)
      if (!seen.count(digest))
        fail("truncated: " + std::to_string(expected.size() - seen.size()) +
             " blob(s) listed in the manifest are missing, e.g. " + digest);
    return std::nullopt;
  }
  if (rc != ARCHIVE_OK) fail("corrupt or truncated archive: " + archive_message(archive.get()));
  const std::string name = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
  if (const char* problem = relative_path_problem(name)) fail("entry '" + name + "' refused: " + problem);
  if (auto problem = entry_type_problem(entry); !problem.empty())
    fail("entry '" + name + "' refused: it is a " + problem + "; bundles hold regular files only");
  if (name == kBundleManifestName) fail("duplicate manifest entry");
  if (!name.starts_with("blobs/") || !is_blob_digest(std::string_view(name).substr(6)))
    fail("unexpected entry '" + name + "' (bundles hold only the manifest and blobs/<digest>)");
  const std::string digest = name.substr(6);
  auto it = expected.find(digest);
  if (it == expected.end()) fail("entry '" + name + "' is not listed in the manifest");
  if (!seen.insert(digest).second) fail("duplicate entry '" + name + "'");
  if (!archive_entry_size_is_set(entry) || archive_entry_size(entry) < 0 ||
      static_cast<std::uint64_t>(archive_entry_size(entry)) != it->second)
    fail("entry '" + name + "' declares " + std::to_string(archive_entry_size(entry)) + " bytes, the manifest says " +
         std::to_string(it->second));
  return BundleBlob{digest, it->second};
}

std::optional<BundleBlob> BundleReader::next_blob(const ChunkFn& sink, std::string* actual_digest) {
  return next_blob_to([&](const BundleBlob&) { return sink; }, actual_digest);
}

std::optional<BundleBlob> BundleReader::next_blob_to(const std::function<ChunkFn(const BundleBlob&)>& sink_for,
                                                     std::string* actual_digest) {
  auto& im = *impl_;
  auto entry = im.next_entry();
  if (!entry) return std::nullopt;
  const ChunkFn sink = sink_for(*entry);
  const std::string& digest = entry->digest;
  const std::string name = "blobs/" + digest;
  const auto it = im.expected.find(digest);
  ContentHasher hasher(digest, it->second);
  if (it->second >= (4u << 20)) {
    if (!im.pipeline) im.pipeline = std::make_unique<HashPipeline>();
    auto& pipe = *im.pipeline;
    pipe.begin([&](std::string_view c) {
      hasher.update(c);
      sink(c);
    });
    try {
      im.read_data(it->second, name, [&](std::string_view c) { pipe.feed(c); });
    } catch (...) {
      try {
        pipe.end();  // drain the worker before the hasher/sink go out of scope
      } catch (...) {
      }
      throw;
    }
    pipe.end();
  } else {
    im.read_data(it->second, name, [&](std::string_view c) {
      hasher.update(c);
      sink(c);
    });
  }
  std::string actual = hasher.finish_hex();
  if (actual_digest) {
    *actual_digest = actual;
  } else if (actual != digest) {
    throw Error(ErrorCode::integrity, "bundle " + im.path.string() + ": blob " + digest + " content hashes to " + actual,
                "the bundle was damaged or tampered with; re-create it with `kernel-lock bundle`");
  }
  return BundleBlob{digest, it->second};
}

std::optional<BundleBlob> BundleReader::next_blob_unchecked(const ChunkFn& sink) {
  auto& im = *impl_;
  auto entry = im.next_entry();
  if (!entry) return std::nullopt;
  im.read_data(entry->size, "blobs/" + entry->digest, sink);
  return entry;
}

bool is_bundle_file(const fs::path& path) noexcept {
  try {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return false;
    ArchiveRead a;
    archive_read_support_filter_zstd(a.get());
    archive_read_support_filter_none(a.get());
    archive_read_support_format_tar(a.get());
    if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) return false;
    struct archive_entry* entry = nullptr;
    if (archive_read_next_header(a.get(), &entry) != ARCHIVE_OK) return false;
    const char* name = archive_entry_pathname(entry);
    return name && std::string_view(name) == kBundleManifestName;
  } catch (...) {
    return false;
  }
}

}  // namespace kernel_lock
