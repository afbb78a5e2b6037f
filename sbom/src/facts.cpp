#include "facts.hpp"

#include <algorithm>

#include "kernel_lock/core/variant.hpp"

namespace kernel_lock::sbom::detail {
namespace {

std::string_view kind_name(VariantKind kind) {
  switch (kind) {
    case VariantKind::torch: return "torch";
    case VariantKind::stable_abi: return "stable-abi";
    case VariantKind::tvm_ffi: return "tvm-ffi";
    case VariantKind::noarch: return "noarch";
  }
  return "torch";
}

void add_if(Properties& out, const std::string& name, const std::string& value) {
  if (!value.empty()) out.emplace_back(name, value);
}

}  // namespace

Lockfile sorted_by_repo(Lockfile lock) {
  std::sort(lock.kernels.begin(), lock.kernels.end(), lock_order);
  return lock;
}

std::string variant_purl(const LockedKernel& kernel, const std::string& variant) {
  return kernel_purl(kernel) + "#build/" + variant;
}

Properties kernel_properties(const LockedKernel& kernel) {
  Properties out;
  out.emplace_back("kernel-lock:repo-id", kernel.repo_id);
  out.emplace_back("kernel-lock:repo-type", kernel.repo_type.value_or("kernel"));
  if (kernel.requirement) {
    out.emplace_back("kernel-lock:requirement", kernel.requirement->to_json().dump());
    if (kernel.requirement->required_by) out.emplace_back("kernel-lock:required-by", *kernel.requirement->required_by);
  }
  return out;
}

Properties variant_properties(const std::string& name, const LockedVariant& variant) {
  Properties out;
  out.emplace_back("kernel-lock:variant", name);
  out.emplace_back("kernel-lock:variant-hash", variant.hash);
  out.emplace_back("kernel-lock:hash-type", variant.hash_type);
  if (const auto parsed = try_parse_variant(name)) {
    out.emplace_back("kernel-lock:kind", std::string(kind_name(parsed->kind)));
    if (parsed->framework)
      out.emplace_back("kernel-lock:framework",
                       std::to_string(parsed->framework->major) + "." + std::to_string(parsed->framework->minor));
    add_if(out, "kernel-lock:cxx-abi", parsed->cxx_abi.value_or(""));
    add_if(out, "kernel-lock:backend", parsed->backend);
    add_if(out, "kernel-lock:backend-version", parsed->backend_version);
    add_if(out, "kernel-lock:arch", parsed->arch);
    add_if(out, "kernel-lock:os", parsed->os);
  }
  if (const auto& sig = variant.signature) {
    out.emplace_back("kernel-lock:signer:issuer", sig->issuer);
    out.emplace_back("kernel-lock:signer:source-repository", sig->source_repository);
    out.emplace_back("kernel-lock:signer:build-signer-uri", sig->build_signer_uri);
    out.emplace_back("kernel-lock:signer:log-index", std::to_string(sig->log_index));
    out.emplace_back("kernel-lock:signer:signing-time", sig->signing_time);
  }
  return out;
}

std::vector<const LockedKernel*> dependencies_of(const Lockfile& lock, const std::string& repo_id) {
  std::vector<const LockedKernel*> out;
  for (const auto& kernel : lock.kernels)
    if (kernel.requirement && kernel.requirement->required_by == repo_id) out.push_back(&kernel);
  std::sort(out.begin(), out.end(), [](const LockedKernel* a, const LockedKernel* b) { return lock_order(*a, *b); });
  return out;
}

const std::string* content_sha256(const LockedFile& file, const FileKey& key, const ContentSha256& sha256) {
  if (file.kind == DigestKind::lfs_sha256) return &file.digest;
  const auto it = sha256.find(key);
  return it == sha256.end() ? nullptr : &it->second;
}

}  // namespace kernel_lock::sbom::detail
