// Private helpers shared by the OCI layout writer and reader.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "kernel_lock/oci/layout.hpp"

namespace kernel_lock::oci_detail {

// Our annotation keys (docs/oci-layout.md).
inline constexpr std::string_view kVariantAnnotation = kOciVariantAnnotation;
inline constexpr std::string_view kHubDigestAnnotation = "dev.kernel-lock.hub-digest";
inline constexpr std::string_view kHubDigestKindAnnotation = "dev.kernel-lock.hub-digest-kind";
inline constexpr std::string_view kRepoIdAnnotation = kOciRepoIdAnnotation;
inline constexpr std::string_view kShaAnnotation = "dev.kernel-lock.sha";
// On the lock's image index, in place of `artifactType`, which skopeo 1.9
// (Debian 12) drops from an index when it copies one.
inline constexpr std::string_view kArtifactTypeAnnotation = "dev.kernel-lock.artifact-type";
// On the trusted root's layer: when it was captured (RFC 3339 UTC).
inline constexpr std::string_view kCapturedAtAnnotation = "dev.kernel-lock.captured-at";
inline constexpr std::string_view kConfigFormat = "kernel-lock-oci-kernel";
inline constexpr int kConfigFormatVersion = 1;
inline constexpr std::string_view kImageLayoutVersion = "1.0.0";

// "blobs/sha256/<hex>" under `root`.
inline std::filesystem::path blob_path(const std::filesystem::path& root, std::string_view sha256_hex) {
  return root / "blobs" / "sha256" / std::string(sha256_hex);
}

// The variant of a bundle file path "build/<variant>/<file>"; empty when the path has no such shape.
inline std::string variant_of(std::string_view path) {
  constexpr std::string_view prefix = "build/";
  if (path.substr(0, prefix.size()) != prefix) return {};
  auto rest = path.substr(prefix.size());
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) return {};
  return std::string(rest.substr(0, slash));
}

// Hashes of one file's bytes: sha256 (the OCI name) and the Hub digest of
// kind `hub_kind` ("blob <size>\0"-prefixed sha1 for git_sha1, else sha256).
struct StreamDigests {
  std::string sha256;
  std::string hub;
  std::uint64_t size = 0;
};

// Streams `src` (1 MiB chunks) into the hashers and, when `dst` is not empty, a
// new file there (fsynced). `declared_size` is the size the Hub digest is
// computed over. A symlink at `src` is followed only with `follow` (the cache's
// snapshot links; never a layout's blob). Throws Error(not_found/io).
StreamDigests stream_file(const std::filesystem::path& src, const std::filesystem::path& dst, bool git_sha1,
                          std::uint64_t declared_size, bool follow);

}  // namespace kernel_lock::oci_detail
