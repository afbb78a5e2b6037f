// Digests for the Hub and kernel.lock: streaming SHA-256 / git blob SHA-1 over
// OpenSSL's SHA contexts, file hashing with large sequential reads, a parallel API for many
// files, and the `git_lfs_concat` variant hash (docs/formats.md, "Variant hash").
#include "kernel_lock/core/hash.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <system_error>
#include <thread>
#include <utility>

// The one-shot SHA contexts, not EVP: OpenSSL 3's first EVP_MD_fetch loads the
// config and builds the default provider's whole method store (measured: 0.6-1.5 ms
// once per process, most of a small kernel's verified load), while SHA256_Init
// costs microseconds and runs the same assembly (SHA-NI). Deprecated in 3.0,
// still part of the API.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/parallel.hpp"
#include "kernel_lock/core/unique_fd.hpp"

namespace kernel_lock {
namespace {

namespace fs = std::filesystem;

// Read size for file hashing: large enough that syscall overhead is negligible
// next to SHA-256 (~1 GB/s with SHA-NI), small enough that the buffer stays in L2
// between read() and the hash (measured: 256 KiB beats 1 MiB by ~4% on a warm
// 1 GiB file; 32-256 KiB are equal). Not mmap: a file truncated while mapped
// would kill the process with SIGBUS, where read() gives a clean error.
constexpr std::size_t kReadBufferSize = std::size_t{256} << 10;

// A read-only POSIX file descriptor, opened with the error texts of this file.
class ReadFd {
 public:
  explicit ReadFd(const fs::path& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (!fd_.valid()) {
      int err = errno;
      if (err == ENOENT) throw Error(ErrorCode::not_found, "no such file: " + path.string());
      throw Error(ErrorCode::io, "cannot open " + path.string() + ": " + std::strerror(err));
    }
  }
  int get() const noexcept { return fd_.get(); }

