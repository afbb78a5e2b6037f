// A Sigstore bundle (v0.1, v0.2, v0.3) carrying a message signature, a Fulcio
// certificate and one Rekor v1 `hashedrekord` 0.0.1 entry. Plain data, no
// OpenSSL types. Parsing checks the shape required by the declared version;
// the cryptography is checked by verify_artifact (verify.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernel_lock/trust/trusted_root.hpp"

namespace kernel_lock::trust {

enum class BundleVersion { v0_1, v0_2, v0_3 };

struct InclusionProof {
  std::int64_t log_index = 0;  // index in the log shard the proof is for
  Bytes root_hash;
  std::int64_t tree_size = 0;
  std::vector<Bytes> hashes;
  std::string checkpoint;  // signed note text (`checkpoint.envelope`)
};

struct TransparencyLogEntry {
  std::int64_t log_index = 0;
  Bytes log_id;  // `logId.keyId`
  std::string kind;          // "hashedrekord"
  std::string kind_version;  // "0.0.1"
  std::int64_t integrated_time = 0;
  Bytes signed_entry_timestamp;  // the SET (`inclusionPromise.signedEntryTimestamp`)
  InclusionProof inclusion_proof;
  Bytes canonicalized_body;  // the Rekor entry JSON, exactly as logged
};

struct Bundle {
  std::string media_type;
  BundleVersion version = BundleVersion::v0_3;
  Bytes certificate_der;  // the signing (leaf) certificate
  std::vector<Bytes> chain_der;  // further certificates of a v0.1/v0.2 chain: never trusted, unused
  TransparencyLogEntry tlog_entry;
  std::size_t rfc3161_timestamp_count = 0;  // present but not verified (the SET gives the time)
  std::string message_digest_algorithm;  // "SHA2_256" when present
  Bytes message_digest;                  // may be empty (optional in the format)
  Bytes signature;
};

inline constexpr std::size_t kMaxBundleBytes = 1024 * 1024;

// Parses the bundle JSON.
// Throws Error(invalid_input) when it is malformed for its declared version: bad JSON,
//   nesting or size over the limits, bad base64, a certificate that is not one DER
//   SEQUENCE (it is decoded in full by verify_artifact), no certificate, not exactly one
//   log entry, no inclusion proof with a checkpoint, v0.1 without an inclusion
//   promise, missing message signature.
// Throws Error(unsupported) for what this verifier cannot fully verify: an unknown
//   media type, a DSSE envelope, a log entry other than hashedrekord 0.0.1 (Rekor v2
//   entries are 0.0.2), an entry without an inclusion promise (its time would come
//   from RFC 3161 timestamps only).
Bundle parse_bundle(std::string_view json);

// Reads and parses a file; adds Error(not_found / io) for unreadable files.
Bundle load_bundle(const std::filesystem::path& path);

}  // namespace kernel_lock::trust
