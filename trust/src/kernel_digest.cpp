#include "kernel_lock/trust/kernel_digest.hpp"

#include <fstream>
#include <system_error>

#include "codec.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "openssl.hpp"

namespace kernel_lock::trust {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kMaxDigestPath = 4096;

std::size_t digest_size(DigestAlgorithm algorithm) { return algorithm == DigestAlgorithm::sha256 ? 32 : 64; }

// Streams one file through sha256/sha512. Throws Error(io) naming the path.
Bytes digest_file(const fs::path& path, DigestAlgorithm algorithm) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::io, path.string() + ": cannot open");
  detail::MdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = algorithm == DigestAlgorithm::sha256 ? EVP_sha256() : EVP_sha512();
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) throw Error(ErrorCode::generic, "EVP_DigestInit_ex failed");
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) throw Error(ErrorCode::io, path.string() + ": read error");
  Bytes out(digest_size(algorithm));
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out.data(), &n) != 1) throw Error(ErrorCode::generic, "EVP_DigestFinal_ex failed");
  return out;
}

std::string join(const std::vector<std::string>& paths) {
  std::string out;
  for (std::size_t i = 0; i < paths.size() && i < 10; ++i) out += (i ? ", " : "") + paths[i];
  if (paths.size() > 10) out += ", ...";
  return out;
}

// Adds one walked entry to `digest` (regular files only; others throw).
void add_entry(const fs::directory_entry& entry, const fs::path& root, const KnownDigests* known, KernelDigest& digest) {
  std::error_code ec;
  const auto status = entry.status(ec);  // follows symlinks
  if (ec || !fs::exists(status)) throw Error(ErrorCode::not_found, entry.path().string() + ": broken link or unreadable");
  if (fs::is_directory(status)) return;
  if (!fs::is_regular_file(status)) throw Error(ErrorCode::invalid_input, entry.path().string() + ": not a regular file");
  const std::string relative = entry.path().lexically_relative(root).generic_string();
  if (!is_digested_path(relative)) return;
  if (digest.files.size() >= kMaxDigestFiles) throw Error(ErrorCode::invalid_input, root.string() + ": too many files");
  if (known != nullptr && digest.algorithm == DigestAlgorithm::sha256) {
    if (auto it = known->find(relative); it != known->end()) {
      digest.files[relative] = it->second;
      return;
    }
  }
  digest.files[relative] = detail::base64_encode(digest_file(entry.path(), digest.algorithm));
}

}  // namespace

std::string_view to_string(DigestAlgorithm algorithm) noexcept {
  return algorithm == DigestAlgorithm::sha256 ? "sha256" : "sha512";
}

bool is_digested_path(std::string_view path) noexcept {
  std::size_t start = 0;
  while (true) {
    const auto slash = path.find('/', start);
    const auto part = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (slash == std::string_view::npos) return part != "metadata.json" && part != "metadata.json.sigstore";
    if (part == "__pycache__") return false;
    start = slash + 1;
  }
}

KernelDigest parse_kernel_digest(std::string_view metadata_json) {
  const auto doc = detail::parse_json(metadata_json, "metadata.json", kMaxMetadataBytes);
  const auto* object = detail::optional_field(doc, "digest");
  if (!object) throw Error(ErrorCode::not_found, "metadata.json: digest missing");
  KernelDigest digest;
  const auto algorithm = detail::string_field(*object, "algorithm", "metadata.json digest");
  if (algorithm == "sha256") digest.algorithm = DigestAlgorithm::sha256;
  else if (algorithm == "sha512") digest.algorithm = DigestAlgorithm::sha512;
  else throw Error(ErrorCode::unsupported, "metadata.json: unsupported digest algorithm `" + algorithm.substr(0, 40) + "`");
  const auto& files = detail::field(*object, "files", "metadata.json digest");
  if (!files.is_object() || files.size() > kMaxDigestFiles) {
    throw Error(ErrorCode::invalid_input, "metadata.json: digest `files` must be an object of at most " +
                                              std::to_string(kMaxDigestFiles) + " entries");
  }
  for (const auto& [path, value] : files.items()) {
    if (path.empty() || path.size() > kMaxDigestPath || !value.is_string()) {
      throw Error(ErrorCode::invalid_input, "metadata.json: bad digest entry `" + path.substr(0, 200) + "`");
    }
    const auto raw = detail::base64_decode(value.get<std::string>(), "metadata.json digest of " + path.substr(0, 200),
                                           digest_size(digest.algorithm));
    if (raw.size() != digest_size(digest.algorithm)) {
      throw Error(ErrorCode::invalid_input, "metadata.json: digest of `" + path.substr(0, 200) + "` has the wrong length");
    }
    digest.files[path] = detail::base64_encode(raw);
  }
  return digest;
}