 private:
  UniqueFd fd_;
};

std::uint8_t* read_buffer() {
  // One buffer per thread: no allocation per file when hashing many small files.
  thread_local std::unique_ptr<std::uint8_t[]> buffer(new std::uint8_t[kReadBufferSize]);
  return buffer.get();
}

// Opens a regular file, reports its size to `on_size` (before any content), then
// feeds its content to `on_chunk` in order. Throws Error naming the path when it
// is missing, not a regular file, unreadable, or changes size while being read.
template <class OnSize, class OnChunk>
std::uint64_t stream_file(const fs::path& path, OnSize&& on_size, OnChunk&& on_chunk) {
  ReadFd fd(path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    throw Error(ErrorCode::io, "cannot stat " + path.string() + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::invalid_input, "not a regular file: " + path.string());
  const auto expected = static_cast<std::uint64_t>(st.st_size);
  on_size(expected);
  // Advice only: failure is harmless.
  (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  std::uint8_t* buffer = read_buffer();
  std::uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, kReadBufferSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::io, "cannot read " + path.string() + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    total += static_cast<std::uint64_t>(n);
    if (total > expected) break;
    on_chunk(std::span<const std::uint8_t>(buffer, static_cast<std::size_t>(n)));
  }
  if (total != expected)
    throw Error(ErrorCode::io, "file changed size while being hashed: " + path.string() + " (expected " +
                                   std::to_string(expected) + " bytes, read " + std::to_string(total) + ")");
  return total;
}

std::string git_blob_header(std::uint64_t size) { return "blob " + std::to_string(size) + std::string(1, '\0'); }

}  // namespace

// ---- Names and hex ----------------------------------------------------------

std::string_view to_string(DigestKind kind) noexcept {
  return kind == DigestKind::git_sha1 ? "git-sha1" : "sha256";
}

DigestKind parse_digest_kind(std::string_view text) {
  if (text == "git-sha1") return DigestKind::git_sha1;
  if (text == "sha256") return DigestKind::lfs_sha256;
  throw Error(ErrorCode::invalid_input, "unknown digest kind '" + std::string(text) + "' (expected git-sha1 or sha256)");
}

DigestKind digest_kind_from_hex(std::string_view hex) {
  if (hex.size() == 40) return DigestKind::git_sha1;
  if (hex.size() == 64) return DigestKind::lfs_sha256;
  throw Error(ErrorCode::invalid_input, "digest '" + std::string(hex.substr(0, 80)) + "' has " +
                                            std::to_string(hex.size()) +
                                            " characters; expected 40 (git blob sha1) or 64 (sha256)");
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return out;
}

std::vector<std::uint8_t> from_hex(std::string_view hex) {
  auto nibble = [&](char c) -> std::uint8_t {
    if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<std::uint8_t>(c - 'A' + 10);
    throw Error(ErrorCode::invalid_input, "invalid hex digit '" + std::string(1, c) + "' in '" +
                                              std::string(hex.substr(0, 80)) + "'");
  };
  if (hex.size() % 2 != 0)
    throw Error(ErrorCode::invalid_input, "hex string of odd length " + std::to_string(hex.size()) + ": '" +
                                              std::string(hex.substr(0, 80)) + "'");
  std::vector<std::uint8_t> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::uint8_t>((nibble(hex[2 * i]) << 4) | nibble(hex[2 * i + 1]));
  return out;
}

// ---- Hasher -----------------------------------------------------------------

struct Hasher::Impl {
  Algorithm algorithm;
  SHA_CTX sha1{};
  SHA256_CTX sha256{};
  bool finished = false;
};

Hasher::Hasher(Algorithm algorithm) : impl_(std::make_unique<Impl>()) {
  impl_->algorithm = algorithm;
  const int ok = algorithm == Algorithm::sha1 ? SHA1_Init(&impl_->sha1) : SHA256_Init(&impl_->sha256);
  if (ok != 1) throw Error(ErrorCode::generic, "OpenSSL: SHA init failed");
}
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

void Hasher::update(std::span<const std::uint8_t> bytes) {
  if (!impl_ || impl_->finished) throw Error(ErrorCode::generic, "Hasher::update after finish() or move");
  if (bytes.empty()) return;
  const int ok = impl_->algorithm == Algorithm::sha1 ? SHA1_Update(&impl_->sha1, bytes.data(), bytes.size())
                                                     : SHA256_Update(&impl_->sha256, bytes.data(), bytes.size());
  if (ok != 1) throw Error(ErrorCode::generic, "OpenSSL: SHA update failed");
}

void Hasher::update(std::string_view bytes) {
  update(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::vector<std::uint8_t> Hasher::finish() {
  if (!impl_ || impl_->finished) throw Error(ErrorCode::generic, "Hasher::finish called twice or after move");
  impl_->finished = true;
  const bool sha1 = impl_->algorithm == Algorithm::sha1;
  std::vector<std::uint8_t> out(sha1 ? SHA_DIGEST_LENGTH : SHA256_DIGEST_LENGTH);
  const int ok = sha1 ? SHA1_Final(out.data(), &impl_->sha1) : SHA256_Final(out.data(), &impl_->sha256);
  if (ok != 1) throw Error(ErrorCode::generic, "OpenSSL: SHA final failed");
  return out;
}

std::string Hasher::finish_hex() { return to_hex(finish()); }

// ---- In-memory and single-file digests ---------------------------------------

std::string sha256_hex(std::string_view bytes) {
  Hasher h(Hasher::Algorithm::sha256);
  h.update(bytes);
  return h.finish_hex();
}

std::string git_blob_sha1_hex(std::string_view content) {
  Hasher h(Hasher::Algorithm::sha1);
  h.update(git_blob_header(content.size()));
  h.update(content);
  return h.finish_hex();
}

std::string sha256_hex_file(const fs::path& path) {
  Hasher h(Hasher::Algorithm::sha256);
  stream_file(path, [](std::uint64_t) {}, [&](std::span<const std::uint8_t> chunk) { h.update(chunk); });
  return h.finish_hex();
}

std::string git_blob_sha1_hex_file(const fs::path& path) {
  Hasher h(Hasher::Algorithm::sha1);
  stream_file(path, [&](std::uint64_t size) { h.update(git_blob_header(size)); },
              [&](std::span<const std::uint8_t> chunk) { h.update(chunk); });
  return h.finish_hex();
}

std::string file_digest_hex(const fs::path& path, DigestKind kind) {
  return kind == DigestKind::git_sha1 ? git_blob_sha1_hex_file(path) : sha256_hex_file(path);
}

FileDigests digest_file_both(const fs::path& path) {
  Hasher sha256(Hasher::Algorithm::sha256);
  Hasher sha1(Hasher::Algorithm::sha1);
  FileDigests out;
  out.size = stream_file(path, [&](std::uint64_t size) { sha1.update(git_blob_header(size)); },
                         [&](std::span<const std::uint8_t> chunk) {
                           sha256.update(chunk);
                           sha1.update(chunk);
                         });
  out.sha256_hex = sha256.finish_hex();
  out.git_sha1_hex = sha1.finish_hex();
  return out;
}

// ---- Variant hash -------------------------------------------------------------

bool is_hashed_variant_path(std::string_view relative_path) noexcept {
  if (relative_path.ends_with(".pyc")) return false;
  std::size_t start = 0;
  while (start <= relative_path.size()) {
    std::size_t end = relative_path.find('/', start);
    if (end == std::string_view::npos) end = relative_path.size();
    if (relative_path.substr(start, end - start) == "__pycache__") return false;
    start = end + 1;
  }
  return true;
}

std::string git_lfs_concat_hash(std::vector<VariantFileDigest> files) {
  std::erase_if(files, [](const VariantFileDigest& f) { return !is_hashed_variant_path(f.path); });
  // std::string compares with char_traits<char>::compare, which is memcmp-like on
  // unsigned bytes: the bytewise order that Python's sorted() gives for bytes.
  // Ties on the path (not possible for a real directory) fall back to the digest,
  // as Python's tuple sort does.
  std::sort(files.begin(), files.end(), [](const VariantFileDigest& a, const VariantFileDigest& b) {
    return a.path != b.path ? a.path < b.path : a.digest_hex < b.digest_hex;
  });
  Hasher h(Hasher::Algorithm::sha256);
  for (const auto& file : files) {
    std::vector<std::uint8_t> raw;
    try {
      digest_kind_from_hex(file.digest_hex);
      raw = from_hex(file.digest_hex);
    } catch (Error& e) {
      throw e.add_context("file '" + file.path + "'");
    }
    h.update(file.path);
    h.update(raw);
  }
  return "sha256-" + h.finish_hex();
}

// ---- Many files -----------------------------------------------------------------

std::vector<FileDigests> digest_files(const std::vector<fs::path>& paths, unsigned threads) {
  std::vector<FileDigests> out(paths.size());
  parallel_for(paths.size(), threads, [&](std::size_t i) { out[i] = digest_file_both(paths[i]); });
  return out;
}

std::vector<std::string> digest_files_hex(const std::vector<FileDigestRequest>& files, unsigned threads) {
  std::vector<std::string> out(files.size());
  parallel_for(files.size(), threads,
               [&](std::size_t i) { out[i] = file_digest_hex(files[i].path, files[i].kind); });
  return out;
}

// ---- Variant directories -------------------------------------------------------

DigestKindChooser lfs_glob_chooser(std::vector<std::string> lfs_globs) {
  return [globs = std::move(lfs_globs)](std::string_view relative_path, const fs::path&) {
    const std::string rel(relative_path);
    const auto slash = rel.rfind('/');
    const std::string base = slash == std::string::npos ? rel : rel.substr(slash + 1);
    for (const auto& glob : globs) {
      if (::fnmatch(glob.c_str(), rel.c_str(), 0) == 0 || ::fnmatch(glob.c_str(), base.c_str(), 0) == 0)
        return DigestKind::lfs_sha256;
    }
    return DigestKind::git_sha1;
  };
}

VariantDirectoryDigest hash_variant_files(std::vector<VariantFileSource> files, unsigned threads) {
  std::sort(files.begin(), files.end(),
            [](const VariantFileSource& a, const VariantFileSource& b) { return a.path < b.path; });
  VariantDirectoryDigest out;
  out.files.resize(files.size());
  parallel_for(files.size(), threads, [&](std::size_t i) {
    const VariantFileSource& job = files[i];
    auto& record = out.files[i];
    record.path = job.path;
    record.kind = job.kind;
    if (job.kind == DigestKind::git_sha1) {
      Hasher h(Hasher::Algorithm::sha1);
      record.size = stream_file(job.file, [&](std::uint64_t size) { h.update(git_blob_header(size)); },
                                [&](std::span<const std::uint8_t> chunk) { h.update(chunk); });
      record.digest_hex = h.finish_hex();
    } else {
      Hasher h(Hasher::Algorithm::sha256);
      record.size = stream_file(job.file, [](std::uint64_t) {}, [&](std::span<const std::uint8_t> chunk) { h.update(chunk); });
      record.digest_hex = h.finish_hex();
    }
    if (!job.expected_digest.empty() && job.expected_digest != record.digest_hex)
      throw Error(ErrorCode::integrity, "content of " + job.path + " (" + job.file.string() + ") has " +
                                            std::string(to_string(job.kind)) + " " + record.digest_hex +
                                            " but its cache blob is named '" + job.expected_digest + "'");
  });
  std::vector<VariantFileDigest> pairs;
  pairs.reserve(out.files.size());
  for (const auto& record : out.files) pairs.push_back({record.path, record.digest_hex});
  out.hash = git_lfs_concat_hash(std::move(pairs));
  return out;
}

}  // namespace kernel_lock
