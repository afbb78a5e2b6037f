// write_oci_layout: a bundle plan as an OCI image layout directory or tar
// (docs/oci-layout.md). Deterministic JSON (sorted keys, compact), no timestamps.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/oci/layout.hpp"
#include "kernel_lock/trust/trust_store.hpp"
#include "oci_internal.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace oci_detail;
namespace {

json descriptor(std::string_view media_type, const std::string& sha256, std::uint64_t size) {
  return json{{"mediaType", media_type}, {"digest", "sha256:" + sha256}, {"size", size}};
}

// Content-addressed blobs of one layout under construction at `root`.
class LayoutBuilder {
 public:
  explicit LayoutBuilder(fs::path root) : root_(std::move(root)) { fs::create_directories(root_ / "blobs" / "sha256"); }

  // A JSON document as a blob; returns its descriptor.
  json add_json(std::string_view media_type, const json& doc) { return add_bytes(media_type, doc.dump()); }

  // Bytes as a blob, unchanged; returns its descriptor.
  json add_bytes(std::string_view media_type, std::string_view bytes) {
    const std::string hex = sha256_hex(bytes);
    if (written_.insert(hex).second) write_file_atomic(blob_path(root_, hex), bytes);
    return descriptor(media_type, hex, bytes.size());
  }

  // Copies the planned source of a Hub blob once; returns its sha256. The copy
  // must hash to the Hub digest and have the locked size.
  std::string add_file(const BundleBlob& blob, const fs::path& source, DigestKind kind) {
    const fs::path tmp = root_ / "blobs" / "sha256" / (".copy-" + blob.digest);
    auto d = stream_file(source, tmp, kind == DigestKind::git_sha1, blob.size, true);
    if (d.size != blob.size || d.hub != blob.digest) {
      fs::remove(tmp);
      throw Error(ErrorCode::integrity, source.string() + " changed since it was planned: it holds " +
                                            std::to_string(d.size) + " bytes hashing to " + d.hub + ", the lock says " +
                                            std::to_string(blob.size) + " bytes, " + blob.digest,
                  "fetch the file again (`kernel-lock bundle` without --offline) and retry");
    }
    if (written_.insert(d.sha256).second)
      fs::rename(tmp, blob_path(root_, d.sha256));
    else
      fs::remove(tmp);  // same bytes under another Hub digest kind
    return d.sha256;
  }

  std::size_t blob_count() const noexcept { return written_.size(); }
  const fs::path& root() const noexcept { return root_; }

