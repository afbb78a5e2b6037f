// Bundle manifest: canonical JSON form, validation, and agreement with a lock.
#include <algorithm>
#include <map>
#include <set>

#include "kernel_lock/bundle/bundle.hpp"
#include "kernel_lock/cache/cache_writer.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/json.hpp"
#include "kernel_lock/core/tree_variants.hpp"
#include "kernel_lock/trust/trusted_root.hpp"

namespace kernel_lock {
namespace {

using json = nlohmann::ordered_json;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw Error(ErrorCode::invalid_input, "bundle manifest: " + where + ": " + what);
}

const json& member(const json& object, const char* key, const std::string& where) {
  if (!object.is_object()) bad(where, "expected an object");
  auto it = object.find(key);
  if (it == object.end()) bad(where, std::string("missing \"") + key + "\"");
  return *it;
}

std::string string_member(const json& object, const char* key, const std::string& where) {
  const auto& v = member(object, key, where);
  if (!v.is_string()) bad(where + "." + key, "expected a string");
  return v.get<std::string>();
}

std::uint64_t size_member(const json& object, const char* key, const std::string& where) {
  const auto& v = member(object, key, where);
  if (!v.is_number_unsigned()) bad(where + "." + key, "expected a non-negative integer");
  return v.get<std::uint64_t>();
}

const json& array_member(const json& object, const char* key, const std::string& where) {
  const auto& v = member(object, key, where);
  if (!v.is_array()) bad(where + "." + key, "expected an array");
  return v;
}

// Checks the included variants of one kernel against its lock entry: the files
// are grouped and hashed by variants_from_tree, as the resolver locked them.
void check_kernel_files(const BundleKernel& k, const LockedKernel& locked) {
  std::vector<TreeEntry> entries;
  for (const auto& f : k.files) {
    TreeEntry e;
    e.path = f.path;
    e.size = f.size;
    (f.kind == DigestKind::lfs_sha256 ? e.lfs_sha256.emplace() : e.oid) = f.digest;
    entries.push_back(std::move(e));
  }
  const TreeVariants found = variants_from_tree(entries);
  for (const auto& v : k.variants) {
    auto lv = locked.variants.find(v);
    if (lv == locked.variants.end())
      throw Error(ErrorCode::integrity, "bundle manifest: " + k.repo_id + ": variant " + v + " is not in the lock");
    auto fv = found.variants.find(v);
    const std::string hash = fv == found.variants.end() ? git_lfs_concat_hash({}) : fv->second.hash;
    if (hash != lv->second.hash)
      throw Error(ErrorCode::integrity, "bundle manifest: " + k.repo_id + " variant " + v + ": files hash to " + hash +
                                            ", the lock says " + lv->second.hash);
    if (!lv->second.files.empty()) {
      auto expected = lv->second.files;
      std::sort(expected.begin(), expected.end(), [](const LockedFile& a, const LockedFile& b) { return a.path < b.path; });
      if (fv == found.variants.end() || expected != fv->second.files)
        throw Error(ErrorCode::integrity, "bundle manifest: " + k.repo_id + " variant " + v +
                                              ": file list differs from the lock's per-file records");
    }
  }
}

}  // namespace

std::vector<std::string> refs_for_requirement(const LockedKernel& kernel) {
  std::vector<std::string> refs;
  const auto& req = kernel.requirement;
  if (!req) return refs;
  if (req->version) refs.push_back("v" + std::to_string(*req->version));
  // A revision that is not a sha names a branch or tag; one that is not usable
  // as a cache ref name is skipped.
  if (req->revision && !is_commit_sha(*req->revision) && is_safe_relative_path(*req->revision))
    refs.push_back(*req->revision);
  std::sort(refs.begin(), refs.end());
  refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
  return refs;
}

