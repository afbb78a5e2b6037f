// Software bills of materials from a kernel.lock (docs/export.md): CycloneDX 1.6
// JSON and SPDX 2.3 JSON. One component / package per locked kernel (purl
// pkg:huggingface/<org>/<name>@<commit>) and one per variant (the purl with the
// subpath build/<variant>), every locked file with its digest, the variant's
// backend, CPU arch and OS (from its name), the pinned signer identity, and the
// kernel-depends edges (a kernel whose requirement has `required-by`).
// Same lock (and cache content), same bytes: no clock is read.
#pragma once

#include <compare>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernel_lock/core/lockfile.hpp"

namespace kernel_lock::sbom {

// A locked file: kernel, variant, path inside build/<variant>/.
struct FileKey {
  std::string repo_id;
  std::string variant;
  std::string path;
  friend auto operator<=>(const FileKey&, const FileKey&) = default;
};
// The digests of a file's content that the lock does not record: sha256 (64
// hex) for a file the lock knows by its git blob sha1, and sha1 (40 hex; SPDX
// requires it per file) for every file read.
struct ContentDigest {
  std::string sha256;
  std::string sha1;
  friend bool operator==(const ContentDigest&, const ContentDigest&) = default;
};
using ContentDigests = std::map<FileKey, ContentDigest>;

// Reads, through the strict snapshot reader, every locked file that the HF cache
// at `cache_dir` holds under the locked commit, checks it against the lock's
// digest (git blob sha1 or sha256), and returns its content sha256 and sha1.
// Kernels, variants and files the cache lacks (or refuses) are left out. Throws
// Error(integrity) naming the file when a cached file does not hash to the
// locked digest, Error(io) when a file cannot be read.
ContentDigests content_digests_from_cache(const Lockfile& lock, const std::filesystem::path& cache_dir);

// What a variant's build/<variant>/metadata.json says about the build
// (kernel-builder's metadata.rs; docs/export.md "metadata.json"). Fields the file
// does not carry stay empty.
struct VariantMetadata {
  std::string backend;             // backend.type, e.g. "cuda"
  std::vector<std::string> archs;  // backend.archs as written, e.g. ["10.0", "8.0", "9.0a+PTX"]
  std::string license;
  std::string builder_version;     // provenance.kernel-builder.version
  std::string builder_commit;      // provenance.kernel-builder.commit (legacy key "sha")
  std::optional<bool> builder_dirty;
  std::string source_commit;       // provenance.kernel.commit (legacy key "sha")
  std::optional<bool> source_dirty;
  friend bool operator==(const VariantMetadata&, const VariantMetadata&) = default;
};
// By (repo id, variant name).
using VariantMetadataMap = std::map<std::pair<std::string, std::string>, VariantMetadata>;

// Parses metadata.json through core's bounded JSON parser (at most 4 MiB, depth
// 64). Throws Error(invalid_input) "<source>: ..." for invalid JSON, a text that
// is not an object, or a known field of the wrong type.
VariantMetadata parse_variant_metadata(std::string_view text, std::string_view source);

// The metadata.json of every locked variant that the HF cache at `cache_dir`
// holds under the locked commit, checked against the lock's record of that file
// before it is parsed (the lock must list build/<variant>/metadata.json).
// Throws Error(integrity) naming the file when its bytes are not the locked ones,
// Error(invalid_input) when it does not parse, Error(io) when unreadable.
VariantMetadataMap variant_metadata_from_cache(const Lockfile& lock, const std::filesystem::path& cache_dir);

// The document identity both formats use: UUID version 5 (RFC 9562) in the URL
// namespace of "urn:kernel-lock:lock:sha256:<sha256 of format_lockfile(lock)>".
std::string lock_uuid(const Lockfile& lock);
// The one timestamp the documents carry where a format needs one (SPDX
// creationInfo.created): the latest signing_time the lock pins, else
// "1970-01-01T00:00:00Z".
std::string lock_timestamp(const Lockfile& lock);
// "pkg:huggingface/<org>/<name>@<sha>".
std::string kernel_purl(const LockedKernel& kernel);

// CycloneDX 1.6 JSON (2-space indent, trailing newline). A file known only by its
// git sha1 and absent from `digests` has no `hashes` entry, and the property
// kernel-lock:git-blob-sha1 instead (git's blob id is not the SHA-1 of the content).
// `metadata`: the variants' metadata.json; where given, the backend, archs,
// license and provenance properties come from it, else the backend from the name.
std::string format_cyclonedx(const Lockfile& lock, const ContentDigests& digests = {},
                             const VariantMetadataMap& metadata = {});
// SPDX 2.3 JSON (2-space indent, trailing newline). SPDX needs a SHA1 checksum
// per file: the content SHA-1 from `digests`, else (a file absent from the cache)
// a file known only by its git sha1 carries that as SHA1, with a comment saying it
// is git's blob id ("blob <size>\0" + content), not the content SHA-1.
std::string format_spdx(const Lockfile& lock, const ContentDigests& digests = {}, const VariantMetadataMap& metadata = {});

}  // namespace kernel_lock::sbom
