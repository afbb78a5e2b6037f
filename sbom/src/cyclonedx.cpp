// CycloneDX 1.6 JSON from a lock (docs/export.md "CycloneDX").
#include <nlohmann/json.hpp>

#include "facts.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/lock_graph.hpp"
#include "kernel_lock/core/version.hpp"
#include "kernel_lock/sbom/sbom.hpp"

namespace kernel_lock::sbom {
namespace {

using ojson = nlohmann::ordered_json;

ojson properties(const detail::Properties& props) {
  ojson out = ojson::array();
  for (const auto& [name, value] : props) out.push_back(ojson{{"name", name}, {"value", value}});
  return out;
}

// "org/name" -> group "org", name "name".
void name_fields(ojson& out, const std::string& repo_id) {
  const auto slash = repo_id.find('/');
  out["group"] = repo_id.substr(0, slash);
  out["name"] = repo_id.substr(slash + 1);
}

ojson file_component(const std::string& variant_ref, const LockedFile& file, const std::string* sha256) {
  ojson out = ojson::object();
  out["type"] = "file";
  out["bom-ref"] = variant_ref + "/" + file.path;
  out["name"] = file.path;
  detail::Properties props{{"kernel-lock:size", std::to_string(file.size)}};
  if (sha256) {
    out["hashes"] = ojson::array({ojson{{"alg", "SHA-256"}, {"content", *sha256}}});
  }
  if (file.kind == DigestKind::git_sha1) props.emplace_back("kernel-lock:git-blob-sha1", file.digest);
  out["properties"] = properties(props);
  return out;
}

ojson variant_component(const LockedKernel& kernel, const std::string& name, const LockedVariant& variant,
                        const ContentDigests& sha256, const VariantMetadataMap& metadata) {
  const auto ref = detail::variant_purl(kernel, name);
  ojson out = ojson::object();
  out["type"] = "library";
  out["bom-ref"] = ref;
  name_fields(out, kernel.repo_id);
  out["name"] = out["name"].get<std::string>() + "/build/" + name;
  out["version"] = kernel.sha;
  out["purl"] = ref;
  out["properties"] = properties(detail::variant_properties(name, variant, detail::metadata_of(metadata, kernel.repo_id, name)));
  ojson files = ojson::array();
  for (const auto& file : variant.files)
    files.push_back(
        file_component(ref, file, detail::content_sha256(file, FileKey{kernel.repo_id, name, file.path}, sha256)));
  if (!files.empty()) out["components"] = std::move(files);
  return out;
}

ojson kernel_component(const LockedKernel& kernel, const ContentDigests& sha256, const VariantMetadataMap& metadata) {
  ojson out = ojson::object();
  out["type"] = "library";
  out["bom-ref"] = kernel_purl(kernel);
  name_fields(out, kernel.repo_id);
  out["version"] = kernel.sha;
  out["purl"] = kernel_purl(kernel);
  out["properties"] = properties(detail::kernel_properties(kernel));
  ojson variants = ojson::array();
  for (const auto& [name, variant] : kernel.variants) variants.push_back(variant_component(kernel, name, variant, sha256, metadata));
  if (!variants.empty()) out["components"] = std::move(variants);
  return out;
}

}  // namespace

std::string format_cyclonedx(const Lockfile& unsorted, const ContentDigests& sha256, const VariantMetadataMap& metadata) {
  const auto lock = detail::sorted_by_repo(unsorted);
  ojson bom = ojson::object();
  bom["$schema"] = "http://cyclonedx.org/schema/bom-1.6.schema.json";
  bom["bomFormat"] = "CycloneDX";
  bom["specVersion"] = "1.6";
  bom["serialNumber"] = "urn:uuid:" + lock_uuid(lock);
  bom["version"] = 1;
  ojson tool = {{"type", "application"}, {"name", "kernel-lock"}, {"version", std::string(kVersion)}};
  bom["metadata"] = {{"tools", {{"components", ojson::array({tool})}}},
                     {"properties", properties({{"kernel-lock:lock-sha256", sha256_hex(format_lockfile(lock))}})}};
  bom["components"] = ojson::array();
  bom["dependencies"] = ojson::array();
  for (const auto& kernel : lock.kernels) {
    bom["components"].push_back(kernel_component(kernel, sha256, metadata));
    ojson depends = ojson::array();
    for (const auto* dep : lock_dependencies(lock, kernel)) depends.push_back(kernel_purl(*dep));
    bom["dependencies"].push_back(ojson{{"ref", kernel_purl(kernel)}, {"dependsOn", std::move(depends)}});
  }
  return bom.dump(2) + "\n";
}

}  // namespace kernel_lock::sbom
