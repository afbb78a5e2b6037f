// read_oci_layout: a hostile-input-safe reader of the OCI layout we write,
// giving back the bundle plan it holds (docs/oci-layout.md).
#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/json.hpp"
#include "kernel_lock/oci/layout.hpp"
#include "kernel_lock/trust/trust_store.hpp"
#include "kernel_lock/trust/trusted_root.hpp"
#include "oci_internal.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace oci_detail;
namespace {

constexpr std::string_view kHint = "the OCI layout is damaged or was not written by `kernel-lock bundle --format oci`";

Error bad(const std::string& what) { return Error(ErrorCode::invalid_input, what, std::string(kHint)); }

const json& field(const json& obj, std::string_view key, json::value_t type, const std::string& where) {
  if (!obj.is_object()) throw bad(where + ": not an object");
  auto it = obj.find(key);
  if (it == obj.end() || it->type() != type)
    throw bad(where + ": missing or mistyped \"" + std::string(key) + "\"");
  return *it;
}
std::string text(const json& obj, std::string_view key, const std::string& where) {
  return field(obj, key, json::value_t::string, where).get<std::string>();
}
void expect(const json& obj, std::string_view key, std::string_view want, const std::string& where) {
  if (auto got = text(obj, key, where); got != want)
    throw bad(where + ": " + std::string(key) + " is \"" + got + "\", expected \"" + std::string(want) + "\"");
}

struct Descriptor {
  std::string sha256;
  std::uint64_t size = 0;
  json annotations = json::object();
};

// A descriptor's digest ("sha256:<64 lower hex>"), size and annotations (all strings).
Descriptor read_descriptor(const json& d, std::string_view media_type, const std::string& where) {
  expect(d, "mediaType", media_type, where);
  const std::string digest = text(d, "digest", where);
  if (digest.size() != 71 || digest.substr(0, 7) != "sha256:" || !is_lower_hex(std::string_view(digest).substr(7)))
    throw bad(where + ": digest \"" + digest + "\" is not sha256:<64 lowercase hex>");
  Descriptor out{digest.substr(7), field(d, "size", json::value_t::number_unsigned, where).get<std::uint64_t>(), json::object()};
  if (auto it = d.find("annotations"); it != d.end()) {
    if (!it->is_object()) throw bad(where + ": annotations is not an object");
    for (const auto& [k, v] : it->items())
      if (!v.is_string()) throw bad(where + ": annotation " + k + " is not a string");
    out.annotations = *it;
  }
  return out;
}

// A blob file of the layout: a regular file (never a symlink) of the declared size.
fs::path checked_blob(const fs::path& root, const Descriptor& d, const std::string& where) {
  const fs::path p = blob_path(root, d.sha256);
  std::error_code ec;
  const auto st = fs::symlink_status(p, ec);
  if (!fs::exists(st))
    throw Error(ErrorCode::not_found, where + ": blob sha256:" + d.sha256 + " is missing", std::string(kHint));
  if (!fs::is_regular_file(st)) throw bad(where + ": blob sha256:" + d.sha256 + " is not a regular file");
  if (fs::file_size(p) != d.size)
    throw Error(ErrorCode::integrity, where + ": blob sha256:" + d.sha256 + " holds " + std::to_string(fs::file_size(p)) +
                                          " bytes, the descriptor says " + std::to_string(d.size));
  return p;
}

// A JSON blob: size-limited, sha256-checked, parsed bounded.
json read_json_blob(const fs::path& root, const Descriptor& d, const OciReadLimits& limits, const std::string& where) {
  const fs::path p = checked_blob(root, d, where);
  if (d.size > limits.max_json_bytes) throw bad(where + ": " + std::to_string(d.size) + " bytes, over the limit");
  const std::string bytes = read_file_at_most(p, limits.max_json_bytes);
  if (sha256_hex(bytes) != d.sha256) throw Error(ErrorCode::integrity, where + ": blob sha256:" + d.sha256 + " does not hash to its name");
  return parse_json_bounded<json>(bytes, where, limits.max_json_bytes, kHint);
}

json read_json_file(const fs::path& p, const OciReadLimits& limits) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(p, ec))) throw bad(p.string() + " is missing or not a regular file");
  return parse_json_bounded<json>(read_file_at_most(p, limits.max_json_bytes), p.string(), limits.max_json_bytes, kHint);
}

