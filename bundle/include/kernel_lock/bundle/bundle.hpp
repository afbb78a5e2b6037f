// Bundles: one reproducible archive holding exactly the locked bytes, for
// carrying kernels across an air gap (`kernel-lock bundle`).
//
// The format (archive layout, manifest, reader limits, install guarantees) is
// described in docs/bundle-format.md; kBundleFormatVersion is its version.
// Same lock + same filters + same file contents -> same archive bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/repo.hpp"
#include "kernel_lock/core/variant.hpp"
#include "kernel_lock/trust/trust_store.hpp"

namespace kernel_lock {

inline constexpr std::string_view kBundleManifestName = "kernel-lock-bundle.json";
// The manifest's size limit: a manifest of hundreds of kernels with all their
// variants is a few MiB; more is refused before it is read (docs/bundle-format.md).
inline constexpr std::uint64_t kMaxBundleManifestBytes = 64ull << 20;
inline constexpr std::string_view kBundleFormat = "kernel-lock-bundle";
// Version 1: manifest + blobs. Version 2 (written only when the bundle carries a
// Sigstore trusted root): the manifest's "trust" record and the
// trust/trusted_root.json entry. The reader reads both.
inline constexpr int kBundleFormatVersion = 1;
inline constexpr int kBundleFormatVersionTrust = 2;
inline constexpr std::string_view kBundleTrustedRootName = "trust/trusted_root.json";

struct BundleFile {
  std::string path;  // repo path, "build/<variant>/<file>"
  std::string digest;
  DigestKind kind = DigestKind::git_sha1;
  std::uint64_t size = 0;
};

struct BundleKernel {
  std::string repo_id;
  std::string repo_type = "kernel";
  std::string sha;
  std::vector<std::string> refs;      // cache refs to point at sha on install (e.g. "v1")
  std::vector<std::string> variants;  // included variants, sorted
  std::vector<BundleFile> files;      // sorted by path
  // The refs that are tags (a subset of `refs`, sorted); the others are
  // branches. Manifest key "tags", written when `ref_kinds_known`; without it
  // (older bundles, or a revision whose kind nobody could tell) the refs are of
  // unknown kind. install records known kinds in the cache (docs/hf-cache.md
  // "Ref kinds"), so `serve` reports tags as tags.
  std::vector<std::string> tags;
  bool ref_kinds_known = true;
};

struct BundleBlob {
  std::string digest;
  std::uint64_t size = 0;
};

// The trusted root a bundle carries (entry kBundleTrustedRootName).
struct BundleTrust {
  std::string sha256;       // hex of the entry's bytes
  trust::UnixTime captured_at = 0;  // when the root was fetched (RFC 3339 in the manifest)
  friend bool operator==(const BundleTrust&, const BundleTrust&) = default;
};

struct BundleManifest {
  int format_version = kBundleFormatVersion;  // kBundleFormatVersionTrust exactly when `trust` is set
  Lockfile lock;
  std::optional<BundleTrust> trust;
  std::vector<BundleKernel> kernels;  // sorted by repo_id
  std::vector<BundleBlob> blobs;      // sorted by digest, unique
};

// Canonical manifest bytes / parse with full validation: format and version,
// repo ids, shas, paths (relative, under build/<listed variant>/), digests and
// kinds (digest length matches kind), unique blobs whose sizes agree with every
// file naming them, and every included variant's files hashing (git_lfs_concat)
// to the variant hash in the embedded lock (and to its per-file records when the
// lock has them), and the trust record (version 2 only). The text is parsed by
// the bounded core parser: over kMaxBundleManifestBytes, nesting deeper than
// kMaxJsonDepth or a duplicate key is refused before anything large is
// allocated. Throws Error(invalid_input) / Error(integrity) with the field.
std::string format_bundle_manifest(const BundleManifest& manifest);
BundleManifest parse_bundle_manifest(std::string_view text);

// Checks that a bundle's manifest agrees with `lock` (the lock the user holds):
// every kernel in the manifest is in `lock` at the same sha, every included
// variant has the same hash there. Throws Error(integrity) naming the difference.
void check_manifest_against_lock(const BundleManifest& manifest, const Lockfile& lock);

// The cache refs install writes for a locked kernel: "v<N>" for a `version`
// requirement, the branch/tag for a non-sha `revision`.
std::vector<std::string> refs_for_requirement(const LockedKernel& kernel);
// Sets `bk.tags` and `bk.ref_kinds_known` for `bk.refs` of `kernel`: "v<N>" of a
// `version` requirement is a branch; the ref of a `revision` has the kind the
// cache's side file records (read_ref_kinds), else its kind is unknown (the
// CLI then asks the Hub when online). No network.
void classify_refs(const LockedKernel& kernel, const CacheRepoPaths& repo, BundleKernel& bk);

// What a bundle will hold, planned from a lock and the cache alone (no network).
struct BundlePlan {
  BundleManifest manifest;  // kernels, blobs and the lock (commit-only kernels completed), as archived
  std::map<std::string, std::filesystem::path> sources;  // blob digest -> cache file verified at plan time
  std::optional<trust::CapturedTrustRoot> trust_root;     // archived as kBundleTrustedRootName when set
};

// Makes the plan carry `root` (the manifest records its sha256 and capture time;
// the format becomes version 2), or nothing when `root` is nullopt. Throws
// Error(not_found) naming `kernel-lock trust import` / --trusted-root when
// `root` is nullopt but a bundled variant pins a signature.
void carry_trust_root(BundlePlan& plan, std::optional<trust::CapturedTrustRoot> root);

// Plans the bundle of `lock` (only the variants `filter` keeps; empty = all)
// from the HF cache at `cache_dir` (unset: kernels_cache_dir(), or
// hf_hub_cache_dir() for model repos). Each included variant's files come from
// the lock's per-file records, or, for a Python-shaped lock without them, from
// the cached snapshot read with the strict snapshot policy, which must hash to
// the locked variant hash. A kernel locked without variants (commit only) takes
// every cached variant of that commit. Every file must have a cached copy whose
// digest and size are right (hashed here). Network-free: completing a lock from
// the Hub and fetching missing files are separate steps (hub library) run before.
// Throws Error(not_found) listing every missing variant and file, with a hint to
// fetch them; Error(not_found) when no locked variant matches `filter`;
// Error(integrity) when one blob is locked with two sizes; Error(invalid_input)
// for an invalid path or digest in the lock.
BundlePlan plan_bundle(const Lockfile& lock, const std::optional<std::filesystem::path>& cache_dir,
                       const VariantFilter& filter = {});

struct BundleOptions {
  int compression_level = 3;  // zstd level
  int threads = 0;            // zstd workers; 0 = number of CPUs (output identical)
  ProgressFn progress;        // archive bytes written / total uncompressed
};

struct BundleSummary {
  std::size_t kernels = 0;
  std::size_t variants = 0;
  std::size_t files = 0;
  std::size_t blobs = 0;
  std::uint64_t content_bytes = 0;  // sum of distinct blob sizes
  std::uint64_t archive_bytes = 0;
  std::size_t from_cache = 0;       // blobs taken (verified) from the local cache: all of them
};

// Writes the bundle of `plan` to `output` atomically (temp file + fsync +
// rename; nothing at `output` on failure), reading each blob from its planned
// source. Throws Error(integrity) when a source changed size since planning,
// Error(invalid_input) when the plan has no source for a blob, Error(io).
BundleSummary write_bundle(const BundlePlan& plan, const std::filesystem::path& output, const BundleOptions& options = {});

// Streaming reader over a bundle, hostile-input safe (used by install, verify
// --bundle and the bundle RepoStore). Refuses: a first entry other than the
// manifest, a trust entry missing, over kMaxTrustedRootBytes or not matching the
// manifest's digest (version 2), any non-regular entry (symlink, hardlink, device, directory), names
// other than blobs/<digest listed in the manifest>, duplicates, sizes differing
// from the manifest, more data than declared, truncation, blobs missing at the
// end, anything but zero padding after the last blob (data after the tar
// end-of-archive marker), and expansion beyond the limits.
struct BundleLimits {
  std::uint64_t max_manifest_bytes = kMaxBundleManifestBytes;
  std::uint64_t max_total_bytes = 256ull << 30;   // sum of declared blob sizes
  std::uint64_t max_blobs = 1'000'000;
  // Refuse when uncompressed output exceeds this many times the compressed
  // input consumed so far (once past `ratio_grace_bytes`).
  std::uint64_t max_expansion_ratio = 2000;
  std::uint64_t ratio_grace_bytes = 64ull << 20;
};

class BundleReader {
 public:
  // Opens the archive and reads + validates the manifest. Throws Error(invalid_input).
  explicit BundleReader(const std::filesystem::path& bundle, BundleLimits limits = {});
  ~BundleReader();
  BundleReader(BundleReader&&) noexcept;
  BundleReader& operator=(BundleReader&&) noexcept;

