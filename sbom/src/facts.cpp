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

void add_metadata(Properties& out, const VariantMetadata& metadata) {
  if (!metadata.backend.empty()) {
    std::erase_if(out, [](const auto& p) { return p.first == "kernel-lock:backend"; });
    out.emplace_back("kernel-lock:backend", metadata.backend);
  }
  std::string archs;
  for (const auto& arch : metadata.archs) archs += (archs.empty() ? "" : ",") + arch;
  add_if(out, "kernel-lock:archs", archs);
  add_if(out, "kernel-lock:license", metadata.license);
  add_if(out, "kernel-lock:provenance:builder-version", metadata.builder_version);
  add_if(out, "kernel-lock:provenance:builder-commit", metadata.builder_commit);
  if (metadata.builder_dirty) out.emplace_back("kernel-lock:provenance:builder-dirty", *metadata.builder_dirty ? "true" : "false");
  add_if(out, "kernel-lock:provenance:source-commit", metadata.source_commit);
  if (metadata.source_dirty) out.emplace_back("kernel-lock:provenance:source-dirty", *metadata.source_dirty ? "true" : "false");
}

Properties variant_properties(const std::string& name, const LockedVariant& variant, const VariantMetadata* metadata) {
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
  if (metadata) add_metadata(out, *metadata);
  out.emplace_back("kernel-lock:facts-source", metadata ? "metadata.json" : "variant name");
  if (const auto& sig = variant.signature) {
    out.emplace_back("kernel-lock:signer:issuer", sig->issuer);
    out.emplace_back("kernel-lock:signer:source-repository", sig->source_repository);
    out.emplace_back("kernel-lock:signer:build-signer-uri", sig->build_signer_uri);
    out.emplace_back("kernel-lock:signer:log-index", std::to_string(sig->log_index));
    out.emplace_back("kernel-lock:signer:signing-time", sig->signing_time);
  }
  return out;
}

const VariantMetadata* metadata_of(const VariantMetadataMap& metadata, const std::string& repo_id, const std::string& name) {
  const auto it = metadata.find({repo_id, name});
  return it == metadata.end() ? nullptr : &it->second;
}

const std::string* content_sha256(const LockedFile& file, const FileKey& key, const ContentDigests& digests) {
  if (file.kind == DigestKind::lfs_sha256) return &file.digest;
  const auto it = digests.find(key);
  return it == digests.end() ? nullptr : &it->second.sha256;
}

const std::string* content_sha1(const FileKey& key, const ContentDigests& digests) {
  const auto it = digests.find(key);
  return it == digests.end() ? nullptr : &it->second.sha1;
}

}  // namespace kernel_lock::sbom::detail
