// pull_oci_layout and install_from_registry: the index, manifests and configs,
// then only the kept variants' layers, each hashed while it streams.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "kernel_lock/cache/hf_cache.hpp"
#include "kernel_lock/core/error.hpp"
#include "kernel_lock/core/fs.hpp"
#include "kernel_lock/core/hash.hpp"
#include "kernel_lock/core/ids.hpp"
#include "kernel_lock/core/json.hpp"
#include "kernel_lock/core/unique_fd.hpp"
#include "session.hpp"

namespace kernel_lock {
namespace fs = std::filesystem;
using nlohmann::json;
using registry_detail::kMaxJson;
using registry_detail::Session;
namespace {

constexpr std::size_t kMaxTags = 1000;

struct Fetched {
  std::string digest;
  std::uint64_t size = 0;
};

class Puller {
 public:
  Puller(Session& s, const fs::path& root, const PullOptions& o, PullSummary& sum)
      : s_(s), root_(root), o_(o), sum_(sum), scope_("repository:" + s.ref().repository + ":pull") {
    fs::create_directories(root_ / "blobs" / "sha256");
  }

  // The lock's index by tag or digest; a missing tag names the tags there are.
  Fetched index() {
    const std::string what = "pulling " + s_.ref().to_string();
    auto r = get_json(s_.repo_url() + "/manifests/" + s_.ref().reference(), kOciIndexType, what);
    if (r.status == 404) throw missing_tag(what);
    if (r.status != 200) throw s_.status_error(r, what);
    const std::string digest = "sha256:" + sha256_hex(r.body);
    if (!s_.ref().digest.empty() && digest != s_.ref().digest)
      throw Error(ErrorCode::integrity, what + ": the index hashes to " + digest);
    save(digest, r.body);
    return {digest, r.body.size()};
  }

  // A manifest (by digest) and what it references, the kept layers only.
  void manifest(const json& d, const std::string& repo_id) {
    const std::string digest = text(d, "digest");
    const std::string what = "pulling manifest " + digest + " of " + s_.ref().to_string();
    auto r = get_json(s_.repo_url() + "/manifests/" + digest, kOciManifestType, what);
    if (r.status != 200) throw s_.status_error(r, what);
    check(digest, "sha256:" + sha256_hex(r.body), r.body.size(), size(d), what);
    save(digest, r.body);
    const json m = parse_json_bounded<json>(r.body, what, kMaxJson, "");
    blob(m.at("config"));
    const auto variant_of = [](const json& layer) {
      return layer.value("annotations", json::object()).value(std::string(kOciVariantAnnotation), "");
    };
    std::vector<std::string> offered;
    for (const auto& layer : m.at("layers"))
      if (const auto v = variant_of(layer); !v.empty() && std::find(offered.begin(), offered.end(), v) == offered.end())
        offered.push_back(v);
    std::set<std::string> kept(offered.begin(), offered.end());
    if (o_.keep) {
      const auto chosen = o_.keep(repo_id, offered);
      kept = std::set<std::string>(chosen.begin(), chosen.end());
    }
    for (const auto& layer : m.at("layers")) {
      const auto variant = variant_of(layer);
      if (!variant.empty() && kept.count(variant) == 0) {
        ++sum_.layers_skipped;
        continue;
      }
      blob(layer);
    }
  }

 private:
  static std::string text(const json& d, const char* key) {
    if (!d.is_object() || !d.contains(key) || !d[key].is_string())
      throw Error(ErrorCode::invalid_input, std::string("registry reply: a descriptor has no ") + key,
                  "is this a kernel-lock artifact (kernel-lock push)?");
    return d[key].get<std::string>();
  }
  static std::uint64_t size(const json& d) {
    if (!d.is_object() || !d.contains("size") || !d["size"].is_number_unsigned())
      throw Error(ErrorCode::invalid_input, "registry reply: a descriptor has no size");
    return d["size"].get<std::uint64_t>();
  }
  static std::string hex_of(const std::string& digest) {
    if (digest.size() != 71 || !digest.starts_with("sha256:") || !is_lower_hex(std::string_view(digest).substr(7)))
      throw Error(ErrorCode::invalid_input, "registry reply: digest '" + digest.substr(0, 80) + "' is not sha256:<hex>");
    return digest.substr(7);
  }
  void check(const std::string& want, const std::string& got, std::uint64_t got_size, std::uint64_t want_size,
             const std::string& what) const {
    if (got != want || got_size != want_size)
      throw Error(ErrorCode::integrity,
                  what + ": the registry sent " + std::to_string(got_size) + " bytes hashing to " + got + ", the descriptor says " +
                      std::to_string(want_size) + " bytes " + want + " (registry " + s_.ref().host + ")",
                  "the manifest or the registry's storage is corrupt (or a proxy altered it); nothing was installed");
  }

  HttpResponse get_json(const std::string& url, std::string_view accept, const std::string& what) {
    auto r = s_.send([&] {
      HttpRequest q;
      q.url = url;
      q.headers = {{"Accept", std::string(accept)}};
      return q;
    }, what, scope_);
    if (r.body.size() > kMaxJson) throw Error(ErrorCode::invalid_input, what + ": reply over " + std::to_string(kMaxJson) + " bytes");
    ++sum_.blobs;
    sum_.bytes += r.body.size();
    return r;
  }

  void save(const std::string& digest, const std::string& bytes) const {
    write_file_atomic(root_ / "blobs" / "sha256" / hex_of(digest), bytes);
  }

