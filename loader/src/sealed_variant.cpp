// Reading variants into sealed memfds, with verification (see sealed_variant.hpp).
#include "kernel_lock/loader/sealed_variant.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <system_error>
#include <thread>

#include "kernel_lock/cache/snapshot.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/parallel.hpp"
#include "kernel_lock/core/unique_fd.hpp"
#include "kernel_lock/trust/bundle.hpp"
#include "kernel_lock/trust/kernel_digest.hpp"
#include "kernel_lock/trust/policy.hpp"
#include "kernel_lock/trust/verify.hpp"

namespace fs = std::filesystem;

namespace kernel_lock {
namespace {

using Fd = UniqueFd;

std::string errno_text(int err) { return std::generic_category().message(err); }

Fd make_memfd(std::string_view name) {
  std::string label = "kernel-lock:" + std::string(name);
  if (label.size() > 240) label.resize(240);
  int fd = ::memfd_create(label.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throw Error(ErrorCode::io, "memfd_create for " + std::string(name) + " failed: " + errno_text(errno));
  return Fd(fd);
}

void write_all(int fd, const char* data, std::size_t size, std::string_view what) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::io, "writing sealed copy of " + std::string(what) + ": " + errno_text(errno));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void seal(int fd, std::string_view what) {
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0)
    throw Error(ErrorCode::io, "sealing the copy of " + std::string(what) + " failed: " + errno_text(errno));
}

using Entry = SnapshotEntry;

// The files of `dir` through the cache's snapshot reader: the strict policy for a
// cache snapshot (`blobs` given: every entry a relative link to a digest-named
// blob of this repository), the plain one for a local directory. Skipped paths
// (*.pyc, __pycache__) are left out; entries come sorted bytewise by path.
std::vector<Entry> list_entries(const fs::path& dir, const std::optional<fs::path>& blobs) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec)))
    throw Error(ErrorCode::not_found, "variant directory " + dir.string() + " does not exist",
                "run `kernel-lock install <bundle>` (or `kernel-lock bundle` then `install` on an air-gapped node)");
  const SnapshotOptions options{blobs ? SnapshotPolicy::strict : SnapshotPolicy::plain, blobs.value_or(fs::path())};
  return read_snapshot(dir, options);
}

using ChunkSink = std::function<void(std::string_view)>;

// read() that retries EINTR; Error(io) naming `what` otherwise.
std::size_t read_some(int fd, char* data, std::size_t size, const fs::path& what) {
  for (;;) {
    ssize_t n = ::read(fd, data, size);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) throw Error(ErrorCode::io, "reading " + what.string() + ": " + errno_text(errno));
  }
}

// One thread: each chunk is read, given to `hash`, then written to `mem`.
// Chunks of at most 256 KiB (no larger than the file, uninitialised: small
// files cost no large allocation), so each is still in L2 when the hashers and
// the memfd copy read it (core/src/hash.cpp measured 256 KiB beating 1 MiB).
std::uint64_t copy_serial(int src, int mem, std::uint64_t expected_size, const ChunkSink& hash, const Entry& entry) {
  const std::size_t buffer_size = static_cast<std::size_t>(std::clamp<std::uint64_t>(expected_size, 4096, 256 << 10));
  auto buffer = std::make_unique_for_overwrite<char[]>(buffer_size);
  std::uint64_t total = 0;
  while (const std::size_t n = read_some(src, buffer.get(), buffer_size, entry.file)) {
    hash(std::string_view(buffer.get(), n));
    write_all(mem, buffer.get(), n, entry.path);
    total += n;
  }
  return total;
}

// Files of kPipelineBytes or more: a copier thread reads each 1 MiB chunk and
// writes it to the memfd (the kernel's page-cache copy and the memfd's page
// allocation, as much work as the hash) while the calling thread hashes the
// chunks already copied. A ring of kSlots buffers: a slot is refilled only after
// its chunk was hashed, so the bytes hashed are exactly the bytes written.
constexpr std::uint64_t kPipelineBytes = std::uint64_t{8} << 20;
constexpr std::size_t kChunk = std::size_t{1} << 20;
constexpr std::size_t kSlots = 4;

struct ChunkRing {
  std::mutex m;
  std::condition_variable cv;
  std::array<std::unique_ptr<char[]>, kSlots> data;
  std::array<std::size_t, kSlots> size{};
  std::uint64_t produced = 0;  // chunks copied (read and written)
  std::uint64_t consumed = 0;  // chunks hashed
  bool done = false;           // the copier saw the end of the file, or failed
  bool stop = false;           // the hashing side gave up
  std::exception_ptr error;
};

