// Reading a kernel variant out of the HF cache into sealed memory, verified.
// No torch here: this is the part of the loader that decides which bytes may be
// loaded. loader.hpp builds on it.
//
// Every file of build/<variant>/ is read exactly once, from the cache blob the
// snapshot symlink names, into a memfd that is then sealed against any change
// (F_SEAL_WRITE|GROW|SHRINK|SEAL); the digest is computed over the same bytes
// while copying. The loader then dlopens the sealed copy (/proc/self/fd/N), so
// nothing on disk can be swapped between the check and the load.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/cache/snapshot.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/unique_fd.hpp"

namespace kernel_lock {

namespace trust {
class Verifier;  // kernel_lock/trust/verify.hpp; the loader links it privately
}

// A sealed memfd (move-only RAII over the file descriptor). Its content cannot
// be written, grown, shrunk or unsealed by anyone once created.
class SealedFile {
 public:
  SealedFile() = default;
  // Takes ownership of an already sealed memfd of `size` bytes.
  SealedFile(int fd, std::uint64_t size) noexcept : fd_(fd), size_(size) {}
  SealedFile(SealedFile&& other) noexcept;
  SealedFile& operator=(SealedFile&& other) noexcept;
  SealedFile(const SealedFile&) = delete;
  SealedFile& operator=(const SealedFile&) = delete;
  ~SealedFile();

  // Creates a sealed memfd named `name` holding `bytes` (tests, small files).
  static SealedFile from_bytes(std::string_view name, std::string_view bytes);

  bool valid() const noexcept { return fd_.valid(); }
  int fd() const noexcept { return fd_.get(); }
  std::uint64_t size() const noexcept { return size_; }
  // "/proc/self/fd/<fd>": a path dlopen() can open; valid while this object lives.
  std::string proc_path() const;
  // The whole content. Throws Error(io).
  std::string read() const;

 private:
  UniqueFd fd_;
  std::uint64_t size_ = 0;
};

// How the bytes of a variant were checked before they were sealed.
enum class Trust {
  locked,       // against kernel.lock: variant hash, and per-file digests where the lock has them
  cache_blobs,  // unpinned: every cache blob's content matches its blob name (no lock)
  local,        // a local directory: read and sealed, nothing to compare with
};
std::string_view to_string(Trust trust) noexcept;

struct SealedVariantFile {
  std::string path;             // relative to build/<variant>/, '/'-separated
  std::filesystem::path source; // the file actually read (cache blob or plain file)
  std::string digest;           // hex digest of the bytes read (kind below)
  DigestKind kind = DigestKind::git_sha1;
  SealedFile content;
};

struct SealedVariant {
  std::string variant;               // build/<variant> directory name
  std::filesystem::path directory;   // where it was read from
  std::string variant_hash;          // "sha256-<hex>" git_lfs_concat over the bytes read
  Trust trust = Trust::local;
  // The signer whose signature over metadata.json, and whose kernel digest of
  // the files, were verified on these sealed bytes; nullopt when none was checked.
  std::optional<LockedSignature> signer;
  std::vector<SealedVariantFile> files;  // sorted by path; *.pyc and __pycache__ excluded

  const SealedVariantFile* find(std::string_view path) const noexcept;
};

// What read_locked_variant demands of signatures (docs/trust.md).
struct SignatureCheck {
  // Verifies the signature when the lock pins one for the variant; the caller
  // keeps it alive for the call. nullptr with a pinned signature: Error(not_found).
  const trust::Verifier* verifier = nullptr;
  // Refuse a variant the lock pins no signature for (Error(integrity)).
  bool require_signature = false;
};

// Reads snapshots/<sha>/build/<variant>/ of `repo` and verifies it against the
// locked variant, before anything is returned:
//  * the set of files (minus *.pyc / __pycache__) equals the lock's file list
//    when the lock has one: a file added or removed refuses;
//  * each file's digest (kind from the lock's per-file record, or, for Python
//    locks without per-file data, from the cache blob name the snapshot symlink
//    points to) and size match the lock, and a named blob's content matches its name;
//  * the git_lfs_concat hash over (path, digest) equals the lock's variant hash;
//  * when the lock pins a signature for the variant (LockedVariant::signature),
//    on the same sealed bytes, after the lock hash: the sealed metadata.json's
//    signature with the sealed metadata.json.sigstore verifies with
//    `check.verifier` under trust::pinned_policy(the lock's record) (exactly
//    that issuer, source repository and build signer URI), and only then is
//    metadata.json parsed and its kernel digest compared with the sealed files
//    (sha256 computed in the pass that copies and hashes them; sha512 from the
//    sealed memory; no file is read twice from disk). The result's `signer` is
//    the lock's record. A missing metadata.json or bundle, a rejected signature
//    (the failed step named), a metadata.json without a digest, and any
//    missing, unknown or altered file of the digest throw Error(integrity)
//    naming the kernel variant and the step or files. A file the digest lists
//    that the loader never reads (a loose *.pyc) counts as missing;
//  * `check.require_signature` and no signature pinned: Error(integrity).
// The snapshot is read with the cache's strict snapshot policy
// (kernel_lock/cache/snapshot.hpp): every entry a relative symlink to a
// digest-named blob in the repo's blobs/ directory; plain files, links leaving
// blobs/, directory links and special files refuse. Throws Error(integrity) naming the file,
// the expected and the actual digest; Error(not_found) when the variant or a
// file is missing from the cache (hint: `kernel-lock install`).
SealedVariant read_locked_variant(const CacheRepoPaths& repo, std::string_view sha, std::string_view variant,
                                  const LockedVariant& locked, const SignatureCheck& check = {});

// Unpinned read of a cached variant (strict snapshot policy, as above): each
// snapshot symlink's blob must hold the bytes its name says (Error(integrity)
// otherwise); no lock is consulted.
SealedVariant read_cached_variant(const CacheRepoPaths& repo, std::string_view sha, std::string_view variant);

// Reads a local variant directory (get_local_kernel) with the plain snapshot
// policy (regular files and links to them): sealed, hashed with git blob sha1
// for every file (no LFS knowledge), nothing compared.
SealedVariant read_local_variant(const std::filesystem::path& variant_dir);

// list_variant_dirs (the variant directories under build/) lives in
// kernel_lock/cache/snapshot.hpp, included above.

// Where the lockfile is, searched in this order (first hit wins):
//   1. `explicit_path` (a file, or a directory holding kernel.lock / kernels.lock);
//      when given and not found, nothing else is tried;
//   2. $KERNEL_LOCK_FILE (file or directory, same rule);
//   3. the directory of the running executable (/proc/self/exe);
//   4. the current directory.
// In a directory, kernel.lock wins over kernels.lock. Throws Error(not_found)
// listing every place looked at.
std::filesystem::path locate_lockfile(const std::optional<std::filesystem::path>& explicit_path = std::nullopt);

// The commit a cached ref names: `revision` may be a 40-hex sha with a snapshot
// present, or a ref (branch/tag) under refs/. std::nullopt when not cached.
std::optional<std::string> resolve_cached_revision(const CacheRepoPaths& repo, std::string_view revision);

}  // namespace kernel_lock