void classify_refs(const LockedKernel& kernel, const CacheRepoPaths& repo, BundleKernel& bk) {
  bk.tags.clear();
  bk.ref_kinds_known = true;
  const auto& req = kernel.requirement;
  const RefKinds recorded = read_ref_kinds(repo);
  for (const auto& ref : bk.refs) {
    if (req && req->version && ref == "v" + std::to_string(*req->version)) continue;  // a branch
    const bool tag = std::binary_search(recorded.tags.begin(), recorded.tags.end(), ref);
    const bool branch = std::binary_search(recorded.branches.begin(), recorded.branches.end(), ref);
    if (tag) bk.tags.push_back(ref);
    if (!tag && !branch) bk.ref_kinds_known = false;
  }
  std::sort(bk.tags.begin(), bk.tags.end());
  bk.tags.erase(std::unique(bk.tags.begin(), bk.tags.end()), bk.tags.end());
}

std::string format_bundle_manifest(const BundleManifest& m) {
  json out = json::object();
  out["format"] = std::string(kBundleFormat);
  out["format_version"] = m.format_version;
  out["lock"] = json::parse(format_lockfile(m.lock));
  if (m.trust) {
    json jt = json::object();
    jt["trusted_root"] = std::string(kBundleTrustedRootName);
    jt["sha256"] = m.trust->sha256;
    jt["captured_at"] = trust::format_rfc3339(m.trust->captured_at);
    out["trust"] = std::move(jt);
  }
  json kernels = json::array();
  for (const auto& k : m.kernels) {
    json jk = json::object();
    jk["repo_id"] = k.repo_id;
    jk["repo_type"] = k.repo_type;
    jk["sha"] = k.sha;
    jk["refs"] = k.refs;
    if (k.ref_kinds_known) jk["tags"] = k.tags;
    jk["variants"] = k.variants;
    json files = json::array();
    for (const auto& f : k.files) {
      json jf = json::object();
      jf["path"] = f.path;
      jf["digest"] = f.digest;
      jf["kind"] = std::string(to_string(f.kind));
      jf["size"] = f.size;
      files.push_back(std::move(jf));
    }
    jk["files"] = std::move(files);
    kernels.push_back(std::move(jk));
  }
  out["kernels"] = std::move(kernels);
  json blobs = json::array();
  for (const auto& b : m.blobs) {
    json jb = json::object();
    jb["digest"] = b.digest;
    jb["size"] = b.size;
    blobs.push_back(std::move(jb));
  }
  out["blobs"] = std::move(blobs);
  return out.dump(2) + "\n";
}

