#include "signatures.hpp"

#include <map>
#include <set>
#include <span>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/trust/bundle.hpp"
#include "kernel_lock/trust/kernel_digest.hpp"
#include "kernel_lock/trust/policy.hpp"
#include "kernel_lock/trust/verify.hpp"
#include "scratch.hpp"

namespace kernel_lock {
namespace {

constexpr const char* kMetadata = "metadata.json";
constexpr const char* kSigstore = "metadata.json.sigstore";
constexpr const char* kImportHint =
    "import Sigstore's trusted root once: `kernel-lock trust import trusted_root.json` (or pass --trusted-root FILE); "
    "docs/trust.md says where to get it";

// One signed variant to check: its two files, downloaded into the scratch dir.
struct SignedVariant {
  LockedKernel* kernel = nullptr;
  std::string variant;
  const trust::KernelSignerPolicy* policy = nullptr;
  DownloadRequest metadata;
  DownloadRequest bundle;
};

const LockedFile* find_file(const LockedVariant& variant, std::string_view path) {
  for (const auto& file : variant.files)
    if (file.path == path) return &file;
  return nullptr;
}

DownloadRequest request_for(const LockedKernel& kernel, const std::string& variant, const LockedFile& file,
                            std::uintmax_t max_bytes) {
  const auto path = "build/" + variant + "/" + file.path;
  if (file.size > max_bytes)
    throw Error(ErrorCode::invalid_input, kernel.repo_id + "@" + kernel.sha.substr(0, 7) + " " + path + ": " +
                                              std::to_string(file.size) + " bytes, over the " +
                                              std::to_string(max_bytes) + "-byte limit for this file");
  return DownloadRequest{RepoRef{kernel.repo_id, RepoType::kernel}, kernel.sha, path, file.digest, file.size, {}};
}

std::string where(const SignedVariant& s) {
  return s.kernel->repo_id + "@" + s.kernel->sha.substr(0, 7) + " build/" + s.variant;
}

// Queues the signed variants of `target`; handles the unsigned ones (error or warning).
void plan_kernel(const SignatureTarget& target, const trust::KernelSignerPolicy& policy,
                 std::vector<SignedVariant>& signed_variants, std::vector<std::string>& missing,
                 std::vector<std::string>& warnings) {
  auto& kernel = *target.kernel;
  std::vector<std::string> unsigned_variants;
  for (auto& [name, variant] : kernel.variants) {
    const auto* metadata = find_file(variant, kMetadata);
    const auto* bundle = find_file(variant, kSigstore);
    if (metadata == nullptr || bundle == nullptr) {
      unsigned_variants.push_back(name);
      continue;
    }
    signed_variants.push_back(SignedVariant{&kernel, name, &policy,
                                            request_for(kernel, name, *metadata, trust::kMaxMetadataBytes),
                                            request_for(kernel, name, *bundle, trust::kMaxBundleBytes)});
  }
  if (unsigned_variants.empty()) return;
  const auto list = kernel.repo_id + "@" + kernel.sha.substr(0, 7) + " (" + std::to_string(unsigned_variants.size()) +
                    " variant(s), e.g. " + unsigned_variants.front() + ")";
  if (policy.signature_required) {
    missing.push_back(list);
  } else if (policy.allow_unsigned) {
    warnings.push_back("UNSIGNED: " + list + " has no signature (metadata.json.sigstore); accepted because " +
                       kernel.repo_id + " sets allow-unsigned: nothing proves who built it");
  }
}

void verify_one(const trust::Verifier& verifier, SignedVariant& s) {
  const auto metadata = read_file_at_most(s.metadata.destination, trust::kMaxMetadataBytes);
  const auto bundle = read_file_at_most(s.bundle.destination, trust::kMaxBundleBytes);
  const auto verdict = trust::verify_blob_for_any(verifier, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(metadata.data()), metadata.size()), bundle, s.policy->accepted);
  if (!verdict.verified)
    throw Error(ErrorCode::integrity,
                where(s) + "/metadata.json: signature rejected at " + std::string(trust::to_string(verdict.failed_step)) +
                    ": " + verdict.message + " (policy: " + s.policy->origin + ")",
                "do not use this build; if the signer legitimately changed, set `signers:` for " + s.kernel->repo_id +
                    " in kernels.yaml (docs/trust.md)");
  s.kernel->variants.at(s.variant).signature = with_context(where(s), [&] { return trust::locked_signature(verdict); });
}

// One warning per kernel whose signers no policy constrained (pinned on first use).
void warn_first_use(const std::vector<SignedVariant>& verified, std::vector<std::string>& warnings) {
  std::map<const LockedKernel*, std::set<std::string>> signers;
  for (const auto& s : verified)
    if (s.policy->accepted.empty()) signers[s.kernel].insert(s.kernel->variants.at(s.variant).signature->describe());
  for (const auto& [kernel, names] : signers) {
    std::string list;
    for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
    warnings.push_back(kernel->repo_id + "@" + kernel->sha.substr(0, 7) + ": signed by " + list +
                       "; no signer policy for it, so the signer is pinned on first use (set `signers:` in "
                       "kernels.yaml to constrain it)");
  }
}

}  // namespace

