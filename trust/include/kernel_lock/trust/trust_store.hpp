// Sigstore trust material kept with an HF cache for offline use: the
// trusted_root.json and the time it was captured, and the freshness rule that
// replaces TUF's online refresh (docs/trust.md "Trust material in the air gap").
//
// Layout, next to the repos of the cache (huggingface_hub's scan-cache lists it
// as one unknown entry and leaves it alone):
//   <cache>/.kernel-lock-trust/trusted_root.json   the file, byte for byte
//   <cache>/.kernel-lock-trust/captured.json       {"captured_at": "<RFC 3339>", "sha256": "<hex of the file>"}
// captured.json is written last, so a store whose files disagree (a crash between
// the two renames, or an edit) is refused, never half-trusted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "kernel_lock/trust/trusted_root.hpp"

namespace kernel_lock::trust {

// A trusted_root.json with its capture time: parsed and valid (parse_trusted_root).
struct CapturedTrustRoot {
  std::string json;                // the file's bytes
  UnixTime captured_at = 0;
  std::filesystem::path origin;    // where it was read from, for messages
  std::string sha256_hex() const;  // of `json`
};

inline constexpr std::int64_t kDefaultTrustMaxAgeDays = 180;
inline constexpr std::string_view kTrustMaxAgeEnv = "KERNEL_LOCK_TRUST_MAX_AGE_DAYS";
inline constexpr std::string_view kTrustStoreDirName = ".kernel-lock-trust";

// <cache>/.kernel-lock-trust
std::filesystem::path trust_store_dir(const std::filesystem::path& cache_dir);

// The cache's stored root, or nullopt when the cache has none.
// Throws Error(invalid_input) when the store is damaged (a file missing, a digest
// that does not match, a bad record or trusted root), naming the file and the
// command that rewrites it; Error(io) when unreadable.
std::optional<CapturedTrustRoot> read_trust_store(const std::filesystem::path& cache_dir);

enum class TrustStoreWrite { written, unchanged, kept_newer };

// Stores `root` in the cache: trusted_root.json then captured.json, each atomically.
// Keeps a stored root captured later than `root` (kept_newer) unless `replace_newer`;
// an identical one is left untouched (unchanged). Throws Error(invalid_input) when
// `root.json` is not a valid trusted root, Error(io) when it cannot write.
TrustStoreWrite write_trust_store(const std::filesystem::path& cache_dir, const CapturedTrustRoot& root,
                                  bool replace_newer = false);

// A trusted_root.json named on the command line, captured at `captured_at` (the
// caller passes the file's modification time or an explicit --captured-at).
// Throws what read_file_at_most and parse_trusted_root throw, with the path as context.
CapturedTrustRoot read_trust_root_file(const std::filesystem::path& path, UnixTime captured_at);

// The trusted root a command or a load uses: `explicit_file` when given (captured
// at `captured_at`, default its modification time), else the trust store of
// `cache_dir`; nullopt when there is neither. Freshness is the caller's call
// (check_trust_fresh). Throws what read_trust_root_file / read_trust_store throw,
// with the file as context.
std::optional<CapturedTrustRoot> load_trust_root(const std::optional<std::filesystem::path>& explicit_file,
                                                 std::optional<UnixTime> captured_at,
                                                 const std::filesystem::path& cache_dir);

// The system clock as Unix seconds (callers pass time to the functions above).
UnixTime system_now();

// The file's modification time as Unix seconds. Throws Error(io / not_found).
UnixTime file_modification_time(const std::filesystem::path& path);

// Throws Error(stale_trust) when `now - root.captured_at` exceeds `max_age_days`
// days, naming where the root came from, its age, the limit and how to refresh it.
// A root captured in the future (clock skew) is accepted.
void check_trust_fresh(const CapturedTrustRoot& root, UnixTime now, std::int64_t max_age_days);

// KERNEL_LOCK_TRUST_MAX_AGE_DAYS when set, else kDefaultTrustMaxAgeDays.
// Throws Error(usage) when it is set to anything but a positive integer.
std::int64_t trust_max_age_days_from_env();

using kernel_lock::format_rfc3339;  // core/rfc3339.hpp

}  // namespace kernel_lock::trust
