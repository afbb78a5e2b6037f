// Reading variants into sealed memfds, with verification (see sealed_variant.hpp).
#include "kernel_lock/loader/sealed_variant.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <system_error>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/unique_fd.hpp"

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

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<DigestKind> kind_of_blob_name(std::string_view name) {
  if (!is_hex(name)) return std::nullopt;
  if (name.size() == 40) return DigestKind::git_sha1;
  if (name.size() == 64) return DigestKind::lfs_sha256;
  return std::nullopt;
}

// One file of a variant as found on disk.
struct Entry {
  std::string rel;          // relative path, '/'-separated
  fs::path path;            // the entry in the variant directory
  fs::path target;          // file to open (blob for symlinks)
  std::optional<std::string> blob_name;  // digest named by the blob, when a cache symlink
};

// Walks `dir`, refusing anything that is not a regular file or a symlink to one
// in `blobs` (when given). Skipped paths (*.pyc, __pycache__) are left out.
std::vector<Entry> list_entries(const fs::path& dir, const std::optional<fs::path>& blobs) {
  std::vector<Entry> entries;
  std::error_code ec;
  auto st = fs::symlink_status(dir, ec);
  if (ec || !fs::is_directory(st)) {
    if (fs::is_symlink(st))
      throw Error(ErrorCode::integrity, "variant directory " + dir.string() + " is a symlink; refusing to follow it");
    throw Error(ErrorCode::not_found, "variant directory " + dir.string() + " does not exist",
                "run `kernel-lock install <bundle>` (or `kernel-lock bundle` then `install` on an air-gapped node)");
  }
  fs::path blobs_norm = blobs ? blobs->lexically_normal() : fs::path();
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) throw Error(ErrorCode::io, "listing " + dir.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw Error(ErrorCode::io, "listing " + dir.string() + ": " + ec.message());
    const fs::path& p = it->path();
    std::string rel = p.lexically_relative(dir).generic_string();
    auto s = it->symlink_status(ec);
    if (ec) throw Error(ErrorCode::io, "stat " + p.string() + ": " + ec.message());
    if (fs::is_directory(s)) {
      if (!is_hashed_variant_path(rel)) it.disable_recursion_pending();
      continue;
    }
    if (!is_hashed_variant_path(rel)) continue;
    Entry e{rel, p, p, std::nullopt};
    if (fs::is_symlink(s)) {
      fs::path link = fs::read_symlink(p, ec);
      if (ec) throw Error(ErrorCode::io, "readlink " + p.string() + ": " + ec.message());
      fs::path resolved = (link.is_absolute() ? link : p.parent_path() / link).lexically_normal();
      if (blobs) {
        if (resolved.parent_path() != blobs_norm)
          throw Error(ErrorCode::integrity,
                      "file " + rel + " in " + dir.string() + " is a symlink to " + link.string() +
                          ", outside the repository's blobs/ directory",
                      "reinstall the kernel with `kernel-lock install`");
        e.blob_name = resolved.filename().string();
      }
      e.target = resolved;
      auto ts = fs::symlink_status(resolved, ec);
      if (ec || !fs::is_regular_file(ts)) {
        if (!blobs && fs::is_regular_file(fs::status(resolved, ec))) {
          e.target = fs::canonical(resolved, ec);  // local dirs may chain symlinks
        } else {
          throw Error(ErrorCode::not_found, "file " + rel + " in " + dir.string() + " points to " + link.string() +
                                                ", which is missing or not a regular file",
                      "reinstall the kernel with `kernel-lock install`");
        }
      }
    } else if (!fs::is_regular_file(s)) {
      throw Error(ErrorCode::integrity, "file " + rel + " in " + dir.string() + " is not a regular file or symlink");
    }
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.rel < b.rel; });
  return entries;
}

