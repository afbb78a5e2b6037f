// Small file helpers with the project's durability contract.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <string_view>
#include <utility>

namespace kernel_lock {

// Reads a whole file. Throws Error(io) naming the path on failure,
// Error(not_found) when it does not exist.
std::string read_file(const std::filesystem::path& path);
// Reads a whole file of at most `max_bytes`, checking the size before it
// allocates. Throws Error(not_found) when it does not exist, Error(io) when it
// cannot be read, Error(invalid_input) when it is larger than max_bytes.
std::string read_file_at_most(const std::filesystem::path& path, std::uintmax_t max_bytes);

// Writes `bytes` to `path` atomically: a temp file in the same directory,
// fsync, rename over the target, fsync of the directory. On any failure the
// target is unchanged and the temp file removed; throws Error(io).
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// Like write_file_atomic, but leaves the file (and its mtime) untouched when it
// already holds exactly `bytes`. Returns true when it wrote.
bool write_file_if_changed(const std::filesystem::path& path, std::string_view bytes);

// Unique temp path next to `target` ("<target>.tmp-<pid>-<random>").
std::filesystem::path temp_path_for(const std::filesystem::path& target);

// fsyncs a directory (after a rename into it). Throws Error(io).
void fsync_directory(const std::filesystem::path& dir);

// Removes `path` and, when it is a directory, everything under it, never
// following symlinks; a missing `path` is not an error. Returns the number of
// entries removed; on failure sets `ec` (the first error, naming nothing: the
// caller knows the path) and leaves what it could not remove.
// Use it instead of std::filesystem::remove_all: the PyPI libtorch exports its
// own std::filesystem, whose remove_all crashes (null call) in any process
// that links libtorch, and the loader and HubFetcher run in such processes.
std::uintmax_t remove_tree(const std::filesystem::path& path, std::error_code& ec) noexcept;

// Removes a temp path (file or tree, remove_tree) on scope exit unless released.
class PathGuard {
 public:
  explicit PathGuard(std::filesystem::path p) : path_(std::move(p)) {}
  PathGuard(const PathGuard&) = delete;
  PathGuard& operator=(const PathGuard&) = delete;
  ~PathGuard() {
    if (!path_.empty()) {
      std::error_code ec;
      remove_tree(path_, ec);
    }
  }
  void release() { path_.clear(); }

 private:
  std::filesystem::path path_;
};

}  // namespace kernel_lock