void record_signatures(ResolveSource& source, const ResolveOptions& options, const std::vector<SignatureTarget>& targets,
                       std::vector<std::string>& warnings) {
  std::vector<trust::KernelSignerPolicy> policies;
  policies.reserve(targets.size());  // SignedVariant points into it
  std::vector<SignedVariant> signed_variants;
  std::vector<std::string> missing;
  for (const auto& target : targets) {
    policies.push_back(trust::signer_policy_for(target.kernel->repo_id, target.requirement->signing));
    if (target.kernel->repo_type.value_or("kernel") != "kernel") continue;
    plan_kernel(target, policies.back(), signed_variants, missing, warnings);
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += "\n  " + m;
    throw Error(ErrorCode::integrity, "signature required but missing:" + list,
                "for commits from before signing, set `allow-unsigned: true` on the kernel in kernels.yaml");
  }
  if (signed_variants.empty()) return;
  if (!options.verifier) {
    for (const auto& s : signed_variants)
      if (!s.policy->accepted.empty() || s.policy->signature_required)
        throw Error(ErrorCode::not_found,
                    where(s) + " is signed and its signer policy (" + s.policy->origin +
                        ") must be checked, but no Sigstore trusted root is available",
                    kImportHint);
    warnings.push_back(std::to_string(signed_variants.size()) +
                       " signed variant(s) locked without checking their signatures: no Sigstore trusted root (" +
                       kImportHint + ")");
    return;
  }
  ScratchDir scratch(options.scratch_dir, "kernel-lock-signatures-");
  std::vector<DownloadRequest> requests;
  for (std::size_t i = 0; i < signed_variants.size(); ++i) {
    auto& s = signed_variants[i];
    s.metadata.destination = scratch.path() / std::to_string(i) / kMetadata;
    s.bundle.destination = scratch.path() / std::to_string(i) / kSigstore;
    requests.push_back(s.metadata);
    requests.push_back(s.bundle);
  }
  if (options.on_progress)
    options.on_progress("verifying the signatures of " + std::to_string(signed_variants.size()) + " variant(s)");
  source.read_files(requests);  // each checked against the listed digest
  for (auto& s : signed_variants) verify_one(*options.verifier, s);
  warn_first_use(signed_variants, warnings);
}

std::vector<std::string> describe_signer_changes(const Lockfile& before, const Lockfile& after) {
  std::vector<std::string> lines;
  for (const auto& old : before.kernels) {
    const auto* now = after.find_like(old);
    if (now == nullptr) continue;
    std::set<std::string> old_signers, new_signers;
    for (const auto& [name, v] : old.variants)
      if (v.signature) old_signers.insert(v.signature->describe());
    if (old_signers.empty()) continue;
    for (const auto& [name, v] : now->variants)
      new_signers.insert(v.signature ? v.signature->describe() : "unsigned (variant " + name + ")");
    if (old_signers == new_signers) continue;
    std::string from, to;
    for (const auto& s : old_signers) from += (from.empty() ? "" : ", ") + s;
    for (const auto& s : new_signers) to += (to.empty() ? "" : ", ") + s;
    lines.push_back("~ " + old.repo_id + ": signer " + from + " -> " + to);
  }
  return lines;
}

}  // namespace kernel_lock
