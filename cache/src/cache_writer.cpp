#include "kernel_lock/cache/cache_writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <utility>

#include "kernel_lock/cache/snapshot.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/unique_fd.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
namespace {

Error io_error(const std::string& what, const fs::path& path, int err) {
  return Error(ErrorCode::io, what + " " + path.string() + ": " + std::strerror(err));
}

std::string random_suffix() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::ostringstream out;
  out << ::getpid() << "-" << std::hex << rng();
  return out.str();
}

using Fd = UniqueFd;

// Copies `from` to a new file `to` (O_EXCL) and fsyncs it.
void copy_file_synced(const fs::path& from, const fs::path& to) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) throw io_error("cannot open", from, errno);
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (out.get() < 0) throw io_error("cannot create", to, errno);
  std::vector<char> buffer(1 << 20);
  for (;;) {
    ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw io_error("cannot read", from, errno);
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out.get(), buffer.data() + done, static_cast<size_t>(n - done));
      if (w < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::unlink(to.c_str());
        throw io_error("cannot write", to, err);
      }
      done += w;
    }
  }
  if (::fsync(out.get()) != 0) {
    int err = errno;
    ::unlink(to.c_str());
    throw io_error("cannot fsync", to, err);
  }
}

// The links of an installed snapshot directory as the strict snapshot reader
// accepts them: relative path -> link text. nullopt when the reader refuses the
// directory or any entry in it (the directory is then rewritten).
std::optional<std::map<std::string, std::string>> read_link_tree(const fs::path& dir, const fs::path& blobs) {
  SnapshotOptions options{SnapshotPolicy::strict, blobs};
  options.skip_unhashed = false;  // every entry counts: a stray file makes the directory differ
  try {
    auto listing = scan_snapshot(dir, options);
    if (!listing.problems.empty()) return std::nullopt;
    std::map<std::string, std::string> out;
    for (auto& e : listing.entries) out.emplace(std::move(e.path), std::move(e.link_target));
    return out;
  } catch (const Error&) {
    return std::nullopt;
  }
}

// The links snapshots/<sha>/<dir> must hold for `files`: relative path below
// `dir` -> link text. Throws Error(invalid_input) for a bad sha, path or digest.
std::map<std::string, std::string> wanted_links(std::string_view sha, std::string_view dir,
                                                const std::vector<SnapshotFile>& files) {
  check_commit_sha(sha, "snapshot");
  check_relative_path(dir, "snapshot directory");
  const std::string prefix = std::string(dir) + "/";
  std::map<std::string, std::string> wanted;
  for (const auto& f : files) {
    check_relative_path(f.path, "snapshot file");
    check_blob_digest(f.digest, "snapshot file " + f.path);
    if (!std::string_view(f.path).starts_with(prefix))
      throw Error(ErrorCode::invalid_input, "snapshot file " + f.path + " is not below " + std::string(dir));
    wanted[f.path.substr(prefix.size())] = snapshot_link_target(f.path, f.digest);
  }
  return wanted;
}

}  // namespace

std::string snapshot_link_target(std::string_view path, std::string_view digest) {
  std::string target = "../../";
  for (char c : path)
    if (c == '/') target += "../";
  target += "blobs/";
  target += digest;
  return target;
}

fs::path cache_lock_path(const fs::path& cache_dir, std::string_view repo_folder, std::string_view name) {
  return cache_dir / ".locks" / std::string(repo_folder) / (std::string(name) + ".lock");
}

// ---------------------------------------------------------------- CacheFileLock

CacheFileLock CacheFileLock::acquire(const fs::path& lock_path) {
  std::error_code ec;
  fs::create_directories(lock_path.parent_path(), ec);
  if (ec) throw Error(ErrorCode::io, "cannot create " + lock_path.parent_path().string() + ": " + ec.message());
  for (;;) {
    Fd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0664));
    if (fd.get() < 0) throw io_error("cannot open lock file", lock_path, errno);
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) throw io_error("cannot lock", lock_path, errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw io_error("cannot stat lock file", lock_path, errno);
    if (st.st_nlink == 0) continue;  // unlinked by a releasing older filelock: retry on the new inode
    return CacheFileLock(std::move(fd));
  }
}

CacheFileLock::CacheFileLock(CacheFileLock&& other) noexcept = default;

CacheFileLock& CacheFileLock::operator=(CacheFileLock&& other) noexcept {
  if (this != &other) {
    unlock();
    fd_ = std::move(other.fd_);
  }
  return *this;
}

CacheFileLock::~CacheFileLock() { unlock(); }

void CacheFileLock::unlock() noexcept {
  if (fd_.valid()) ::flock(fd_.get(), LOCK_UN);
  fd_.reset();
}

// ---------------------------------------------------------------- CacheWriter

CacheWriter::CacheWriter(fs::path cache_dir) : cache_dir_(std::move(cache_dir)) {}

CacheWriter::~CacheWriter() {
  if (staging_) {
    std::error_code ec;
    remove_tree(*staging_, ec);
    // The shared parent goes too when no other writer uses it (rmdir fails
    // on a non-empty directory; staging_dir() retries if it loses that race).
    ::rmdir(staging_->parent_path().c_str());
  }
}

