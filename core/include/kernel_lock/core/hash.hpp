// Digests used by the Hub and by kernel.lock (OpenSSL SHA, streaming).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kernel_lock {

// Which digest identifies a file on the Hub: LFS-stored files are named by the
// sha256 of their content, regular git files by their git blob sha1.
enum class DigestKind { git_sha1, lfs_sha256 };

// "git-sha1" / "sha256" (the spelling used in kernel.lock per-file records).
std::string_view to_string(DigestKind kind) noexcept;
// Parses the spelling above; throws Error(invalid_input) otherwise.
DigestKind parse_digest_kind(std::string_view text);
// Digest kind from a hex digest's length (40 -> git_sha1, 64 -> lfs_sha256);
// throws Error(invalid_input) for anything else. The cache blob name is such a digest.
DigestKind digest_kind_from_hex(std::string_view hex);

std::string to_hex(std::span<const std::uint8_t> bytes);
// Throws Error(invalid_input) on odd length or non-hex characters.
std::vector<std::uint8_t> from_hex(std::string_view hex);

// Streaming hasher over one OpenSSL SHA context (move-only RAII).
class Hasher {
 public:
  enum class Algorithm { sha1, sha256 };
  explicit Hasher(Algorithm algorithm);
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  ~Hasher();

  void update(std::span<const std::uint8_t> bytes);
  void update(std::string_view bytes);
  // Finishes and returns the raw digest; the hasher cannot be used afterwards.
  std::vector<std::uint8_t> finish();
  std::string finish_hex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view bytes);
// git's blob id: sha1("blob <len>\0" + content).
std::string git_blob_sha1_hex(std::string_view content);

// Streams a file from disk. Throws Error(io/not_found) naming the path.
std::string sha256_hex_file(const std::filesystem::path& path);
std::string git_blob_sha1_hex_file(const std::filesystem::path& path);
std::string file_digest_hex(const std::filesystem::path& path, DigestKind kind);

// sha256 and git-blob sha1 in one read of the file.
struct FileDigests {
  std::uint64_t size = 0;
  std::string sha256_hex;
  std::string git_sha1_hex;
};
FileDigests digest_file_both(const std::filesystem::path& path);

// One file of a variant: path relative to build/<variant>/, '/'-separated.
struct VariantFileDigest {
  std::string path;
  std::string digest_hex;  // 64-hex sha256 (LFS) or 40-hex git blob sha1
};

// False for paths the variant hash skips: "*.pyc" and any "__pycache__" component.
bool is_hashed_variant_path(std::string_view relative_path) noexcept;

// The `git_lfs_concat` variant hash, "sha256-<64hex>": pairs sorted bytewise by
// path, then sha256 over (path bytes + raw digest bytes) of each. Skipped paths
// (see is_hashed_variant_path) are ignored. Throws on a malformed digest.
std::string git_lfs_concat_hash(std::vector<VariantFileDigest> files);

// ---- Many files at once ---------------------------------------------------
// Worker count for the parallel APIs: 0 means std::thread::hardware_concurrency().

// digest_file_both for every path, on up to `threads` threads; results are in
// the order of `paths`. If any file fails, throws the error of the first failing
// path in `paths` order (after all workers stopped).
std::vector<FileDigests> digest_files(const std::vector<std::filesystem::path>& paths, unsigned threads = 0);

// One digest of one kind per file (cheaper than digest_files when only one kind
// is needed); same ordering and error contract as digest_files.
struct FileDigestRequest {
  std::filesystem::path path;
  DigestKind kind = DigestKind::lfs_sha256;
};
std::vector<std::string> digest_files_hex(const std::vector<FileDigestRequest>& files, unsigned threads = 0);

// ---- A variant directory on disk -----------------------------------------
// Chooses, for one file of a variant directory, which digest the Hub uses for it.
// `relative_path` is '/'-separated below the variant directory; `file` is the path on disk.
using DigestKindChooser = std::function<DigestKind(std::string_view relative_path, const std::filesystem::path& file)>;

// LFS (sha256) for files whose relative path or basename matches any of the
// fnmatch(3) globs (no FNM_PATHNAME: '*' also crosses '/'), git blob sha1 otherwise.
DigestKindChooser lfs_glob_chooser(std::vector<std::string> lfs_globs);

struct VariantFileRecord {
  std::string path;         // relative to the variant directory, '/'-separated
  DigestKind kind = DigestKind::git_sha1;
  std::string digest_hex;   // of the content, in `kind`
  std::uint64_t size = 0;
};
struct VariantDirectoryDigest {
  std::string hash;                      // git_lfs_concat, "sha256-<64hex>"
  std::vector<VariantFileRecord> files;  // hashed files, sorted bytewise by path
};

// One file to hash: `file` is read once, with `kind`; when `expected_digest` is
// set, the content must hash to it.
struct VariantFileSource {
  std::string path;            // relative to the variant directory, '/'-separated
  std::filesystem::path file;  // the regular file to read
  DigestKind kind = DigestKind::git_sha1;
  std::string expected_digest;  // "" = nothing to compare with
};

// Digests `files` in parallel (up to `threads`, 0 = all CPUs) and returns the
// git_lfs_concat hash with the per-file records sorted bytewise by path (skipped
// paths per is_hashed_variant_path are hashed but left out of the hash). Walking
// a directory into such a list is the cache library's snapshot reader
// (kernel_lock/cache/snapshot.hpp). Throws Error(not_found / io / invalid_input)
// naming a file that cannot be read as a regular file, Error(integrity) naming
// the file whose content does not hash to its expected_digest.
VariantDirectoryDigest hash_variant_files(std::vector<VariantFileSource> files, unsigned threads = 0);

}  // namespace kernel_lock