 private:
  fs::path root_;
  std::set<std::string> written_;
};

// The config blob of one kernel: its lock entry, refs and included variants.
json kernel_config(const BundleKernel& bk, const Lockfile& lock) {
  const LockedKernel* locked = lock.find_commit(bk.repo_id, bk.sha);
  if (!locked) throw Error(ErrorCode::invalid_input, "the bundle plan has no lock entry for " + bk.repo_id + " at " + bk.sha);
  json entry = json::parse(format_lockfile(Lockfile{{*locked}})).at(0);
  json config{{"format", kConfigFormat}, {"format_version", kConfigFormatVersion}, {"kernel", std::move(entry)},
              {"refs", bk.refs}, {"variants", bk.variants}};
  if (bk.ref_kinds_known) config["tags"] = bk.tags;  // which refs are tags (docs/oci-layout.md)
  return config;
}

json kernel_manifest(LayoutBuilder& b, const BundleKernel& bk, const Lockfile& lock,
                     const std::map<std::string, std::string>& sha256_of) {
  json layers = json::array();
  for (const auto& f : bk.files) {
    json layer = descriptor(kOciFileLayerType, sha256_of.at(f.digest), f.size);
    layer["annotations"] = {{kOciTitleAnnotation, f.path}, {kVariantAnnotation, variant_of(f.path)},
                            {kHubDigestAnnotation, f.digest}, {kHubDigestKindAnnotation, to_string(f.kind)}};
    layers.push_back(std::move(layer));
  }
  return json{{"schemaVersion", 2},
              {"mediaType", kOciManifestType},
              {"artifactType", kOciKernelArtifactType},
              {"config", b.add_json(kOciKernelConfigType, kernel_config(bk, lock))},
              {"layers", std::move(layers)},
              {"annotations", {{kRepoIdAnnotation, bk.repo_id}, {kShaAnnotation, bk.sha}}}};
}

// The manifest that carries the trusted root: an empty config, one layer holding
// trusted_root.json byte for byte, annotated with its capture time.
json trust_root_manifest(LayoutBuilder& b, const trust::CapturedTrustRoot& root) {
  json layer = b.add_bytes(kOciTrustRootLayerType, root.json);
  layer["annotations"] = {{kOciTitleAnnotation, "trusted_root.json"},
                          {kCapturedAtAnnotation, trust::format_rfc3339(root.captured_at)}};
  json config = b.add_bytes(kOciEmptyConfigType, "{}");
  return json{{"schemaVersion", 2},
              {"mediaType", kOciManifestType},
              {"artifactType", kOciTrustRootArtifactType},
              {"config", std::move(config)},
              {"layers", json::array({std::move(layer)})}};
}

// Every file blob (copied and verified), one manifest per kernel, the lock's
// index and index.json + oci-layout, into `root`.
OciWriteSummary build_layout(const BundlePlan& plan, const fs::path& root, const OciWriteOptions& options) {
  LayoutBuilder b(root);
  OciWriteSummary summary;
  std::map<std::string, DigestKind> kinds;
  for (const auto& k : plan.manifest.kernels)
    for (const auto& f : k.files) kinds.emplace(f.digest, f.kind);
  std::uint64_t total = 0, done = 0;
  for (const auto& blob : plan.manifest.blobs) total += blob.size;
  std::map<std::string, std::string> sha256_of;  // Hub digest -> sha256
  for (const auto& blob : plan.manifest.blobs) {
    auto src = plan.sources.find(blob.digest);
    if (src == plan.sources.end())
      throw Error(ErrorCode::invalid_input, "the bundle plan has no source for blob " + blob.digest);
    sha256_of[blob.digest] = b.add_file(blob, src->second, kinds.at(blob.digest));
    done += blob.size;
    if (options.progress) options.progress(done, total);
  }
  summary.content_bytes = total;
  json manifests = json::array();
  for (const auto& bk : plan.manifest.kernels) {
    json desc = b.add_json(kOciManifestType, kernel_manifest(b, bk, plan.manifest.lock, sha256_of));
    desc["annotations"] = {{kRepoIdAnnotation, bk.repo_id}, {kShaAnnotation, bk.sha}};
    manifests.push_back(std::move(desc));
    summary.files += bk.files.size();
  }
  summary.kernels = plan.manifest.kernels.size();
  if (plan.trust_root) {
    json desc = b.add_json(kOciManifestType, trust_root_manifest(b, *plan.trust_root));
    desc["artifactType"] = kOciTrustRootArtifactType;
    manifests.push_back(std::move(desc));
  }
  json lock_index = {{"schemaVersion", 2}, {"mediaType", kOciIndexType}, {"manifests", std::move(manifests)},
                     {"annotations", {{kArtifactTypeAnnotation, kOciLockArtifactType}}}};
  json top = b.add_json(kOciIndexType, lock_index);
  top["annotations"] = {{kOciRefNameAnnotation, options.tag}};
  json index = {{"schemaVersion", 2}, {"mediaType", kOciIndexType}, {"manifests", json::array({top})}};
  write_file_atomic(root / kOciIndexFile, index.dump());
  write_file_atomic(root / kOciLayoutFile, json{{"imageLayoutVersion", kImageLayoutVersion}}.dump());
  summary.blobs = b.blob_count();
  fsync_directory(root / "blobs");
  fsync_directory(root);
  return summary;
}

// True when the regular files `a` and `b` hold the same bytes; compared in
// 1 MiB chunks, so a large blob is never held whole. Never follows a symlink.
bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(a, ec)) || !fs::is_regular_file(fs::symlink_status(b, ec)) ||
      fs::file_size(a, ec) != fs::file_size(b, ec) || ec)
    return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  std::vector<char> ba(1 << 20), bb(1 << 20);
  while (fa && fb) {
    fa.read(ba.data(), static_cast<std::streamsize>(ba.size()));
    fb.read(bb.data(), static_cast<std::streamsize>(bb.size()));
    if (fa.gcount() != fb.gcount() || !std::equal(ba.begin(), ba.begin() + fa.gcount(), bb.begin())) return false;
  }
  return fa.eof() && fb.eof();
}