  // A blob streamed to its file, hashed and size-checked as it arrives.
  void blob(const json& d) {
    const std::string digest = text(d, "digest");
    const std::uint64_t want = size(d);
    const fs::path dest = root_ / "blobs" / "sha256" / hex_of(digest);
    const std::string what = "pulling blob " + digest + " of " + s_.ref().to_string();
    UniqueFd fd;
    std::optional<Hasher> hasher;
    std::uint64_t got = 0;
    auto r = s_.send([&] {
      fd = UniqueFd(::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (!fd.valid()) throw Error(ErrorCode::io, "cannot write " + dest.string());
      hasher.emplace(Hasher::Algorithm::sha256);
      got = 0;
      HttpRequest q;
      q.url = s_.repo_url() + "/blobs/" + digest;
      q.on_body = [&](long status, std::string_view chunk) {
        if (status != 200) return true;  // an error body: kept out of the file
        got += chunk.size();
        if (got > want) return false;
        hasher->update(chunk);
        return ::write(fd.get(), chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size());
      };
      return q;
    }, what, scope_);
    if (r.aborted && got > want) check(digest, "(more bytes)", got, want, what);
    if (r.status != 200 || r.aborted) throw s_.status_error(r, what);
    check(digest, "sha256:" + hasher->finish_hex(), got, want, what);
    ++sum_.blobs;
    sum_.bytes += got;
    if (o_.progress) o_.progress(RegistryEvent{RegistryEvent::Kind::blob_fetched, digest, got, want});
  }

  Error missing_tag(const std::string& what) {
    std::string tags;
    auto list = s_.send([&] {
      HttpRequest q;
      q.url = s_.repo_url() + "/tags/list?n=" + std::to_string(kMaxTags);
      return q;
    }, what + ": listing tags", scope_);
    if (list.status == 200) {
      try {
        const auto doc = parse_json_bounded<json>(list.body, "tags list", kMaxJson, "");
        for (const auto& t : doc.at("tags")) tags += (tags.empty() ? "" : ", ") + t.get<std::string>();
      } catch (const std::exception&) {
        tags.clear();  // an unreadable list: the error below just names none
      }
    }
    return Error(ErrorCode::not_found,
                 what + ": " + (s_.ref().digest.empty() ? "tag '" + s_.ref().tag + "'" : s_.ref().digest) +
                     " not found in repository " + s_.ref().repository + " of registry " + s_.ref().host,
                 list.status == 200 ? (tags.empty() ? "the repository has no tags: push one first (kernel-lock push)"
                                                    : "tags there: " + tags)
                 : list.status == 404 ? "the repository " + s_.ref().repository + " does not exist there: check the name, or push first"
                                      : "check the tag (listing the repository's tags was not allowed: HTTP " +
                                            std::to_string(list.status) + ")");
  }

  Session& s_;
  fs::path root_;
  const PullOptions& o_;
  PullSummary& sum_;
  std::string scope_;
};

}  // namespace

PullSummary pull_oci_layout(HttpTransport& transport, const OciReference& source, const fs::path& layout,
                            const RegistryOptions& options, const PullOptions& pull) {
  Session session(transport, source, options);
  PullSummary sum;
  Puller puller(session, layout, pull, sum);
  const Fetched top = puller.index();
  const json index = parse_json_bounded<json>(read_file_at_most(layout / "blobs" / "sha256" / top.digest.substr(7), kMaxJson),
                                              "index " + top.digest, kMaxJson, "");
  if (!index.is_object() || index.value("mediaType", "") != kOciIndexType || !index.contains("manifests") ||
      !index["manifests"].is_array())
    throw Error(ErrorCode::invalid_input, source.to_string() + " is not a kernel-lock index (mediaType " + std::string(kOciIndexType) + ")",
                "push it with `kernel-lock push`");
  for (const auto& m : index["manifests"])
    puller.manifest(m, m.value("annotations", json::object()).value(std::string(kOciRepoIdAnnotation), ""));
  const std::string tag = source.digest.empty() ? source.tag : std::string(kOciDefaultTag);
  write_file_atomic(layout / kOciLayoutFile, R"({"imageLayoutVersion":"1.0.0"})");
  const json top_index = {{"schemaVersion", 2},
                          {"manifests", json::array({{{"mediaType", kOciIndexType},
                                                      {"digest", top.digest},
                                                      {"size", top.size},
                                                      {"annotations", {{kOciRefNameAnnotation, tag}}}}})}};
  write_file_atomic(layout / kOciIndexFile, top_index.dump());
  return sum;
}

InstallSummary install_from_registry(HttpTransport& transport, const OciReference& source, const RegistryOptions& options,
                                     const PullOptions& pull, const InstallOptions& install, PullSummary* pulled) {
  return with_context("installing " + source.to_string(), [&] {
    // Pulled next to the target cache (same file system as its staging), removed afterwards.
    const fs::path cache = install.cache_dir.value_or(kernels_cache_dir());
    fs::create_directories(cache);
    const fs::path dir = temp_path_for(cache / ".kernel-lock-oci-pull");
    PathGuard guard(dir);
    const PullSummary s = pull_oci_layout(transport, source, dir, options, pull);
    if (pulled) *pulled = s;
    const std::string tag = source.digest.empty() ? source.tag : std::string(kOciDefaultTag);
    return install_plan(read_oci_layout(dir, tag, {}, pull.keep), fs::path(source.to_string()), install);
  });
}

}  // namespace kernel_lock