KernelDigest compute_kernel_digest(const fs::path& variant_dir, DigestAlgorithm algorithm, const KnownDigests* known) {
  KernelDigest digest;
  digest.algorithm = algorithm;
  std::error_code ec;
  fs::recursive_directory_iterator it(variant_dir, fs::directory_options::follow_directory_symlink, ec);
  if (ec) {
    throw Error(ec == std::errc::no_such_file_or_directory ? ErrorCode::not_found : ErrorCode::io,
                variant_dir.string() + ": " + ec.message());
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) throw Error(ErrorCode::io, variant_dir.string() + ": " + ec.message());
    if (it.depth() > kMaxDigestDepth) {
      throw Error(ErrorCode::invalid_input, it->path().string() + ": deeper than " + std::to_string(kMaxDigestDepth) +
                                                " levels (symlink loop?)");
    }
    if (it->path().filename() == "__pycache__" && it->is_directory(ec)) {
      it.disable_recursion_pending();
      continue;
    }
    add_entry(*it, variant_dir, known, digest);
  }
  if (ec) throw Error(ErrorCode::io, variant_dir.string() + ": " + ec.message());
  return digest;
}

std::string kernel_file_digest(std::string_view content, DigestAlgorithm algorithm) {
  Bytes out(digest_size(algorithm));
  unsigned int n = 0;
  const EVP_MD* md = algorithm == DigestAlgorithm::sha256 ? EVP_sha256() : EVP_sha512();
  if (EVP_Digest(content.data(), content.size(), out.data(), &n, md, nullptr) != 1)
    throw Error(ErrorCode::generic, "EVP_Digest failed");
  return detail::base64_encode(out);
}

std::string encode_kernel_file_digest(std::span<const std::uint8_t> raw_digest) {
  if (raw_digest.size() != digest_size(DigestAlgorithm::sha256) && raw_digest.size() != digest_size(DigestAlgorithm::sha512))
    throw Error(ErrorCode::invalid_input, "a kernel file digest is 32 or 64 bytes, not " + std::to_string(raw_digest.size()));
  return detail::base64_encode(raw_digest);
}

DigestComparison compare_kernel_digest(const KernelDigest& expected, const KernelDigest& actual) {
  DigestComparison result;
  for (const auto& [path, value] : expected.files) {
    auto it = actual.files.find(path);
    if (it == actual.files.end()) result.missing.push_back(path);
    else if (expected.algorithm != actual.algorithm || it->second != value) result.altered.push_back(path);
  }
  for (const auto& [path, value] : actual.files) {
    if (!expected.files.contains(path)) result.unknown.push_back(path);
  }
  return result;
}

std::string DigestComparison::describe() const {
  if (matches()) return "matches";
  std::string out;
  auto add = [&](const char* label, const std::vector<std::string>& paths) {
    if (paths.empty()) return;
    if (!out.empty()) out += "; ";
    out += std::to_string(paths.size()) + " " + label + " (" + join(paths) + ")";
  };
  add("altered", altered);
  add("missing", missing);
  add("unknown", unknown);
  return out;
}

