// metadata.json of a variant (sbom.hpp VariantMetadata): parse and cache lookup.
#include <algorithm>
#include <system_error>

#include <nlohmann/json.hpp>

#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/json.hpp"
#include "kernel_lock/sbom/sbom.hpp"

namespace kernel_lock::sbom {
namespace {

constexpr std::size_t kMaxMetadataBytes = 4 * 1024 * 1024;  // as trust's kernel digest reader

struct Reader {
  std::string_view source;
  [[noreturn]] void fail(const std::string& where, const char* expected) const {
    throw Error(ErrorCode::invalid_input, std::string(source) + ": " + where + ": expected " + expected,
                "the metadata.json of a variant is written by kernel-builder; re-resolve or report it to the kernel's publisher");
  }
  std::string text(const nlohmann::json& obj, const char* key, const std::string& where) const {
    if (!obj.contains(key)) return "";
    if (!obj[key].is_string()) fail(where + key, "a string");
    return obj[key].get<std::string>();
  }
  std::optional<bool> flag(const nlohmann::json& obj, const char* key, const std::string& where) const {
    if (!obj.contains(key)) return std::nullopt;
    if (!obj[key].is_boolean()) fail(where + key, "true or false");
    return obj[key].get<bool>();
  }
  const nlohmann::json* object(const nlohmann::json& obj, const char* key, const std::string& where) const {
    if (!obj.contains(key)) return nullptr;
    if (!obj[key].is_object()) fail(where + key, "an object");
    return &obj[key];
  }
  // {"commit" | "sha", "dirty"}
  void commit(const nlohmann::json& obj, const std::string& where, std::string& out, std::optional<bool>& dirty) const {
    out = text(obj, "commit", where);
    if (out.empty()) out = text(obj, "sha", where);
    dirty = flag(obj, "dirty", where);
  }
};

}  // namespace

VariantMetadata parse_variant_metadata(std::string_view text, std::string_view source) {
  const auto json = parse_json_bounded<nlohmann::json>(text, source, kMaxMetadataBytes,
                                                       "metadata.json is written by kernel-builder");
  const Reader r{source};
  if (!json.is_object()) r.fail("metadata.json", "an object");
  VariantMetadata out;
  out.license = r.text(json, "license", "");
  if (const auto* backend = r.object(json, "backend", "")) {
    out.backend = r.text(*backend, "type", "backend.");
    if (backend->contains("archs")) {
      const auto& archs = (*backend)["archs"];
      if (!archs.is_array()) r.fail("backend.archs", "a list of strings");
      for (const auto& arch : archs) {
        if (!arch.is_string()) r.fail("backend.archs", "a list of strings");
        out.archs.push_back(arch.get<std::string>());
      }
    }
  }
  if (const auto* provenance = r.object(json, "provenance", "")) {
    if (const auto* builder = r.object(*provenance, "kernel-builder", "provenance.")) {
      out.builder_version = r.text(*builder, "version", "provenance.kernel-builder.");
      r.commit(*builder, "provenance.kernel-builder.", out.builder_commit, out.builder_dirty);
    }
    if (const auto* kernel = r.object(*provenance, "kernel", "provenance."))
      r.commit(*kernel, "provenance.kernel.", out.source_commit, out.source_dirty);
  }
  return out;
}

VariantMetadataMap variant_metadata_from_cache(const Lockfile& lock, const std::filesystem::path& cache_dir) {
  VariantMetadataMap out;
  for (const auto& kernel : lock.kernels) {
    const auto repo = cache_repo_paths(cache_dir, kernel.repo_type.value_or("kernel"), kernel.repo_id);
    for (const auto& [name, variant] : kernel.variants) {
      const auto record = std::find_if(variant.files.begin(), variant.files.end(),
                                       [](const LockedFile& f) { return f.path == "metadata.json"; });
      const auto path = repo.snapshot(kernel.sha) / "build" / name / "metadata.json";
      std::error_code ec;
      if (record == variant.files.end() || !std::filesystem::is_regular_file(path, ec)) continue;
      const auto where = kernel.repo_id + ": build/" + name + "/metadata.json";
      const auto bytes = read_file_at_most(path, kMaxMetadataBytes);
      const auto actual = record->kind == DigestKind::git_sha1 ? git_blob_sha1_hex(bytes) : sha256_hex(bytes);
      if (actual != record->digest)
        throw Error(ErrorCode::integrity, where + ": the cached file hashes to " + actual + ", the lock says " + record->digest,
                    "run `kernel-lock verify` and re-install the kernel");
      out[{kernel.repo_id, name}] = parse_variant_metadata(bytes, where);
    }
  }
  return out;
}

}  // namespace kernel_lock::sbom
