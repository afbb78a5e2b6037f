// SPDX 2.3 JSON from a lock (docs/export.md "SPDX").
#include <nlohmann/json.hpp>

#include "facts.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/lock_graph.hpp"
#include "kernel_lock/core/version.hpp"
#include "kernel_lock/sbom/sbom.hpp"

namespace kernel_lock::sbom {
namespace {

using ojson = nlohmann::ordered_json;

struct Doc {
  std::string created;  // lock_timestamp
  std::string tool;     // "Tool: kernel-lock-<version>"
  ojson packages = ojson::array();
  ojson files = ojson::array();
  ojson relationships = ojson::array();
  void relate(const std::string& from, const char* type, const std::string& to) {
    relationships.push_back(ojson{{"spdxElementId", from}, {"relationshipType", type}, {"relatedSpdxElement", to}});
  }
};

ojson annotations(const Doc& doc, const detail::Properties& props) {
  ojson out = ojson::array();
  for (const auto& [name, value] : props)
    out.push_back(ojson{{"annotationDate", doc.created},
                        {"annotationType", "OTHER"},
                        {"annotator", doc.tool},
                        {"comment", name + "=" + value}});
  return out;
}

ojson package(const Doc& doc, const std::string& id, const std::string& name, const std::string& version,
              const std::string& purl, const detail::Properties& props) {
  return ojson{{"SPDXID", id},
               {"name", name},
               {"versionInfo", version},
               {"downloadLocation", "NOASSERTION"},
               {"filesAnalyzed", false},
               {"licenseConcluded", "NOASSERTION"},
               {"licenseDeclared", "NOASSERTION"},
               {"copyrightText", "NOASSERTION"},
               {"primaryPackagePurpose", "LIBRARY"},
               {"externalRefs", ojson::array({ojson{{"referenceCategory", "PACKAGE-MANAGER"},
                                                    {"referenceType", "purl"},
                                                    {"referenceLocator", purl}}})},
               {"annotations", annotations(doc, props)}};
}

ojson file_entry(const std::string& id, const std::string& variant, const LockedFile& file, const std::string* sha256,
                 const std::string* sha1) {
  ojson out = ojson{{"SPDXID", id}, {"fileName", "./build/" + variant + "/" + file.path}};
  if (sha256 && sha1) {
    out["checksums"] = ojson::array({ojson{{"algorithm", "SHA256"}, {"checksumValue", *sha256}},
                                     ojson{{"algorithm", "SHA1"}, {"checksumValue", *sha1}}});
  } else if (sha256) {
    out["checksums"] = ojson::array({ojson{{"algorithm", "SHA256"}, {"checksumValue", *sha256}}});
  } else {
    out["checksums"] = ojson::array({ojson{{"algorithm", "SHA1"}, {"checksumValue", file.digest}}});
    out["comment"] = "The SHA1 is git's blob id (sha1 of \"blob <size>\\0\" + content), not the SHA-1 of the content; "
                     "the lock records no other digest of this file and the cache did not hold it.";
  }
  out["licenseConcluded"] = "NOASSERTION";
  out["copyrightText"] = "NOASSERTION";
  return out;
}

void add_kernel(Doc& doc, const LockedKernel& kernel, std::size_t k, const ContentDigests& sha256,
                const VariantMetadataMap& metadata) {
  const auto kernel_id = "SPDXRef-Kernel-" + std::to_string(k);
  doc.packages.push_back(
      package(doc, kernel_id, kernel.repo_id, kernel.sha, kernel_purl(kernel), detail::kernel_properties(kernel)));
  doc.relate("SPDXRef-DOCUMENT", "DESCRIBES", kernel_id);
  std::size_t v = 0;
  for (const auto& [name, variant] : kernel.variants) {
    const auto variant_id = kernel_id + "-Variant-" + std::to_string(v++);
    doc.packages.push_back(package(doc, variant_id, kernel.repo_id + "/build/" + name, kernel.sha,
                                   detail::variant_purl(kernel, name),
                                   detail::variant_properties(name, variant, detail::metadata_of(metadata, kernel.repo_id, name))));
    // A package that CONTAINS files has analyzed them (SPDX 2.3 7.8); no verification
    // code: it needs every file's content SHA-1, which the lock does not record.
    doc.packages.back()["filesAnalyzed"] = !variant.files.empty();
    doc.relate(kernel_id, "CONTAINS", variant_id);
    std::size_t f = 0;
    for (const auto& file : variant.files) {
      const auto file_id = variant_id + "-File-" + std::to_string(f++);
      const FileKey key{kernel.repo_id, name, file.path};
      doc.files.push_back(
          file_entry(file_id, name, file, detail::content_sha256(file, key, sha256), detail::content_sha1(key, sha256)));
      doc.relate(variant_id, "CONTAINS", file_id);
    }
  }
}

}  // namespace

std::string format_spdx(const Lockfile& unsorted, const ContentDigests& sha256, const VariantMetadataMap& metadata) {
  const auto lock = detail::sorted_by_repo(unsorted);
  Doc doc{lock_timestamp(lock), "Tool: kernel-lock-" + std::string(kVersion)};
  for (std::size_t k = 0; k < lock.kernels.size(); ++k) add_kernel(doc, lock.kernels[k], k, sha256, metadata);
  for (std::size_t k = 0; k < lock.kernels.size(); ++k)
    for (const auto* dep : lock_dependencies(lock, lock.kernels[k]))
      for (std::size_t d = 0; d < lock.kernels.size(); ++d)
        if (&lock.kernels[d] == dep)
          doc.relate("SPDXRef-Kernel-" + std::to_string(k), "DEPENDS_ON", "SPDXRef-Kernel-" + std::to_string(d));
  ojson out = ojson::object();
  out["spdxVersion"] = "SPDX-2.3";
  out["dataLicense"] = "CC0-1.0";
  out["SPDXID"] = "SPDXRef-DOCUMENT";
  out["name"] = "kernel-lock";
  out["documentNamespace"] = "https://spdx.org/spdxdocs/kernel-lock-" + lock_uuid(lock);
  out["creationInfo"] = ojson{{"created", doc.created}, {"creators", ojson::array({doc.tool})}};
  out["packages"] = std::move(doc.packages);
  out["files"] = std::move(doc.files);
  out["relationships"] = std::move(doc.relationships);
  return out.dump(2) + "\n";
}

}  // namespace kernel_lock::sbom