// The regular files under `root`, relative, sorted.
std::vector<std::string> layout_files(const fs::path& root) {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files.push_back(fs::relative(e.path(), root).generic_string());
  std::sort(files.begin(), files.end());
  return files;
}

bool same_layout(const fs::path& a, const fs::path& b) {
  const auto files = layout_files(a);
  if (files != layout_files(b)) return false;
  return std::all_of(files.begin(), files.end(), [&](const std::string& f) { return same_file(a / f, b / f); });
}

// Swaps the built layout at `tmp` into `output` (see write_oci_layout).
bool commit_directory(const fs::path& tmp, const fs::path& output) {
  std::error_code ec;
  const auto st = fs::symlink_status(output, ec);
  if (fs::exists(st)) {
    const bool layout = fs::is_directory(st) && is_oci_layout_dir(output);
    if (!layout && !(fs::is_directory(st) && fs::is_empty(output, ec)))
      throw Error(ErrorCode::usage, output.string() + " exists and is not an OCI layout",
                  "choose a new or empty directory, or remove it first");
    if (layout && same_layout(tmp, output)) return false;
    if (layout) {
      if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, output.c_str(), RENAME_EXCHANGE) != 0)
        throw Error(ErrorCode::io, "cannot swap " + tmp.string() + " with " + output.string() + ": " + std::strerror(errno));
      fsync_directory(output.parent_path().empty() ? fs::path(".") : output.parent_path());
      return true;  // the old layout is now at tmp; the caller's guard removes it
    }
  }
  if (::rename(tmp.c_str(), output.c_str()) != 0)
    throw Error(ErrorCode::io, "cannot rename " + tmp.string() + " to " + output.string() + ": " + std::strerror(errno));
  fsync_directory(output.parent_path().empty() ? fs::path(".") : output.parent_path());
  return true;
}

}  // namespace

void write_oci_tar(const fs::path& layout, const fs::path& tar);

bool is_oci_tar_path(const fs::path& output) noexcept { return output.extension() == ".tar"; }

OciWriteSummary write_oci_layout(const BundlePlan& plan, const fs::path& output, const OciWriteOptions& options) {
  if (!is_valid_oci_tag(options.tag))
    throw Error(ErrorCode::invalid_input, "invalid OCI tag '" + options.tag + "'",
                "a tag is [A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
  const fs::path tmp = temp_path_for(output);
  PathGuard guard(tmp);  // the temp tree, or the old layout after an exchange
  if (!is_oci_tar_path(output)) {
    auto summary = build_layout(plan, tmp, options);
    summary.changed = commit_directory(tmp, output);
    return summary;
  }
  auto summary = build_layout(plan, tmp / "layout", options);
  const fs::path tar = tmp / "layout.tar";
  write_oci_tar(tmp / "layout", tar);
  if (same_file(tar, output)) {
    summary.changed = false;
    return summary;
  }
  if (::rename(tar.c_str(), output.c_str()) != 0)
    throw Error(ErrorCode::io, "cannot rename " + tar.string() + " to " + output.string() + ": " + std::strerror(errno));
  fsync_directory(output.parent_path().empty() ? fs::path(".") : output.parent_path());
  return summary;
}

}  // namespace kernel_lock
