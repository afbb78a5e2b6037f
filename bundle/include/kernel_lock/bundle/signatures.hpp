// Signed variants in install and verify (docs/trust.md "Trust material in the
// air gap"): which trusted root is used, and the check of one variant against
// the signer its lock pinned. No network: the root comes from the bundle, the
// cache's trust store or the caller, never from TUF.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/core/lockfile.hpp"
#include "kernel_lock/trust/trust_store.hpp"
#include "kernel_lock/trust/kernel_digest.hpp"
#include "kernel_lock/trust/verify.hpp"

namespace kernel_lock {

struct SignatureOptions {
  // The root to verify with instead of the bundle's or the cache's (--trusted-root FILE).
  std::optional<trust::CapturedTrustRoot> trusted_root;
  trust::UnixTime now = 0;  // the caller's clock, for the freshness check
  std::int64_t max_age_days = trust::kDefaultTrustMaxAgeDays;
  bool require_signature = false;  // a variant the lock pins no signature for fails
};

// What was proven about one variant: its bytes match the lock and, when
// `signer` is set, its signature (with the pinned signer) and kernel digest hold.
struct VariantProvenance {
  std::string repo_id;
  std::string variant;
  std::optional<LockedSignature> signer;
  // "signed by <build signer URI> (issuer <issuer>)" or "pinned by the lock only".
  std::string describe() const;
};

// The signature `lock` pins for `repo_id` at commit `sha`, `variant`, or null.
const LockedSignature* find_pinned_signature(const Lockfile& lock, const std::string& repo_id, const std::string& sha,
                                             const std::string& variant) noexcept;

// True when a variant the manifest includes pins a signature in its lock.
bool manifest_pins_signatures(const BundleManifest& manifest);
// True when a variant of `lock` pins a signature.
bool lock_pins_signatures(const Lockfile& lock);

// The root to verify with: `options.trusted_root`, else `carried` (a bundle's),
// else the trust store of `cache_dir`; nullopt when there is none. `carried` is
// always checked for freshness (it is about to be stored), the chosen one too.
// Throws Error(stale_trust) naming the refresh command, and what read_trust_store throws.
std::optional<trust::CapturedTrustRoot> choose_trust_root(const SignatureOptions& options,
                                                          const std::optional<trust::CapturedTrustRoot>& carried,
                                                          const std::filesystem::path& cache_dir);

// Error(not_found) for `what` (a command) that needs a trusted root and has
// none, naming `kernel-lock trust import` and --trusted-root.
[[noreturn]] void throw_no_trust_root(const std::string& what);

// Checks a variant directory against the signer its lock pinned: the signature
// over metadata.json (pinned_policy), then the kernel digest. nullopt when both
// hold, else one sentence naming the failed step or the files. Throws Error(io)
// for a file that exists but cannot be read.
// `known`: kernel digests of files whose bytes the caller has just verified (see
// lfs_kernel_digests), not read again.
std::optional<std::string> check_signed_variant(const std::filesystem::path& variant_dir,
                                                const trust::Verifier& verifier, const LockedSignature& pinned,
                                                const trust::KnownDigests* known = nullptr);

// The kernel digests (base64 sha256) of a variant's LFS files, from their LFS
// sha256 (the content's sha256): `files` are (path relative to the variant,
// digest hex, kind); git-sha1 files are left out (they must be read).
trust::KnownDigests lfs_kernel_digests(const std::vector<LockedFile>& files);

// Builds `dir` as a directory of symlinks, one per file of `variant` in `kernel`,
// each pointing at `blobs_dir`/<digest> (a variant directory to check before it
// is published). Throws Error(io).
void link_variant_files(const std::filesystem::path& dir, const BundleKernel& kernel, const std::string& variant,
                        const std::filesystem::path& blobs_dir);

}  // namespace kernel_lock
