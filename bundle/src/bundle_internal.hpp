// Private helpers of the bundle / install / verify sources: a streaming content
// hasher keyed by a Hub digest (the libarchive owners are in archive_handles.hpp).
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/unique_fd.hpp"
#include "kernel_lock/bundle/archive_handles.hpp"

namespace kernel_lock::bundle_detail {

// Hashes content the way the Hub names it: sha256 for a 64-hex (LFS) digest,
// git blob sha1 ("blob <size>\0" prefix) for a 40-hex one.
class ContentHasher {
 public:
  ContentHasher(std::string_view digest, std::uint64_t size)
      : hasher_(digest.size() == 64 ? Hasher::Algorithm::sha256 : Hasher::Algorithm::sha1) {
    if (digest.size() == 40) {
      std::string prefix = "blob " + std::to_string(size);
      prefix.push_back('\0');
      hasher_.update(std::string_view(prefix));
    }
  }
  void update(std::string_view bytes) { hasher_.update(bytes); }
  std::string finish_hex() { return hasher_.finish_hex(); }

 private:
  Hasher hasher_;
};

// Streams a file into `fn` in 1 MiB chunks; returns the byte count. Throws Error(io).
template <class Fn>
std::uint64_t read_chunks(const std::filesystem::path& path, Fn&& fn) {
  UniqueFd owned(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  const int fd = owned.get();
  if (fd < 0) {
    int err = errno;
    throw Error(err == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                "cannot open " + path.string() + ": " + std::strerror(err));
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  // Uninitialised: a small file touches one page of it, not a zeroed 1 MiB.
  constexpr std::size_t kBufferSize = 1 << 20;
  auto buffer = std::make_unique_for_overwrite<char[]>(kBufferSize);
  std::uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buffer.get(), kBufferSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::io, "cannot read " + path.string() + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    fn(std::string_view(buffer.get(), static_cast<std::size_t>(n)));
    total += static_cast<std::uint64_t>(n);
  }
  return total;
}

// Digest (named like `digest_like`: 40 -> git sha1, 64 -> sha256) and size of a file.
struct ContentDigest {
  std::string digest;
  std::uint64_t size = 0;
};
inline ContentDigest digest_content(const std::filesystem::path& path, std::string_view digest_like) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorCode::not_found, "cannot stat " + path.string() + ": " + ec.message());
  ContentHasher hasher(digest_like, size);
  std::uint64_t n = read_chunks(path, [&](std::string_view c) { hasher.update(c); });
  if (n != size) throw Error(ErrorCode::io, path.string() + " changed while being read");
  return {hasher.finish_hex(), n};
}

}  // namespace kernel_lock::bundle_detail