DigestComparison check_kernel_digest(const fs::path& variant_dir) {
  const auto expected = parse_kernel_digest(read_file_at_most(variant_dir / "metadata.json", kMaxMetadataBytes));
  return compare_kernel_digest(expected, compute_kernel_digest(variant_dir, expected.algorithm));
}

VariantVerification verify_kernel_variant(const fs::path& variant_dir, const TrustedRoot& root,
                                          const IdentityPolicy& policy) {
  return verify_kernel_variant(variant_dir, Verifier(root), policy);
}

VariantVerification verify_kernel_variant(const fs::path& variant_dir, const Verifier& verifier,
                                          const IdentityPolicy& policy) {
  const auto metadata = read_file_at_most(variant_dir / "metadata.json", kMaxMetadataBytes);
  const auto bundle_json = read_file_at_most(variant_dir / "metadata.json.sigstore", kMaxBundleBytes);
  VariantVerification result;
  result.signature = verifier.verify_blob(detail::as_bytes(metadata), bundle_json, policy);
  if (!result.signature.verified) return result;  // metadata.json is not parsed unless signed
  const auto expected = parse_kernel_digest(metadata);
  result.digest = compare_kernel_digest(expected, compute_kernel_digest(variant_dir, expected.algorithm));
  return result;
}

std::string_view to_string(VariantStatus status) noexcept {
  switch (status) {
    case VariantStatus::verified: return "verified";
    case VariantStatus::bundle_missing: return "signature bundle missing";
    case VariantStatus::bundle_invalid: return "signature bundle invalid";
    case VariantStatus::metadata_missing: return "metadata missing";
    case VariantStatus::signature_failed: return "signature verification failed";
    case VariantStatus::metadata_invalid: return "metadata invalid";
    case VariantStatus::digest_missing: return "digest missing";
    case VariantStatus::digest_violation: return "digest violation";
  }
  return "unknown";
}

VariantCheck check_kernel_variant(const fs::path& variant_dir, const Verifier& verifier,
                                  const IdentityPolicy& policy, const KnownDigests* known) {
  VariantCheck result;
  const auto bundle_path = variant_dir / "metadata.json.sigstore";
  const auto metadata_path = variant_dir / "metadata.json";
  if (!fs::is_regular_file(bundle_path)) return result;  // bundle_missing
  const auto bundle_json = read_file_at_most(bundle_path, kMaxBundleBytes);
  if (!fs::is_regular_file(metadata_path)) {
    // The reference parses the bundle before it looks for metadata.json.
    result.signature = verifier.verify_blob({}, bundle_json, policy);
    result.status = result.signature.failed_step == VerifyStep::bundle_format ? VariantStatus::bundle_invalid
                                                                               : VariantStatus::metadata_missing;
    return result;
  }
  const auto metadata = read_file_at_most(metadata_path, kMaxMetadataBytes);
  result.signature = verifier.verify_blob(detail::as_bytes(metadata), bundle_json, policy);
  if (!result.signature.verified) {  // metadata.json is not parsed unless signed
    result.status = result.signature.failed_step == VerifyStep::bundle_format ? VariantStatus::bundle_invalid
                                                                               : VariantStatus::signature_failed;
    return result;
  }
  KernelDigest expected;
  try {
    expected = parse_kernel_digest(metadata);
  } catch (const Error& e) {
    result.status = e.code() == ErrorCode::not_found ? VariantStatus::digest_missing : VariantStatus::metadata_invalid;
    if (result.status == VariantStatus::metadata_invalid) result.message = e.message();
    return result;
  }
  result.digest = compare_kernel_digest(expected, compute_kernel_digest(variant_dir, expected.algorithm, known));
  result.status = result.digest->matches() ? VariantStatus::verified : VariantStatus::digest_violation;
  return result;
}

}  // namespace kernel_lock::trust
