// The tar form of an OCI layout: uncompressed, deterministic (sorted entries,
// mtime 0, uid/gid 0, fixed modes), as `skopeo copy oci-archive:` reads it.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/bundle/archive_handles.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/unique_fd.hpp"
#include "kernel_lock/oci/layout.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
namespace {

// An uncompressed pax tar written to a file (over bundle_detail::ArchiveWrite).
class TarWriter {
 public:
  explicit TarWriter(const fs::path& path) : path_(path) {
    check(archive_write_set_format_pax_restricted(a_.get()), "tar format");
    check(archive_write_add_filter_none(a_.get()), "filter");
    check(archive_write_open_filename(a_.get(), path.c_str()), "open");
  }

  void add(const std::string& name, bool directory, std::uint64_t size) {
    bundle_detail::ArchiveEntry entry;
    struct archive_entry* e = entry.get();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_entry_set_filetype(e, directory ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, directory ? 0755 : 0644);
    archive_entry_set_mtime(e, 0, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    check(archive_write_header(a_.get(), e), "entry " + name);
  }
  void data(std::string_view bytes) {
    while (!bytes.empty()) {
      la_ssize_t n = archive_write_data(a_.get(), bytes.data(), bytes.size());
      if (n <= 0) check(ARCHIVE_FATAL, "data");
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void close() { check(archive_write_close(a_.get()), "close"); }

 private:
  void check(int rc, const std::string& what) {
    if (rc >= ARCHIVE_WARN) return;
    throw Error(ErrorCode::io,
                "writing " + path_.string() + ": " + what + ": " + bundle_detail::archive_message(a_.get()));
  }
  bundle_detail::ArchiveWrite a_;
  fs::path path_;
};

void copy_into(TarWriter& tar, const fs::path& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) throw Error(ErrorCode::io, "cannot open " + file.string() + ": " + std::strerror(errno));
  std::vector<char> buffer(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorCode::io, "cannot read " + file.string() + ": " + std::strerror(errno));
    if (n == 0) return;
    tar.data(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
}

}  // namespace

// Tars the layout directory `layout` into `tar` (fsynced): oci-layout,
// index.json, blobs/, blobs/sha256/, then the blobs sorted by name. Throws Error(io).
void write_oci_tar(const fs::path& layout, const fs::path& tar) {
  std::vector<std::string> blobs;
  for (const auto& e : fs::directory_iterator(layout / "blobs" / "sha256")) blobs.push_back(e.path().filename().string());
  std::sort(blobs.begin(), blobs.end());
  {
    TarWriter w(tar);
    for (std::string_view name : {kOciLayoutFile, kOciIndexFile}) {
      w.add(std::string(name), false, fs::file_size(layout / name));
      copy_into(w, layout / name);
    }
    w.add("blobs/", true, 0);
    w.add("blobs/sha256/", true, 0);
    for (const auto& b : blobs) {
      const fs::path p = layout / "blobs" / "sha256" / b;
      w.add("blobs/sha256/" + b, false, fs::file_size(p));
      copy_into(w, p);
    }
    w.close();
  }
  UniqueFd fd(::open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0)
    throw Error(ErrorCode::io, "cannot fsync " + tar.string() + ": " + std::strerror(errno));
}

bool is_valid_oci_tag(std::string_view tag) noexcept {
  if (tag.empty() || tag.size() > 128) return false;
  auto word = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; };
  if (!word(tag[0])) return false;
  return std::all_of(tag.begin() + 1, tag.end(), [&](char c) { return word(c) || c == '.' || c == '-'; });
}

}  // namespace kernel_lock