void copier(ChunkRing& ring, int src, int mem, const Entry& entry) {
  try {
    for (;;) {
      std::size_t slot = 0;
      {
        std::unique_lock lock(ring.m);
        ring.cv.wait(lock, [&] { return ring.stop || ring.produced - ring.consumed < kSlots; });
        if (ring.stop) return;
        slot = ring.produced % kSlots;
      }
      char* buf = ring.data[slot].get();
      std::size_t n = 0;
      while (n < kChunk) {
        const std::size_t got = read_some(src, buf + n, kChunk - n, entry.file);
        if (got == 0) break;
        n += got;
      }
      if (n > 0) write_all(mem, buf, n, entry.path);
      std::lock_guard lock(ring.m);
      if (n == 0) {
        ring.done = true;
      } else {
        ring.size[slot] = n;
        ++ring.produced;
      }
      ring.cv.notify_all();
      if (n == 0) return;
    }
  } catch (...) {
    std::lock_guard lock(ring.m);
    ring.error = std::current_exception();
    ring.done = true;
    ring.cv.notify_all();
  }
}

std::uint64_t copy_pipelined(int src, int mem, const ChunkSink& hash, const Entry& entry) {
  ChunkRing ring;
  for (auto& d : ring.data) d = std::make_unique_for_overwrite<char[]>(kChunk);
  std::thread thread([&] { copier(ring, src, mem, entry); });
  struct Join {  // stops and joins the copier on every exit path
    ChunkRing& ring;
    std::thread& thread;
    ~Join() {
      {
        std::lock_guard lock(ring.m);
        ring.stop = true;
      }
      ring.cv.notify_all();
      thread.join();
    }
  } join{ring, thread};
  std::uint64_t total = 0;
  for (;;) {
    std::size_t slot = 0;
    {
      std::unique_lock lock(ring.m);
      ring.cv.wait(lock, [&] { return ring.consumed < ring.produced || ring.done; });
      if (ring.error) std::rethrow_exception(ring.error);
      if (ring.consumed == ring.produced) break;  // done, all hashed
      slot = ring.consumed % kSlots;
    }
    hash(std::string_view(ring.data[slot].get(), ring.size[slot]));
    total += ring.size[slot];
    std::lock_guard lock(ring.m);
    ++ring.consumed;
    ring.cv.notify_all();
  }
  return total;
}