// Reads `entry.target` once into a sealed memfd, hashing the bytes with `kind`.
SealedVariantFile read_sealed(const Entry& entry, DigestKind kind) {
  Fd src(::open(entry.target.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (src.get() < 0) {
    int err = errno;
    throw Error(err == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                "opening " + entry.target.string() + " (for " + entry.rel + "): " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(src.get(), &st) != 0 || !S_ISREG(st.st_mode))
    throw Error(ErrorCode::integrity, entry.target.string() + " (for " + entry.rel + ") is not a regular file");
  const auto expected_size = static_cast<std::uint64_t>(st.st_size);

  Fd mem = make_memfd(entry.rel);
  Hasher hasher(kind == DigestKind::git_sha1 ? Hasher::Algorithm::sha1 : Hasher::Algorithm::sha256);
  if (kind == DigestKind::git_sha1) {
    std::string header = "blob " + std::to_string(expected_size);
    header.push_back('\0');
    hasher.update(std::string_view(header));
  }
  // Uninitialised and no larger than the file: kernels' small files (Python
  // sources, metadata) then cost no 1 MiB allocation and zeroing each.
  const std::size_t buffer_size = static_cast<std::size_t>(std::clamp<std::uint64_t>(expected_size, 4096, 1 << 20));
  auto buffer = std::make_unique_for_overwrite<char[]>(buffer_size);
  std::uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(src.get(), buffer.get(), buffer_size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::io, "reading " + entry.target.string() + ": " + errno_text(errno));
    }
    if (n == 0) break;
    hasher.update(std::string_view(buffer.get(), static_cast<std::size_t>(n)));
    write_all(mem.get(), buffer.get(), static_cast<std::size_t>(n), entry.rel);
    total += static_cast<std::uint64_t>(n);
  }
  if (total != expected_size)
    throw Error(ErrorCode::integrity, entry.target.string() + " changed size while being read (for " + entry.rel + ")");
  seal(mem.get(), entry.rel);
  SealedVariantFile out;
  out.path = entry.rel;
  out.source = entry.target;
  out.digest = hasher.finish_hex();
  out.kind = kind;
  out.content = SealedFile(mem.release(), total);
  return out;
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
  if (e.blob_name && f.digest != *e.blob_name)
    throw Error(ErrorCode::integrity,
                "file " + f.path + ": cache blob " + e.target.string() + " is corrupt: expected digest " +
                    *e.blob_name + " (its name), actual " + f.digest,
                "reinstall the kernel with `kernel-lock install`");
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

SealedVariant read_locked_variant(const CacheRepoPaths& repo, std::string_view sha, std::string_view variant,
                                  const LockedVariant& locked) {
  const fs::path dir = variant_dir_of(repo, sha, variant);
  const std::string where = "variant " + std::string(variant) + " at " + std::string(sha);
  if (!locked.hash_type.empty() && locked.hash_type != "git_lfs_concat")
    throw Error(ErrorCode::unsupported, where + ": unknown hash_type '" + locked.hash_type + "' in the lock");
  auto entries = list_entries(dir, repo.blobs());

  std::map<std::string, const LockedFile*> expected;
  for (const auto& f : locked.files)
    if (is_hashed_variant_path(f.path)) expected[f.path] = &f;

  if (!locked.files.empty()) {
    // Same set of files as the lock, before reading a byte.
    std::set<std::string> present;
    for (const auto& e : entries) present.insert(e.rel);
    for (const auto& e : entries)
      if (!expected.count(e.rel))
        throw Error(ErrorCode::integrity, where + ": file " + e.rel + " is in the cache (" + e.path.string() +
                                              ") but not in the lock; refusing to load an altered variant",
                    "remove the extra file or reinstall the kernel with `kernel-lock install`");
    for (const auto& [path, f] : expected)
      if (!present.count(path))
        throw Error(ErrorCode::integrity, where + ": file " + path + " is in the lock (digest " + f->digest +
                                              ") but missing from the cache at " + (dir / path).string(),
                    "reinstall the kernel with `kernel-lock install`");
  }

  SealedVariant out;
  out.variant = std::string(variant);
  out.directory = dir;
  out.trust = Trust::locked;
  out.files.reserve(entries.size());
  for (const auto& e : entries) {
    DigestKind kind;
    const LockedFile* record = nullptr;
    if (auto it = expected.find(e.rel); it != expected.end()) {
      record = it->second;
      kind = record->kind;
    } else if (auto k = e.blob_name ? kind_of_blob_name(*e.blob_name) : std::nullopt) {
      kind = *k;  // Python lock: the blob name tells which digest the Hub uses
    } else {
      throw Error(ErrorCode::integrity,
                  where + ": cannot tell the digest kind of " + e.rel + ": the lock has no per-file record and " +
                      e.path.string() + " is not a symlink to a digest-named cache blob",
                  "reinstall the kernel with `kernel-lock install`, or re-lock with `kernel-lock resolve`");
    }
    auto sealed = read_sealed(e, kind);
    if (record) {
      if (sealed.digest != record->digest)
        throw Error(ErrorCode::integrity,
                    where + ": file " + e.rel + " (" + e.target.string() + ") does not match the lock: expected " +
                        std::string(to_string(kind)) + " " + record->digest + ", actual " + sealed.digest,
                    "the cache was altered after install; reinstall with `kernel-lock install`");
      if (record->size != 0 && sealed.content.size() != record->size)
        throw Error(ErrorCode::integrity, where + ": file " + e.rel + " has size " +
                                              std::to_string(sealed.content.size()) + ", the lock says " +
                                              std::to_string(record->size));
    } else {
      check_blob_name(sealed, e);
    }
    out.files.push_back(std::move(sealed));
  }
  out.variant_hash = variant_hash_of(out.files);
  if (out.variant_hash != locked.hash)
    throw Error(ErrorCode::integrity,
                where + ": variant hash of the cached files does not match the lock: expected " + locked.hash +
                    ", actual " + out.variant_hash + " (over " + std::to_string(out.files.size()) + " files in " +
                    dir.string() + ")",
                "a file was added, removed, changed or re-pointed; reinstall with `kernel-lock install`");
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
    auto k = e.blob_name ? kind_of_blob_name(*e.blob_name) : std::nullopt;
    auto sealed = read_sealed(e, k.value_or(DigestKind::git_sha1));
    if (k) check_blob_name(sealed, e);
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
