// Private to the loader: the Sigstore trusted root a load verifies signed
// variants with, decoded once per process (see LoadOptions in loader.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "kernel_lock/trust/verify.hpp"

namespace kernel_lock {

// Where the trusted root comes from and how old it may be.
struct TrustRootSource {
  std::filesystem::path cache_dir;                    // its trust store (<cache>/.kernel-lock-trust) by default
  std::optional<std::filesystem::path> explicit_file; // a trusted_root.json, captured at its modification time
  std::optional<std::int64_t> max_age_days;           // default trust_max_age_days_from_env()
};

// The Verifier of the trusted root `source` names, fresh enough. Verifiers are
// kept for the life of the process, keyed by the sha256 of the root's bytes,
// so a root is decoded once however many kernels it verifies; a source whose
// files are unchanged since they were read and validated (same inode, size,
// mtime and ctime) is not read again. Freshness is checked on every call.
// Throws Error(not_found) when there is no trusted root (hint: `kernel-lock
// trust import`, or install a bundle that carries one), Error(stale_trust) when
// it is older than the limit, Error(invalid_input / io / usage) for a damaged
// store, an unreadable or invalid file, or a bad KERNEL_LOCK_TRUST_MAX_AGE_DAYS.
std::shared_ptr<const trust::Verifier> verifier_for(const TrustRootSource& source);

}  // namespace kernel_lock