// The descriptor of the lock's index in index.json: the one tagged `tag` (or the only one).
Descriptor find_lock_index(const fs::path& root, std::string_view tag, const OciReadLimits& limits) {
  const json layout = read_json_file(root / kOciLayoutFile, limits);
  expect(layout, "imageLayoutVersion", kImageLayoutVersion, std::string(kOciLayoutFile));
  const json index = read_json_file(root / kOciIndexFile, limits);
  const std::string where(kOciIndexFile);
  if (field(index, "schemaVersion", json::value_t::number_unsigned, where) != 2) throw bad(where + ": schemaVersion is not 2");
  std::vector<Descriptor> found;
  for (const auto& m : field(index, "manifests", json::value_t::array, where)) {
    if (!m.is_object() || m.value("mediaType", "") != kOciIndexType) continue;
    auto d = read_descriptor(m, kOciIndexType, where);
    if (tag.empty() || d.annotations.value(std::string(kOciRefNameAnnotation), "") == tag) found.push_back(std::move(d));
  }
  if (found.empty())
    throw Error(ErrorCode::not_found, where + ": no kernel-lock index" + (tag.empty() ? "" : " tagged " + std::string(tag)),
                "list the tags with `skopeo inspect --raw oci:" + root.string() + "` (-> index.json)");
  if (found.size() > 1) throw Error(ErrorCode::usage, where + ": several kernel-lock indexes", "name the tag");
  return found.front();
}

// One file layer: annotations checked, blob hashed (sha256 and Hub digest).
BundleFile read_layer(const fs::path& root, const json& layer, const std::set<std::string>& variants,
                      std::map<std::string, fs::path>& sources, const std::string& where) {
  const Descriptor d = read_descriptor(layer, kOciFileLayerType, where);
  const std::string path = d.annotations.value(std::string(kOciTitleAnnotation), "");
  check_relative_path(path, where + " " + std::string(kOciTitleAnnotation));
  const std::string variant = d.annotations.value(std::string(kVariantAnnotation), "");
  if (variant.empty() || variant_of(path) != variant || !variants.count(variant))
    throw bad(where + ": " + path + " is not under build/<an included variant>/ of its " + std::string(kVariantAnnotation) + " annotation");
  BundleFile f{path, d.annotations.value(std::string(kHubDigestAnnotation), ""),
               parse_digest_kind(d.annotations.value(std::string(kHubDigestKindAnnotation), "")), d.size};
  check_blob_digest(f.digest, where + " " + path);
  const fs::path blob = checked_blob(root, d, where);
  if (auto seen = sources.find(f.digest); seen != sources.end() && seen->second != blob)
    throw Error(ErrorCode::integrity, where + ": " + path + ": Hub digest " + f.digest + " names two different blobs");
  if (!sources.count(f.digest)) {
    auto got = stream_file(blob, {}, f.kind == DigestKind::git_sha1, d.size, false);
    if (got.sha256 != d.sha256 || got.hub != f.digest)
      throw Error(ErrorCode::integrity, where + ": " + path + ": blob sha256:" + d.sha256 + " hashes to sha256:" + got.sha256 +
                                            " and Hub digest " + got.hub + " (expected " + f.digest + ")");
    sources.emplace(f.digest, blob);
  }
  return f;
}

// One kernel manifest and its config: a BundleKernel and its lock entry.
LockedKernel read_kernel(const fs::path& root, const Descriptor& md, const OciReadLimits& limits, BundlePlan& plan,
                         std::uint64_t& layers_seen, const OciVariantFilter& keep) {
  const std::string where = "manifest sha256:" + md.sha256;
  const json m = read_json_blob(root, md, limits, where);
  expect(m, "mediaType", kOciManifestType, where);
  expect(m, "artifactType", kOciKernelArtifactType, where);
  const json config = read_json_blob(root, read_descriptor(field(m, "config", json::value_t::object, where), kOciKernelConfigType, where),
                                     limits, where + " config");
  expect(config, "format", kConfigFormat, where + " config");
  if (config.value("format_version", 0) != kConfigFormatVersion)
    throw Error(ErrorCode::unsupported, where + " config: unsupported format_version", "upgrade kernel-lock");
  LockedKernel locked = parse_lockfile(json::array({field(config, "kernel", json::value_t::object, where)}).dump(), where + " config").kernels.at(0);
  BundleKernel bk{locked.repo_id, locked.repo_type.value_or("kernel"), locked.sha,
                  field(config, "refs", json::value_t::array, where).get<std::vector<std::string>>(),
                  field(config, "variants", json::value_t::array, where).get<std::vector<std::string>>(), {}, {}, true};
  bk.ref_kinds_known = config.contains("tags");  // which refs are tags; older layouts: absent
  if (bk.ref_kinds_known) {
    bk.tags = field(config, "tags", json::value_t::array, where).get<std::vector<std::string>>();
    for (const auto& t : bk.tags)
      if (std::find(bk.refs.begin(), bk.refs.end(), t) == bk.refs.end())
        throw bad(where + " config: tag " + t + " is not one of the kernel's refs");
    std::sort(bk.tags.begin(), bk.tags.end());
    bk.tags.erase(std::unique(bk.tags.begin(), bk.tags.end()), bk.tags.end());
  }
  const std::set<std::string> variants(bk.variants.begin(), bk.variants.end());
  std::set<std::string> kept = variants;
  if (keep) {
    const auto chosen = keep(bk.repo_id, bk.variants);
    kept = std::set<std::string>(chosen.begin(), chosen.end());
    std::erase_if(bk.variants, [&](const std::string& v) { return kept.count(v) == 0; });
    if (bk.variants.empty())
      throw Error(ErrorCode::not_found, where + ": no variant of " + bk.repo_id + " was selected",
                  "pick variants that exist (--variant NAME, or --all)");
  }
  for (const auto& layer : field(m, "layers", json::value_t::array, where)) {
    if (++layers_seen > limits.max_layers) throw bad(where + ": more than " + std::to_string(limits.max_layers) + " layers");
    if (keep && layer.is_object() && layer.contains("annotations") && layer["annotations"].is_object() &&
        kept.count(layer["annotations"].value(std::string(kVariantAnnotation), "")) == 0)
      continue;
    bk.files.push_back(read_layer(root, layer, variants, plan.sources, where));
  }
  plan.manifest.kernels.push_back(std::move(bk));
  return locked;
}

