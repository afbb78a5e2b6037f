// RFC 3339 UTC times: the one parser and formatter, for every file that carries
// one (trusted roots, the trust store, bundle manifests, OCI annotations, the
// signature records of a lock).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kernel_lock {

// Seconds since the Unix epoch, UTC.
using UnixTime = std::int64_t;

// Parses "2022-04-13T20:06:15Z": fractional seconds allowed and truncated, "Z",
// "z" or "+00:00". Throws Error(invalid_input) for anything else (a short or
// non-numeric field, another time zone, a month, day, hour or minute out of range).
UnixTime parse_rfc3339(std::string_view text);

// "2026-06-01T12:00:00Z" (UTC, whole seconds); parse_rfc3339 reads it back.
std::string format_rfc3339(UnixTime t);

// Whether `text` is exactly what format_rfc3339 writes for some time (the form a
// lock's signing_time must have). Never throws.
bool is_canonical_rfc3339(std::string_view text) noexcept;

}  // namespace kernel_lock
