// The kernel digest: the `digest` object that kernels-community CI writes into a
// variant's metadata.json (`kernel-builder hash`), and its check against the files.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/trust/policy.hpp"
#include "kernel_lock/trust/trusted_root.hpp"
#include "kernel_lock/trust/verify.hpp"

namespace kernel_lock::trust {

enum class DigestAlgorithm { sha256, sha512 };
std::string_view to_string(DigestAlgorithm algorithm) noexcept;

// {"algorithm": "sha256", "files": {"<relative/path>": "<base64 raw digest>"}}
struct KernelDigest {
  DigestAlgorithm algorithm = DigestAlgorithm::sha256;
  std::map<std::string, std::string> files;  // '/'-separated path -> base64 digest
};

// Limits for a variant directory walk and for metadata.json.
inline constexpr std::size_t kMaxMetadataBytes = 4 * 1024 * 1024;
inline constexpr std::size_t kMaxDigestFiles = 100000;
inline constexpr int kMaxDigestDepth = 32;

// False for paths the digest leaves out: a file named metadata.json or
// metadata.json.sigstore (at any depth) and anything under a __pycache__ directory.
bool is_digested_path(std::string_view relative_path) noexcept;

// Reads the `digest` object of metadata.json. Throws Error(not_found) when the file
// has none ("digest missing"), Error(invalid_input) when it is malformed,
// Error(unsupported) for an algorithm other than sha256/sha512.
KernelDigest parse_kernel_digest(std::string_view metadata_json);

// Digests every file below `variant_dir` (following symlinks, as the HF cache needs).
// Throws Error(not_found / io) for unreadable entries, Error(invalid_input) for a
// walk over kMaxDigestFiles files or kMaxDigestDepth levels (symlink loops end there).
// Digests a caller already holds for some files ('/'-separated path -> base64 sha256),
// e.g. the LFS sha256 an install has just verified a blob against: they are used
// instead of reading those files again (sha256 digests only; sha512 reads everything).
using KnownDigests = std::map<std::string, std::string>;
KernelDigest compute_kernel_digest(const std::filesystem::path& variant_dir, DigestAlgorithm algorithm,
                                   const KnownDigests* known = nullptr);

struct DigestComparison {
  std::vector<std::string> unknown;  // on disk, not in the digest
  std::vector<std::string> missing;  // in the digest, not on disk
  std::vector<std::string> altered;  // different content
  bool matches() const noexcept { return unknown.empty() && missing.empty() && altered.empty(); }
  std::string describe() const;  // "2 altered (a.so, b.py), 1 missing (c.py)" or "matches"
};

DigestComparison compare_kernel_digest(const KernelDigest& expected, const KernelDigest& actual);

// One file's entry of a digest, for callers that hold the bytes in memory (the
// loader's sealed copies): base64 of the raw digest of `content`, or of a raw
// digest the caller already computed while copying the bytes (`raw_digest`,
// 32 bytes for sha256, 64 for sha512; Error(invalid_input) otherwise).
std::string kernel_file_digest(std::string_view content, DigestAlgorithm algorithm);
std::string encode_kernel_file_digest(std::span<const std::uint8_t> raw_digest);

// Parses metadata.json from `variant_dir` and compares its digest with the files.
// Throws what parse_kernel_digest and compute_kernel_digest throw.
DigestComparison check_kernel_digest(const std::filesystem::path& variant_dir);

// A signed variant: the signature over metadata.json is checked first (with
// metadata.json.sigstore); only when it verifies is metadata.json parsed and its
// digest checked against the files.
struct VariantVerification {
  Verdict signature;
  std::optional<DigestComparison> digest;  // set only when the signature verified
  bool verified() const noexcept { return signature.verified && digest && digest->matches(); }
};

// Throws Error(not_found) when metadata.json or its .sigstore is absent, Error(io)
// when unreadable, and (after a verified signature) what check_kernel_digest throws.
VariantVerification verify_kernel_variant(const std::filesystem::path& variant_dir, const Verifier& verifier,
                                          const IdentityPolicy& policy);
VariantVerification verify_kernel_variant(const std::filesystem::path& variant_dir, const TrustedRoot& root,
                                          const IdentityPolicy& policy);

// The outcome of checking a signed variant, in the categories (and the order of
// checks) of the Python `kernels.verify.verify_variant`: bundle missing, bundle
// invalid (it does not parse), metadata missing, signature failure, metadata
// invalid, digest missing, digest violation, verified.
enum class VariantStatus {
  verified,
  bundle_missing,     // no metadata.json.sigstore
  bundle_invalid,     // the bundle does not parse (Verdict step bundle_format)
  metadata_missing,   // no metadata.json
  signature_failed,   // any other rejected Verdict (the step is in `signature`)
  metadata_invalid,   // signed, but metadata.json or its digest object is malformed
  digest_missing,     // signed, but metadata.json has no `digest`
  digest_violation,   // signed, but files are missing, unknown or altered
};
// "verified", "signature bundle missing", ... (stable, for messages and tests).
std::string_view to_string(VariantStatus status) noexcept;

struct VariantCheck {
  VariantStatus status = VariantStatus::bundle_missing;
  Verdict signature;                       // set once the bundle was read
  std::optional<DigestComparison> digest;  // set for digest_violation and verified
  std::string message;                     // why metadata is invalid; empty otherwise
  bool verified() const noexcept { return status == VariantStatus::verified; }
};

// As verify_kernel_variant, but a missing file, a bundle that does not parse and a
// malformed or digest-less metadata.json are a status, not an exception. Throws
// Error(io) for a file that exists but cannot be read, Error(invalid_input) for a
// metadata.json or bundle over its size limit, and what compute_kernel_digest
// throws for an unreadable variant tree.
VariantCheck check_kernel_variant(const std::filesystem::path& variant_dir, const Verifier& verifier,
                                  const IdentityPolicy& policy, const KnownDigests* known = nullptr);

}  // namespace kernel_lock::trust