// The trusted root a layout carries: its one layer, bounded, content-addressed,
// a valid trusted root with a capture time.
trust::CapturedTrustRoot read_trust_root(const fs::path& root, const Descriptor& md, const OciReadLimits& limits) {
  const std::string where = "trusted-root manifest sha256:" + md.sha256;
  const json m = read_json_blob(root, md, limits, where);
  expect(m, "mediaType", kOciManifestType, where);
  expect(m, "artifactType", kOciTrustRootArtifactType, where);
  const auto& layers = field(m, "layers", json::value_t::array, where);
  if (layers.size() != 1) throw bad(where + ": expected exactly one layer (trusted_root.json)");
  const Descriptor d = read_descriptor(layers[0], kOciTrustRootLayerType, where);
  if (d.size > trust::kMaxTrustedRootBytes) throw bad(where + ": trusted root larger than its limit");
  trust::CapturedTrustRoot out;
  out.json = read_file_at_most(checked_blob(root, d, where), trust::kMaxTrustedRootBytes);
  if (sha256_hex(out.json) != d.sha256 || out.json.size() != d.size)
    throw Error(ErrorCode::integrity, where + ": the trusted root's blob does not hash to sha256:" + d.sha256);
  out.captured_at = with_context(where + " " + std::string(kCapturedAtAnnotation), [&] {
    return trust::parse_rfc3339(d.annotations.value(std::string(kCapturedAtAnnotation), ""));
  });
  out.origin = root / "blobs" / "sha256" / d.sha256;
  with_context(where, [&] { (void)trust::parse_trusted_root(out.json); });
  return out;
}

bool is_trust_root_descriptor(const json& m) {
  return m.is_object() && m.value("artifactType", "") == kOciTrustRootArtifactType;
}

}  // namespace

BundlePlan read_oci_layout(const fs::path& layout, std::string_view tag, const OciReadLimits& limits,
                           const OciVariantFilter& keep) {
  return with_context("reading the OCI layout " + layout.string(), [&] {
    const Descriptor top = find_lock_index(layout, tag, limits);
    const json index = read_json_blob(layout, top, limits, "index sha256:" + top.sha256);
    expect(index, "mediaType", kOciIndexType, "index sha256:" + top.sha256);
    expect(field(index, "annotations", json::value_t::object, "index sha256:" + top.sha256), kArtifactTypeAnnotation,
           kOciLockArtifactType, "index sha256:" + top.sha256 + " annotations");
    const auto& manifests = field(index, "manifests", json::value_t::array, "index sha256:" + top.sha256);
    if (manifests.size() > limits.max_kernels) throw bad("index: more than " + std::to_string(limits.max_kernels) + " kernels");
    BundlePlan plan;
    std::uint64_t layers = 0;
    for (const auto& m : manifests) {
      const Descriptor d = read_descriptor(m, kOciManifestType, "index");
      if (!is_trust_root_descriptor(m)) {
        plan.manifest.lock.kernels.push_back(read_kernel(layout, d, limits, plan, layers, keep));
      } else if (plan.trust_root) {
        throw bad("index: more than one trusted root");
      } else {
        plan.trust_root = read_trust_root(layout, d, limits);
      }
    }
    std::map<std::string, std::uint64_t> sizes;
    for (const auto& k : plan.manifest.kernels)
      for (const auto& f : k.files) sizes.emplace(f.digest, f.size);
    std::uint64_t total = 0;
    for (const auto& [digest, size] : sizes) {
      plan.manifest.blobs.push_back(BundleBlob{digest, size});
      total += size;
    }
    if (total > limits.max_total_bytes) throw bad("the files add up to more than the limit of " + std::to_string(limits.max_total_bytes) + " bytes");
    // The bundle manifest's rules, in their one home: sorted kernels and files,
    // paths under included variants, unique blobs, variant hashes against the lock.
    plan.manifest = parse_bundle_manifest(format_bundle_manifest(plan.manifest));
    return plan;
  }, ErrorCode::invalid_input);
}

bool is_oci_layout_dir(const fs::path& path) noexcept {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::is_regular_file(path / kOciLayoutFile, ec);
}

}  // namespace kernel_lock