// Reads `entry.file` once into a sealed memfd, hashing the bytes with `kind`;
// with `sha256_raw`, also the raw sha256 of the same bytes (the kernel digest
// of a signed variant), from an extra hasher only when `kind` is not sha256.
SealedVariantFile read_sealed(const Entry& entry, DigestKind kind, std::vector<std::uint8_t>* sha256_raw = nullptr) {
  Fd src(::open(entry.file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (src.get() < 0) {
    int err = errno;
    throw Error(err == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                "opening " + entry.file.string() + " (for " + entry.path + "): " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(src.get(), &st) != 0 || !S_ISREG(st.st_mode))
    throw Error(ErrorCode::integrity, entry.file.string() + " (for " + entry.path + ") is not a regular file");
  const auto expected_size = static_cast<std::uint64_t>(st.st_size);

  Fd mem = make_memfd(entry.path);
  Hasher hasher(kind == DigestKind::git_sha1 ? Hasher::Algorithm::sha1 : Hasher::Algorithm::sha256);
  if (kind == DigestKind::git_sha1) {
    std::string header = "blob " + std::to_string(expected_size);
    header.push_back('\0');
    hasher.update(std::string_view(header));
  }
  std::optional<Hasher> extra;
  if (sha256_raw && kind != DigestKind::lfs_sha256) extra.emplace(Hasher::Algorithm::sha256);
  const ChunkSink hash = [&](std::string_view chunk) {
    hasher.update(chunk);
    if (extra) extra->update(chunk);
  };
  const std::uint64_t total = expected_size >= kPipelineBytes && std::thread::hardware_concurrency() > 1
                                  ? copy_pipelined(src.get(), mem.get(), hash, entry)
                                  : copy_serial(src.get(), mem.get(), expected_size, hash, entry);
  if (total != expected_size)
    throw Error(ErrorCode::integrity, entry.file.string() + " changed size while being read (for " + entry.path + ")");
  seal(mem.get(), entry.path);
  SealedVariantFile out;
  out.path = entry.path;
  out.source = entry.file;
  if (sha256_raw && !extra) {
    *sha256_raw = hasher.finish();
    out.digest = to_hex(*sha256_raw);
  } else {
    out.digest = hasher.finish_hex();
    if (extra) *sha256_raw = extra->finish();
  }
  out.kind = kind;
  out.content = SealedFile(mem.release(), total);
  return out;
}

// Threads for reading `entries`: one below kParallelBytes in all (a small
// variant's files cost less than starting threads), else every core.
unsigned read_threads(const std::vector<Entry>& entries) {
  constexpr std::uint64_t kParallelBytes = std::uint64_t{8} << 20;
  std::uint64_t total = 0;
  for (const auto& e : entries) {
    std::error_code ec;  // unreadable: read_sealed reports it
    const std::uintmax_t size = fs::file_size(e.file, ec);
    if (!ec) total += size;
  }
  return total >= kParallelBytes ? 0 : 1;
}

std::string variant_hash_of(const std::vector<SealedVariantFile>& files) {
  std::vector<VariantFileDigest> digests;
  digests.reserve(files.size());
  for (const auto& f : files) digests.push_back({f.path, f.digest});
  return git_lfs_concat_hash(std::move(digests));
}

fs::path variant_dir_of(const CacheRepoPaths& repo, std::string_view sha, std::string_view variant) {
  if (variant.empty() || variant.find('/') != std::string_view::npos || variant == "." || variant == "..")
    throw Error(ErrorCode::invalid_input, "invalid variant name '" + std::string(variant) + "'");
  return repo.snapshot(sha) / "build" / std::string(variant);
}

void check_blob_name(const SealedVariantFile& f, const Entry& e) {
  if (!e.digest.empty() && f.digest != e.digest)
    throw Error(ErrorCode::integrity,
                "file " + f.path + ": cache blob " + e.file.string() + " is corrupt: expected digest " +
                    e.digest + " (its name), actual " + f.digest,
                "reinstall the kernel with `kernel-lock install`");
}

// The kernel digest of the sealed files (those the digest covers), in `algorithm`:
// sha256 from the raw digests taken while copying, sha512 from the sealed memory.
trust::KernelDigest sealed_kernel_digest(const std::vector<SealedVariantFile>& files,
                                         const std::map<std::string, std::vector<std::uint8_t>>& sha256_raw,
                                         trust::DigestAlgorithm algorithm) {
  trust::KernelDigest actual;
  actual.algorithm = algorithm;
  for (const auto& f : files) {
    if (!trust::is_digested_path(f.path)) continue;
    actual.files[f.path] = algorithm == trust::DigestAlgorithm::sha256
                               ? trust::encode_kernel_file_digest(sha256_raw.at(f.path))
                               : trust::kernel_file_digest(f.content.read(), algorithm);
  }
  return actual;
}

// The sealed content of `path` (at most `max_bytes`); Error(integrity) naming the
// signature check when the variant has no such file.
std::string signed_file(const SealedVariant& v, std::string_view path, std::size_t max_bytes,
                        const std::string& where, const LockedSignature& pinned) {
  const SealedVariantFile* f = v.find(path);
  if (!f)
    throw Error(ErrorCode::integrity,
                where + ": signature check: " + std::string(path) + " is missing, but the lock pins a signature by " +
                    pinned.describe(),
                "reinstall the kernel with `kernel-lock install` (from a bundle made with `kernel-lock bundle`)");
  if (f->content.size() > max_bytes)
    throw Error(ErrorCode::integrity, where + ": signature check: " + std::string(path) + " is " +
                                          std::to_string(f->content.size()) + " bytes, over the limit of " +
                                          std::to_string(max_bytes));
  return f->content.read();
}

// The signature check of read_locked_variant (see sealed_variant.hpp), on `v`'s
// sealed bytes: signature first, then metadata.json's kernel digest.
void verify_signed_variant(const SealedVariant& v, const LockedSignature& pinned, const trust::Verifier& verifier,
                           const std::map<std::string, std::vector<std::uint8_t>>& sha256_raw,
                           const std::string& where) {
  const std::string bundle = signed_file(v, "metadata.json.sigstore", trust::kMaxBundleBytes, where, pinned);
  const std::string metadata = signed_file(v, "metadata.json", trust::kMaxMetadataBytes, where, pinned);
  const auto verdict = verifier.verify_blob(
      std::span(reinterpret_cast<const std::uint8_t*>(metadata.data()), metadata.size()), bundle,
      trust::pinned_policy(pinned));
  if (!verdict.verified)
    throw Error(ErrorCode::integrity,
                where + ": the signature of metadata.json is rejected at " +
                    std::string(trust::to_string(verdict.failed_step)) + ": " + verdict.message +
                    " (the lock pins " + pinned.describe() + ")",
                "the cache or the lock was altered; reinstall with `kernel-lock install`, or re-lock with "
                "`kernel-lock resolve` if the signer changed on purpose");
  trust::KernelDigest expected;
  try {
    expected = trust::parse_kernel_digest(metadata);
  } catch (const Error& e) {
    throw Error(ErrorCode::integrity, where + ": the signed metadata.json has no usable kernel digest: " + e.message());
  }
  const auto comparison = trust::compare_kernel_digest(expected, sealed_kernel_digest(v.files, sha256_raw, expected.algorithm));
  if (!comparison.matches())
    throw Error(ErrorCode::integrity,
                where + ": kernel digest violation: the files do not match signed metadata.json: " +
                    comparison.describe(),
                "the variant's files differ from what its signer built; reinstall with `kernel-lock install`");
}

}  // namespace

SealedFile::SealedFile(SealedFile&& other) noexcept
    : fd_(std::move(other.fd_)), size_(std::exchange(other.size_, 0)) {}

SealedFile& SealedFile::operator=(SealedFile&& other) noexcept {
  if (this != &other) {
    fd_ = std::move(other.fd_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SealedFile::~SealedFile() = default;

SealedFile SealedFile::from_bytes(std::string_view name, std::string_view bytes) {
  Fd mem = make_memfd(name);
  write_all(mem.get(), bytes.data(), bytes.size(), name);
  seal(mem.get(), name);
  return SealedFile(mem.release(), bytes.size());
}

std::string SealedFile::proc_path() const { return "/proc/self/fd/" + std::to_string(fd_.get()); }

std::string SealedFile::read() const {
  std::string out(size_, '\0');
  std::uint64_t done = 0;
  while (done < size_) {
    ssize_t n = ::pread(fd_.get(), out.data() + done, size_ - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::io, "reading sealed memory: " + errno_text(errno));
    }
    if (n == 0) break;
    done += static_cast<std::uint64_t>(n);
  }
  out.resize(done);
  return out;
}

std::string_view to_string(Trust trust) noexcept {
  switch (trust) {
    case Trust::locked: return "locked";
    case Trust::cache_blobs: return "unpinned (cache blobs only)";
    case Trust::local: return "local (unverified)";
  }
  return "unknown";
}

const SealedVariantFile* SealedVariant::find(std::string_view path) const noexcept {
  for (const auto& f : files)
    if (f.path == path) return &f;
  return nullptr;
}

namespace {

// What the lock and the options require before a byte is read: a signature
// when asked for, a verifier for a pinned one, a known hash type.
void check_load_preconditions(const LockedVariant& locked, const SignatureCheck& check, const std::string& where) {
  if (check.require_signature && !locked.signature)
    throw Error(ErrorCode::integrity, where + ": a signature is required, but the lock pins none for this variant",
                "re-lock with signatures (`kernel-lock resolve --trusted-root FILE` with a signed kernel), or "
                "drop the requirement (LoadOptions::require_signature / KERNEL_LOCK_REQUIRE_SIGNATURE)");
  if (locked.signature && !check.verifier)
    throw Error(ErrorCode::not_found, where + ": the lock pins a signature by " + locked.signature->describe() +
                                          ", but no Sigstore trusted root was given to verify it");
  if (!locked.hash_type.empty() && locked.hash_type != "git_lfs_concat")
    throw Error(ErrorCode::unsupported, where + ": unknown hash_type '" + locked.hash_type + "' in the lock");
}

// Same set of files in the cache as in the lock (when the lock lists files).
void check_same_files(const std::vector<Entry>& entries, const std::map<std::string, const LockedFile*>& expected,
                      const fs::path& dir, const std::string& where) {
  std::set<std::string> present;
  for (const auto& e : entries) present.insert(e.path);
  for (const auto& e : entries)
    if (!expected.count(e.path))
      throw Error(ErrorCode::integrity, where + ": file " + e.path + " is in the cache (" + e.link.string() +
                                            ") but not in the lock; refusing to load an altered variant",
                  "remove the extra file or reinstall the kernel with `kernel-lock install`");
  for (const auto& [path, f] : expected)
    if (!present.count(path))
      throw Error(ErrorCode::integrity, where + ": file " + path + " is in the lock (digest " + f->digest +
                                            ") but missing from the cache at " + (dir / path).string(),
                  "reinstall the kernel with `kernel-lock install`");
}

}  // namespace

SealedVariant read_locked_variant(const CacheRepoPaths& repo, std::string_view sha, std::string_view variant,
                                  const LockedVariant& locked, const SignatureCheck& check) {
  const fs::path dir = variant_dir_of(repo, sha, variant);
  const std::string where = "variant " + std::string(variant) + " at " + std::string(sha);
  check_load_preconditions(locked, check, where);
  auto entries = list_entries(dir, repo.blobs());

  std::map<std::string, const LockedFile*> expected;
  for (const auto& f : locked.files)
    if (is_hashed_variant_path(f.path)) expected[f.path] = &f;

  if (!locked.files.empty()) check_same_files(entries, expected, dir, where);  // before reading a byte

  SealedVariant out;
  out.variant = std::string(variant);
  out.directory = dir;
  out.trust = Trust::locked;
  out.files.reserve(entries.size());
  // Files read, hashed and checked in parallel when the variant is large enough
  // to pay for the threads; the error of the first failing file (path order) wins.
  std::vector<std::vector<std::uint8_t>> raw(entries.size());  // signed variants: the kernel digest's input
  std::vector<SealedVariantFile> sealed_files(entries.size());
  parallel_for(entries.size(), read_threads(entries), [&](std::size_t i) {
    const Entry& e = entries[i];
    // The lock's per-file record says which digest the Hub uses; a Python lock
    // has none, and the strict snapshot policy guarantees a digest-named blob.
    const LockedFile* record = nullptr;
    if (auto it = expected.find(e.path); it != expected.end()) record = it->second;
    const DigestKind kind = record ? record->kind : e.kind;
    auto sealed = read_sealed(e, kind, locked.signature ? &raw[i] : nullptr);
    if (record) {
      if (sealed.digest != record->digest)
        throw Error(ErrorCode::integrity,
                    where + ": file " + e.path + " (" + e.file.string() + ") does not match the lock: expected " +
                        std::string(to_string(kind)) + " " + record->digest + ", actual " + sealed.digest,
                    "the cache was altered after install; reinstall with `kernel-lock install`");
      if (record->size != 0 && sealed.content.size() != record->size)
        throw Error(ErrorCode::integrity, where + ": file " + e.path + " has size " +
                                              std::to_string(sealed.content.size()) + ", the lock says " +
                                              std::to_string(record->size));
    } else {
      check_blob_name(sealed, e);
    }
    sealed_files[i] = std::move(sealed);
  });
  std::map<std::string, std::vector<std::uint8_t>> sha256_raw;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (locked.signature) sha256_raw[entries[i].path] = std::move(raw[i]);
    out.files.push_back(std::move(sealed_files[i]));
  }
  out.variant_hash = variant_hash_of(out.files);
  if (out.variant_hash != locked.hash)
    throw Error(ErrorCode::integrity,
                where + ": variant hash of the cached files does not match the lock: expected " + locked.hash +
                    ", actual " + out.variant_hash + " (over " + std::to_string(out.files.size()) + " files in " +
                    dir.string() + ")",
                "a file was added, removed, changed or re-pointed; reinstall with `kernel-lock install`");
  if (locked.signature) {
    verify_signed_variant(out, *locked.signature, *check.verifier, sha256_raw, where);
    out.signer = locked.signature;
  }
  return out;
}

SealedVariant read_cached_variant(const CacheRepoPaths& repo, std::string_view sha, std::string_view variant) {
  const fs::path dir = variant_dir_of(repo, sha, variant);
  auto entries = list_entries(dir, repo.blobs());
  SealedVariant out;
  out.variant = std::string(variant);
  out.directory = dir;
  out.trust = Trust::cache_blobs;
  for (const auto& e : entries) {
    auto sealed = read_sealed(e, e.kind);
    check_blob_name(sealed, e);
    out.files.push_back(std::move(sealed));
  }
  out.variant_hash = variant_hash_of(out.files);
  return out;
}

SealedVariant read_local_variant(const fs::path& variant_dir) {
  auto entries = list_entries(variant_dir, std::nullopt);
  SealedVariant out;
  out.variant = variant_dir.filename().string();
  out.directory = variant_dir;
  out.trust = Trust::local;
  for (const auto& e : entries) out.files.push_back(read_sealed(e, DigestKind::git_sha1));
  out.variant_hash = variant_hash_of(out.files);
  return out;
}

}  // namespace kernel_lock
