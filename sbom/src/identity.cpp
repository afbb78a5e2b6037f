// The document identity, timestamp and purls (sbom.hpp), and the cache lookup.
#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <vector>
#include <span>
#include <string>

#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/cache/snapshot.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/sbom/sbom.hpp"

namespace kernel_lock::sbom {
namespace {

// RFC 9562 NameSpace_URL, 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
constexpr std::array<std::uint8_t, 16> kUrlNamespace{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
                                                     0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};

std::string uuid5(std::string_view name) {
  Hasher sha1(Hasher::Algorithm::sha1);
  sha1.update(std::span<const std::uint8_t>(kUrlNamespace));
  sha1.update(name);
  auto digest = sha1.finish();
  digest.resize(16);
  digest[6] = static_cast<std::uint8_t>((digest[6] & 0x0f) | 0x50);
  digest[8] = static_cast<std::uint8_t>((digest[8] & 0x3f) | 0x80);
  const auto hex = to_hex(digest);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

struct FileHashes {
  ContentDigest content;
  std::string git_sha1;
};

// sha256, sha1 and git blob sha1 of a file, in one read. Throws Error(io).
FileHashes hash_content(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!in || ec) throw Error(ErrorCode::io, "cannot read " + path.string());
  Hasher sha256(Hasher::Algorithm::sha256), sha1(Hasher::Algorithm::sha1), git(Hasher::Algorithm::sha1);
  git.update("blob " + std::to_string(size) + std::string(1, '\0'));
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::string_view chunk(buffer.data(), static_cast<std::size_t>(in.gcount()));
    sha256.update(chunk);
    sha1.update(chunk);
    git.update(chunk);
  }
  if (in.bad()) throw Error(ErrorCode::io, "cannot read " + path.string());
  return FileHashes{ContentDigest{sha256.finish_hex(), sha1.finish_hex()}, git.finish_hex()};
}

}  // namespace

std::string lock_uuid(const Lockfile& lock) {
  return uuid5("urn:kernel-lock:lock:sha256:" + sha256_hex(format_lockfile(lock)));
}

std::string lock_timestamp(const Lockfile& lock) {
  std::string latest;
  for (const auto& kernel : lock.kernels)
    for (const auto& [name, variant] : kernel.variants)
      if (variant.signature && variant.signature->signing_time > latest) latest = variant.signature->signing_time;
  return latest.empty() ? "1970-01-01T00:00:00Z" : latest;
}

std::string kernel_purl(const LockedKernel& kernel) { return "pkg:huggingface/" + kernel.repo_id + "@" + kernel.sha; }

ContentDigests content_digests_from_cache(const Lockfile& lock, const std::filesystem::path& cache_dir) {
  ContentDigests out;
  for (const auto& kernel : lock.kernels) {
    const auto repo = cache_repo_paths(cache_dir, kernel.repo_type.value_or("kernel"), kernel.repo_id);
    for (const auto& [name, variant] : kernel.variants) {
      const auto dir = repo.snapshot(kernel.sha) / "build" / name;
      std::error_code ec;
      if (variant.files.empty() || !std::filesystem::is_directory(dir, ec)) continue;
      const auto listing = scan_snapshot(dir, SnapshotOptions{SnapshotPolicy::strict, repo.blobs(), true, false});
      for (const auto& entry : listing.entries) {
        const auto file = std::find_if(variant.files.begin(), variant.files.end(),
                                       [&](const LockedFile& f) { return f.path == entry.path; });
        if (file == variant.files.end() || entry.digest != file->digest) continue;
        const auto digests = hash_content(entry.file);
        const auto& actual = file->kind == DigestKind::git_sha1 ? digests.git_sha1 : digests.content.sha256;
        if (actual != file->digest)
          throw Error(ErrorCode::integrity,
                      kernel.repo_id + ": build/" + name + "/" + entry.path + ": the cached file hashes to " + actual +
                          ", the lock says " + file->digest,
                      "run `kernel-lock verify` and re-install the kernel");
        out[FileKey{kernel.repo_id, name, entry.path}] = digests.content;
      }
    }
  }
  return out;
}

}  // namespace kernel_lock::sbom