  const BundleManifest& manifest() const noexcept;
  // The trusted root the bundle carries (read, digest-checked against the
  // manifest and parsed by the constructor), nullopt for a bundle without one.
  const std::optional<trust::CapturedTrustRoot>& trust_root() const noexcept;

  // Receives one blob's bytes in order; `chunk` empty never happens.
  using ChunkFn = std::function<void(std::string_view chunk)>;
  // Advances to the next blob entry: returns its manifest record (nullopt at
  // the end, after checking that every listed blob was seen) and streams its
  // content to `sink`. The bytes are counted and checked against the declared
  // size; the digest is checked here too before returning: on a mismatch it
  // throws Error(integrity) (the sink has seen the bad bytes: callers stage),
  // unless `actual_digest` is given, which then receives the content digest
  // for the caller to compare (verify reports instead of stopping).
  std::optional<BundleBlob> next_blob(const ChunkFn& sink, std::string* actual_digest = nullptr);
  // Like next_blob, with the sink chosen once the blob's record is known.
  std::optional<BundleBlob> next_blob_to(const std::function<ChunkFn(const BundleBlob&)>& sink_for,
                                         std::string* actual_digest = nullptr);
  // Like next_blob, with every check but the digest: the bytes streamed to
  // `sink` are NOT verified. The caller must hash them (BundleBlob::digest is
  // what they must hash to) before it trusts or exposes them; install does so
  // by re-reading each staged file on a worker thread.
  std::optional<BundleBlob> next_blob_unchecked(const ChunkFn& sink);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True when `path` looks like a bundle (zstd or plain tar whose first entry is
// the manifest); cheap, never throws.
bool is_bundle_file(const std::filesystem::path& path) noexcept;

}  // namespace kernel_lock
