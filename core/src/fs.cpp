#include "kernel_lock/core/fs.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>
#include <random>
#include <sstream>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/unique_fd.hpp"

namespace kernel_lock {
namespace {

Error io_error(const std::string& what, const std::filesystem::path& path, int err) {
  return Error(ErrorCode::io, what + " " + path.string() + ": " + std::strerror(err));
}

}  // namespace

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (!std::filesystem::exists(path)) throw Error(ErrorCode::not_found, "no such file: " + path.string());
    throw io_error("cannot open", path, err);
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw io_error("cannot read", path, errno);
  return std::move(buffer).str();
}

std::string read_file_at_most(const std::filesystem::path& path, std::uintmax_t max_bytes) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    const auto code = ec == std::errc::no_such_file_or_directory ? ErrorCode::not_found : ErrorCode::io;
    throw Error(code, path.string() + ": " + ec.message());
  }
  if (size > max_bytes)
    throw Error(ErrorCode::invalid_input, path.string() + ": larger than " + std::to_string(max_bytes) + " bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::io, path.string() + ": cannot open");
  std::string data(static_cast<std::size_t>(size), '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) throw Error(ErrorCode::io, path.string() + ": short read");
  return data;
}

std::filesystem::path temp_path_for(const std::filesystem::path& target) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::ostringstream name;
  name << target.filename().string() << ".tmp-" << ::getpid() << "-" << std::hex << rng();
  return target.parent_path() / name.str();
}

void fsync_directory(const std::filesystem::path& dir) {
  auto path = dir.empty() ? std::filesystem::path(".") : dir;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) throw io_error("cannot open directory", path, errno);
  if (::fsync(fd.get()) != 0 && errno != EINVAL) throw io_error("cannot fsync directory", path, errno);
}

void write_file_atomic(const std::filesystem::path& path, std::string_view bytes) {
  const auto tmp = temp_path_for(path);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) throw io_error("cannot create", tmp, errno);
  auto fail = [&](const char* what) {
    int err = errno;
    fd.reset();
    ::unlink(tmp.c_str());
    throw io_error(what, tmp, err);
  };
  const char* data = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd.get(), data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write");
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) fail("cannot fsync");
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw io_error("cannot rename into place", path, err);
  }
  fsync_directory(path.parent_path());
}

bool write_file_if_changed(const std::filesystem::path& path, std::string_view bytes) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) == bytes.size() &&
      read_file(path) == bytes) {
    return false;
  }
  write_file_atomic(path, bytes);
  return true;
}

namespace {
// nftw takes a plain function: its state lives in these, one walk per thread.
thread_local int remove_tree_errno = 0;
thread_local std::uintmax_t remove_tree_count = 0;

int remove_tree_entry(const char* path, const struct stat*, int type, struct FTW*) {
  const int rc = (type == FTW_DP || type == FTW_DNR) ? ::rmdir(path) : ::unlink(path);
  if (rc != 0 && errno != ENOENT) {
    remove_tree_errno = errno;
    return 1;  // stops the walk
  }
  if (rc == 0) ++remove_tree_count;
  return 0;
}
}  // namespace

std::uintmax_t remove_tree(const std::filesystem::path& path, std::error_code& ec) noexcept {
  ec.clear();
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) ec.assign(errno, std::generic_category());
    return 0;
  }
  remove_tree_errno = 0;
  remove_tree_count = 0;
  const int rc = ::nftw(path.c_str(), remove_tree_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (rc != 0) ec.assign(remove_tree_errno != 0 ? remove_tree_errno : errno, std::generic_category());
  return remove_tree_count;
}

}  // namespace kernel_lock
