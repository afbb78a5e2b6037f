// Owns one POSIX file descriptor (move-only). The one RAII type for fds in
// every kernel-lock library: a class that owns an fd (a file lock, a staged
// file, a sealed memfd, a blob reader) holds a UniqueFd and adds only its own
// behaviour (unlock, checked close, seals). Short-lived fds opened and closed
// within one function with no throw in between may stay plain ints.
#pragma once

#include <unistd.h>

#include <utility>

namespace kernel_lock {

class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  // Gives up ownership; the caller closes the returned fd.
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

}  // namespace kernel_lock
