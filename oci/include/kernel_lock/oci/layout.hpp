// A bundle as an OCI image layout (image-spec v1.1), readable by skopeo and
// ORAS: `kernel-lock bundle --format oci`. The exact layout, media types and
// annotations are in docs/oci-layout.md. Network-free: it takes the plan the
// bundle writer takes (plan_bundle) and gives one back when read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/bundle/install.hpp"

namespace kernel_lock {

inline constexpr std::string_view kOciLayoutFile = "oci-layout";
inline constexpr std::string_view kOciIndexFile = "index.json";
inline constexpr std::string_view kOciManifestType = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndexType = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciKernelArtifactType = "application/vnd.kernel-lock.kernel.v1+json";
inline constexpr std::string_view kOciKernelConfigType = "application/vnd.kernel-lock.kernel.config.v1+json";
inline constexpr std::string_view kOciLockArtifactType = "application/vnd.kernel-lock.lock.v1+json";
inline constexpr std::string_view kOciFileLayerType = "application/vnd.kernel-lock.file.v1";
// The Sigstore trusted root a layout carries (as a bundle does): one manifest in
// the lock's index, whose single layer is trusted_root.json byte for byte.
inline constexpr std::string_view kOciTrustRootArtifactType = "application/vnd.kernel-lock.trusted-root.v1+json";
inline constexpr std::string_view kOciTrustRootLayerType = "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
inline constexpr std::string_view kOciEmptyConfigType = "application/vnd.oci.empty.v1+json";
inline constexpr std::string_view kOciTitleAnnotation = "org.opencontainers.image.title";
inline constexpr std::string_view kOciRefNameAnnotation = "org.opencontainers.image.ref.name";
inline constexpr std::string_view kOciDefaultTag = "latest";
// On each file layer: its variant; on each kernel manifest's descriptor in the
// lock's index: its repo id (a registry pull picks layers by these).
inline constexpr std::string_view kOciVariantAnnotation = "dev.kernel-lock.variant";
inline constexpr std::string_view kOciRepoIdAnnotation = "dev.kernel-lock.repo-id";

// Which variants of a kernel a reader keeps: given the repo id and every variant
// the artifact holds for it, returns the names to keep (names not offered are
// ignored; none kept is a not_found error of the reader). Unset: every variant.
using OciVariantFilter =
    std::function<std::vector<std::string>(std::string_view repo_id, const std::vector<std::string>& variants)>;

struct OciWriteOptions {
  std::string tag = std::string(kOciDefaultTag);  // org.opencontainers.image.ref.name of the lock's index
  ProgressFn progress;                            // content bytes copied / total
};

struct OciWriteSummary {
  std::size_t kernels = 0;   // manifests
  std::size_t files = 0;     // layers, all manifests together
  std::size_t blobs = 0;     // distinct blobs in blobs/sha256 (files, configs, manifests, index)
  std::uint64_t content_bytes = 0;  // sum of distinct file blob sizes
  bool changed = true;       // false: `output` already held exactly these bytes and was left alone
};

// The OCI distribution spec's tag grammar: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
bool is_valid_oci_tag(std::string_view tag) noexcept;

// True when `output` names the tar form ("*.tar").
bool is_oci_tar_path(const std::filesystem::path& output) noexcept;

// Writes the OCI image layout of `plan` to `output`: a directory, or, when
// is_oci_tar_path(output), a deterministic uncompressed tar of that directory.
// Same plan + same tag -> same bytes. The layout is built in a temp directory
// next to `output` (every file fsynced), then swapped in atomically (directory:
// rename, or an atomic exchange with an existing layout; tar: rename). An
// existing directory that is not an OCI layout (no `oci-layout`, not empty) is
// never replaced (Error(usage)); one holding exactly the new bytes is left
// untouched (summary.changed = false). Each file is copied from its planned
// source and must still hash to its locked digest and size (Error(integrity)).
// Throws Error(invalid_input) for a bad tag or a plan without a source for a
// blob, Error(io).
OciWriteSummary write_oci_layout(const BundlePlan& plan, const std::filesystem::path& output,
                                 const OciWriteOptions& options = {});

// Reader limits: every JSON document is size-checked before it is parsed.
struct OciReadLimits {
  std::uint64_t max_json_bytes = 16ull << 20;   // oci-layout, index.json, any index, manifest or config
  std::uint64_t max_kernels = 100'000;          // manifests in the lock's index
  std::uint64_t max_layers = 1'000'000;         // layers, all manifests together
  std::uint64_t max_total_bytes = 256ull << 30; // sum of distinct file blob sizes
};

// Reads and validates the OCI layout directory `layout` (the index tagged
// `tag`; empty: the only one in index.json) and returns it as a bundle plan:
// the manifest (kernels, files, blobs by Hub digest, the lock rebuilt from the
// kernel configs) and, for every blob, the layout file holding it. Checks:
// oci-layout version, media and artifact types, every descriptor's digest form
// and size, every blob read is a regular file (no symlink) whose sha256 is its
// name, each layer's title a safe relative path under build/<its variant>/, its
// Hub digest (the file is hashed again), and the bundle manifest rules
// (parse_bundle_manifest: every variant's files hash to the lock's variant
// hash). Throws Error(invalid_input) for a malformed or hostile layout,
// Error(integrity) for bytes that do not match, Error(not_found) for a missing
// tag or blob. With `keep`, the plan holds only the variants it keeps (the
// layers of the others are skipped: their blobs need not be present, as after
// a partial registry pull); a kernel left with no variant is Error(not_found).
BundlePlan read_oci_layout(const std::filesystem::path& layout, std::string_view tag = {},
                           const OciReadLimits& limits = {}, const OciVariantFilter& keep = {});

// True when `path` is an OCI layout directory (it holds `oci-layout`); cheap, never throws.
bool is_oci_layout_dir(const std::filesystem::path& path) noexcept;

// True when `path` is a plain tar whose first entries include `oci-layout`
// (the tar form); cheap (headers only), never throws.
bool is_oci_layout_tar(const std::filesystem::path& path) noexcept;

// Extracts the tar form of a layout into the new directory `dest` (as
// install_oci_layout does: layout files only, no links, size limits). Throws
// Error(invalid_input) for a hostile tar, Error(io).
void extract_oci_layout_tar(const std::filesystem::path& tar, const std::filesystem::path& dest);

// `kernel-lock install DIR_OR_TAR` of an OCI layout. A tar is first extracted
// into a temp directory inside the target cache (options.cache_dir, else the
// kernels cache), refusing any entry but oci-layout, index.json and regular
// files blobs/sha256/<hex> (no links, devices or duplicates; size limits), and
// removed afterwards. Then read_oci_layout (every check
// there), then install_plan (bundle/install.hpp): the same guarantees as a
// bundle install: checked against options.lock when given, every file staged
// and hashed against its Hub digest before it is committed, snapshots and refs
// only after every blob, an installed commit never replaced by other content.
// Throws like read_oci_layout and install_plan.
InstallSummary install_oci_layout(const std::filesystem::path& layout, std::string_view tag, const InstallOptions& options);

}  // namespace kernel_lock
