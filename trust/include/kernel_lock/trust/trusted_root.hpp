// Sigstore trust material (`trusted_root.json`, media type
// application/vnd.dev.sigstore.trustedroot+json;version=0.1), parsed offline.
// Holds DER bytes only: no OpenSSL types in this header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/core/error.hpp"  // the Error every parser here throws
#include "kernel_lock/core/rfc3339.hpp"

namespace kernel_lock::trust {

using Bytes = std::vector<std::uint8_t>;
using kernel_lock::UnixTime;  // seconds since the Unix epoch, UTC (core/rfc3339.hpp)

// A validity window from the trusted root (`validFor`); no `end` means open-ended.
struct ValidityWindow {
  UnixTime start = 0;
  std::optional<UnixTime> end;
  bool contains(UnixTime t) const noexcept { return t >= start && (!end || t <= *end); }
};

// A transparency log (Rekor) or certificate transparency log (CT) key.
struct LogKey {
  std::string base_url;
  Bytes key_id;          // sha256 of the DER SubjectPublicKeyInfo, computed here (the log ID)
  Bytes public_key_der;  // DER SubjectPublicKeyInfo
  std::string key_details;  // e.g. "PKIX_ECDSA_P256_SHA_256", as written in the file
  ValidityWindow valid_for;
};

// A Fulcio certificate authority: its chain, issuing certificate first, root last.
struct CertificateAuthority {
  std::string uri;
  std::vector<Bytes> chain_der;
  ValidityWindow valid_for;
};

struct TrustedRoot {
  std::vector<LogKey> tlogs;
  std::vector<CertificateAuthority> certificate_authorities;
  std::vector<LogKey> ctlogs;
  std::size_t timestamp_authority_count = 0;  // parsed for the count only: RFC 3161 is not verified

  // The log whose key ID equals `key_id`, or nullptr.
  const LogKey* find_tlog(std::span<const std::uint8_t> key_id) const noexcept;
  const LogKey* find_ctlog(std::span<const std::uint8_t> key_id) const noexcept;
};

// Limits applied before anything is allocated for the input.
inline constexpr std::size_t kMaxTrustedRootBytes = 4 * 1024 * 1024;

// Parses trusted_root.json. Every key and certificate is decoded and checked to
// parse (DER) here, so later steps only meet well-formed material.
// Throws Error(invalid_input) for malformed JSON, base64, DER, timestamps, or a file
// over kMaxTrustedRootBytes / nested too deep; Error(unsupported) for another media type.
TrustedRoot parse_trusted_root(std::string_view json);

// Reads and parses a file. Throws Error(not_found / io) when it cannot be read,
// plus everything parse_trusted_root throws, with the path as context.
TrustedRoot load_trusted_root(const std::filesystem::path& path);

using kernel_lock::parse_rfc3339;  // core/rfc3339.hpp

}  // namespace kernel_lock::trust
