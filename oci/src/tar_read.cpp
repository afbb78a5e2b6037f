// The tar form of an OCI layout, read: recognised cheaply, and extracted
// hostile-input-safe into a fresh directory for read_oci_layout.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/bundle/archive_handles.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/unique_fd.hpp"
#include "kernel_lock/oci/layout.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
namespace {

// An uncompressed tar file being read (over bundle_detail::ArchiveRead).
class TarReader {
 public:
  explicit TarReader(const fs::path& path) : path_(path) {
    archive_read_support_format_tar(a_.get());
    if (archive_read_open_filename(a_.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) fail("cannot open");
  }

  // The next entry, nullptr at the end. Throws Error(invalid_input).
  struct archive_entry* next() {
    struct archive_entry* e = nullptr;
    int rc = archive_read_next_header(a_.get(), &e);
    if (rc == ARCHIVE_EOF) return nullptr;
    if (rc < ARCHIVE_WARN) fail("bad entry");
    return e;
  }
  struct archive* get() const noexcept { return a_.get(); }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(ErrorCode::invalid_input, path_.string() + ": " + what + ": " + bundle_detail::archive_message(a_.get()),
                "pass an OCI layout tar written by `kernel-lock bundle --format oci -o FILE.tar`");
  }

 private:
  bundle_detail::ArchiveRead a_;
  fs::path path_;
};

// The layout path of a tar entry name, or empty when it has no place in an OCI layout.
std::string layout_name(std::string name, bool directory) {
  if (name.starts_with("./")) name.erase(0, 2);
  if (directory) return (name == "blobs" || name == "blobs/" || name == "blobs/sha256" || name == "blobs/sha256/") ? name : "";
  if (name == kOciLayoutFile || name == kOciIndexFile) return name;
  constexpr std::string_view prefix = "blobs/sha256/";
  if (name.starts_with(prefix) && name.size() == prefix.size() + 64 && is_lower_hex(std::string_view(name).substr(prefix.size())))
    return name;
  return "";
}

void extract_entry(TarReader& tar, const fs::path& file) {
  UniqueFd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (out.get() < 0) throw Error(ErrorCode::io, "cannot create " + file.string() + ": " + std::strerror(errno));
  char buffer[1 << 16];
  for (;;) {
    la_ssize_t n = archive_read_data(tar.get(), buffer, sizeof buffer);
    if (n < 0) tar.fail("truncated or corrupt entry");
    if (n == 0) return;
    for (la_ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out.get(), buffer + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw Error(ErrorCode::io, "cannot write " + file.string() + ": " + std::strerror(errno));
      done += w;
    }
  }
}

// Extracts the OCI layout tar `tar` into the new directory `dest`: regular
// files named like a layout's only, no duplicates, within the limits.
void extract_oci_tar(const fs::path& tar, const fs::path& dest, const OciReadLimits& limits) {
  TarReader reader(tar);
  fs::create_directories(dest / "blobs" / "sha256");
  std::set<std::string> seen;
  std::uint64_t total = 0;
  while (struct archive_entry* e = reader.next()) {
    const std::string raw = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    const auto type = archive_entry_filetype(e);
    const std::string name = layout_name(raw, type == AE_IFDIR);
    if (name.empty() || (type != AE_IFREG && type != AE_IFDIR) || archive_entry_hardlink(e))
      throw Error(ErrorCode::invalid_input, tar.string() + ": entry '" + raw + "' has no place in an OCI layout",
                  "an OCI layout tar holds oci-layout, index.json and regular files blobs/sha256/<hex> only");
    if (type == AE_IFDIR) continue;
    if (!seen.insert(name).second) throw Error(ErrorCode::invalid_input, tar.string() + ": duplicate entry " + name);
    const auto size = static_cast<std::uint64_t>(archive_entry_size(e));
    total += size;
    if (seen.size() > limits.max_layers + 3 || total > limits.max_total_bytes + limits.max_json_bytes * 4)
      throw Error(ErrorCode::invalid_input, tar.string() + ": more entries or bytes than the reader's limits");
    extract_entry(reader, dest / name);
  }
}

}  // namespace

bool is_oci_layout_tar(const fs::path& path) noexcept {
  try {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return false;
    TarReader reader(path);
    for (int i = 0; i < 4; ++i) {
      struct archive_entry* e = reader.next();
      if (!e) return false;
      if (layout_name(archive_entry_pathname(e) ? archive_entry_pathname(e) : "", false) == kOciLayoutFile) return true;
    }
  } catch (...) {
  }
  return false;
}

void extract_oci_layout_tar(const fs::path& tar, const fs::path& dest) { extract_oci_tar(tar, dest, OciReadLimits{}); }

InstallSummary install_oci_layout(const fs::path& layout, std::string_view tag, const InstallOptions& options) {
  std::error_code ec;
  if (fs::is_directory(layout, ec)) return install_plan(read_oci_layout(layout, tag), layout, options);
  return with_context("installing " + layout.string(), [&] {
    // Extracted next to the target cache (room for the content, same file system as its staging).
    const fs::path cache = options.cache_dir.value_or(kernels_cache_dir());
    fs::create_directories(cache);
    const fs::path dir = temp_path_for(cache / ".kernel-lock-oci");
    PathGuard guard(dir);
    extract_oci_tar(layout, dir, OciReadLimits{});
    return install_plan(read_oci_layout(dir, tag), layout, options);
  });
}

}  // namespace kernel_lock
