// stream_file: one pass over a file computing its OCI and Hub digests, copying it when asked.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/unique_fd.hpp"
#include "oci_internal.hpp"

namespace kernel_lock::oci_detail {
namespace {

Error io_error(const std::string& what, const std::filesystem::path& path, int err) {
  return Error(err == ENOENT ? ErrorCode::not_found : ErrorCode::io, what + " " + path.string() + ": " + std::strerror(err));
}

void write_all(int fd, const char* data, std::size_t n, const std::filesystem::path& dst) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw io_error("cannot write", dst, errno);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

StreamDigests stream_file(const std::filesystem::path& src, const std::filesystem::path& dst, bool git_sha1,
                          std::uint64_t declared_size, bool follow) {
  UniqueFd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW)));
  if (in.get() < 0) throw io_error("cannot open", src, errno);
  UniqueFd out;
  if (!dst.empty()) {
    out = UniqueFd(::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (out.get() < 0) throw io_error("cannot create", dst, errno);
  }
  Hasher sha256(Hasher::Algorithm::sha256);
  std::optional<Hasher> sha1;  // the git blob id; an LFS file's Hub digest is its sha256
  if (git_sha1) {
    sha1.emplace(Hasher::Algorithm::sha1);
    std::string prefix = "blob " + std::to_string(declared_size);
    prefix.push_back('\0');
    sha1->update(std::string_view(prefix));
  }
  constexpr std::size_t kBuffer = 1 << 20;
  auto buffer = std::make_unique_for_overwrite<char[]>(kBuffer);
  StreamDigests result;
  for (;;) {
    ssize_t n = ::read(in.get(), buffer.get(), kBuffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw io_error("cannot read", src, errno);
    }
    if (n == 0) break;
    std::string_view chunk(buffer.get(), static_cast<std::size_t>(n));
    sha256.update(chunk);
    if (sha1) sha1->update(chunk);
    if (out.get() >= 0) write_all(out.get(), chunk.data(), chunk.size(), dst);
    result.size += static_cast<std::uint64_t>(n);
  }
  if (out.get() >= 0 && ::fsync(out.get()) != 0) throw io_error("cannot fsync", dst, errno);
  result.sha256 = sha256.finish_hex();
  result.hub = sha1 ? sha1->finish_hex() : result.sha256;
  return result;
}

}  // namespace kernel_lock::oci_detail
