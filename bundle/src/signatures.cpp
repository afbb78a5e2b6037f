// Signed variants in install and verify: the trusted root in use and the check
// of one variant against its pinned signer (signatures.hpp).
#include "kernel_lock/bundle/signatures.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/trust/kernel_digest.hpp"
#include "kernel_lock/trust/policy.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;

std::string VariantProvenance::describe() const {
  return signer ? "signed by " + signer->describe() : std::string("pinned by the lock only");
}

const LockedSignature* find_pinned_signature(const Lockfile& lock, const std::string& repo_id, const std::string& sha,
                                             const std::string& variant) noexcept {
  const LockedKernel* locked = lock.find_commit(repo_id, sha);
  if (!locked) return nullptr;
  auto it = locked->variants.find(variant);
  return it != locked->variants.end() && it->second.signature ? &*it->second.signature : nullptr;
}

bool manifest_pins_signatures(const BundleManifest& manifest) {
  for (const auto& k : manifest.kernels)
    for (const auto& v : k.variants)
      if (find_pinned_signature(manifest.lock, k.repo_id, k.sha, v)) return true;
  return false;
}

bool lock_pins_signatures(const Lockfile& lock) {
  for (const auto& k : lock.kernels)
    for (const auto& [name, v] : k.variants)
      if (v.signature) return true;
  return false;
}

std::optional<trust::CapturedTrustRoot> choose_trust_root(const SignatureOptions& options,
                                                          const std::optional<trust::CapturedTrustRoot>& carried,
                                                          const fs::path& cache_dir) {
  if (carried) trust::check_trust_fresh(*carried, options.now, options.max_age_days);
  std::optional<trust::CapturedTrustRoot> root = options.trusted_root ? options.trusted_root : carried;
  if (!root) root = trust::read_trust_store(cache_dir);
  if (root) trust::check_trust_fresh(*root, options.now, options.max_age_days);
  return root;
}

void throw_no_trust_root(const std::string& what) {
  throw Error(ErrorCode::not_found,
              what + ": the lock pins signatures, but no Sigstore trusted root is available (none carried, none in "
                     "the cache's trust store)",
              "run `kernel-lock trust import trusted_root.json`, or pass --trusted-root FILE (docs/trust.md)");
}

std::optional<std::string> check_signed_variant(const fs::path& variant_dir, const trust::Verifier& verifier,
                                                const LockedSignature& pinned, const trust::KnownDigests* known) {
  const trust::VariantCheck check = trust::check_kernel_variant(variant_dir, verifier, trust::pinned_policy(pinned), known);
  if (check.verified()) return std::nullopt;
  std::string why(trust::to_string(check.status));
  if (check.status == trust::VariantStatus::signature_failed || check.status == trust::VariantStatus::bundle_invalid)
    why += " (" + check.signature.describe() + ")";
  else if (check.status == trust::VariantStatus::digest_violation && check.digest)
    why += ": " + check.digest->describe();
  else if (!check.message.empty())
    why += ": " + check.message;
  return why + "; the lock pins " + pinned.describe();
}

trust::KnownDigests lfs_kernel_digests(const std::vector<LockedFile>& files) {
  trust::KnownDigests known;
  for (const auto& f : files)
    if (f.kind == DigestKind::lfs_sha256) known[f.path] = trust::encode_kernel_file_digest(from_hex(f.digest));
  return known;
}

void link_variant_files(const fs::path& dir, const BundleKernel& kernel, const std::string& variant,
                        const fs::path& blobs_dir) {
  const std::string prefix = "build/" + variant + "/";
  for (const auto& f : kernel.files) {
    if (!f.path.starts_with(prefix)) continue;
    const fs::path link = dir / f.path.substr(prefix.size());
    std::error_code ec;
    fs::create_directories(link.parent_path(), ec);
    if (ec) throw Error(ErrorCode::io, "cannot create " + link.parent_path().string() + ": " + ec.message());
    const fs::path target = blobs_dir / f.digest;
    if (::symlink(target.c_str(), link.c_str()) != 0)
      throw Error(ErrorCode::io, "cannot create " + link.string() + ": " + std::strerror(errno));
  }
}

}  // namespace kernel_lock