const fs::path& CacheWriter::staging_dir() {
  if (staging_) return *staging_;
  const fs::path base = cache_dir_ / ".kernel-lock-staging";
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec) throw Error(ErrorCode::io, "cannot create " + base.string() + ": " + ec.message());
  // Remove leftovers of processes that no longer run (named "<pid>-<random>").
  for (auto it = fs::directory_iterator(base, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    auto dash = name.find('-');
    if (dash == std::string::npos || dash == 0) continue;
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(name.substr(0, dash)));
    } catch (...) {
      continue;
    }
    if (pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) {
      std::error_code rec;
      remove_tree(it->path(), rec);
    }
  }
  fs::path dir = base / random_suffix();
  int attempts = 0;
  while (::mkdir(dir.c_str(), 0700) != 0) {
    // ENOENT: another writer removed the (then empty) parent just now.
    if (errno != ENOENT || ++attempts > 5) throw io_error("cannot create staging directory", dir, errno);
    fs::create_directories(base, ec);
    if (ec) throw Error(ErrorCode::io, "cannot create " + base.string() + ": " + ec.message());
  }
  staging_ = dir;
  return *staging_;
}

void CacheWriter::commit_blob(std::string_view repo_folder, std::string_view digest, const fs::path& staged) {
  check_blob_digest(digest, "blob");
  const fs::path blobs = cache_dir_ / std::string(repo_folder) / "blobs";
  std::error_code ec;
  fs::create_directories(blobs, ec);
  if (ec) throw Error(ErrorCode::io, "cannot create " + blobs.string() + ": " + ec.message());
  const fs::path blob = blobs / std::string(digest);
  auto lock = CacheFileLock::acquire(cache_lock_path(cache_dir_, repo_folder, digest));
  const fs::path tmp = blobs / (std::string(digest) + "." + random_suffix() + ".incomplete");
  if (::link(staged.c_str(), tmp.c_str()) != 0) {
    copy_file_synced(staged, tmp);
  }
  if (::rename(tmp.c_str(), blob.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw io_error("cannot rename blob into place", blob, err);
  }
}

bool CacheWriter::install_snapshot_dir(std::string_view repo_folder, std::string_view sha, std::string_view dir,
                                       const std::vector<SnapshotFile>& files) {
  const fs::path root = cache_dir_ / std::string(repo_folder);
  const fs::path target = root / "snapshots" / std::string(sha) / std::string(dir);
  const auto wanted = wanted_links(sha, dir, files);
  for (const auto& f : files) {
    std::error_code ec;
    if (!fs::is_regular_file(root / "blobs" / f.digest, ec))
      throw Error(ErrorCode::io, "refusing to link " + f.path + ": blob " + f.digest + " is not in the cache");
  }

  auto lock = CacheFileLock::acquire(cache_lock_path(cache_dir_, repo_folder, "kernel-lock-snapshot-" + std::string(sha)));
  std::error_code ec;
  if (fs::is_directory(target, ec) && read_link_tree(target, root / "blobs") == wanted) return false;

  const fs::path stage = staging_dir() / ("snapshot-" + random_suffix());
  for (const auto& [rel, link] : wanted) {
    fs::path p = stage / rel;
    fs::create_directories(p.parent_path(), ec);
    if (ec) throw Error(ErrorCode::io, "cannot create " + p.parent_path().string() + ": " + ec.message());
    if (::symlink(link.c_str(), p.c_str()) != 0) throw io_error("cannot create symlink", p, errno);
  }
  if (wanted.empty()) fs::create_directories(stage, ec);
  fsync_directory(stage);

  fs::create_directories(target.parent_path(), ec);
  if (ec) throw Error(ErrorCode::io, "cannot create " + target.parent_path().string() + ": " + ec.message());
  if (::rename(stage.c_str(), target.c_str()) != 0) {
    int err = errno;
    if (err != EEXIST && err != ENOTEMPTY) {
      remove_tree(stage, ec);
      throw io_error("cannot move snapshot directory into place", target, err);
    }
    // Swap atomically with the existing (differing) directory, then drop the old one.
    long rc = ::syscall(SYS_renameat2, AT_FDCWD, stage.c_str(), AT_FDCWD, target.c_str(), 2 /* RENAME_EXCHANGE */);
    if (rc != 0) {
      const fs::path old = staging_dir() / ("old-" + random_suffix());
      if (::rename(target.c_str(), old.c_str()) != 0 || ::rename(stage.c_str(), target.c_str()) != 0) {
        int e2 = errno;
        remove_tree(stage, ec);
        throw io_error("cannot replace snapshot directory", target, e2);
      }
      remove_tree(old, ec);
    } else {
      remove_tree(stage, ec);
    }
  }
  fsync_directory(target.parent_path());
  return true;
}

void CacheWriter::write_ref(std::string_view repo_folder, std::string_view name, std::string_view sha) {
  check_relative_path(name, "ref name");
  check_commit_sha(sha, "ref " + std::string(name));
  const fs::path path = cache_dir_ / std::string(repo_folder) / "refs" / std::string(name);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) throw Error(ErrorCode::io, "cannot create " + path.parent_path().string() + ": " + ec.message());
  write_file_if_changed(path, sha);
}

CacheWriter::SnapshotDirState CacheWriter::snapshot_dir_state(std::string_view repo_folder, std::string_view sha,
                                                              std::string_view dir,
                                                              const std::vector<SnapshotFile>& files) const {
  const fs::path root = cache_dir_ / std::string(repo_folder);
  const fs::path target = root / "snapshots" / std::string(sha) / std::string(dir);
  const auto wanted = wanted_links(sha, dir, files);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(target, ec))) return SnapshotDirState::absent;
  if (fs::is_directory(fs::symlink_status(target, ec)) && read_link_tree(target, root / "blobs") == wanted)
    return SnapshotDirState::same;
  return SnapshotDirState::different;
}

}  // namespace kernel_lock