namespace {

// One files[] record of a kernel; `variants` are the kernel's included variants,
// `paths` the paths seen so far, `file_digests` digest -> size over all files.
BundleFile parse_manifest_file(const json& jf, const std::string& fwhere, const std::set<std::string>& variants,
                               std::set<std::string>& paths, std::map<std::string, std::uint64_t>& file_digests) {
  BundleFile f;
  f.path = string_member(jf, "path", fwhere);
  check_relative_path(f.path, "bundle manifest " + fwhere);
  if (!f.path.starts_with("build/")) bad(fwhere, "path " + f.path + " is not below build/");
  auto rest = std::string_view(f.path).substr(6);
  auto slash = rest.find('/');
  if (slash == std::string_view::npos || !variants.count(std::string(rest.substr(0, slash))))
    bad(fwhere, "path " + f.path + " is not below an included variant");
  if (!is_hashed_variant_path(rest.substr(slash + 1))) bad(fwhere, "path " + f.path + " is a bytecode file");
  if (!paths.insert(f.path).second) bad(fwhere, "duplicate path " + f.path);
  f.digest = string_member(jf, "digest", fwhere);
  check_blob_digest(f.digest, "bundle manifest " + fwhere);
  f.kind = parse_digest_kind(string_member(jf, "kind", fwhere));
  if (f.kind != digest_kind_from_hex(f.digest)) bad(fwhere, "kind does not match the digest length");
  f.size = size_member(jf, "size", fwhere);
  auto [it, inserted] = file_digests.emplace(f.digest, f.size);
  if (!inserted && it->second != f.size) bad(fwhere, "two sizes for blob " + f.digest);
  return f;
}

// One kernels[] record, checked against the embedded lock (same sha, files
// hashing to the locked variant hashes).
BundleKernel parse_manifest_kernel(const json& jk, const std::string& where, const Lockfile& lock,
                                   std::map<std::string, std::uint64_t>& file_digests) {
  BundleKernel k;
  k.repo_id = string_member(jk, "repo_id", where);
  check_repo_id(k.repo_id, "bundle manifest " + where);
  k.repo_type = string_member(jk, "repo_type", where);
  if (k.repo_type != "kernel" && k.repo_type != "model") bad(where + ".repo_type", "expected \"kernel\" or \"model\"");
  k.sha = string_member(jk, "sha", where);
  check_commit_sha(k.sha, "bundle manifest " + where);
  for (const auto& r : array_member(jk, "refs", where)) {
    if (!r.is_string()) bad(where + ".refs", "expected strings");
    k.refs.push_back(r.get<std::string>());
    check_relative_path(k.refs.back(), "bundle manifest " + where + " ref");
  }
  k.ref_kinds_known = jk.contains("tags");  // older bundles: absent
  if (k.ref_kinds_known) {
    for (const auto& t : array_member(jk, "tags", where)) {
      if (!t.is_string()) bad(where + ".tags", "expected strings");
      if (std::find(k.refs.begin(), k.refs.end(), t.get<std::string>()) == k.refs.end())
        bad(where + ".tags", "tag " + t.get<std::string>() + " is not one of the kernel's refs");
      k.tags.push_back(t.get<std::string>());
    }
    if (!std::is_sorted(k.tags.begin(), k.tags.end()) ||
        std::adjacent_find(k.tags.begin(), k.tags.end()) != k.tags.end())
      bad(where + ".tags", "tags are not sorted and unique");
  }
  for (const auto& v : array_member(jk, "variants", where)) {
    if (!v.is_string()) bad(where + ".variants", "expected strings");
    k.variants.push_back(v.get<std::string>());
    check_relative_path(k.variants.back(), "bundle manifest " + where + " variant");
    if (k.variants.back().find('/') != std::string::npos) bad(where + ".variants", "a variant name has no '/'");
  }
  const std::set<std::string> variant_set(k.variants.begin(), k.variants.end());
  if (variant_set.size() != k.variants.size()) bad(where + ".variants", "duplicate variant");
  std::set<std::string> paths;
  for (const auto& jf : array_member(jk, "files", where))
    k.files.push_back(parse_manifest_file(jf, where + ".files[" + std::to_string(k.files.size()) + "]", variant_set,
                                          paths, file_digests));
  const LockedKernel* locked = lock.find_commit(k.repo_id, k.sha);
  if (!locked) locked = lock.find(k.repo_id);  // then the sha check below names the difference
  if (!locked) throw Error(ErrorCode::integrity, "bundle manifest: " + k.repo_id + " is not in the embedded lock");
  if (locked->sha != k.sha)
    throw Error(ErrorCode::integrity, "bundle manifest: " + k.repo_id + " is at " + k.sha + ", the embedded lock says " +
                                          locked->sha);
  check_kernel_files(k, *locked);
  return k;
}

// The "trust" record: present exactly in version 2.
std::optional<BundleTrust> parse_manifest_trust(const json& root, int format_version) {
  auto it = root.find("trust");
  if (format_version == kBundleFormatVersion) {
    if (it != root.end()) bad("trust", "a version 1 manifest has no trust record");
    return std::nullopt;
  }
  if (it == root.end()) bad("", "a version 2 manifest has a \"trust\" record");
  if (string_member(*it, "trusted_root", "trust") != kBundleTrustedRootName)
    bad("trust.trusted_root", "expected \"" + std::string(kBundleTrustedRootName) + "\"");
  BundleTrust t;
  t.sha256 = string_member(*it, "sha256", "trust");
  if (t.sha256.size() != 64 || t.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
    bad("trust.sha256", "expected 64 lowercase hex digits");
  t.captured_at = with_context("bundle manifest trust.captured_at",
                               [&] { return trust::parse_rfc3339(string_member(*it, "captured_at", "trust")); },
                               ErrorCode::invalid_input);
  return t;
}

}  // namespace

BundleManifest parse_bundle_manifest(std::string_view text) {
  const json root = parse_json_bounded<json>(text, "bundle manifest", kMaxBundleManifestBytes,
                                             "the file is not a kernel-lock bundle, or it was damaged or tampered with");
  if (!root.is_object()) bad("", "expected a JSON object");
  if (string_member(root, "format", "") != kBundleFormat)
    bad("format", "expected \"" + std::string(kBundleFormat) + "\"");
  const auto& version = member(root, "format_version", "");
  if (!version.is_number_integer()) bad("format_version", "expected an integer");
  BundleManifest m;
  m.format_version = version.get<int>();
  if (m.format_version != kBundleFormatVersion && m.format_version != kBundleFormatVersionTrust)
    throw Error(ErrorCode::unsupported, "bundle format_version " + std::to_string(m.format_version) +
                                            " is not supported (this kernel-lock reads versions " +
                                            std::to_string(kBundleFormatVersion) + " and " +
                                            std::to_string(kBundleFormatVersionTrust) + ")",
                "install with a newer kernel-lock, or re-create the bundle with this one");
  m.lock = parse_lockfile(member(root, "lock", "").dump(), "bundle manifest lock");
  m.trust = parse_manifest_trust(root, m.format_version);

  std::map<std::string, std::uint64_t> file_digests;  // digest -> size, over all files
  for (const auto& jk : array_member(root, "kernels", ""))
    m.kernels.push_back(parse_manifest_kernel(jk, "kernels[" + std::to_string(m.kernels.size()) + "]", m.lock, file_digests));
  std::string previous;
  for (const auto& jb : array_member(root, "blobs", "")) {
    const std::string where = "blobs[" + std::to_string(m.blobs.size()) + "]";
    BundleBlob b;
    b.digest = string_member(jb, "digest", where);
    check_blob_digest(b.digest, "bundle manifest " + where);
    b.size = size_member(jb, "size", where);
    if (!m.blobs.empty() && b.digest <= previous) bad(where, "blobs are not sorted and unique");
    previous = b.digest;
    auto it = file_digests.find(b.digest);
    if (it == file_digests.end()) bad(where, "blob " + b.digest + " is used by no file");
    if (it->second != b.size) bad(where, "size differs from the files naming blob " + b.digest);
    m.blobs.push_back(std::move(b));
  }
  if (m.blobs.size() != file_digests.size()) bad("blobs", "some files name a blob the bundle does not list");
  return m;
}

void check_manifest_against_lock(const BundleManifest& manifest, const Lockfile& lock) {
  for (const auto& k : manifest.kernels) {
    const LockedKernel* locked = lock.find_commit(k.repo_id, k.sha);
    if (!locked) locked = lock.find(k.repo_id);  // then the sha check below names the difference
    if (!locked)
      throw Error(ErrorCode::integrity, "bundle holds " + k.repo_id + ", which the lock does not list",
                  "bundle again from this lock");
    if (locked->sha != k.sha)
      throw Error(ErrorCode::integrity,
                  "bundle holds " + k.repo_id + " at " + k.sha + ", the lock pins " + locked->sha,
                  "bundle again from this lock");
    const LockedKernel* embedded = manifest.lock.find_commit(k.repo_id, k.sha);
    if (locked->variants.empty()) continue;  // a commit-only (dependency-shape) lock pins the sha alone
    for (const auto& v : k.variants) {
      auto lv = locked->variants.find(v);
      if (lv == locked->variants.end())
        throw Error(ErrorCode::integrity, "bundle holds " + k.repo_id + " variant " + v + ", which the lock does not list");
      if (!embedded || embedded->variants.at(v).hash != lv->second.hash)
        throw Error(ErrorCode::integrity, "bundle holds " + k.repo_id + " variant " + v + " with hash " +
                                              (embedded ? embedded->variants.at(v).hash : std::string("?")) +
                                              ", the lock says " + lv->second.hash);
      if (!lv->second.files.empty()) check_kernel_files(BundleKernel{k.repo_id, k.repo_type, k.sha, {}, {v}, k.files, {}, true}, *locked);
    }
  }
}

}  // namespace kernel_lock
