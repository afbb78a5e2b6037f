// `kernel-lock verify`: check a cache or a bundle against a kernel.lock.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/bundle/signatures.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/core/variant.hpp"

namespace kernel_lock {

enum class ProblemKind {
  missing_variant,  // no build/<variant>/ for the locked sha
  missing_file,     // a locked file is absent (or a dangling symlink)
  altered_file,     // content digest or size differs from the lock
  unexpected_file,  // a file the lock does not list (changes the variant hash)
  hash_mismatch,    // the variant's files do not hash to the locked variant hash
  manifest_mismatch,// bundle manifest disagrees with the lock
  signature_failed, // the pinned signature over metadata.json or the kernel digest does not hold
  unsigned_variant, // --require-signature: the lock pins no signature for the variant
};
const char* to_string(ProblemKind kind) noexcept;

struct VerifyProblem {
  ProblemKind kind;
  std::string repo_id;
  std::string variant;
  std::string path;      // repo path, when about one file
  std::string expected;  // digest/size/hash expected (when known)
  std::string actual;
  std::string message() const;  // one human line
};

struct VerifyReport {
  std::size_t kernels = 0;
  std::size_t variants = 0;  // checked
  std::size_t files = 0;     // checked
  std::vector<VerifyProblem> problems;
  // Per checked variant without problems, in lock order: what was proven.
  std::vector<VariantProvenance> provenance;
  bool ok() const noexcept { return problems.empty(); }
  nlohmann::ordered_json to_json() const;
};

struct VerifyOptions {
  VariantFilter filter;  // empty = every locked variant must be present and intact
  // Signed variants: the root (`signatures.trusted_root`, else the bundle's, else
  // the cache's trust store), its freshness, --require-signature.
  SignatureOptions signatures;
};

// Checks <cache>/<repo_folder>/snapshots/<sha>/build/<variant>/ for every locked
// kernel and (filtered) variant: each file's content digest and size (from the
// lock's per-file records, or, for Python-written locks, the digest kind named by
// the blob the symlink points to), no missing or extra files, and the variant hash.
// `cache_dir` unset: KERNELS_CACHE / HF hub cache as install uses them.
// A variant that passes and whose lock pins a signature is then checked against
// it (signature over metadata.json with the pinned signer, then the kernel
// digest); a failure is a signature_failed problem. Throws Error(stale_trust)
// for a stale root and Error(not_found) when signatures are pinned but no root
// is available (signatures.hpp).
VerifyReport verify_cache(const Lockfile& lock, const std::optional<std::filesystem::path>& cache_dir,
                          const VerifyOptions& options = {});

// Streams a bundle: manifest against `lock`, every blob's digest and size, and
// every (filtered) locked variant present. Malformed/hostile archives are
// reported as problems when possible, else throw like BundleReader. Signed
// variants are checked as in verify_cache on their files, extracted to a
// temporary directory (removed before returning); the root is the option's,
// else the bundle's, else the trust store of the default kernels cache.
VerifyReport verify_bundle(const Lockfile& lock, const std::filesystem::path& bundle,
                           const VerifyOptions& options = {});

}  // namespace kernel_lock
