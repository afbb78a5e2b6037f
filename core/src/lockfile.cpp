// kernel.lock parsing, validation and canonical formatting (see lockfile.hpp
// and docs/formats.md). Every rejection names the file and either the
// line:column (JSON syntax) or the JSON path of the offending field.
#include "kernel_lock/core/lockfile.hpp"

#include <algorithm>
#include <charconv>
#include <set>
#include <utility>

#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/rfc3339.hpp"
#include "kernel_lock/core/json.hpp"

namespace kernel_lock {
namespace {

using ojson = nlohmann::ordered_json;

constexpr std::string_view kHashType = "git_lfs_concat";
constexpr std::size_t kMaxLockBytes = 64u << 20;  // a lock of thousands of kernels is a few MiB
constexpr const char* kLockHint =
    "fix the file, or regenerate it with `kernel-lock resolve` (docs/formats.md describes the format)";

// Keys of a kernel object in the variants shape that we interpret; any other key
// is kept verbatim in LockedKernel::unknown_keys.
constexpr std::string_view kKernelKeys[] = {"repo_id", "sha",   "variants",  "repo_type",
                                            "requirement", "files", "signatures"};

bool is_reserved_kernel_key(std::string_view key) {
  return std::find(std::begin(kKernelKeys), std::end(kKernelKeys), key) != std::end(kKernelKeys);
}

bool is_hex_of_length(std::string_view text, std::size_t length) { return text.size() == length && kernel_lock::is_lower_hex(text); }

bool is_variant_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

// JSON string literal for use in paths and messages (escaped, ASCII only).
std::string json_quote(std::string_view text) {
  return ojson(std::string(text)).dump(-1, ' ', true, ojson::error_handler_t::replace);
}

std::string type_name(const ojson& value) {
  if (value.is_number_unsigned() || value.is_number_integer()) return "an integer";
  if (value.is_number_float()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_null()) return "null";
  if (value.is_array()) return "an array";
  return "an object";
}

// Builds and throws the schema error "<source>: <path>: <message>".
class Checker {
 public:
  explicit Checker(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(const std::string& path, const std::string& message) const {
    throw Error(ErrorCode::invalid_input,
                std::string(source_) + ": " + (path.empty() ? std::string("top level") : path) + ": " + message,
                kLockHint);
  }

  const ojson& object(const ojson& value, const std::string& path, const char* what) const {
    if (!value.is_object()) fail(path, std::string("expected ") + what + " (a JSON object), got " + type_name(value));
    return value;
  }

  const std::string& string(const ojson& value, const std::string& path, const char* what) const {
    if (!value.is_string()) fail(path, std::string("expected ") + what + ", got " + type_name(value));
    return value.get_ref<const std::string&>();
  }

  const ojson& member(const ojson& object, std::string_view key, const std::string& path) const {
    auto it = object.find(std::string(key));
    if (it == object.end()) fail(path, "missing required key " + json_quote(key));
    return *it;
  }

 private:
  std::string_view source_;
};

std::string key_path(const std::string& parent, std::string_view key) { return parent + "." + std::string(key); }
std::string index_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}
std::string name_path(const std::string& parent, std::string_view name) { return parent + "[" + json_quote(name) + "]"; }

// Parses JSON through the one bounded parser (size, depth, duplicate keys).
// Syntax errors name "source:line:column".
ojson parse_json(std::string_view text, std::string_view source) {
  return parse_json_bounded<ojson>(text, source, kMaxLockBytes, kLockHint);
}

LockedFile parse_file(const Checker& check, const ojson& value, const std::string& path) {
  check.object(value, path, "a file record {\"path\", \"size\", \"digest\", \"kind\"}");
  for (const auto& [key, unused] : value.items()) {
    (void)unused;
    if (key != "path" && key != "size" && key != "digest" && key != "kind")
      check.fail(key_path(path, key), "unknown key; a file record holds only \"path\", \"size\", \"digest\", \"kind\"");
  }
  LockedFile file;
  file.path = check.string(check.member(value, "path", path), key_path(path, "path"), "a relative path string");
  if (!is_safe_relative_path(file.path))
    check.fail(key_path(path, "path"),
               "expected a relative '/'-separated path inside the variant (no \"..\", \".\", leading '/', "
               "backslash or empty component), got " +
                   json_quote(file.path));
  const auto& size = check.member(value, "size", path);
  if (!size.is_number_unsigned() && !(size.is_number_integer() && size.get<std::int64_t>() >= 0))
    check.fail(key_path(path, "size"), "expected a non-negative integer byte count, got " + type_name(size));
  file.size = size.get<std::uint64_t>();
  const auto& kind = check.string(check.member(value, "kind", path), key_path(path, "kind"), "\"sha256\" or \"git-sha1\"");
  std::size_t digest_length = 0;
  if (kind == "sha256") {
    file.kind = DigestKind::lfs_sha256;
    digest_length = 64;
  } else if (kind == "git-sha1") {
    file.kind = DigestKind::git_sha1;
    digest_length = 40;
  } else {
    check.fail(key_path(path, "kind"), "expected \"sha256\" (LFS file) or \"git-sha1\" (git blob), got " + json_quote(kind));
  }
  file.digest = check.string(check.member(value, "digest", path), key_path(path, "digest"), "a hex digest string");
  if (!is_hex_of_length(file.digest, digest_length))
    check.fail(key_path(path, "digest"), "expected " + std::to_string(digest_length) + " lowercase hex digits for kind " +
                                             json_quote(kind) + ", got " + json_quote(file.digest));
  return file;
}

LockedSignature parse_signature(const Checker& check, const ojson& value, const std::string& path) {
  check.object(value, path,
               "a signature record {\"issuer\", \"source_repository\", \"build_signer_uri\", \"log_index\", "
               "\"signing_time\"}");
  for (const auto& [key, unused] : value.items()) {
    (void)unused;
    if (key != "issuer" && key != "source_repository" && key != "build_signer_uri" && key != "log_index" &&
        key != "signing_time")
      check.fail(key_path(path, key), "unknown key in a signature record");
  }
  LockedSignature signature;
  const auto text = [&](const char* key, const char* what) {
    auto& field = check.string(check.member(value, key, path), key_path(path, key), what);
    if (field.empty() || field.size() > 4096) check.fail(key_path(path, key), std::string("expected ") + what);
    return field;
  };
  signature.issuer = text("issuer", "an OIDC issuer URL");
  signature.source_repository = text("source_repository", "a source repository URI");
  signature.build_signer_uri = text("build_signer_uri", "a build signer URI");
  const auto& index = check.member(value, "log_index", path);
  if (!index.is_number_integer() || index.get<std::int64_t>() < 0)
    check.fail(key_path(path, "log_index"), "expected a non-negative integer, got " + type_name(index));
  signature.log_index = index.get<std::int64_t>();
  signature.signing_time = text("signing_time", "an RFC 3339 UTC time \"YYYY-MM-DDTHH:MM:SSZ\"");
  if (!is_canonical_rfc3339(signature.signing_time))
    check.fail(key_path(path, "signing_time"),
               "expected an RFC 3339 UTC time \"YYYY-MM-DDTHH:MM:SSZ\", got " + json_quote(signature.signing_time));
  return signature;
}

void parse_signatures(const Checker& check, const ojson& value, const std::string& path, LockedKernel& kernel) {
  check.object(value, path, "an object of per-variant signature records");
  for (const auto& [name, record] : value.items()) {
    const auto record_path = name_path(path, name);
    auto variant = kernel.variants.find(name);
    if (variant == kernel.variants.end()) check.fail(record_path, "signature for a variant that is not in \"variants\"");
    variant->second.signature = parse_signature(check, record, record_path);
  }
}

LockedKernel parse_variants_kernel(const Checker& check, const ojson& value, const std::string& path) {
  check.object(value, path, "a kernel object {\"repo_id\", \"sha\", \"variants\"}");
  LockedKernel kernel;
  kernel.repo_id = check.string(check.member(value, "repo_id", path), key_path(path, "repo_id"), "a repo id string");
  if (!is_valid_repo_id(kernel.repo_id))
    check.fail(key_path(path, "repo_id"), "expected a Hub repo id \"org/name\", got " + json_quote(kernel.repo_id));
  kernel.sha = check.string(check.member(value, "sha", path), key_path(path, "sha"), "a commit sha string");
  if (!is_commit_sha(kernel.sha))
    check.fail(key_path(path, "sha"), "expected a 40-hex lowercase commit sha, got " + json_quote(kernel.sha));

  const auto variants_path = key_path(path, "variants");
  const auto& variants = check.object(check.member(value, "variants", path), variants_path, "an object of variants");
  for (const auto& [name, variant_value] : variants.items()) {
    const auto variant_path = name_path(variants_path, name);
    if (!is_variant_name(name))
      check.fail(variant_path, "expected a variant directory name such as \"torch211-cxx11-cu130-x86_64-linux\"");
    check.object(variant_value, variant_path, "a variant object {\"hash\", \"hash_type\"}");
    for (const auto& [key, unused] : variant_value.items()) {
      (void)unused;
      if (key != "hash" && key != "hash_type")
        check.fail(key_path(variant_path, key),
                   "unknown key; a variant object may hold only \"hash\" and \"hash_type\" (Python kernels passes it "
                   "as keyword arguments), extra data belongs on the kernel object");
    }
    LockedVariant variant;
    const auto hash_path = key_path(variant_path, "hash");
    variant.hash = check.string(check.member(variant_value, "hash", variant_path), hash_path, "\"sha256-<64 hex>\"");
    if (variant.hash.size() != 71 || !variant.hash.starts_with("sha256-") ||
        !is_hex_of_length(std::string_view(variant.hash).substr(7), 64))
      check.fail(hash_path, "expected \"sha256-<64 hex>\", got " + json_quote(variant.hash));
    if (auto it = variant_value.find("hash_type"); it != variant_value.end()) {
      variant.hash_type = check.string(*it, key_path(variant_path, "hash_type"), "\"git_lfs_concat\"");
      if (variant.hash_type != kHashType)
        check.fail(key_path(variant_path, "hash_type"), "expected \"git_lfs_concat\" (the only hash type), got " +
                                                            json_quote(variant.hash_type));
    }
    kernel.variants.emplace(name, std::move(variant));
  }

  if (auto it = value.find("repo_type"); it != value.end()) {
    const auto& type = check.string(*it, key_path(path, "repo_type"), "\"kernel\" or \"model\"");
    if (type != "kernel" && type != "model")
      check.fail(key_path(path, "repo_type"), "expected \"kernel\" or \"model\", got " + json_quote(type));
    kernel.repo_type = type;
  }
  if (auto it = value.find("requirement"); it != value.end() && !it->is_null()) {
    check.object(*it, key_path(path, "requirement"), "the requirement this kernel was resolved from");
    try {
      kernel.requirement = LockedRequirement::from_json(*it);
    } catch (const Error& e) {
      check.fail(key_path(path, "requirement"), e.what());
    }
  }
  if (auto it = value.find("files"); it != value.end()) {
    const auto files_path = key_path(path, "files");
    check.object(*it, files_path, "an object of per-variant file lists");
    for (const auto& [name, list] : it->items()) {
      const auto list_path = name_path(files_path, name);
      auto variant = kernel.variants.find(name);
      if (variant == kernel.variants.end())
        check.fail(list_path, "file list for a variant that is not in \"variants\"");
      if (!list.is_array()) check.fail(list_path, "expected an array of file records, got " + type_name(list));
      std::set<std::string> seen;
      for (std::size_t i = 0; i < list.size(); ++i) {
        auto file = parse_file(check, list[i], index_path(list_path, i));
        if (!seen.insert(file.path).second)
          check.fail(key_path(index_path(list_path, i), "path"), "duplicate file " + json_quote(file.path));
        variant->second.files.push_back(std::move(file));
      }
      std::sort(variant->second.files.begin(), variant->second.files.end(),
                [](const LockedFile& a, const LockedFile& b) { return a.path < b.path; });
    }
  }
  if (auto it = value.find("signatures"); it != value.end())
    parse_signatures(check, *it, key_path(path, "signatures"), kernel);
  for (const auto& [key, extra] : value.items()) {
    if (!is_reserved_kernel_key(key)) kernel.unknown_keys[key] = extra;
  }
  return kernel;
}

LockedKernel parse_dependency_kernel(const Checker& check, const ojson& value, const std::string& path) {
  check.object(value, path, "an entry {\"dependency\", \"lock\"}");
  for (const auto& [key, unused] : value.items()) {
    (void)unused;
    if (key != "dependency" && key != "lock")
      check.fail(key_path(path, key), "unknown key; an entry of this lock shape holds only \"dependency\" and \"lock\"");
  }
  LockedKernel kernel;
  const auto dep_path = key_path(path, "dependency");
  const auto& dependency = check.object(check.member(value, "dependency", path), dep_path, "a dependency object");
  for (const auto& [key, unused] : dependency.items()) {
    (void)unused;
    if (key != "repo-id" && key != "version" && key != "revision")
      check.fail(key_path(dep_path, key), "unknown key; expected \"repo-id\" and one of \"version\", \"revision\"");
  }
  kernel.repo_id =
      check.string(check.member(dependency, "repo-id", dep_path), key_path(dep_path, "repo-id"), "a repo id string");
  if (!is_valid_repo_id(kernel.repo_id))
    check.fail(key_path(dep_path, "repo-id"), "expected a Hub repo id \"org/name\", got " + json_quote(kernel.repo_id));
  auto version = dependency.find("version");
  auto revision = dependency.find("revision");
  if ((version == dependency.end()) == (revision == dependency.end()))
    check.fail(dep_path, "expected exactly one of \"version\" and \"revision\"");
  kernel.requirement = LockedRequirement{};
  if (version != dependency.end()) {
    if (!version->is_number_unsigned())
      check.fail(key_path(dep_path, "version"), "expected a non-negative integer, got " + type_name(*version));
    kernel.requirement->version = version->get<std::uint64_t>();
  } else {
    const auto& rev = check.string(*revision, key_path(dep_path, "revision"), "a revision string");
    if (rev.empty()) check.fail(key_path(dep_path, "revision"), "expected a non-empty revision");
    kernel.requirement->revision = rev;
  }
  const auto lock_path = key_path(path, "lock");
  const auto& lock = check.object(check.member(value, "lock", path), lock_path, "a lock object {\"commit\"}");
  for (const auto& [key, unused] : lock.items()) {
    (void)unused;
    if (key != "commit") check.fail(key_path(lock_path, key), "unknown key; expected only \"commit\"");
  }
  auto commit = check.string(check.member(lock, "commit", lock_path), key_path(lock_path, "commit"), "a commit sha");
  // Python reads the commit case-insensitively and writes it in lowercase.
  std::transform(commit.begin(), commit.end(), commit.begin(),
                 [](char c) { return (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c; });
  if (!is_commit_sha(commit))
    check.fail(key_path(lock_path, "commit"), "expected a 40-hex commit sha, got " + json_quote(commit));
  kernel.sha = std::move(commit);
  return kernel;
}

LockfileShape shape_of(const Checker& check, const ojson& root) {
  if (!root.is_array()) check.fail("", "expected a JSON array of kernel objects, got " + type_name(root));
  if (!root.empty() && root[0].is_object() && root[0].contains("dependency") && !root[0].contains("repo_id"))
    return LockfileShape::dependency;
  return LockfileShape::variants;
}

ojson kernel_to_json(const LockedKernel& kernel) {
  ojson out = ojson::object();
  out["repo_id"] = kernel.repo_id;
  out["sha"] = kernel.sha;
  ojson variants = ojson::object();
  bool any_files = false;
  for (const auto& [name, variant] : kernel.variants) {
    ojson v = ojson::object();
    v["hash"] = variant.hash;
    v["hash_type"] = variant.hash_type;
    variants[name] = std::move(v);
    any_files = any_files || !variant.files.empty();
  }
  out["variants"] = std::move(variants);
  if (kernel.repo_type) out["repo_type"] = *kernel.repo_type;
  if (kernel.requirement) out["requirement"] = kernel.requirement->to_json();
  if (any_files) {
    ojson files = ojson::object();
    for (const auto& [name, variant] : kernel.variants) {
      if (variant.files.empty()) continue;
      std::vector<const LockedFile*> sorted;
      for (const auto& file : variant.files) sorted.push_back(&file);
      std::sort(sorted.begin(), sorted.end(), [](const LockedFile* a, const LockedFile* b) { return a->path < b->path; });
      ojson list = ojson::array();
      for (const auto* file : sorted) {
        ojson f = ojson::object();
        f["path"] = file->path;
        f["size"] = file->size;
        f["digest"] = file->digest;
        f["kind"] = file->kind == DigestKind::lfs_sha256 ? "sha256" : "git-sha1";
        list.push_back(std::move(f));
      }
      files[name] = std::move(list);
    }
    out["files"] = std::move(files);
  }
  ojson signatures = ojson::object();
  for (const auto& [name, variant] : kernel.variants) {
    if (!variant.signature) continue;
    const auto& signature = *variant.signature;
    signatures[name] = ojson{{"issuer", signature.issuer},
                             {"source_repository", signature.source_repository},
                             {"build_signer_uri", signature.build_signer_uri},
                             {"log_index", signature.log_index},
                             {"signing_time", signature.signing_time}};
  }
  if (!signatures.empty()) out["signatures"] = std::move(signatures);
  if (kernel.unknown_keys.is_object()) {
    for (const auto& [key, value] : kernel.unknown_keys.items()) {
      if (is_reserved_kernel_key(key))
        throw Error(ErrorCode::invalid_input,
                    "kernel " + kernel.repo_id + ": unknown_keys holds the reserved key " + json_quote(key));
      out[key] = value;
    }
  }
  return out;
}

std::vector<const LockedKernel*> sorted_kernels(const Lockfile& lock) {
  std::vector<const LockedKernel*> kernels;
  for (const auto& kernel : lock.kernels) kernels.push_back(&kernel);
  std::sort(kernels.begin(), kernels.end(), [](const LockedKernel* a, const LockedKernel* b) { return lock_order(*a, *b); });
  return kernels;
}

}  // namespace

PinnedAs pinned_as(const LockedKernel& kernel) {
  const auto& req = kernel.requirement;
  if (req && req->version) return PinnedAs{0, *req->version, {}};
  if (req && req->revision) return PinnedAs{1, 0, *req->revision};
  if (req && req->tags) return PinnedAs{2, 0, *req->tags};
  return PinnedAs{1, 0, kernel.sha};  // what format_python_lockfile writes for it
}

bool lock_order(const LockedKernel& a, const LockedKernel& b) noexcept {
  if (a.repo_id != b.repo_id) return a.repo_id < b.repo_id;
  return pinned_as(a) < pinned_as(b);
}

const LockedKernel* Lockfile::find(std::string_view repo_id) const noexcept {
  const LockedKernel* first = nullptr;
  for (const auto& kernel : kernels) {
    if (kernel.repo_id != repo_id) continue;
    if (!kernel.requirement || !kernel.requirement->required_by) return &kernel;
    if (!first) first = &kernel;
  }
  return first;
}

LockedKernel* Lockfile::find(std::string_view repo_id) noexcept {
  return const_cast<LockedKernel*>(std::as_const(*this).find(repo_id));
}

const LockedKernel* Lockfile::find_pinned(std::string_view repo_id, std::optional<std::uint64_t> version,
                                          const std::optional<std::string>& revision) const noexcept {
  for (const auto& kernel : kernels) {
    if (kernel.repo_id != repo_id || !kernel.requirement) continue;
    if (kernel.requirement->version == version && kernel.requirement->revision == revision) return &kernel;
  }
  return nullptr;
}

const LockedKernel* Lockfile::find_commit(std::string_view repo_id, std::string_view sha) const noexcept {
  for (const auto& kernel : kernels)
    if (kernel.repo_id == repo_id && kernel.sha == sha) return &kernel;
  return nullptr;
}

const LockedKernel* Lockfile::find_like(const LockedKernel& other) const noexcept {
  const PinnedAs pin = pinned_as(other);
  for (const auto& kernel : kernels)
    if (kernel.repo_id == other.repo_id && pinned_as(kernel) == pin) return &kernel;
  return find(other.repo_id);
}

std::vector<const LockedKernel*> Lockfile::find_all(std::string_view repo_id) const {
  std::vector<const LockedKernel*> out;
  for (const auto& kernel : kernels)
    if (kernel.repo_id == repo_id) out.push_back(&kernel);
  return out;
}

LockfileShape detect_lockfile_shape(std::string_view text, std::string_view source) {
  return shape_of(Checker(source), parse_json(text, source));
}

Lockfile parse_lockfile(std::string_view text, std::string_view source) {
  const Checker check(source);
  const ojson root = parse_json(text, source);
  const LockfileShape shape = shape_of(check, root);
  Lockfile lock;
  for (std::size_t i = 0; i < root.size(); ++i) {
    const auto path = index_path("", i);
    lock.kernels.push_back(shape == LockfileShape::dependency ? parse_dependency_kernel(check, root[i], path)
                                                               : parse_variants_kernel(check, root[i], path));
  }
  for (std::size_t i = 0; i < lock.kernels.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (lock.kernels[i].repo_id == lock.kernels[j].repo_id &&
          pinned_as(lock.kernels[i]) == pinned_as(lock.kernels[j]))
        check.fail(index_path("", i), "duplicate kernel " + json_quote(lock.kernels[i].repo_id) + " (also at " +
                                          index_path("", j) + "); a lock holds each (repo, version) once");
    }
  }
  return lock;
}

std::string LockedSignature::describe() const { return build_signer_uri + " (issuer " + issuer + ")"; }

Lockfile read_lockfile(const std::filesystem::path& path) { return parse_lockfile(read_file(path), path.string()); }

std::string format_lockfile(const Lockfile& lock) {
  ojson root = ojson::array();
  for (const auto* kernel : sorted_kernels(lock)) root.push_back(kernel_to_json(*kernel));
  std::string text;
  try {
    text = root.dump(2, ' ', /*ensure_ascii=*/true);
  } catch (const ojson::exception& e) {
    throw Error(ErrorCode::invalid_input, std::string("cannot format kernel.lock: ") + e.what());
  }
  text += '\n';
  // The writer never emits what the reader would reject (bad sha, unsafe path, ...).
  with_context("refusing to write an invalid lock", [&] { return parse_lockfile(text, "kernel.lock (to be written)"); },
               ErrorCode::invalid_input);
  return text;
}

bool write_lockfile(const std::filesystem::path& path, const Lockfile& lock) {
  return write_file_if_changed(path, format_lockfile(lock));
}

std::string format_python_lockfile(const Lockfile& lock) {
  // Python's key (KernelDependency): version N, else revision (a tag range or
  // no requirement: the sha). Sorted like its BTreeMap; two entries with the
  // same key (two tag ranges at one commit) are one Python entry, same commit.
  std::vector<std::pair<std::pair<std::string, PinnedAs>, const LockedKernel*>> keyed;
  for (const auto& kernel : lock.kernels) {
    const auto& req = kernel.requirement;
    PinnedAs key = req && req->version ? PinnedAs{0, *req->version, {}}
                                       : PinnedAs{1, 0, req && req->revision ? *req->revision : kernel.sha};
    keyed.push_back({{kernel.repo_id, std::move(key)}, &kernel});
  }
  std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  keyed.erase(std::unique(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
              keyed.end());
  ojson root = ojson::array();
  for (const auto& [key, kernel] : keyed) {
    ojson dependency = ojson::object();
    dependency["repo-id"] = kernel->repo_id;
    if (key.second.kind == 0) {
      dependency["version"] = key.second.version;
    } else {
      dependency["revision"] = key.second.text;
    }
    ojson entry = ojson::object();
    entry["dependency"] = std::move(dependency);
    entry["lock"] = ojson::object({{"commit", kernel->sha}});
    root.push_back(std::move(entry));
  }
  std::string text;
  try {
    text = root.dump(2, ' ', /*ensure_ascii=*/false);
  } catch (const ojson::exception& e) {
    throw Error(ErrorCode::invalid_input, std::string("cannot format kernels.lock: ") + e.what());
  }
  with_context("refusing to write an invalid lock", [&] { return parse_lockfile(text, "kernels.lock (to be written)"); },
               ErrorCode::invalid_input);
  return text;
}

std::filesystem::path find_lockfile(const std::filesystem::path& dir) {
  std::error_code ec;
  for (auto name : {kDefaultLockfileName, kPythonLockfileName}) {
    auto candidate = dir / std::string(name);
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate;
  }
  throw Error(ErrorCode::not_found,
              "no " + std::string(kDefaultLockfileName) + " or " + std::string(kPythonLockfileName) + " in " +
                  (dir.empty() ? std::string(".") : dir.string()),
              "run `kernel-lock resolve " + (dir.empty() ? std::string(".") : dir.string()) + "` to create one");
}

}  // namespace kernel_lock
