// Move-only RAII owners of libarchive handles, one per handle type, shared by
// the libraries that read or write archives (bundle, oci). Build-time only:
// this folder is on the include path of kernel_lock::bundle's dependents while
// building, never installed, so libarchive stays out of the public headers.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <string>
#include <utility>

#include "kernel_lock/core/error.hpp"

namespace kernel_lock::bundle_detail {

// Owns a `struct archive*` opened for reading.
class ArchiveRead {
 public:
  ArchiveRead() : a_(archive_read_new()) {
    if (!a_) throw Error(ErrorCode::generic, "libarchive: out of memory");
  }
  ArchiveRead(ArchiveRead&& o) noexcept : a_(std::exchange(o.a_, nullptr)) {}
  ArchiveRead& operator=(ArchiveRead&& o) noexcept {
    if (this != &o) {
      reset();
      a_ = std::exchange(o.a_, nullptr);
    }
    return *this;
  }
  ArchiveRead(const ArchiveRead&) = delete;
  ArchiveRead& operator=(const ArchiveRead&) = delete;
  ~ArchiveRead() { reset(); }
  struct archive* get() const noexcept { return a_; }

 private:
  void reset() noexcept {
    if (a_) archive_read_free(a_);
    a_ = nullptr;
  }
  struct archive* a_;
};

// Owns a `struct archive*` opened for writing. close() must be called for a
// complete archive; the destructor only frees (an unclosed archive is garbage).
class ArchiveWrite {
 public:
  ArchiveWrite() : a_(archive_write_new()) {
    if (!a_) throw Error(ErrorCode::generic, "libarchive: out of memory");
  }
  ArchiveWrite(ArchiveWrite&& o) noexcept : a_(std::exchange(o.a_, nullptr)) {}
  ArchiveWrite& operator=(ArchiveWrite&& o) noexcept {
    if (this != &o) {
      reset();
      a_ = std::exchange(o.a_, nullptr);
    }
    return *this;
  }
  ArchiveWrite(const ArchiveWrite&) = delete;
  ArchiveWrite& operator=(const ArchiveWrite&) = delete;
  ~ArchiveWrite() { reset(); }
  struct archive* get() const noexcept { return a_; }

 private:
  void reset() noexcept {
    if (a_) archive_write_free(a_);
    a_ = nullptr;
  }
  struct archive* a_;
};

// Owns a `struct archive_entry*`.
class ArchiveEntry {
 public:
  ArchiveEntry() : e_(archive_entry_new()) {
    if (!e_) throw Error(ErrorCode::generic, "libarchive: out of memory");
  }
  ArchiveEntry(const ArchiveEntry&) = delete;
  ArchiveEntry& operator=(const ArchiveEntry&) = delete;
  ~ArchiveEntry() { archive_entry_free(e_); }
  struct archive_entry* get() const noexcept { return e_; }

 private:
  struct archive_entry* e_;
};

inline std::string archive_message(struct archive* a) {
  const char* msg = archive_error_string(a);
  return msg ? msg : "unknown libarchive error";
}

}  // namespace kernel_lock::bundle_detail
