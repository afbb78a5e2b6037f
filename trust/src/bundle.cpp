#include "kernel_lock/trust/bundle.hpp"

#include "codec.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "openssl.hpp"

namespace kernel_lock::trust {
namespace {

constexpr std::size_t kMaxProofHashes = 64;        // a tree of 2^64 leaves needs fewer
constexpr std::size_t kMaxBodyBytes = 256 * 1024;  // hashedrekord bodies are a few KiB
constexpr std::size_t kMaxSignatureBytes = 16 * 1024;
constexpr std::size_t kMaxCheckpointBytes = 64 * 1024;
constexpr std::size_t kMaxChainCertificates = 16;
constexpr std::size_t kMaxTimestamps = 32;

Error malformed(const std::string& message) { return Error(ErrorCode::invalid_input, "bundle: " + message); }
Error unsupported(const std::string& message) { return Error(ErrorCode::unsupported, "bundle: " + message); }

BundleVersion version_of(const std::string& media_type) {
  if (media_type == "application/vnd.dev.sigstore.bundle+json;version=0.1") return BundleVersion::v0_1;
  if (media_type == "application/vnd.dev.sigstore.bundle+json;version=0.2") return BundleVersion::v0_2;
  if (media_type == "application/vnd.dev.sigstore.bundle.v0.3+json" ||
      media_type == "application/vnd.dev.sigstore.bundle+json;version=0.3") {
    return BundleVersion::v0_3;
  }
  throw unsupported("unknown media type `" + media_type.substr(0, 100) + "`");
}

Bytes decode(const nlohmann::json& object, std::string_view key, std::string_view what, std::size_t max) {
  return detail::base64_decode(detail::string_field(object, key, what), std::string(what) + "." + std::string(key),
                               max);
}

// Fills the leaf certificate (and, for v0.1/v0.2, the rest of the chain).
void parse_certificates(const nlohmann::json& material, Bundle& bundle) {
  if (bundle.version == BundleVersion::v0_3) {
    const auto* cert = detail::optional_field(material, "certificate");
    if (!cert) {
      if (detail::optional_field(material, "publicKey")) throw unsupported("public-key bundles (no certificate)");
      throw malformed("expected `certificate` in a v0.3 bundle");
    }
    bundle.certificate_der = decode(*cert, "rawBytes", "certificate", detail::kMaxDerBytes);
  } else {
    const auto* chain = detail::optional_field(material, "x509CertificateChain");
    if (!chain) throw malformed("expected `x509CertificateChain` in a v0.1/v0.2 bundle");
    const auto* certs = detail::optional_field(*chain, "certificates");
    if (!certs || !certs->is_array() || certs->empty()) throw malformed("expected a non-empty certificate chain");
    if (certs->size() > kMaxChainCertificates) throw malformed("certificate chain too long");
    for (const auto& c : *certs) {
      auto der = decode(c, "rawBytes", "certificate", detail::kMaxDerBytes);
      if (bundle.certificate_der.empty()) bundle.certificate_der = std::move(der);
      else bundle.chain_der.push_back(std::move(der));
    }
  }
  detail::check_der_sequence(bundle.certificate_der, "certificate");  // decoded in full by verify
}

InclusionProof parse_inclusion_proof(const nlohmann::json& entry) {
  const auto* proof = detail::optional_field(entry, "inclusionProof");
  if (!proof) throw malformed("log entry must contain an inclusion proof, with a checkpoint");
  InclusionProof out;
  out.log_index = detail::int64_field(*proof, "logIndex", "inclusion proof");
  out.tree_size = detail::int64_field(*proof, "treeSize", "inclusion proof");
  out.root_hash = decode(*proof, "rootHash", "inclusion proof", 64);
  const auto* hashes = detail::optional_field(*proof, "hashes");
  if (hashes) {
    if (!hashes->is_array() || hashes->size() > kMaxProofHashes) throw malformed("inclusion proof: bad `hashes`");
    for (const auto& h : *hashes) {
      if (!h.is_string()) throw malformed("inclusion proof: hash is not a string");
      out.hashes.push_back(detail::base64_decode(h.get<std::string>(), "inclusion proof hash", 64));
    }
  }
  const auto* checkpoint = detail::optional_field(*proof, "checkpoint");
  const auto* envelope = checkpoint ? detail::optional_field(*checkpoint, "envelope") : nullptr;
  if (!envelope || !envelope->is_string() || envelope->get_ref<const std::string&>().empty()) {
    throw malformed("expected checkpoint in inclusion proof");
  }
  if (envelope->get_ref<const std::string&>().size() > kMaxCheckpointBytes) throw malformed("checkpoint too large");
  out.checkpoint = *envelope;
  return out;
}

TransparencyLogEntry parse_log_entry(const nlohmann::json& material) {
  const auto* entries = detail::optional_field(material, "tlogEntries");
  if (!entries || !entries->is_array() || entries->size() != 1) {
    throw malformed("expected exactly one transparency log entry");
  }
  const auto& entry = (*entries)[0];
  TransparencyLogEntry out;
  const auto& kind_version = detail::field(entry, "kindVersion", "log entry");
  out.kind = detail::string_field(kind_version, "kind", "log entry kindVersion");
  out.kind_version = detail::string_field(kind_version, "version", "log entry kindVersion");
  if (out.kind != "hashedrekord" || out.kind_version != "0.0.1") {
    throw unsupported("log entry of kind " + out.kind.substr(0, 40) + " " + out.kind_version.substr(0, 20) +
                      " (only Rekor v1 hashedrekord 0.0.1 is verified; Rekor v2 entries need RFC 3161 "
                      "timestamps, which this verifier does not check)");
  }
  out.log_index = detail::int64_field(entry, "logIndex", "log entry");
  out.log_id = decode(detail::field(entry, "logId", "log entry"), "keyId", "log entry logId", 64);
  out.canonicalized_body = decode(entry, "canonicalizedBody", "log entry", kMaxBodyBytes);
  out.inclusion_proof = parse_inclusion_proof(entry);
  const auto* promise = detail::optional_field(entry, "inclusionPromise");
  const auto* integrated = detail::optional_field(entry, "integratedTime");
  if (!promise || !integrated) return out;  // the caller decides (v0.1: malformed; else unsupported)
  out.integrated_time = detail::int64_field(entry, "integratedTime", "log entry");
  out.signed_entry_timestamp = decode(*promise, "signedEntryTimestamp", "inclusion promise", kMaxSignatureBytes);
  return out;
}

void parse_message_signature(const nlohmann::json& doc, Bundle& bundle) {
  if (detail::optional_field(doc, "dsseEnvelope")) throw unsupported("DSSE envelopes (only message signatures)");
  const auto* signature = detail::optional_field(doc, "messageSignature");
  if (!signature) throw malformed("expected `messageSignature`");
  bundle.signature = decode(*signature, "signature", "message signature", kMaxSignatureBytes);
  if (bundle.signature.empty()) throw malformed("empty message signature");
  if (const auto* digest = detail::optional_field(*signature, "messageDigest")) {
    bundle.message_digest_algorithm = detail::string_field(*digest, "algorithm", "message digest");
    bundle.message_digest = decode(*digest, "digest", "message digest", 64);
  }
}

}  // namespace

Bundle parse_bundle(std::string_view json) {
  const auto doc = detail::parse_json(json, "bundle", kMaxBundleBytes);
  Bundle bundle;
  bundle.media_type = detail::string_field(doc, "mediaType", "bundle");
  bundle.version = version_of(bundle.media_type);
  const auto& material = detail::field(doc, "verificationMaterial", "bundle");
  parse_certificates(material, bundle);
  bundle.tlog_entry = parse_log_entry(material);
  if (const auto* tsd = detail::optional_field(material, "timestampVerificationData")) {
    if (const auto* ts = detail::optional_field(*tsd, "rfc3161Timestamps"); ts && ts->is_array()) {
      if (ts->size() > kMaxTimestamps) throw malformed("too many RFC 3161 timestamps");
      bundle.rfc3161_timestamp_count = ts->size();
    }
  }
  if (bundle.tlog_entry.signed_entry_timestamp.empty()) {
    if (bundle.version == BundleVersion::v0_1 || bundle.rfc3161_timestamp_count == 0) {
      throw malformed("bundle must contain an inclusion promise (signed entry timestamp)");
    }
    throw unsupported("no inclusion promise: the signing time would come from RFC 3161 timestamps only, "
                      "which this verifier does not check");
  }
  parse_message_signature(doc, bundle);
  return bundle;
}

Bundle load_bundle(const std::filesystem::path& path) {
  const auto text = read_file_at_most(path, kMaxBundleBytes);
  return with_context(path.string(), [&] { return parse_bundle(text); });
}

}  // namespace kernel_lock::trust
